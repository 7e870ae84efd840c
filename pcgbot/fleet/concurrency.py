"""GitHub Actions' ``concurrency`` rule, as the sweep workflow sets it, for the fleet simulator.

With ``concurrency: {group: G, cancel-in-progress: false}`` GitHub runs at most one run of a
group and keeps at most ONE pending run: a newer trigger replaces (cancels) the pending one and
the running one always finishes.  So a sweep, when it starts, covers every commit pushed since the
previous sweep's commit.  With ``cancel-in-progress: true`` a new trigger cancels the running run
instead.  ``workflow_concurrency`` reads the setting from the workflow file, so the simulated
fleet coalesces the way the real one does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml

from ..errors import UsageError


@dataclass
class Concurrency:
    group: Optional[str]               # None: no concurrency setting (every trigger runs)
    cancel_in_progress: bool = False


def workflow_concurrency(path: str | os.PathLike) -> Concurrency:
    """The workflow-level ``concurrency`` of a GitHub Actions workflow file."""
    p = Path(path)
    try:
        doc = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"{p}:1: workflow: cannot read ({getattr(e, 'strerror', None) or e})") \
            from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise UsageError(f"{p}:{mark.line + 1 if mark else 1}: workflow: invalid YAML") from None
    if not isinstance(doc, dict):
        raise UsageError(f"{p}:1: workflow: not a mapping")
    c = doc.get("concurrency")
    if c is None:
        return Concurrency(None)
    if isinstance(c, str):             # the short form: `concurrency: group-name`
        return Concurrency(c)
    if not isinstance(c, dict) or not isinstance(c.get("group"), str):
        raise UsageError(f"{p}:1: workflow: concurrency: expected a group name or "
                         "{group, cancel-in-progress}")
    cip = c.get("cancel-in-progress", False)
    if not isinstance(cip, bool):      # an expression: it decides per run, we cannot
        raise UsageError(f"{p}:1: workflow: concurrency.cancel-in-progress: only true/false "
                         f"can be simulated, got {cip!r}")
    return Concurrency(c["group"], cip)


@dataclass
class Group:
    """One concurrency group: ``trigger`` a run, ``finish`` the running one.

    Runs are opaque payloads (the simulator's: the commit a sweep tests)."""

    rule: Concurrency
    running: Optional[Any] = None
    pending: Optional[Any] = None
    cancelled: list[Any] = field(default_factory=list)
    unlimited: list[Any] = field(default_factory=list)   # no group: runs that start at once

    def trigger(self, run: Any) -> Optional[Any]:
        """A new run is triggered; returns the run that starts now, if any."""
        if self.rule.group is None:
            self.unlimited.append(run)
            return run
        if self.running is None:
            self.running = run
            return run
        if self.rule.cancel_in_progress:
            self.cancelled.append(self.running)
            self.running = run
            return run
        if self.pending is not None:
            self.cancelled.append(self.pending)   # the newer trigger replaces the pending run
        self.pending = run
        return None

    def finish(self) -> Optional[Any]:
        """The running run ended; returns the pending run that starts now, if any."""
        self.running, self.pending = self.pending, None
        return self.running
