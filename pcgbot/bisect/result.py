"""What a bisection concludes, as data (``to_dict`` = analysis.json's culprit/fix shape) and text.

A result below the asked confidence is "inconclusive" with the commit range still in question;
it never names a single commit as if it were the answer.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional, Protocol

from .. import gitutil
from ..model import FAIL as R_FAIL
from ..plan.schema import Plan, TestSpec
from ..results.stats import fisher_drop_p
from .search import FAIL, FOUND, GOOD_IS_BAD, INCONCLUSIVE, NO_CULPRIT, Search
from .seed import join_sigs


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

    def adopt_signature(self, sig: Optional[str]) -> None: ...
    def ensure_setup(self, sha: str) -> bool: ...
    def out_of_time(self) -> bool: ...
    def run_jobs(self, jobs: list[tuple[str, int]]) -> None: ...
    def _attempts(self, sha: str) -> int: ...
    def _next_attempt(self, sha: str) -> int: ...


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
    runs: int = 0                  # test runs spent
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
        lines.append(f"confidence {self.confidence:.3f}, {self.runs} runs{took}, {self.setups} setups"
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
    if d.status == NO_CULPRIT:
        return _base(b, NO_CULPRIT, d.confidence, [c[0], c[n]],
                     f"no commit in the range changed the pass rate (P={d.confidence:.3f}): "
                     f"the {'fix' if b.fix else 'alarm'} did not reproduce, it was flaky")
    if d.status == GOOD_IS_BAD:
        return _base(b, GOOD_IS_BAD, d.confidence, [c[0], c[0]],
                     f"the {old} commit {c[0][:10]} already behaves like the {new} one "
                     f"(P={d.confidence:.3f}): the change is older than the range")
    lo, hi = max(d.lo - 1, 0), min(d.hi, n)
    why = d.why or b.stopped_why or "stopped"
    return _base(b, INCONCLUSIVE, d.confidence, [c[lo], c[hi]],
                 f"no answer at the asked confidence: the {'fix' if b.fix else 'culprit'} is "
                 f"after {c[lo][:10]} and at or before {c[hi][:10]} ({hi - lo} commits) with "
                 f"P={d.confidence:.3f}; {why}")


def _prune_old_faces(b: Bisection, pass_sha: str) -> bool:
    """A fingerprint adopted from the failing end that also fails at the passing end is an
    older flake that happened to show up there, not a face of this regression: drop it
    (never the commonest one, which picked the regression)."""
    spec = b.state.data["signature"] or ""
    faces = spec.split(",")
    old = {p["signature"] for p in b.state.data["probes"]
           if p["sha"] == pass_sha and p["outcome"] == R_FAIL}
    keep = faces[:1] + [f for f in faces[1:] if f not in old]
    if keep == faces:
        return False
    b.adopt_signature(",".join(keep))
    return True


def _top_up(b: Bisection, j: int, r: int) -> None:
    """Run commit j until it has r runs with a verdict: runs without one (an unrelated crash,
    a timeout) are made up for, up to 2r attempts.  In parallel on the slots."""
    sha = b.commits[j]
    while not b.out_of_time():
        need = min(r - b.search.ev[j].runs, 2 * r - b._attempts(sha))
        if need <= 0:
            return
        first = b._next_attempt(sha)
        b.run_jobs([(sha, first + i) for i in range(need)])


def endpoint_check(b: Bisection, runs: Optional[int] = None) -> Optional[BisectResult]:
    """Without sweep data, measure both ends first (KernelCI re-checks its good and bad commits
    too).  Ends that do not differ significantly end the bisection with the reason."""
    r = runs or min(max(b.plan.repeats, 4), 10)   # 3 vs 3 can never reach p < 0.05
    n = len(b.commits) - 1
    # The failing end first: its failures define the signature when none was given.
    for j in ((0, n) if b.fix else (n, 0)):
        if b.out_of_time():
            break
        sha = b.commits[j]
        if not b.ensure_setup(sha):
            b.search.mark_untestable(j)
            return _base(b, INCONCLUSIVE, 0.0, [b.commits[0], b.commits[n]],
                         f"the setup fails at the {'old' if j == 0 else 'new'} end {sha[:10]}")
        _top_up(b, j, r)
        if b.state.data["signature"] is None and j == (0 if b.fix else n):
            sigs = Counter(p["signature"] for p in b.state.data["probes"]
                           if p["sha"] == sha and p["verdict"] == FAIL and p["signature"])
            if sigs:   # every way it failed there (commonest first): one bug, several faces
                b.state.data["signature_from_ends"] = True
                b.adopt_signature(join_sigs(sigs))
    if b.stopped_why:   # the budget ran out while measuring the ends
        e0, en = b.search.ev[0], b.search.ev[n]
        return _base(b, INCONCLUSIVE, 0.0, [b.commits[0], b.commits[n]],
                     f"measuring the ends: {e0.passed}/{e0.runs} at {b.commits[0][:10]}, "
                     f"{en.passed}/{en.runs} at {b.commits[n][:10]}; {b.stopped_why}")
    if b.state.data.get("signature_from_ends") and _prune_old_faces(b, b.commits[n if b.fix else 0]):
        for j in ((0, n) if b.fix else (n, 0)):   # runs of a dropped face have no verdict now
            if b.search.ev[j].runs < r and b.ensure_setup(b.commits[j]):
                _top_up(b, j, r)
    e0, en = b.search.ev[0], b.search.ev[n]
    k_old, n_old = e0.passed, e0.runs
    k_new, n_new = en.passed, en.runs
    if b.fix:   # a fix raises the pass rate: the old end is the failing one
        p = fisher_drop_p(k_new, n_new, k_old, n_old) if n_old and n_new else 1.0
    else:
        p = fisher_drop_p(k_old, n_old, k_new, n_new) if n_old and n_new else 1.0
    if p < 0.05:
        return None
    fail_end, pass_end = (e0, en) if b.fix else (en, e0)
    c = b.commits
    counts = f"{k_old}/{n_old} at {c[0][:10]}, {k_new}/{n_new} at {c[n][:10]}"
    if pass_end.runs and pass_end.passed / pass_end.runs < 0.5:
        return _base(b, GOOD_IS_BAD, 1.0 - p, [c[0], c[0]] if not b.fix else [c[n], c[n]],
                     f"the good commit fails too ({counts}): the change is outside the range")
    if fail_end.runs and fail_end.passed / fail_end.runs >= 0.8:
        return _base(b, NO_CULPRIT, 1.0 - p, [c[0], c[n]],
                     f"the bad commit does not reproduce the failure ({counts})")
    return _base(b, INCONCLUSIVE, 1.0 - p, [c[0], c[n]],
                 f"the two ends do not differ significantly ({counts}, Fisher p={p:.2g})")
