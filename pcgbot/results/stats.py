"""Pure statistics for pass-rate comparisons: exact tests, posteriors, verdicts.

Everything here is a pure function of counts (k = passes, n = pass+fail runs), so it can be tested
exhaustively.  No scipy: Fisher's exact test sums hypergeometric terms with exact integer
binomials (``math.comb``; the only rounding is the final division), and the beta-binomial
posterior uses ``math.lgamma``.  docs/statistics.md explains the choices and thresholds.

The verdict rule (``verdict``) is the one place that turns two pass rates into
regression / fixed / still-failing / flaky / unchanged / new-test / infra-only; diff.py and
adaptive.py both call it so a sweep that stops early reaches the same verdict the diff prints.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

# A one-sided Fisher p-value below this is an alarm (regression or fix).  0.05 is the largest
# conventional level, and it is needed: 9/10 -> 4/10 gives p=0.029 and must be a regression,
# while 10/10 -> 9/10 (p=0.5) and 10/10 -> 7/10 (p=0.105) are not.  See docs/statistics.md.
ALARM_P = 0.05

REGRESSION = "regression"
FIXED = "fixed"
STILL_FAILING = "still-failing"
FLAKY = "flaky"
UNCHANGED = "unchanged"
NEW_TEST = "new-test"
INFRA_ONLY = "infra-only"
VERDICTS = (REGRESSION, FIXED, STILL_FAILING, FLAKY, UNCHANGED, NEW_TEST, INFRA_ONLY)

Counts = tuple[int, int]  # (passes, runs) with 0 <= passes <= runs


def _check(k: int, n: int) -> None:
    if not (isinstance(k, int) and isinstance(n, int)) or n < 0 or k < 0 or k > n:
        raise ValueError(f"counts must satisfy 0 <= k <= n, got k={k!r} n={n!r}")


def _hypergeom_tail(k0: int, n0: int, k1: int, n1: int, lower: bool) -> float:
    """P(X <= k1) (lower) or P(X >= k1) for X = passes that land in the current sample when the
    k0+k1 passes of the pooled n0+n1 runs are split at random (the null of equal rates)."""
    _check(k0, n0)
    _check(k1, n1)
    big_n, big_k = n0 + n1, k0 + k1
    if n1 == 0 or n0 == 0:
        return 1.0  # one side has no runs: no evidence either way
    lo = max(0, n1 - (big_n - big_k))  # the current sample must hold at least this many passes
    hi = min(n1, big_k)
    xs = range(lo, k1 + 1) if lower else range(k1, hi + 1)
    num = sum(math.comb(big_k, x) * math.comb(big_n - big_k, n1 - x) for x in xs)
    return min(1.0, num / math.comb(big_n, n1))


def fisher_drop_p(k0: int, n0: int, k1: int, n1: int) -> float:
    """One-sided Fisher exact p-value for "the current pass rate is lower than the baseline's"."""
    return _hypergeom_tail(k0, n0, k1, n1, lower=True)


def fisher_rise_p(k0: int, n0: int, k1: int, n1: int) -> float:
    """One-sided Fisher exact p-value for "the current pass rate is higher than the baseline's"."""
    return _hypergeom_tail(k0, n0, k1, n1, lower=False)


def fisher_two_sided_p(k0: int, n0: int, k1: int, n1: int) -> float:
    """Two-sided Fisher exact p-value: sum of the tables no more probable than the observed one."""
    _check(k0, n0)
    _check(k1, n1)
    if n0 == 0 or n1 == 0:
        return 1.0
    big_n, big_k = n0 + n1, k0 + k1
    lo, hi = max(0, n1 - (big_n - big_k)), min(n1, big_k)
    terms = {x: math.comb(big_k, x) * math.comb(big_n - big_k, n1 - x) for x in range(lo, hi + 1)}
    obs = terms[k1]
    return min(1.0, sum(t for t in terms.values() if t <= obs) / math.comb(big_n, n1))


def lbeta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def prob_rate_dropped(k0: int, n0: int, k1: int, n1: int, prior: tuple[int, int] = (1, 1)) -> float:
    """Posterior P(p_current < p_baseline) with independent Beta(prior) priors (beta-binomial).

    Exact closed form for an integer first shape parameter (Evan Miller's sum):
    P(pB > pA) = sum_{i<aB} B(aA+i, bA+bB) / ((bB+i) B(1+i, bB) B(aA, bA)),  with B = current.
    """
    _check(k0, n0)
    _check(k1, n1)
    a0, b0 = k0 + prior[0], n0 - k0 + prior[1]
    a1, b1 = k1 + prior[0], n1 - k1 + prior[1]
    total = 0.0
    for i in range(a1):
        total += math.exp(lbeta(a0 + i, b0 + b1) - math.log(b1 + i) - lbeta(1 + i, b1)
                          - lbeta(a0, b0))
    return min(1.0, max(0.0, 1.0 - total))  # 1 - P(p_current > p_baseline); ties have measure 0


def rate_estimate(k: int, n: int) -> float:
    """Posterior mean of a pass rate under a uniform prior, (k+1)/(n+2): never exactly 0 or 1, so
    a clean 10/10 baseline still admits a rare failure (likelihoods stay finite)."""
    _check(k, n)
    return (k + 1) / (n + 2)


def fmt_p(p: float) -> str:
    return f"{p:.2g}" if p >= 0.001 else f"{p:.1e}"


@dataclass(frozen=True)
class Verdict:
    verdict: str
    statistic: str                   # one line: the test, its value and the threshold
    p_drop: Optional[float] = None   # one-sided Fisher p for a drop (None without a baseline)
    p_rise: Optional[float] = None
    prob_dropped: Optional[float] = None  # beta-binomial P(p_current < p_baseline)


def verdict(baseline: Optional[Counts], current: Counts, alarm_p: float = ALARM_P) -> Verdict:
    """Classify one test from its baseline and current (passes, runs).

    Order matters and is documented in docs/statistics.md:
    no current pass/fail run -> infra-only; no baseline runs -> new-test;
    one-sided Fisher drop p < alarm_p -> regression; rise p < alarm_p -> fixed;
    otherwise (no significant change): all current runs pass and the baseline passed at least
    half -> unchanged; both baseline and current fail more than half their runs ->
    still-failing; anything else (0/3 -> 3/3 included) -> flaky.
    """
    k1, n1 = current
    _check(k1, n1)
    if n1 == 0:
        return Verdict(INFRA_ONLY,
                       "no pass/fail run in the current sweep (only infra/timeout/skip)")
    if baseline is None or baseline[1] == 0:
        return Verdict(NEW_TEST, f"no baseline runs; current {k1}/{n1}")
    k0, n0 = baseline
    _check(k0, n0)
    p_drop = fisher_drop_p(k0, n0, k1, n1)
    p_rise = fisher_rise_p(k0, n0, k1, n1)
    post = prob_rate_dropped(k0, n0, k1, n1)
    thr = fmt_p(alarm_p)
    if p_drop < alarm_p:
        v, p, side = REGRESSION, p_drop, "drop"
    elif p_rise < alarm_p:
        v, p, side = FIXED, p_rise, "rise"
    else:
        p, side = min(p_drop, p_rise), ("drop" if p_drop <= p_rise else "rise")
        if k1 == n1 and 2 * k0 >= n0:
            v = UNCHANGED
        elif k1 == n1:
            # a mostly failing baseline, a clean but small current sample (0/3 -> 3/3): not yet
            # significant, so not "fixed" -- and not "unchanged" either; more runs decide
            v = FLAKY
        elif 2 * k0 < n0 and 2 * k1 < n1:
            v = STILL_FAILING
        else:
            v = FLAKY
    stat = (f"Fisher exact one-sided ({side}) p={fmt_p(p)} (alarm p<{thr}); "
            f"beta-binomial P(rate fell)={post:.3f}")
    return Verdict(v, stat, p_drop, p_rise, post)


# Baselines pool earlier sweeps up to this many runs per test (see pool_history).
POOL_RUNS = 20


def pool_history(history: list[Counts], want: int = POOL_RUNS,
                 alarm_p: float = ALARM_P) -> Optional[Counts]:
    """Pool one test's counts over successive earlier sweeps, newest first, until ``want`` runs.

    Adaptive sweeps stop boring tests after ~3 runs, so one baseline sweep is weak evidence;
    earlier sweeps of the same branch add to it.  Pooling stops at the first older sweep whose
    counts differ from the pool so far (two-sided Fisher p < alarm_p): a change point, i.e. the
    older sweep predates a change of rate and would dilute it.  None when no sweep has runs.
    """
    k = n = 0
    for hk, hn in history:
        _check(hk, hn)
        if hn == 0:
            continue
        if n and fisher_two_sided_p(k, n, hk, hn) < alarm_p:
            break
        k, n = k + hk, n + hn
        if n >= want:
            break
    return (k, n) if n else None
