"""Adaptive repeats: when has a test run often enough?  A pure stopping policy.

The fixed protocol runs every test 10 times.  Most tests are boring (10/10 before, passing now),
and a few runs settle them; a few are ambiguous and deserve more than 10.  ``decide`` is called
after each finished run of a test with the baseline counts and the current counts, and answers
"stop" or "continue" with a reason.

How the error rates are met (docs/statistics.md has the derivation and the benchmark):
- Two one-sided Wald sequential probability ratio tests (SPRT).  H0 "same rate as the
  baseline" is the beta-binomial predictive of the baseline's Beta(k0+1, n0-k0+1) posterior (a
  weak baseline makes H0 broad); with p0 = (k0+1)/(n0+2), "dropped" H1 is p = max(p0 - delta,
  FLOOR) and "rose" H1 is p = min(p0 + delta, 1 - FLOOR).  Wald's bounds
  A = log((1-beta)/alpha),  B = log(beta/(1-alpha))  keep the false alarm rate <= alpha and the
  miss rate at the alternative <= beta (approximately: Wald's bounds ignore the overshoot).
  A side whose alternative is less than MIN_GAP away from p0 (a 10/10 test cannot "rise"; a
  0/10 test cannot "drop") is moot.
- A side stops with an alarm only when its SPRT crossed A *and* the diff's own verdict
  (stats.verdict: one-sided Fisher exact p < stats.ALARM_P) already says regression / fixed, so a
  sweep that stops early always reaches the verdict that ``pcgbot diff`` will print.
- Every live side crossing B ("no change of size delta") stops the test; ``max_runs`` truncates.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Optional

from . import stats

DEFAULT_MIN_RUNS = 3
DEFAULT_MAX_RUNS = 20
DEFAULT_ALPHA = 0.005  # false alarm rate per test and side (SPRT, under "same rate as baseline")
DEFAULT_BETA = 0.15    # miss rate at the alternative p0 -/+ delta
# The design point copies the fixed protocol's: 10/10 vs 10 runs with Fisher p<0.05 catches a
# drop to 50% with probability 0.83 (misses 17%), so we promise a miss rate <= 15% at a drop of
# 0.5, and buy it with ~3 runs for a clean test instead of 10 (bench/bench_adaptive.py).
DEFAULT_DELTA = 0.5
FLOOR = 0.02    # Chromium Findit's "stable" bounds: < 2% or > 98% pass is stable
MIN_GAP = 0.25  # a side whose alternative is closer than this to p0 is not worth testing

STOP = "stop"
CONTINUE = "continue"


class Decision(NamedTuple):
    action: str   # "stop" | "continue"
    reason: str   # one line, shown in progress output and logs


def sprt_bounds(alpha: float, beta: float) -> tuple[float, float]:
    """Wald's (lower, upper) log-likelihood-ratio bounds for error rates alpha, beta."""
    return math.log(beta / (1 - alpha)), math.log((1 - beta) / alpha)


def llr(passes: int, fails: int, baseline: tuple[int, int], p1: float) -> float:
    """log P(data | rate p1) / P(data | same rate as the baseline).

    The null is not a point: the baseline rate is only known through k0/n0, so the data's
    probability under "no change" is the beta-binomial predictive with a Beta(k0+1, n0-k0+1)
    posterior, B(k0+1+passes, f0+1+fails) / B(k0+1, f0+1).  A weak baseline (3/3) thus makes a
    run of failures less surprising than a strong one (30/30) does.
    """
    k0, n0 = baseline
    a, b = k0 + 1, n0 - k0 + 1
    log_null = stats.lbeta(a + passes, b + fails) - stats.lbeta(a, b)
    log_alt = passes * math.log(p1) + fails * math.log(1 - p1)
    return log_alt - log_null


def alternatives(p0: float, delta: float) -> tuple[Optional[float], Optional[float]]:
    """(dropped, rose) alternative rates for a baseline rate p0; None where the side is moot."""
    lo = max(p0 - delta, FLOOR)
    hi = min(p0 + delta, 1 - FLOOR)
    return (lo if p0 - lo >= MIN_GAP else None), (hi if hi - p0 >= MIN_GAP else None)


def _validate(passes: int, runs: int, min_runs: int, max_runs: int, alpha: float, beta: float,
              delta: float) -> None:
    if not 0 <= passes <= runs:
        raise ValueError(f"need 0 <= passes <= runs, got passes={passes} runs={runs}")
    if not 1 <= min_runs <= max_runs:
        raise ValueError(f"need 1 <= min_runs <= max_runs, got {min_runs}, {max_runs}")
    if not (0 < alpha < 0.5 and 0 < beta < 0.5 and 0 < delta < 1):
        raise ValueError(f"need 0 < alpha, beta < 0.5 and 0 < delta < 1, "
                         f"got {alpha}, {beta}, {delta}")


