"""Where a bisection starts: its good and bad commits, the signature, and the prior pass rates.

``pcgbot bisect test_embedding_models`` with no commits reads the store: bad = the newest sweep
in which the test failed with the regression's signature, good = the nearest older sweep in
which it was healthy.  Those sweeps' pass counts seed the search's rate priors, and up to
``HISTORY_SWEEPS`` older healthy sweeps at ancestors of the good commit add to its prior.
Commits given on the command line are seeded from a sweep at that commit when the store has
one; otherwise the search measures each end first (``Seeds.measure``).
"""

from __future__ import annotations

import fnmatch
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from .. import gitutil
from ..errors import UsageError
from ..model import FAIL, PASS, RunRecord
from ..plan.schema import Plan, TestSpec


@dataclass
class Seeds:
    good: str                      # full sha of the passing end
    bad: str                       # full sha of the failing end
    before: tuple[int, int]        # (passes, runs) at the older end (good; bad for --fix)
    after: tuple[int, int]         # (passes, runs) at the newer end
    signature: Optional[str]       # failures that count; None = any failure
    source: str                    # where the seeds came from, for the report
    measure: bool = False          # no sweep data: measure both ends before searching


def sig_matches(spec: Optional[str], sig: Optional[str]) -> bool:
    """Does a failure with fingerprint ``sig`` count for ``spec`` (None = any failure; else one
    fingerprint or several, comma-separated: one bug can fail in more than one way, e.g. a
    stale CUDA-graph buffer is sometimes a wrong value and sometimes PyTorch's own error)."""
    return spec is None or (sig is not None and sig in spec.split(","))


def join_sigs(sigs: Counter, exclude: Counter | None = None) -> Optional[str]:
    """The fingerprints of ``sigs`` (commonest first) that ``exclude`` does not have, as a
    signature spec; None when there are none."""
    keep = [s for s, _ in sigs.most_common() if s and not (exclude and exclude.get(s))]
    return ",".join(keep) or None


def counts(runs: list[RunRecord], test: str, mode: str,
           signature: Optional[str]) -> tuple[int, int, Counter]:
    """(passes, pass + matching fails, signatures of all fails) of one test in one sweep.

    Failures with another signature are left out, as the probes leave them out."""
    k = n = 0
    sigs: Counter = Counter()
    for r in runs:
        if r.test != test or r.mode != mode:
            continue
        if r.outcome == PASS:
            k += 1
            n += 1
        elif r.outcome == FAIL:
            sigs[r.signature] += 1
            if sig_matches(signature, r.signature):
                n += 1
    return k, n, sigs


def open_store(store: Any):
    """A Store from a Store, a path that exists or None (the default path when it exists)."""
    from ..results.store import Store, default_store_path
    if store is None or isinstance(store, (str, Path)):
        path = Path(store or default_store_path())
        if not path.exists():
            return None
        return Store(path)
    return store


def _history(st, plan: Plan, test: str, mode: str) -> list[tuple[dict, list[RunRecord]]]:
    out = []
    for sw in st.sweeps(plan=plan.name, mode=mode):
        runs = [r for r in st.runs(sw["sweep_id"]) if r.test == test and r.mode == mode]
        if sw.get("commit") and runs:
            out.append((sw, runs))
    return out   # newest first


def _healthy(k: int, n: int, ref_fail_rate: float) -> bool:
    # Healthy = failing (with the signature) at most half as often as the regressed sweep.
    return n > 0 and k > 0 and (n - k) / n <= ref_fail_rate / 2


