"""Brakes on what pcgbot writes: caps on new issues, and a pause switch.

A broken runner or a change of fingerprint scheme can turn one sweep into dozens of "new"
signatures.  Two caps bound the damage: at most ``per_sweep`` new issues per sync (one sweep of
one configuration) and at most ``per_day`` new issues per repository in any 24 hours (counted
from the ``created_at`` of the pcgbot issues sync lists anyway, so every runner and every
configuration shares one count without extra state).  What the caps hold back is listed in one
summary issue, whose hidden state is the queue: the next syncs file from it, oldest first, as the
caps allow, even though the signature is by then "still failing" rather than a new regression.

The pause switch is an open issue labelled ``pcgbot-paused`` (a maintainer adds the label to a
pinned issue saying why): while one exists, sync writes nothing, statuses are a neutral
``success`` saying "paused" (check runs: ``neutral``), and the culprit's author is not told.
Sweeps, analysis and the data branch go on.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Optional, Protocol

from .backend import Backend, Issue
from .render import IssueState

PAUSE_LABEL = "pcgbot-paused"
HELD_LABEL = "pcgbot-held"
HELD_MARKER = "<!-- pcgbot:held -->"
HELD_STATE_RE = re.compile(r"<!-- pcgbot:held-state (\{.*?\}) -->", re.S)
DEFAULT_PER_SWEEP = 5      # new issues per sync (one sweep of one configuration)
DEFAULT_PER_DAY = 20       # new issues per repository in any 24 hours
DAY_S = 24 * 3600
MAX_HELD = 300             # entries kept in the queue (the body must fit 65,536 characters)


@dataclass
class Caps:
    per_sweep: int = DEFAULT_PER_SWEEP
    per_day: int = DEFAULT_PER_DAY


def paused_by(b: Backend) -> Optional[Issue]:
    """The open issue carrying the pause label (lowest number), or None: one listing."""
    found = b.list_issues([PAUSE_LABEL], "open")
    return min(found, key=lambda i: i.number) if found else None


def _epoch(iso: Optional[str]) -> Optional[float]:
    if not iso:
        return None
    try:      # Python 3.10's fromisoformat does not take "Z"
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def filed_since(issues: list[Issue], since: float) -> int:
    """Signature issues created after ``since`` (epoch seconds); the summary issue is not one."""
    n = 0
    for i in issues:
        t = _epoch(i.created_at)
        if t is not None and t >= since and "<!-- pcgbot:sig=" in (i.body or ""):
            n += 1
    return n


def _filed_by_sweep(issues: list[Issue], sweep_id: str, since: float) -> int:
    n = 0
    for i in issues:
        t = _epoch(i.created_at)
        if t is None or t < since:
            continue
        st = IssueState.load(i.body)
        if st is not None and st.runs and st.runs[0].get("sweep") == sweep_id:
            n += 1
    return n


def code(text: object) -> str:
    """``text`` as one inline code span that nothing in it can end: nothing in it renders as a
    mention, a link or a hidden marker (also used by author.py)."""
    # "<!--" broken up: a quoted pcgbot marker must not make this issue look like another one
    one = " ".join(str(text).split())[:300].replace("<!--", "< !--")
    ticks = "`" * (max((len(m) for m in re.findall(r"`+", one)), default=0) + 1)
    pad = " " if one.startswith("`") or one.endswith("`") or not one else ""
    return f"{ticks}{pad}{one}{pad}{ticks}"


@dataclass
class HeldQueue:
    """The summary issue and its queue: fingerprint -> {config, title, tests, since, commit}."""
    issue: Optional[Issue] = None
    held: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def find(cls, issues: list[Issue]) -> "HeldQueue":
        mine = sorted((i for i in issues if HELD_MARKER in (i.body or "")), key=lambda i: i.number)
        if not mine:
            return cls()
        return cls(mine[0], load_held(mine[0].body))


def load_held(body: Optional[str]) -> dict[str, dict]:
    found = None
    for found in HELD_STATE_RE.finditer(body or ""):
        pass
    if found is None:
        return {}
    try:
        data = json.loads(found.group(1))
    except ValueError:
        return {}
    held = data.get("held") if isinstance(data, dict) else None
    return {str(k): v for k, v in held.items() if isinstance(v, dict)} if isinstance(held, dict) else {}


def held_body(held: dict[str, dict], caps: Caps) -> str:
    lines = [HELD_MARKER, "## Failure signatures held back by pcgbot's issue caps", "",
             f"pcgbot files at most **{caps.per_sweep}** new issues per sweep and configuration and "
             f"**{caps.per_day}** per repository in 24 hours. These signatures failed past the cap; the "
             "next sweeps file them, oldest first, as the caps allow (one that stops failing is dropped).",
             "", "Many at once usually means a broken runner or a changed fingerprint scheme: to stop all "
             f"filing, add the `{PAUSE_LABEL}` label to an open issue (docs/github.md, *Brakes*).", ""]
    if held:
        lines += ["| Signature | Title | Config | Tests | Held since |", "|---|---|---|---|---|"]
        for fp, h in sorted(held.items(), key=lambda kv: (str(kv[1].get("since_at") or ""), kv[0])):
            tests = [str(t) for t in (h.get("tests") or [])]
            shown = ", ".join(code(t) for t in tests[:3]) + (f" +{len(tests) - 3}" if len(tests) > 3 else "")
            lines.append(f"| {code(fp)} | {code(h.get('title') or fp)} | {code(h.get('config') or '-')} | "
                         f"{shown} | {code(h.get('since') or '?')} |")
    else:
        lines.append("Nothing is held back now.")
    text = json.dumps({"held": held}, sort_keys=True, separators=(",", ":")).replace(">", "\\u003e")
    return "\n".join(lines + ["", f"<!-- pcgbot:held-state {text} -->", ""])


def held_title(n: int) -> str:
    return f"[pcgbot] {n} failure signature{'s' if n != 1 else ''} held back by the issue caps"


class Syncer(Protocol):
    """What the gate uses of ``sync.Syncer`` (a protocol: sync imports this module)."""
    a: dict
    b: Backend
    result: Any                        # sync.SyncResult
    sweep_id: str
    log: Callable[[str], None]

    def all_issues(self) -> list[Issue]: ...
    def file(self, sig: dict) -> None: ...
    def comment_once(self, number: int, key_src: str, text: str) -> bool: ...


class Gate:
    """Decides, inside one sync, which signatures without an issue are filed now."""

    def __init__(self, syncer: Syncer, caps: Optional[Caps], labels: list[str],
                 now: Optional[float] = None) -> None:
        self.labels = labels           # of the summary issue
        self.s = syncer
        self.caps = caps
        self.now = time.time() if now is None else now
        self.queue = HeldQueue.find(syncer.all_issues())
        self.config = str(syncer.a.get("config") or "")
        self.created = 0
        # what was filed already: in the last 24 hours, and by this very sweep (a re-run of the job
        # must not file another batch); not needed without caps (each reads every body)
        since = self.now - DAY_S
        self.filed_today = filed_since(syncer.all_issues(), since) if caps else 0
        self.this_sweep = _filed_by_sweep(syncer.all_issues(), syncer.sweep_id, since) if caps else 0
        self.added: dict[str, dict] = {}
        self.removed: set[str] = set()

    def is_held(self, fp: str) -> bool:
        return fp in self.queue.held

    def room(self) -> bool:
        if self.caps is None:
            return True
        return self.this_sweep + self.created < self.caps.per_sweep and self.filed_today + self.created < self.caps.per_day

    def file_all(self, sigs: list[dict]) -> None:
        """File ``sigs`` (no issue yet) within the caps: held ones first (oldest first), then the
        signatures with the most tests; hold back the rest."""
        def order(sig: dict) -> tuple:
            h = self.queue.held.get(sig["fingerprint"])
            return (h is None, str((h or {}).get("since_at") or ""), -len(sig["tests"]), sig["fingerprint"])
        for sig in sorted(sigs, key=order):
            fp = sig["fingerprint"]
            if not self.room():
                if fp not in self.queue.held:
                    self.added[fp] = self._entry(sig)
                continue
            before = len(self.s.result.created)
            self.s.file(sig)
            self.created += len(self.s.result.created) - before
            self.removed.add(fp)     # filed (or found filed by a concurrent bot): out of the queue
        held_out = sorted(self.added) + sorted(fp for fp in self.queue.held if fp not in self.removed)
        for fp in held_out:
            self.s.result.skipped.append(f"{fp} (held back by the issue caps)")

    def drop_settled(self, failing: set[str], partial: bool) -> None:
        """A held signature of this configuration that a full sweep no longer sees failing is
        dropped; one of another configuration waits for that configuration's sweep."""
        if partial:
            return
        for fp, h in self.queue.held.items():
            if str(h.get("config") or "") == self.config and fp not in failing:
                self.removed.add(fp)

    def _entry(self, sig: dict) -> dict:
        sweep = self.s.a.get("sweep") or {}
        return {"config": self.config, "title": str(sig.get("title") or sig["fingerprint"])[:200],
                "tests": sorted(t["test"] for t in sig["tests"])[:20],
                "since": self.s.sweep_id, "commit": sweep.get("commit"),
                "since_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.now))}

    def save(self) -> None:
        """Write the queue back, merged with a fresh read of the summary issue (another sync may
        have changed it since the snapshot): remove what this sync filed or dropped, add what it
        held back."""
        if not self.added and not self.removed & set(self.queue.held):
            return
        b, q = self.s.b, self.queue
        fresh = load_held(b.get_issue(q.issue.number).body) if q.issue else {}
        held = {fp: h for fp, h in fresh.items() if fp not in self.removed}
        for fp, h in self.added.items():
            held.setdefault(fp, h)
        if len(held) > MAX_HELD:
            keep = sorted(held, key=lambda fp: (str(held[fp].get("since_at") or ""), fp))[:MAX_HELD]
            held = {fp: held[fp] for fp in keep}
        body = held_body(held, self.caps or Caps())
        if q.issue is None:
            if held:
                made = b.create_issue(held_title(len(held)), body, self.labels)
                self.s.log(f"github: {len(held)} signature(s) held back by the caps: #{made.number}")
            return
        if held:
            state = "open" if q.issue.state == "closed" else None
            b.edit_issue(q.issue.number, title=held_title(len(held)), body=body, state=state,
                         state_reason="reopened" if state else None)
        elif q.issue.state == "open":
            self.s.comment_once(q.issue.number, f"held-empty:{self.s.sweep_id}:{self.config}",
                                "Every held signature has been filed or has stopped failing. Closing.")
            b.edit_issue(q.issue.number, title=held_title(0), body=body, state="closed",
                         state_reason="completed")