def decide(baseline: Optional[tuple[int, int]], passes: int, runs: int, *,
           min_runs: int = DEFAULT_MIN_RUNS, max_runs: int = DEFAULT_MAX_RUNS,
           alpha: float = DEFAULT_ALPHA, beta: float = DEFAULT_BETA,
           delta: float = DEFAULT_DELTA) -> Decision:
    """Stop or continue repeating one test.

    baseline: (passes, runs) of the test in the baseline (pass/fail runs only), or None.
    passes, runs: current pass count and pass+fail run count (infra/skip never count; timeouts
    count as fails only where the plan says so: the caller counts exactly as the diff does).
    """
    _validate(passes, runs, min_runs, max_runs, alpha, beta, delta)
    fails = runs - passes
    if runs >= max_runs:
        return Decision(STOP, f"reached max_runs={max_runs} ({passes}/{runs} passed)")
    if runs < min_runs:
        return Decision(CONTINUE, f"{runs} of min_runs={min_runs} runs")
    if baseline is None or baseline[1] == 0:
        # Nothing to compare with: a unanimous result is a good baseline for next time; a mixed
        # one is a flaky test whose rate the next sweep will need, so measure it up to the cap.
        if fails == 0 or passes == 0:
            what = "passed" if fails == 0 else "failed"
            return Decision(STOP, f"new test: all {runs} runs {what}")
        return Decision(CONTINUE,
                        f"new test with mixed results ({passes}/{runs}): measuring its rate")
    k0, n0 = baseline
    p0 = stats.rate_estimate(k0, n0)
    lower, upper = sprt_bounds(alpha, beta)
    v = stats.verdict((k0, n0), (passes, runs)).verdict
    open_sides: list[str] = []
    for name, alt, alarm in (("drop", alternatives(p0, delta)[0], stats.REGRESSION),
                             ("rise", alternatives(p0, delta)[1], stats.FIXED)):
        if alt is None:
            continue
        z = llr(passes, fails, (k0, n0), alt)
        # For a unanimous baseline (never failed / never passed) the flip to the other extreme is
        # checked for the alarm too: with a weak baseline (3/3) the predictive null is broad, and
        # a run of failures is far more likely under "now always fails" than under p0 - delta
        # (without this, 3/3 then 0/n only alarms at max_runs).  Two looks at most double alpha.
        flip = (name == "drop" and k0 == n0) or (name == "rise" and k0 == 0)
        if flip:
            z_alarm = max(z, llr(passes, fails, (k0, n0), FLOOR if name == "drop" else 1 - FLOOR))
        else:
            z_alarm = z
        if z_alarm >= upper and v == alarm:
            return Decision(STOP, f"{alarm} decided: {passes}/{runs} vs baseline {k0}/{n0}, SPRT "
                                  f"log-LR {z:.2f} >= {upper:.2f} and Fisher p<{stats.ALARM_P}")
        if z > lower:
            open_sides.append(f"{name} log-LR {z:.2f} in ({lower:.2f}, {upper:.2f})")
    if not open_sides and v in (stats.REGRESSION, stats.FIXED):
        # The SPRT rules out a change of delta, yet Fisher sees a smaller significant one (4/17
        # then 0/18): stop, and say which verdict the diff will print.
        return Decision(STOP, f"{v} decided: {passes}/{runs} vs baseline {k0}/{n0}, Fisher "
                              f"p<{stats.ALARM_P}; the change is smaller than {delta:.0%}")
    if not open_sides:
        return Decision(STOP, f"no change of {delta:.0%} or more: {passes}/{runs} vs baseline "
                              f"{k0}/{n0} (SPRT alpha={alpha} beta={beta})")
    return Decision(CONTINUE, "ambiguous: " + "; ".join(open_sides))


def operating_characteristic(baseline: Optional[tuple[int, int]], p: float,
                             **kw) -> dict[str, float]:
    """Exact behaviour of ``decide`` for a test whose true pass rate is ``p``: the probabilities
    that it stops with verdict regression / fixed / anything else, and the expected number of
    runs.  Dynamic programming over the (passes, runs) states, no simulation; used by the tests
    and docs/statistics.md to check the promised error rates."""
    max_runs = kw.get("max_runs", DEFAULT_MAX_RUNS)
    out = {stats.REGRESSION: 0.0, stats.FIXED: 0.0, "other": 0.0, "expected_runs": 0.0}
    live = {0: 1.0}  # passes -> probability of being at (passes, runs) and still running
    for runs in range(1, max_runs + 1):
        nxt: dict[int, float] = {}
        for k, pr in live.items():
            for dk, q in ((1, p), (0, 1 - p)):
                if q > 0:
                    nxt[k + dk] = nxt.get(k + dk, 0.0) + pr * q
        live = {}
        for k, pr in nxt.items():
            if decide(baseline, k, runs, **kw).action == STOP:
                v = stats.verdict(baseline, (k, runs)).verdict
                out[v if v in (stats.REGRESSION, stats.FIXED) else "other"] += pr
                out["expected_runs"] += pr * runs
            else:
                live[k] = pr
    return out