def _from_store(st, plan: Plan, test: str, mode: str, signature: Optional[str],
                fix: bool) -> tuple[dict, dict, Optional[str]]:
    hist = _history(st, plan, test, mode)
    if not hist:
        raise UsageError(f"store has no sweep of {test} in mode {mode} for plan {plan.name}; "
                         "give --good and --bad")
    # Default signature: the commonest one among the fails of the newest failing sweep (it
    # picks the sweeps); once they are chosen, widened to every fingerprint that fails there
    # and not in the good sweep (a bug that fails in several ways).
    widen: Optional[Counter] = None
    for sw, runs in hist:
        k, n, sigs = counts(runs, test, mode, None)
        if sigs:
            if signature is None:
                signature = sigs.most_common(1)[0][0]
                widen = sigs
            break
    rates = []
    for sw, runs in hist:
        k, n, _ = counts(runs, test, mode, signature)
        rates.append((sw, k, n))
    failing = [i for i, (_, k, n) in enumerate(rates) if n > k]
    if not failing:
        raise UsageError(f"no sweep in the store shows {test} failing"
                         + (f" with signature {signature}" if signature else ""))
    if not fix:
        ib = failing[0]                       # newest regressed sweep
        _, kb, nb = rates[ib]
        for i, (sw, k, n) in enumerate(rates[ib + 1:], ib + 1):   # nearest older healthy one
            if _healthy(k, n, (nb - kb) / nb):
                if widen is not None:     # hist[ib] is the sweep widen came from
                    old_fails = counts(hist[i][1], test, mode, None)[2]
                    signature = _widened(signature, widen, old_fails)
                return {"sw": sw, "k": k, "n": n}, {"sw": rates[ib][0], "k": kb, "n": nb}, signature
        raise UsageError(f"no sweep older than {rates[ib][0]['commit'][:10]} has {test} healthy; "
                         "give --good")
    # --fix: the newest healthy sweep, then the nearest older failing one.
    for ig, (sw, k, n) in enumerate(rates):
        if ig < failing[0] and n:
            for ib in failing:
                if ib > ig:
                    _, kb, nb = rates[ib]
                    if _healthy(k, n, (nb - kb) / nb):
                        return ({"sw": sw, "k": k, "n": n},
                                {"sw": rates[ib][0], "k": kb, "n": nb}, signature)
    raise UsageError(f"no sweep newer than a failing one has {test} healthy: nothing to "
                     "bisect for a fix yet; give --good and --bad")


def _widened(signature: str, bad_fails: Counter, good_fails: Counter) -> str:
    """``signature`` (one fingerprint or several) first, then the other fingerprints failing in
    the bad sweep only."""
    first = signature.split(",")
    rest = join_sigs(bad_fails, good_fails)
    extra = [s for s in (rest.split(",") if rest else []) if s not in first]
    return ",".join(first + extra)


def _sweep_at(st, plan: Plan, test: str, mode: str, sha: str
              ) -> Optional[tuple[str, list, Counter]]:
    """(sweep id, runs, fingerprints of the test's failures) of the newest sweep at ``sha``
    that ran ``test``, or None."""
    if st is None:
        return None
    for sw in st.sweeps(plan=plan.name, mode=mode, commit=sha):
        runs = st.runs(sw["sweep_id"])
        _, n, fails = counts(runs, test, mode, None)
        if n or fails:
            return sw["sweep_id"], runs, fails
    return None


# Older healthy sweeps added to the good end's prior: a longer healthy history pins p_before
# down, which is what a rate change (0.95 -> 0.6) spends most of its runs learning.  Capped so a
# test whose rate drifted long ago does not outvote the recent past.
HISTORY_SWEEPS = 4


def _ancestor(repo: Path, a: str, b: str) -> bool:
    try:
        return gitutil.is_ancestor(repo, a, b)
    except gitutil.GitError:      # a sweep of a commit this clone does not have
        return False


