"""pcgbot.results.stats: exact tests checked against brute-force enumeration, verdicts from the issue."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pcgbot.results import stats
from pcgbot.results.stats import (fisher_drop_p, fisher_rise_p, fisher_two_sided_p, pool_history,
                          prob_rate_dropped, verdict)


def brute_tail(k0: int, n0: int, k1: int, n1: int) -> tuple[Fraction, Fraction, Fraction]:
    """(P(X<=k1), P(X>=k1), P(X=k1)) by listing every way to pick which runs are 'current'.

    Independent of the hypergeometric formula: label the n0+n1 runs, mark k0+k1 of them as
    passes, and count the n1-subsets by how many passes they hold."""
    big_n, big_k = n0 + n1, k0 + k1
    counts: dict[int, int] = {}
    for subset in itertools.combinations(range(big_n), n1):
        x = sum(1 for i in subset if i < big_k)
        counts[x] = counts.get(x, 0) + 1
    total = sum(counts.values())
    le = Fraction(sum(c for x, c in counts.items() if x <= k1), total)
    ge = Fraction(sum(c for x, c in counts.items() if x >= k1), total)
    eq = Fraction(counts.get(k1, 0), total)
    return le, ge, eq


def tables(max_n: int):
    for n0 in range(1, max_n + 1):
        for n1 in range(1, max_n + 1):
            for k0 in range(n0 + 1):
                for k1 in range(n1 + 1):
                    yield k0, n0, k1, n1


@pytest.mark.parametrize("n0,n1", [(a, b) for a in range(1, 7) for b in range(1, 7)])
def test_fisher_matches_enumeration(n0: int, n1: int) -> None:
    for k0 in range(n0 + 1):
        for k1 in range(n1 + 1):
            le, ge, eq = brute_tail(k0, n0, k1, n1)
            assert fisher_drop_p(k0, n0, k1, n1) == pytest.approx(float(le), rel=1e-12)
            assert fisher_rise_p(k0, n0, k1, n1) == pytest.approx(float(ge), rel=1e-12)
            assert float(le + ge - eq) == pytest.approx(1.0)


def test_fisher_known_values() -> None:
    # 10/10 vs 3/10: only one table is as extreme: C(13,3)/C(20,10) = 286/184756
    assert fisher_drop_p(10, 10, 3, 10) == pytest.approx(286 / 184756, rel=1e-15)
    # 9/10 vs 4/10: (C(13,3)C(7,7) + C(13,4)C(7,6)) / C(20,10)
    assert fisher_drop_p(9, 10, 4, 10) == pytest.approx(5291 / 184756, rel=1e-15)
    assert fisher_drop_p(10, 10, 9, 10) == pytest.approx(0.5)
    assert fisher_rise_p(0, 10, 10, 10) == pytest.approx(1 / 184756)
    # R: fisher.test(matrix(c(3,1,1,3),2))$p.value == 0.4857143
    assert fisher_two_sided_p(3, 4, 1, 4) == pytest.approx(0.4857142857)


def test_two_sided_at_least_one_sided() -> None:
    for k0, n0, k1, n1 in tables(6):
        two = fisher_two_sided_p(k0, n0, k1, n1)
        assert two >= min(fisher_drop_p(k0, n0, k1, n1), fisher_rise_p(k0, n0, k1, n1)) - 1e-12
        assert 0 <= two <= 1


def test_monotone_exhaustive() -> None:
    """Fewer current passes (or more baseline passes) never makes a regression less likely."""
    for n0 in range(1, 13):
        for n1 in range(1, 13):
            for k0 in range(n0 + 1):
                ps = [fisher_drop_p(k0, n0, k1, n1) for k1 in range(n1 + 1)]
                assert all(a <= b + 1e-15 for a, b in zip(ps, ps[1:]))
                regs = [verdict((k0, n0), (k1, n1)).verdict == stats.REGRESSION
                        for k1 in range(n1 + 1)]
                # once not a regression at some k1, never a regression at a larger k1
                assert regs == sorted(regs, reverse=True)
            for k1 in range(n1 + 1):
                ps = [fisher_drop_p(k0, n0, k1, n1) for k0 in range(n0 + 1)]
                assert all(a >= b - 1e-15 for a, b in zip(ps, ps[1:]))


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 60), st.integers(1, 60), st.data())
def test_monotone_property(n0: int, n1: int, data) -> None:
    k0 = data.draw(st.integers(0, n0))
    k1 = data.draw(st.integers(1, n1))
    assert fisher_drop_p(k0, n0, k1 - 1, n1) <= fisher_drop_p(k0, n0, k1, n1) + 1e-12
    assert prob_rate_dropped(k0, n0, k1 - 1, n1) >= prob_rate_dropped(k0, n0, k1, n1) - 1e-9
    if verdict((k0, n0), (k1, n1)).verdict == stats.REGRESSION:
        assert verdict((k0, n0), (k1 - 1, n1)).verdict == stats.REGRESSION


def _numeric_prob_dropped(k0: int, n0: int, k1: int, n1: int, steps: int = 4000) -> float:
    a0, b0, a1, b1 = k0 + 1, n0 - k0 + 1, k1 + 1, n1 - k1 + 1

    def pdf(x: float, a: int, b: int) -> float:
        return math.exp((a - 1) * math.log(x) + (b - 1) * math.log(1 - x) - stats.lbeta(a, b))

    cdf1 = total = 0.0
    for i in range(steps):  # P(p1 < p0) = integral of f0(x) * F1(x)
        x = (i + 0.5) / steps
        total += pdf(x, a0, b0) / steps * (cdf1 + pdf(x, a1, b1) / steps / 2)
        cdf1 += pdf(x, a1, b1) / steps
    return total


@pytest.mark.parametrize("case", [(10, 10, 9, 10), (10, 10, 3, 10), (9, 10, 4, 10),
                                  (0, 10, 10, 10), (3, 3, 0, 3), (5, 10, 5, 10), (1, 2, 7, 9)])
def test_prob_rate_dropped_matches_integration(case) -> None:
    assert prob_rate_dropped(*case) == pytest.approx(_numeric_prob_dropped(*case), abs=2e-4)


def test_prob_rate_dropped_symmetry() -> None:
    for k0, n0, k1, n1 in tables(5):
        assert prob_rate_dropped(k0, n0, k1, n1) + prob_rate_dropped(k1, n1, k0, n0) == \
            pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("base,cur,want", [
    ((10, 10), (9, 10), stats.FLAKY),          # issue: 10/10 -> 9/10 is not a regression
    ((10, 10), (3, 10), stats.REGRESSION),     # issue: 10/10 -> 3/10 is
    ((9, 10), (4, 10), stats.REGRESSION),      # issue: a drop of rate 9/10 -> 4/10 is too
    ((0, 10), (10, 10), stats.FIXED),          # issue: 0/10 -> 10/10 is fixed
    ((10, 10), (7, 10), stats.FLAKY),          # p = 0.105: not significant at 10 runs
    ((10, 10), (10, 10), stats.UNCHANGED),
    ((9, 10), (10, 10), stats.UNCHANGED),
    ((0, 10), (0, 10), stats.STILL_FAILING),
    ((2, 10), (1, 10), stats.STILL_FAILING),
    ((5, 10), (5, 10), stats.FLAKY),
    (None, (3, 10), stats.NEW_TEST),
    ((0, 0), (3, 3), stats.NEW_TEST),
    ((10, 10), (0, 0), stats.INFRA_ONLY),
    (None, (0, 0), stats.INFRA_ONLY),
])
def test_verdicts(base, cur, want) -> None:
    v = verdict(base, cur)
    assert v.verdict == want, v.statistic


def test_statistic_names_test_and_threshold() -> None:
    s = verdict((10, 10), (3, 10)).statistic
    assert "Fisher exact one-sided" in s and "p=0.0015" in s and "alarm p<0.05" in s
    assert "beta-binomial" in s


def test_verdict_closed_set_exhaustive() -> None:
    for k0, n0, k1, n1 in tables(8):
        assert verdict((k0, n0), (k1, n1)).verdict in stats.VERDICTS


@pytest.mark.parametrize("bad", [(-1, 3), (4, 3), (1, -1)])
def test_bad_counts_raise(bad) -> None:
    with pytest.raises(ValueError):
        fisher_drop_p(*bad, 1, 2)
    with pytest.raises(ValueError):
        verdict((10, 10), bad)


def test_rate_estimate_never_extreme() -> None:
    assert stats.rate_estimate(10, 10) == pytest.approx(11 / 12)
    assert stats.rate_estimate(0, 0) == 0.5
    assert 0 < stats.rate_estimate(0, 100) < stats.rate_estimate(100, 100) < 1


def test_pool_history() -> None:
    assert pool_history([(3, 3)] * 10, want=10) == (12, 12)
    assert pool_history([(3, 3)] * 10, want=20) == (21, 21)
    assert pool_history([], want=10) is None
    assert pool_history([(0, 0), (0, 0)], want=10) is None
    assert pool_history([(0, 0), (1, 4)], want=10) == (1, 4)
    # change point: 10/10 now after 0/10 before: the older sweep is not pooled
    assert pool_history([(10, 10), (0, 10), (10, 10)], want=30) == (10, 10)
    # same rate, different sizes: pooled
    assert pool_history([(4, 5), (8, 10), (9, 10)], want=20) == (21, 25)


def test_small_clean_sample_after_failing_baseline_is_not_unchanged():
    from pcgbot.results import stats

    for base, cur in (((0, 3), (3, 3)), ((0, 2), (2, 2)), ((1, 4), (4, 4))):
        assert stats.verdict(base, cur).verdict == stats.FLAKY, (base, cur)
    assert stats.verdict((9, 10), (10, 10)).verdict == stats.UNCHANGED
    assert stats.verdict((0, 10), (10, 10)).verdict == stats.FIXED
