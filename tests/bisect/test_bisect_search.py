"""The pure Bayesian search: exhaustive small cases, properties, flaky simulations."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pcgbot.bisect.search import (FAIL, FOUND, GOOD_IS_BAD, INCONCLUSIVE, NO_CULPRIT, OTHER, PASS,
                                  Search, SearchConfig, run_search)
from pcgbot.bisect.rates import bb_pmf as _bb_pmf, prob_shift


def simulate(n: int, culprit, before: float, after: float, seed: int,
             seeds=((10, 10), (0, 10)), **cfg):
    """Run a search against a simulated test; culprit None = same rate everywhere."""
    rng = random.Random(seed)

    def probe(j: int) -> str:
        p = before if culprit is None or j < culprit else after
        return PASS if rng.random() < p else FAIL
    s = Search(n, seeds[0], seeds[1], SearchConfig(**cfg))
    return run_search(s, probe), s


@pytest.mark.parametrize("n", range(1, 17))
def test_deterministic_every_culprit_exhaustive(n):
    for c in range(1, n + 1):
        d, s = simulate(n, c, 1.0, 0.0, seed=c)
        assert (d.status, d.index) == (FOUND, c), (n, c, d)
        assert d.confidence >= 0.95
        # A plain bisection needs ceil(log2 n) runs; learning the rates costs a few more.
        assert s.runs <= 2 * math.ceil(math.log2(n + 1)) + 6, (n, c, s.runs)


def test_deterministic_without_seeds_probes_the_ends():
    for c in (1, 5, 9):
        d, s = simulate(9, c, 1.0, 0.0, seed=c, seeds=((0, 0), (0, 0)))
        assert (d.status, d.index) == (FOUND, c)


def test_flaky_regression_is_never_confidently_wrong_often():
    found = wrong = 0
    for i in range(40):
        c = random.Random(i).randint(1, 30)
        d, _ = simulate(30, c, 1.0, 0.5, seed=i, seeds=((10, 10), (5, 10)))
        found += d.status == FOUND and d.index == c
        wrong += d.status != INCONCLUSIVE and d.index != c
    assert found >= 37 and wrong <= 2


def test_rate_change_0_9_to_0_6():
    found = wrong = 0
    for i in range(12):
        c = random.Random(100 + i).randint(1, 12)
        d, _ = simulate(12, c, 0.9, 0.6, seed=i, seeds=((9, 10), (5, 10)))
        found += d.status == FOUND and d.index == c
        wrong += d.status != INCONCLUSIVE and d.index != c
    assert found >= 8 and wrong <= 1    # plain bisection gets ~0 of these


def test_no_culprit_when_the_alarm_was_a_burst():
    # 95% everywhere; the alarming sweep caught a burst of failures (4/10).
    hits = sum(simulate(20, None, 0.95, 0.95, seed=i, seeds=((10, 10), (4, 10)))[0].status
               == NO_CULPRIT for i in range(10))
    assert hits >= 8


def test_good_commit_already_bad():
    d, _ = simulate(10, 0, 1.0, 0.0, seed=1)    # culprit 0: every commit fails
    assert d.status == GOOD_IS_BAD and d.index is None


def test_untestable_commit_before_the_culprit_leaves_a_block():
    s = Search(10, (10, 10), (0, 10))
    s.mark_untestable(5)
    d = run_search(s, lambda j: PASS if j < 6 else FAIL)
    assert d.status == INCONCLUSIVE and (d.lo, d.hi) == (5, 6) and d.confidence >= 0.95
    assert "unbuildable" in d.why


def test_unrelated_outcomes_do_not_steer_and_make_a_commit_untestable():
    s = Search(8, (10, 10), (0, 10))
    before = s.posterior()
    for _ in range(3):
        s.record(4, OTHER)
    assert s.posterior() == before
    assert s.ev[4].untestable and 4 not in s.scores()


def test_budget_gives_inconclusive_range_with_the_culprit():
    d, s = simulate(60, 31, 0.9, 0.6, seed=5, seeds=((9, 10), (6, 10)), max_runs=12)
    assert s.runs == 12 and d.status == INCONCLUSIVE and d.done
    assert d.lo <= 31 <= d.hi and "budget" in d.why


def test_fix_direction():
    d, _ = simulate(12, 8, 0.0, 1.0, seed=2, seeds=((0, 10), (10, 10)), direction=+1)
    assert (d.status, d.index) == (FOUND, 8)


def test_slots_return_that_many_probes():
    s = Search(40, (10, 10), (0, 10))
    picks = s.next_probes(4)
    assert len(picks) == 4 and len(set(picks)) == 4
    assert s.next_probes(3, allowed={picks[0]}) == [picks[0]] * 3


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 30), st.lists(st.tuples(st.integers(0, 30), st.sampled_from([PASS, FAIL])),
                                     max_size=40),
       st.tuples(st.integers(0, 10), st.integers(0, 10)),
       st.tuples(st.integers(0, 10), st.integers(0, 10)))
def test_posterior_is_a_distribution_and_scores_are_finite(n, obs, g, b):
    s = Search(n, (min(g), max(g)), (min(b), max(b)))
    for j, o in obs:
        s.record(min(j, n), o)
    p = s.posterior()
    assert len(p) == n + 2 and all(x >= 0 for x in p) and abs(sum(p) - 1) < 1e-9
    sc = s.scores()
    assert all(math.isfinite(v) and v >= 0 for v in sc.values())
    d = s.decision()
    assert 0 <= d.lo <= d.hi <= n + 1


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 12), st.floats(0.2, 20), st.floats(0.2, 20))
def test_beta_binomial_pmf(m, a, b):
    pmf = _bb_pmf(m, a, b)
    assert abs(sum(pmf) - 1) < 1e-9
    for k, q in enumerate(pmf):
        ref = math.exp(math.lgamma(m + 1) - math.lgamma(k + 1) - math.lgamma(m - k + 1)
                       + math.lgamma(a + k) + math.lgamma(b + m - k) - math.lgamma(a + b + m)
                       - math.lgamma(a) - math.lgamma(b) + math.lgamma(a + b))
        assert abs(q - ref) < 1e-9


@pytest.mark.parametrize("before,after,delta", [((11, 1), (6, 6), 0.1), ((5, 5), (5, 5), 0.0),
                                                ((30, 3), (20, 10), 0.15), ((2, 9), (9, 2), 0.2)])
def test_prob_shift_matches_monte_carlo(before, after, delta):
    rng = random.Random(0)
    n = 40000
    hits = sum(rng.betavariate(*after) <= rng.betavariate(*before) - delta for _ in range(n))
    assert abs(prob_shift(before, after, delta, -1) - hits / n) < 0.02
    up = sum(rng.betavariate(*after) >= rng.betavariate(*before) + delta for _ in range(n))
    assert abs(prob_shift(before, after, delta, +1) - up / n) < 0.02


def test_bad_arguments():
    with pytest.raises(ValueError):
        Search(0)
    with pytest.raises(ValueError):
        Search(3, weights=[1, 1])
    with pytest.raises(ValueError):
        Search(3).record(1, "crash")


def _all_pass(cfg: SearchConfig) -> Search:
    """A flaky alarm (bad sweep 4/10) where every probe passes: drive it to its answer."""
    s = Search(20, (10, 10), (4, 10), cfg)
    run_search(s, lambda j: PASS)
    return s


def test_no_culprit_has_its_own_lower_threshold():
    strict = _all_pass(SearchConfig())                            # 0.99 for every answer
    lowered = _all_pass(SearchConfig(none_confidence=0.95))       # 0.95 to blame no commit
    d_strict, d_lowered = strict.decision(), lowered.decision()
    assert d_strict.status == d_lowered.status == NO_CULPRIT
    assert d_strict.confidence >= 0.99 > d_lowered.confidence >= 0.95
    assert lowered.runs < strict.runs
    # The lower of the two thresholds applies: --confidence 0.9 answers at 0.9.
    loose = _all_pass(SearchConfig(confidence=0.9, none_confidence=0.95))
    assert loose.decision().status == NO_CULPRIT and loose.runs < lowered.runs
    assert 0.9 <= loose.decision().confidence < 0.95


def test_naming_a_commit_still_needs_the_full_confidence():
    # A flaky 1.0 -> 0.5 regression: whenever a commit holds 0.95..0.99 the search goes on.
    seen = 0
    for seed in range(6):
        rng = random.Random(seed)
        s = Search(20, (10, 10), (5, 10), SearchConfig(none_confidence=0.95))
        while True:
            p = s.posterior()
            best = max(range(1, 21), key=lambda h: p[h])
            if 0.95 <= p[best] < 0.99:
                seen += 1
                assert s.decision().status == INCONCLUSIVE and not s.decision().done
            picks = s.next_probes()
            if not picks:
                break
            s.record(picks[0], PASS if picks[0] < 9 or rng.random() < 0.5 else FAIL)
        d = s.decision()
        assert (d.status, d.index) == (FOUND, 9) and d.confidence >= 0.99
    assert seen >= 3


# -- no stored sweeps: the ends are commits like the others (issue 19) ----------------------

COLD = ((0, 0), (0, 0))


def test_without_seeds_the_ends_run_only_while_that_pays():
    # 64 commits, every run fails from 41 on (the terminal case: fixed end checks spent
    # 20 of 31 runs).  One run at the failing end starts it; the rest goes inside the range.
    d, s = simulate(64, 41, 1.0, 0.0, seed=1, seeds=COLD)
    assert (d.status, d.index) == (FOUND, 41) and d.confidence >= 0.99
    assert s.end_runs() <= 2 and s.runs <= 16, (s.end_runs(), s.runs)
    assert s.ev[64].runs >= 1                 # the failing end first: it names the signature


@pytest.mark.parametrize("rate,status", [(0.0, GOOD_IS_BAD), (1.0, NO_CULPRIT),
                                         (0.95, NO_CULPRIT)])
def test_without_seeds_a_range_that_never_changes_is_answered_by_its_rate(rate, status):
    # No sweep says what "good" looks like: a range that fails throughout means the good end is
    # bad too; one that passes throughout means the failure did not reproduce.
    d, s = simulate(12, None, rate, rate, seed=4, seeds=COLD)
    assert d.status == status and d.index is None and d.confidence >= 0.99, d
    assert s.runs < 150


def test_a_later_probe_can_send_the_search_back_to_an_end():
    # The ends looked fine once each; then commits 1..3 fail again and again.  Only the good end
    # can now tell "culprit 1" from "the good end is bad too": the search goes back there.
    s = Search(10, *COLD)
    s.record(10, FAIL)
    s.record(0, PASS)
    for _ in range(4):
        for j in (1, 2, 3):
            s.record(j, FAIL)
    assert s.next_probes(1) == [0]


def _switches(cost: float, c: int, groups: list[int]) -> tuple[int, Search, object]:
    """Setups a 1.0 -> 0.0 search with culprit c pays: runs whose group is not the last one's."""
    s = Search(40, (10, 10), (0, 10), SearchConfig(setup_cost=cost), setup_groups=groups)
    seen = []

    def probe(j: int) -> str:
        seen.append(groups[j])
        return PASS if j < c else FAIL
    d = run_search(s, probe)
    return sum(1 for i, g in enumerate(seen) if i == 0 or g != seen[i - 1]), s, d


def test_costly_setups_keep_the_search_on_the_installed_one():
    # The setup key changes every 5 commits.  With setups at 5 runs the search switches setups
    # less often than when they are free, and still finds every culprit.
    groups = [j // 5 for j in range(41)]
    total = {0.0: 0, 5.0: 0}
    for c in range(1, 41, 3):
        for cost in total:
            n, s, d = _switches(cost, c, groups)
            assert (d.status, d.index) == (FOUND, c)
            total[cost] += n
    assert total[5.0] < 0.8 * total[0.0], total


def test_setup_groups_decide_what_costs_a_setup():
    s = Search(6, setup_groups=["a", "a", "b", "b", "b", "c", "c"])
    assert all(s.needs_setup(j) for j in range(7))        # nothing installed yet
    s.record(3, PASS)
    assert [s.needs_setup(j) for j in range(7)] == [True, True, False, False, False, True, True]
    with pytest.raises(ValueError):
        Search(6, setup_groups=["a"])
