"""pcgbot.results.adaptive: the stopping policy, its consistency with the diff, and its error rates
computed exactly (dynamic programming over run sequences, no simulation)."""

from __future__ import annotations

import pytest

from pcgbot.results import adaptive
from pcgbot.results import stats
from pcgbot.results.adaptive import CONTINUE, STOP, decide, operating_characteristic


def test_clean_test_stops_after_three_passes() -> None:
    assert decide((10, 10), 2, 2).action == CONTINUE          # below min_runs
    d = decide((10, 10), 3, 3)
    assert d.action == STOP and "no change" in d.reason
    assert decide((20, 20), 3, 3).action == STOP
    assert decide((10, 10), 3, 4).action == CONTINUE          # one failure: look closer


def test_clear_break_stops_as_regression() -> None:
    d = decide((10, 10), 0, 3)
    assert d.action == STOP and d.reason.startswith("regression decided")
    assert stats.verdict((10, 10), (0, 3)).verdict == stats.REGRESSION


def test_ambiguous_continues_until_cap() -> None:
    d = decide((10, 10), 2, 3)
    assert d.action == CONTINUE and d.reason.startswith("ambiguous")
    d = decide((10, 10), 14, 20)
    assert d.action == STOP and "max_runs=20" in d.reason
    assert decide((10, 10), 5, 7, max_runs=7).action == STOP


def test_still_failing_and_fixed() -> None:
    assert decide((0, 10), 0, 3).action == STOP                 # cannot drop; did not rise
    d = decide((0, 10), 3, 3)
    assert d.action == STOP and d.reason.startswith("fixed decided")
    assert decide((0, 10), 1, 3).action == CONTINUE


def test_new_test() -> None:
    assert decide(None, 3, 3).action == STOP
    assert decide((0, 0), 0, 3).action == STOP
    d = decide(None, 2, 3)
    assert d.action == CONTINUE and "new test" in d.reason
    assert decide(None, 12, 20).action == STOP


@pytest.mark.parametrize("kw", [dict(min_runs=0), dict(min_runs=5, max_runs=4), dict(alpha=0.0),
                                dict(beta=0.7), dict(delta=1.5)])
def test_bad_parameters(kw) -> None:
    with pytest.raises(ValueError):
        decide((10, 10), 1, 1, **kw)
    with pytest.raises(ValueError):
        decide((10, 10), 4, 3)


def test_alarm_stop_always_matches_the_diff_verdict() -> None:
    """Exhaustive: whenever decide stops on an alarm, `pcgbot diff` prints that same verdict,
    and a "no change" stop never hides a verdict the diff would call an alarm."""
    for n0 in range(0, 21):
        for k0 in range(n0 + 1):
            for runs in range(1, 21):
                for passes in range(runs + 1):
                    d = decide((k0, n0), passes, runs)
                    v = stats.verdict((k0, n0), (passes, runs)).verdict
                    if d.reason.startswith("regression decided"):
                        assert v == stats.REGRESSION
                    elif d.reason.startswith("fixed decided"):
                        assert v == stats.FIXED
                    elif d.action == STOP and d.reason.startswith("no change"):
                        assert v not in (stats.REGRESSION, stats.FIXED), (k0, n0, passes, runs)


@pytest.mark.parametrize("base", [(10, 10), (20, 20), (12, 12)])
def test_error_rates_clean_baseline(base) -> None:
    # a healthy test (true rate 1.0) costs 3-4 runs and never alarms
    oc = operating_characteristic(base, 1.0)
    assert oc[stats.REGRESSION] == 0 and oc["expected_runs"] <= 4
    # a break to 0% is always caught
    assert operating_characteristic(base, 0.0)[stats.REGRESSION] == 1.0
    # at the design alternative (drop of delta=0.5) the miss rate is <= beta (+ Wald slack)
    assert 1 - operating_characteristic(base, 0.45)[stats.REGRESSION] <= adaptive.DEFAULT_BETA + 0.03
    # a 2% flake does not alarm more often than alpha
    assert operating_characteristic(base, 0.98)[stats.REGRESSION] <= adaptive.DEFAULT_ALPHA


@pytest.mark.parametrize("base,p", [((9, 10), 0.9), ((8, 10), 0.8), ((5, 10), 0.5),
                                    ((18, 20), 0.9), ((2, 10), 0.2)])
def test_false_alarm_rate_when_rate_unchanged(base, p) -> None:
    oc = operating_characteristic(base, p)
    assert oc[stats.REGRESSION] + oc[stats.FIXED] <= 2 * adaptive.DEFAULT_ALPHA
    assert oc["expected_runs"] < 10


def test_weak_clean_baseline_break_is_fast() -> None:
    # 3/3 then always failing: the flip alternative alarms at 6 runs instead of max_runs
    oc = operating_characteristic((3, 3), 0.0)
    assert oc[stats.REGRESSION] == 1.0 and oc["expected_runs"] == 6


def test_operating_characteristic_sums_to_one() -> None:
    for base in [None, (10, 10), (0, 10), (4, 7)]:
        for p in (0.0, 0.3, 0.9, 1.0):
            oc = operating_characteristic(base, p)
            assert oc[stats.REGRESSION] + oc[stats.FIXED] + oc["other"] == pytest.approx(1.0)
            assert adaptive.DEFAULT_MIN_RUNS <= oc["expected_runs"] <= adaptive.DEFAULT_MAX_RUNS


def test_sprt_bounds_and_llr() -> None:
    lo, hi = adaptive.sprt_bounds(0.05, 0.05)
    assert lo == pytest.approx(-hi)
    assert hi == pytest.approx(2.944, abs=1e-3)
    # passes favour "same as a clean baseline", fails favour the drop
    assert adaptive.llr(3, 0, (10, 10), 0.4) < 0 < adaptive.llr(0, 2, (10, 10), 0.4)
    assert adaptive.alternatives(11 / 12, 0.5) == (pytest.approx(11 / 12 - 0.5), None)
    assert adaptive.alternatives(1 / 12, 0.5) == (None, pytest.approx(1 / 12 + 0.5))
