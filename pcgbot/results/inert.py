"""PCG-inert tests: SGLang auto-disabled PCG in every recent run, so repeats buy nothing.

A sweep in the PCG mode only tests PCG where PCG really ran.  SGLang turns it off by itself for
some models and features (multimodal, speculative decoding, some architectures, platforms), and
a test whose recent sweeps show PCG off in *every* run that gave a verdict (with ``pcg_active``
known, never ``None``) is PCG-inert: later sweeps run it once as a sentinel (``pcgbot.sweep``)
instead of its full repeats.  The rule's thresholds are plan keys (``pcg_inert``, see
``pcgbot.plan.InertRule``) and a test with ``pcg_inert: false`` is never inert.

A test whose newest sweep shows PCG off everywhere while its sweep before showed PCG active has
*lost PCG coverage*: that is a finding (SGLang's auto-disable logic changed), reported, not only
a saving.  ``pcgbot.signatures.pcg.disable_reason`` names why PCG was off when the log says so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

from ..model import FAIL, PASS, RunRecord
from ..plan.schema import Plan
from ..signatures.pcg import disable_reason

@dataclass
class InertEvidence:
    test: str
    sweeps: list[str]                  # sweep ids of the window, newest first
    commits: list[str]                 # their commits
    runs: int                          # verdict runs with PCG off in the window
    reason: Optional[str] = None       # what the newest log said (reason category)
    line: Optional[str] = None         # ... and the line that said it
    log: Optional[str] = None          # that log (absolute path)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class CoverageLoss:
    test: str
    sweep: str                         # the sweep where PCG was off in every verdict run
    commit: Optional[str]
    was_active_in: str                 # the sweep before, where some run had PCG active
    was_active_commit: Optional[str]
    reason: Optional[str] = None
    line: Optional[str] = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Seen:
    """One test in one sweep: its verdict runs' PCG status."""
    sweep: dict[str, Any]
    active: int = 0
    off: int = 0
    unknown: int = 0
    off_logs: list[str] = field(default_factory=list)


def rule_modes(plan: Plan) -> list[str]:
    return plan.pcg_inert.modes or [plan.default_mode]


def _history(store: Any, plan: Plan, mode: str, upto: Optional[str], depth: int,
             ) -> dict[str, list[_Seen]]:
    """Per test, its sweeps (newest first) with verdict runs, at most ``depth`` of them.

    Complete sweeps and shards only count once they are complete; ``upto``: ignore sweeps
    newer than this sweep id (the state as that sweep saw it)."""
    sweeps = store.sweeps(plan=plan.name, mode=mode, complete=True)
    if upto is not None:
        ids = [s["sweep_id"] for s in sweeps]
        sweeps = sweeps[ids.index(upto):] if upto in ids else sweeps
    out: dict[str, list[_Seen]] = {}
    for s in sweeps:
        if (s.get("meta") or {}).get("partial"):
            continue                  # a --tests subset or a rerun: not one more sweep
        # the shards of a sweep and their merge are one sweep (the store holds all of them)
        base = str(s["sweep_id"]).split("@shard")[0]
        by_test: dict[str, _Seen] = {}
        for r in store.runs(s["sweep_id"]):
            if r.outcome not in (PASS, FAIL):
                continue              # only runs that gave a verdict say what PCG did
            seen = by_test.setdefault(r.test, _Seen(s))
            if r.pcg_active is True:
                seen.active += 1
            elif r.pcg_active is False:
                seen.off += 1
                if r.log:
                    seen.off_logs.append(r.log)
            else:
                seen.unknown += 1
        for t, seen in by_test.items():
            lst = out.setdefault(t, [])
            if lst and str(lst[-1].sweep["sweep_id"]).split("@shard")[0] == base:
                continue              # already counted from this sweep's merge or a shard
            if len(lst) < depth:
                lst.append(seen)
        if out and all(len(v) >= depth for v in out.values()) and len(out) >= len(plan.tests):
            break                     # every test has its window: older sweeps cannot matter
    return out


def _reason_of(seen: _Seen) -> tuple[Optional[str], Optional[str], Optional[str]]:
    for log in seen.off_logs[:3]:
        path = Path(seen.sweep.get("dir") or "") / log
        found = disable_reason(path)
        if found:
            return found[0], found[1], str(path)
    return None, None, (str(Path(seen.sweep.get("dir") or "") / seen.off_logs[0])
                        if seen.off_logs else None)


def inert_tests(store: Any, plan: Plan, mode: str, *, upto: Optional[str] = None,
                reasons: bool = True) -> dict[str, InertEvidence]:
    """The plan's PCG-inert tests for a sweep of ``mode``, from the store's recent sweeps.

    Empty when the rule is off or ``mode`` is not one it applies to."""
    rule = plan.pcg_inert
    if not rule.enabled or mode not in rule_modes(plan):
        return {}
    allowed = {t.path for t in plan.tests if t.pcg_inert}
    out: dict[str, InertEvidence] = {}
    for test, window in _history(store, plan, mode, upto, rule.sweeps).items():
        if test not in allowed or len(window) < rule.sweeps:
            continue
        # every verdict run known and off: one run with pcg_active None leaves the test open
        if any(s.active or s.unknown or not s.off for s in window):
            continue
        runs = sum(s.off for s in window)
        if runs < rule.min_runs:
            continue
        ev = InertEvidence(test, [s.sweep["sweep_id"] for s in window],
                           [s.sweep.get("commit") or "" for s in window], runs)
        if reasons:
            ev.reason, ev.line, ev.log = _reason_of(window[0])
        out[test] = ev
    return out


def coverage_lost(store: Any, plan: Plan, sweep_id: str) -> list[CoverageLoss]:
    """Tests whose runs in ``sweep_id`` all had PCG off while their previous sweep (same plan
    and mode) had PCG active in some run: PCG coverage lost at this sweep's commit."""
    found = store.sweep(sweep_id)
    if found is None or found.get("mode") not in rule_modes(plan):
        return []
    out = []
    for test, window in sorted(_history(store, plan, found["mode"], sweep_id, 2).items()):
        if len(window) < 2 or window[0].sweep["sweep_id"] != sweep_id:
            continue
        now, before = window
        if now.off and not now.active and not now.unknown and before.active:
            reason, line, _ = _reason_of(now)
            out.append(CoverageLoss(test, sweep_id, now.sweep.get("commit"),
                                    before.sweep["sweep_id"], before.sweep.get("commit"),
                                    reason, line))
    return out


def sentinel_active(rec: RunRecord) -> bool:
    """A sentinel run that proves PCG ran ends the test's inert status at once."""
    return rec.pcg_active is True
