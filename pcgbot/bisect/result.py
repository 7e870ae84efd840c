"""What a bisection concludes, as data (``to_dict`` = analysis.json's culprit/fix shape) and text.

A result below the asked confidence is "inconclusive" with the commit range still in question;
it never names a single commit as if it were the answer.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional, Protocol

from .. import gitutil
from ..plan.schema import Plan, TestSpec
from .search import FAIL, FOUND, GOOD_IS_BAD, INCONCLUSIVE, NO_CULPRIT, Search
from .ends import end_counts, unseeded_end


class Bisection(Protocol):
    """What a result is built from: the running bisection (``engine.Bisection``) as this module
    reads it.  A protocol, so that the result does not import the engine that imports it."""
    commits: list[str]
    fix: bool
    mode: str
    plan: Plan
    repo: Path
    search: Search
    state: Any                     # engine._State: .data (a dict) and .path
    stopped_why: Optional[str]
    test: TestSpec



@dataclass
class BisectResult:
    status: str                    # found | inconclusive | no-culprit | good-is-bad
    kind: str                      # "cause" (regression) or "fix"
    test: str
    mode: str
    signature: Optional[str]
    confidence: float              # posterior of the answer (of the range, when inconclusive)
    range: list[str]               # [last commit known on the old side, first on the new side]
    message: str                   # one line for people
    sha: Optional[str] = None      # the culprit (or fixing) commit when found
    subject: Optional[str] = None
    author: Optional[str] = None
    evidence: list[dict[str, Any]] = field(default_factory=list)
    runs: int = 0                  # test runs spent, the ends' included
    end_runs: int = 0              # of those, runs at the two ends (0 when sweeps seeded them)
    setups: int = 0                # setup commands run
    commits: int = 0               # commits in the searched range (after the old end)
    state: str = ""                # state file (for --resume and post-mortems)
    seeds: str = ""                # where the good/bad pass rates came from (sweeps, measured)
    unlikely: int = 0              # commits that change only the plan's unlikely_culprits paths
    run_seconds: float = 0.0       # sum of the probe runs' durations
    wall_seconds: float = 0.0      # first probe's start to last probe's end (parallel slots)

    def to_dict(self) -> dict[str, Any]:
        """analysis.json's culprit/fix shape; ``status`` is found|inconclusive there, and
        ``verdict`` keeps the finer answer (no-culprit, good-is-bad)."""
        d = asdict(self)
        d["verdict"] = self.status
        d["status"] = "found" if self.status == FOUND else "inconclusive"
        return d

    def render(self) -> str:
        what = "fix" if self.kind == "fix" else "culprit"
        lines = [f"bisect {self.test} ({self.mode}): {self.commits} commits "
                 f"{self.range[0][:10]}..{self.range[1][:10]}" if self.status != FOUND else
                 f"bisect {self.test} ({self.mode}): {self.commits} commits searched"]
        if self.status == FOUND:
            lines.append(f"{what}: {self.sha} {self.subject!r} by {self.author}")
        lines.append(f"{self.status}: {self.message}")
        took = (f" ({self.run_seconds:.0f} s of runs in {self.wall_seconds:.0f} s)"
                if self.run_seconds else "")
        spent = (f"{self.runs} runs: {self.end_runs} at the ends, "
                 f"{self.runs - self.end_runs} in the range")
        lines.append(f"confidence {self.confidence:.3f}, {spent}{took}, {self.setups} setups"
                     + (f", signature{'s' * (',' in self.signature)} "
                        f"{self.signature.replace(',', ', ')}" if self.signature else ""))
        if self.seeds:
            lines.append(f"seeded from {self.seeds}")
        if self.unlikely:
            lines.append(f"{self.unlikely} of {self.commits} commits change only paths the plan "
                         "calls unlikely culprits (docs, CI): a lower prior, never excluded")
        if self.evidence:
            lines.append("evidence (passed/runs per probed commit, oldest first):")
            for e in self.evidence:
                # untestable = setup failed, or only runs without a verdict (other crashes)
                extra = ((" untestable (no verdict runs)" if e.get("ignored") and not e.get("passed")
                          and e.get("runs", 0) == 0 else " untestable (setup failed)")
                         if e.get("untestable") else "")
                if e.get("ignored"):
                    extra += f" +{e['ignored']} runs without a verdict"
                lines.append(f"  {e['sha'][:10]} [{e['index']:>3}] {e['passed']:>3}/{e['runs']:<3}"
                             f"{extra}  {e.get('subject', '')[:60]}")
        return "\n".join(lines)


def _evidence(b: Bisection) -> list[dict[str, Any]]:
    out = []
    w = b.state.data.get("weights")
    for j, e in enumerate(b.search.ev):
        if e.set_up or e.runs or e.other:
            sha = b.commits[j]
            out.append({"sha": sha, "index": j, "passed": e.passed, "runs": e.runs,
                        "ignored": e.other, "untestable": e.untestable,
                        "unlikely": bool(w and j and w[j - 1] != 1.0),
                        "subject": gitutil.commit_info(b.repo, sha)["subject"]})
    return out


def _timing(probes: list[dict[str, Any]]) -> dict[str, float]:
    """run_seconds and wall_seconds of the probes (wall: across resumes, first start to last
    end; probes saved before start times were recorded count in run_seconds only)."""
    from datetime import datetime

    spans = []
    for p in probes:
        try:
            t0 = datetime.fromisoformat(p["started_at"]).timestamp()
        except (KeyError, TypeError, ValueError):
            continue
        spans.append((t0, t0 + (p.get("duration_s") or 0.0)))
    run = sum(p.get("duration_s") or 0.0 for p in probes)
    wall = max(e for _, e in spans) - min(s for s, _ in spans) if spans else 0.0
    return {"run_seconds": round(run, 1), "wall_seconds": round(wall, 1)}


def _base(b: Bisection, status: str, conf: float, rng: list[str], msg: str) -> BisectResult:
    setups = sum(1 for _ in b.state.data["setups"])
    return BisectResult(status=status, kind="fix" if b.fix else "cause", test=b.test.path,
                        mode=b.mode, signature=b.state.data["signature"], confidence=round(conf, 4),
                        range=rng, message=msg, evidence=_evidence(b), runs=b.search.runs,
                        end_runs=b.search.end_runs(),
                        setups=setups, commits=len(b.commits) - 1, state=str(b.state.path),
                        seeds=b.state.data.get("seed_source") or "",
                        unlikely=sum(1 for x in b.state.data.get("weights") or [] if x != 1.0),
                        **_timing(b.state.data["probes"]))


def build_result(b: Bisection) -> BisectResult:
    d = b.search.decision()
    c, n = b.commits, len(b.commits) - 1
    old, new = ("bad", "good") if b.fix else ("good", "bad")
    if d.status == FOUND:
        i = d.index
        info = gitutil.commit_info(b.repo, c[i])
        r = _base(b, FOUND, d.confidence, [c[i - 1], c[i]],
                  f"{'fixed' if b.fix else 'broken'} by {c[i][:10]} with probability "
                  f"{d.confidence:.3f}")
        r.sha, r.subject, r.author = c[i], info["subject"], info["author"]
        return r
    # The ends' own runs back the answers that blame no commit: say what they were.
    measured = end_counts(b) if b.search.end_runs() else ""
    if d.status == NO_CULPRIT:
        # The newer end did not behave as claimed: the bad one passes (a regression), the
        # good one still fails (a fix).
        shows = ("the good commit does not show the fix" if b.fix
                 else "the bad commit does not reproduce the failure")
        lead = f"{shows} ({measured}): " if unseeded_end(b, n) else ""
        return _base(b, NO_CULPRIT, d.confidence, [c[0], c[n]],
                     f"{lead}no commit in the range changed the pass rate "
                     f"(P={d.confidence:.3f}): the {'fix' if b.fix else 'alarm'} did not "
                     "reproduce, it was flaky")
    if d.status == GOOD_IS_BAD:
        does = "passes" if b.fix else "fails"
        return _base(b, GOOD_IS_BAD, d.confidence, [c[0], c[0]],
                     f"the {old} commit {does} too ({measured or c[0][:10]}): it already "
                     f"behaves like the {new} one (P={d.confidence:.3f}); the change is older "
                     "than the range")
    lo, hi = max(d.lo - 1, 0), min(d.hi, n)
    why = d.why or b.stopped_why or "stopped"
    return _base(b, INCONCLUSIVE, d.confidence, [c[lo], c[hi]],
                 f"no answer at the asked confidence: the {'fix' if b.fix else 'culprit'} is "
                 f"after {c[lo][:10]} and at or before {c[hi][:10]} ({hi - lo} commits) with "
                 f"P={d.confidence:.3f}; {why}")