def _history_before(st, plan: Plan, test: str, mode: str, repo: Path, good_sha: str,
                    signature: Optional[str], ref_fail_rate: float) -> tuple[int, int, int]:
    """(passes, runs, sweeps) of up to HISTORY_SWEEPS healthy sweeps at strict ancestors of the
    good commit, newest first, stopping at the first unhealthy one (an older regression: what
    came before it may have had another rate)."""
    k_tot = n_tot = used = 0
    for sw, runs in _history(st, plan, test, mode):
        sha = sw["commit"]
        if used >= HISTORY_SWEEPS:
            break
        if sha == good_sha or not _ancestor(repo, sha, good_sha):
            continue        # the good sweep itself, a newer sweep, another branch, or gone
        k, n, _ = counts(runs, test, mode, signature)
        if not _healthy(k, n, ref_fail_rate):
            break
        k_tot, n_tot, used = k_tot + k, n_tot + n, used + 1
    return k_tot, n_tot, used


def seeds_for(plan: Plan, spec: TestSpec, mode: str, repo: Path, *, good: Optional[str],
              bad: Optional[str], signature: Optional[str], fix: bool, store: Any) -> Seeds:
    st = open_store(store)
    source = "command line"
    if good is None or bad is None:
        if st is None:
            raise UsageError("no store to take the good and bad commits from "
                             "(.pcgbot/pcgbot.db or $PCGBOT_STORE); give --good and --bad")
        g, b, signature = _from_store(st, plan, spec.path, mode, signature, fix)
        good = good or g["sw"]["commit"]
        bad = bad or b["sw"]["commit"]
        source = f"store: sweeps {g['sw']['sweep_id']} (good) and {b['sw']['sweep_id']} (bad)"
    good_sha = gitutil.resolve(repo, good)
    bad_sha = gitutil.resolve(repo, bad)
    at_good = _sweep_at(st, plan, spec.path, mode, good_sha)
    at_bad = _sweep_at(st, plan, spec.path, mode, bad_sha)
    if at_good is None or at_bad is None:
        return Seeds(good_sha, bad_sha, (0, 0), (0, 0), signature,
                     "nothing: no sweep of the ends in the store, "
                     "the search runs them as it needs", measure=True)
    if source == "command line":
        # Commits from the command line (the bisect workflow passes baseline..head) that the
        # store has sweeps of: those sweeps seed the model and name the regression's faces.
        source = f"store: sweeps {at_good[0]} (good) and {at_bad[0]} (bad)"
        # The commonest fingerprint (or the one given: the workflow passes the analysis's),
        # plus the faces that fail in the bad sweep only: one bug can fail several ways.
        bad_fails, good_fails = at_bad[2], at_good[2]
        if bad_fails:
            signature = _widened(signature or bad_fails.most_common(1)[0][0], bad_fails,
                                 good_fails)
    sg = counts(at_good[1], spec.path, mode, signature)[:2]
    sb = counts(at_bad[1], spec.path, mode, signature)[:2]
    if not fix and sb[1]:
        k, n, used = _history_before(st, plan, spec.path, mode, repo, good_sha, signature,
                                     (sb[1] - sb[0]) / sb[1])
        if used:
            sg = (sg[0] + k, sg[1] + n)
            source += f"; good prior + {used} older healthy sweep{'s' * (used > 1)} ({k}/{n})"
    before, after = (sb, sg) if fix else (sg, sb)
    return Seeds(good_sha, bad_sha, before, after, signature, source)


def culprit_weights(repo: Path, commits: list[str], globs: list[str],
                    weight: float) -> Optional[list[float]]:
    """Prior weight of each commit after the old end being the culprit: ``weight`` for one
    whose changed files all match the plan's ``unlikely_culprits`` globs (docs, CI config),
    1 otherwise; None when the plan names no globs or no commit is unlikely.  Never 0: a
    commit that "only changed docs" is still found if it is the one."""
    if not globs or len(commits) < 2:
        return None
    try:
        files = gitutil.changed_files(repo, commits[0], commits[-1])
    except gitutil.GitError:      # only a hint: never worth failing the bisection over
        return None
    out = [weight if files.get(c) and all(any(fnmatch.fnmatchcase(f, g) for g in globs)
                                          for f in files[c]) else 1.0
           for c in commits[1:]]
    return out if any(w != 1.0 for w in out) else None
