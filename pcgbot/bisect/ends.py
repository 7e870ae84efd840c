"""The ends of a bisection that no stored sweep seeds: measured by the search, as it goes.

Without sweeps of the good and bad commits the search starts from the rates' prior alone and
runs an end only while a run there tells more per cost than a run inside the range (see
``search``); "the good commit already fails" and "no culprit" are hypotheses of the same
posterior, so a later probe that contradicts them sends the search back to an end.  What the
ends still decide here is the regression's signature when none was given: every fingerprint the
failing end fails with (commonest first: one bug can fail in several ways), less those the
passing end fails with too (an older flake that happened to show at the failing end), except
the commonest.  Until the failing end has failed once, any failure counts.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Optional, Protocol

from ..model import FAIL as R_FAIL, TIMEOUT as R_TIMEOUT
from ..plan.schema import Plan


class Bisection(Protocol):
    """What this module reads and changes of the running bisection (``engine.Bisection``)."""
    commits: list[str]
    fix: bool
    plan: Plan
    seeds: Any
    state: Any
    search: Any

    def adopt_signature(self, sig: Optional[str]) -> None: ...


def failure_faces(b: Bisection, sha: str) -> Counter:
    """Fingerprints of the runs at ``sha`` that failed (a timeout too where the plan counts it),
    whatever the signature adopted so far."""
    counted = (R_FAIL, R_TIMEOUT) if b.plan.timeout_is_failure else (R_FAIL,)
    return Counter(p["signature"] for p in b.state.data["probes"]
                   if p["sha"] == sha and p["outcome"] in counted and p["signature"])


def ends(b: Bisection) -> tuple[int, int]:
    """(failing end, passing end) as commit indices: the newer end fails for a regression, the
    older one for a fix."""
    n = len(b.commits) - 1
    return (0, n) if b.fix else (n, 0)


def learn_signature(b: Bisection) -> bool:
    """Re-derive the signature from the ends' failures so far; True when it changed (the runs
    so far are then re-judged by ``adopt_signature``)."""
    d = b.state.data
    if not d.get("signature_from_ends"):
        return False
    fail_j, pass_j = ends(b)
    at_fail = failure_faces(b, b.commits[fail_j])
    if not at_fail:
        return False
    at_pass = failure_faces(b, b.commits[pass_j])
    faces = [s for s, _ in at_fail.most_common()]
    keep = faces[:1] + [f for f in faces[1:] if not at_pass.get(f)]
    sig = ",".join(keep)
    if sig == d["signature"]:
        return False
    b.adopt_signature(sig)
    return True


def unseeded_end(b: Bisection, j: int) -> Optional[str]:
    """When commit j is an end that no sweep measured, its name ('old end' / 'new end')."""
    n = len(b.commits) - 1
    if j not in (0, n):
        return None
    seed = b.state.data["seed_before"] if j == 0 else b.state.data["seed_after"]
    return None if seed[1] else ("old end" if j == 0 else "new end")


def end_counts(b: Bisection) -> str:
    """'4/4 at abc, 0/2 at def': the ends' passes/runs with a verdict (seeds left out)."""
    n = len(b.commits) - 1
    e0, en = b.search.ev[0], b.search.ev[n]
    return (f"{e0.passed}/{e0.runs} at {b.commits[0][:10]}, "
            f"{en.passed}/{en.runs} at {b.commits[n][:10]}")
