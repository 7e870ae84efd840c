"""Pass-rate diff: baseline runs vs current runs -> one verdict per test.

Counting is the one rule every consumer shares (docs/statistics.md): k = passes, n = pass + fail
runs.  Timeouts and infra runs are shown but are not fails, unless the plan says
``timeout_is_failure: true`` (then a timeout counts as a fail; infra never does).  Skips never
count.  The verdict itself comes from ``stats.verdict``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

from . import stats
from ..model import FAIL, INFRA, PASS, SKIP, TIMEOUT, RunRecord

Counts = tuple[int, int]


@dataclass
class Tally:
    """What one test did in one sweep."""
    passes: int = 0
    fails: int = 0
    timeouts: int = 0
    infra: int = 0
    skipped: int = 0
    suite: str = ""
    gpus: int = 0

    def counts(self, timeout_is_failure: bool) -> Counts:
        fails = self.fails + (self.timeouts if timeout_is_failure else 0)
        return self.passes, self.passes + fails


def tally(runs: Iterable[RunRecord], mode: Optional[str] = None) -> dict[str, Tally]:
    out: dict[str, Tally] = {}
    for r in runs:
        if mode is not None and r.mode != mode:
            continue
        t = out.setdefault(r.test, Tally())
        t.suite = t.suite or r.suite
        t.gpus = t.gpus or r.gpus_needed
        if r.outcome == PASS:
            t.passes += 1
        elif r.outcome == FAIL:
            t.fails += 1
        elif r.outcome == TIMEOUT:
            t.timeouts += 1
        elif r.outcome == INFRA:
            t.infra += 1
        elif r.outcome == SKIP:
            t.skipped += 1
    return out


def counts_by_test(runs: Iterable[RunRecord], *, timeout_is_failure: bool = False,
                   mode: Optional[str] = None) -> dict[str, Counts]:
    """(passes, pass+fail runs) per test, counted exactly as the diff counts them."""
    return {t: v.counts(timeout_is_failure) for t, v in tally(runs, mode).items()}


@dataclass
class TestDiff:
    __test__ = False  # not a pytest test class despite the name

    test: str
    verdict: str
    baseline: Optional[Counts]       # (k0, n0); None without baseline runs
    current: Counts                  # (k1, n1)
    statistic: str                   # one line: test, value, threshold
    suite: str = ""
    gpus: int = 0
    timeouts: int = 0                # current runs that timed out (shown; fails only by plan)
    infra: int = 0                   # current runs lost to infrastructure (never fails)
    skipped: int = 0
    p_drop: Optional[float] = None
    p_rise: Optional[float] = None
    prob_dropped: Optional[float] = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The diff's part of an analysis.json ``tests`` entry (analyze adds category,
        signature, pcg_active)."""
        return {"test": self.test, "suite": self.suite, "gpus": self.gpus,
                "verdict": self.verdict,
                "baseline": list(self.baseline) if self.baseline is not None else None,
                "current": list(self.current), "statistic": self.statistic,
                "timeouts": self.timeouts, "infra": self.infra, "skipped": self.skipped,
                "p_drop": self.p_drop, "p_rise": self.p_rise, "prob_dropped": self.prob_dropped}


def _not_counted(t: Tally, timeout_is_failure: bool) -> str:
    parts = []
    if t.timeouts and not timeout_is_failure:
        parts.append(f"{t.timeouts} timeout{'s' * (t.timeouts != 1)}")
    if t.infra:
        parts.append(f"{t.infra} infra")
    if t.skipped:
        parts.append(f"{t.skipped} skipped")
    return f" [not counted: {', '.join(parts)}]" if parts else ""


def diff_counts(baseline: dict[str, Counts], current_runs: Iterable[RunRecord], *,
                timeout_is_failure: bool = False, mode: Optional[str] = None,
                alarm_p: float = stats.ALARM_P) -> list[TestDiff]:
    """Diff current runs against baseline counts per test (e.g. pooled history)."""
    out = []
    for test, t in sorted(tally(current_runs, mode).items()):
        cur = t.counts(timeout_is_failure)
        base = baseline.get(test)
        if base is not None and base[1] == 0:
            base = None  # a baseline with only infra/timeouts says nothing about the rate
        v = stats.verdict(base, cur, alarm_p)
        out.append(TestDiff(test=test, verdict=v.verdict, baseline=base, current=cur,
                            statistic=v.statistic + _not_counted(t, timeout_is_failure),
                            suite=t.suite, gpus=t.gpus, timeouts=t.timeouts, infra=t.infra,
                            skipped=t.skipped, p_drop=v.p_drop, p_rise=v.p_rise,
                            prob_dropped=v.prob_dropped))
    return out


def diff_sweeps(baseline_runs: Iterable[RunRecord], current_runs: Iterable[RunRecord], *,
                timeout_is_failure: bool = False, mode: Optional[str] = None,
                pooled: Optional[dict[str, Counts]] = None) -> list[TestDiff]:
    """Per test of the current runs: baseline k0/n0 vs current k1/n1 and the verdict.

    ``pooled`` (from ``baseline.pooled_counts``) replaces the baseline counts of the tests it
    names, so the diff sees the same history the adaptive sweep decided with.
    """
    base = counts_by_test(baseline_runs, timeout_is_failure=timeout_is_failure, mode=mode)
    if pooled:
        base.update(pooled)
    return diff_counts(base, current_runs, timeout_is_failure=timeout_is_failure, mode=mode)


def summarize(diffs: list[TestDiff]) -> dict[str, int]:
    counts = {v: 0 for v in stats.VERDICTS}
    for d in diffs:
        counts[d.verdict] += 1
    return counts


def fmt_counts(c: Optional[Counts]) -> str:
    return "-" if c is None else f"{c[0]}/{c[1]}"


def render_text(diffs: list[TestDiff], *, show_all: bool = False, header: str = "") -> str:
    """A table of the tests worth a look (everything but unchanged, unless show_all)."""
    rows = [d for d in diffs if show_all or d.verdict != stats.UNCHANGED]
    order = {v: i for i, v in enumerate(stats.VERDICTS)}
    rows.sort(key=lambda d: (order[d.verdict], d.test))
    lines = [header] if header else []
    width = max([len(d.test) for d in rows] + [4])
    lines.append(f"{'test':{width}}  {'baseline':>8}  {'current':>7}  {'verdict':13}  statistic")
    for d in rows:
        lines.append(f"{d.test:{width}}  {fmt_counts(d.baseline):>8}  {fmt_counts(d.current):>7}  "
                     f"{d.verdict:13}  {d.statistic}")
    s = summarize(diffs)
    lines.append(f"{len(diffs)} tests: " + ", ".join(f"{n} {v}" for v, n in s.items() if n)
                 + ("" if show_all else " (unchanged tests hidden; --all shows them)"))
    return "\n".join(lines)
