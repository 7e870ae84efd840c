"""Flake-aware Bayesian culprit search.  Pure: no git, no processes, no clock.

Why not ``git bisect``: one run per step is wrong whenever the test is flaky (syzbot found only
about a third of its cause bisections correct, most failures due to unstable reproduction), and a
fixed N runs per step is both wasteful on clear commits and still wrong for a change of failure
*rate* (0.9 -> 0.6 pass).  This is a noisy binary search in the style of Google's FACF (Henderson
et al., ICST 2023), extended so that the pass rates themselves are unknown.

Model.  Commits are indexed ``0..n``: 0 is the good end, n the bad end, 1..n-1 the first-parent
commits between them.  Hypothesis ``h`` (``0..n+1``) says: commits ``j < h`` pass at rate p_before,
commits ``j >= h`` at rate p_after.  So h in 1..n is "commit h is the culprit", h = 0 is "the good
commit already fails" and h = n+1 is "nothing changed in the range: the alarm was a flake".
p_before ~ Beta(1 + good seed passes, 1 + good seed fails) and p_after likewise from the bad seed
(the sweeps that raised the alarm), integrated out in closed form (beta-binomial), so the rates
are learned from the probes as the search goes.  Hypotheses that differ only in which probed
commits fall before them share one likelihood, so a step costs O(n + probed commits).

Probes are chosen by expected information gain (bits about h) per unit cost.  A run at a commit
whose setup is not the one installed pays ``setup_cost`` on top of ``run_cost`` (``setup_groups``
says which commits share a setup; without them every commit's first run pays it); to value a
setup fairly its gain is the gain of a batch of runs there.  Repeating at a commit happens
exactly while another run there is worth more per cost than anything else, and the search stops
once one hypothesis (or a block of hypotheses that unbuildable commits make indistinguishable)
holds ``confidence``.

The ends are commits like the others: without sweeps to seed them (``seed_before = seed_after =
(0, 0)``) the search runs them only while a run there tells more per cost than one inside the
range, and "good is bad" / "no culprit" are decided by the same posterior as any culprit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Hashable, Optional, Sequence

from .rates import bb_pmf, lbeta, xlogx, prob_shift

PASS, FAIL, OTHER = "pass", "fail", "other"

# Outcomes of a search.
FOUND = "found"              # one culprit commit holds `confidence`
NO_CULPRIT = "no-culprit"    # the range behaves the same throughout: the alarm was a flake
GOOD_IS_BAD = "good-is-bad"  # the good end already fails like the bad end
INCONCLUSIVE = "inconclusive"


@dataclass
class SearchConfig:
    # 0.99, not 0.95: at 0.95 about 1-3% of flaky (1.0 -> 0.5) bisections named a wrong commit
    # (calibrated, but the answer is filed as an issue); 0.99 costs ~15-20% more runs.
    confidence: float = 0.99
    prior_none: float = 0.2       # P(no culprit | the diff raised an alarm); FACF saw ~40% flakes
    prior_good_bad: float = 0.03  # P(the good commit already fails)
    run_cost: float = 1.0
    # Extra cost of a run at a commit whose setup is not installed, in runs.  The engine sets
    # it to the measured setup / run duration ratio (pcgbot.bisect.timing).
    setup_cost: float = 1.0
    batches: tuple[int, ...] = (1, 4)  # runs a setup is valued for
    # Rate changes (0.95 -> 0.6) need ~80-140 runs on average with a long tail: at 150 10-20% of
    # them ended inconclusive for lack of budget; the budget is a cap, the mean barely moves.
    max_runs: int = 300
    # Threshold for the answers that blame no commit in the range ("no culprit", "good is bad");
    # the lower of this and `confidence` applies; None = `confidence`.  0.95 dismisses a flaky
    # alarm in ~60 runs instead of ~95, but calls more real regressions near --min-effect
    # "no culprit" (0.9 -> 0.7: 1.7-5% vs 0.3-2%), so it is opt-in (docs/bisect.md, Benchmark).
    none_confidence: Optional[float] = None
    min_gain: float = 1e-6        # bits per unit cost below which probing is pointless
    max_other: int = 3            # no-verdict runs at a commit before it counts as untestable
    # A culprit must move the pass rate by at least this much, in the direction of the search
    # (down for a regression, up for a fix).  Without it "culprit h, same rate on both sides"
    # imitates "no culprit" and a flaky alarm could never be recognised as one.
    min_effect: float = 0.15
    direction: int = -1           # -1: after the culprit the test passes less (regression); +1: fix
    # Sweep counts are discounted as priors: the bisection starts *because* the bad sweep looked
    # bad, so its rate is biased low (and the good one's high) -- the winner's curse.
    seed_weight: float = 0.5
    # Prior weight of a commit that changes only files the plan calls unlikely culprits (docs,
    # CI config; plan key unlikely_culprits), relative to 1 for any other commit.
    unlikely_weight: float = 0.1
    # Pseudo-counts of the rates' prior, Beta(rate_prior, rate_prior) before any seed: below 1
    # it puts its mass near 0 and 1, as test pass rates are (most tests pass or fail every
    # time), so a clean step pattern is believed sooner.  Measured (docs/bisect.md, n = 40,
    # 100 trials): no sweeps, 1.0 -> 0.0 17 -> 13.6 runs and 1.0 -> 0.5 59.5 -> 45.8 (1.0 ->
    # 0.3); seeded 1.0 -> 0.5 46.3 -> 38.2.  The price: a seeded flake costs 94 -> 115 runs.
    rate_prior: float = 0.3


@dataclass
class CommitEvidence:
    passed: int = 0
    failed: int = 0
    other: int = 0                # runs with no verdict: timeout, infra, unrelated crash
    untestable: bool = False      # setup failed, or only no-verdict runs
    set_up: bool = False

    @property
    def runs(self) -> int:
        return self.passed + self.failed


@dataclass
class Decision:
    status: str                   # FOUND | NO_CULPRIT | GOOD_IS_BAD | INCONCLUSIVE
    index: Optional[int]          # culprit commit index when FOUND
    confidence: float             # posterior of the answer (or of the credible range)
    lo: int                       # credible range of hypotheses [lo, hi] (indices as for h)
    hi: int
    done: bool                    # True = no more probes are worth running
    why: str = ""


@dataclass
class _Class:
    """Hypotheses lo..hi that put the same probed commits before the culprit."""
    lo: int
    hi: int
    before: tuple[float, float]   # Beta params of p_before given the data
    after: tuple[float, float]


class Search:
    """State of one search; feed it outcomes with ``record``, ask ``next_probes`` / ``decision``."""

    def __init__(self, n: int, seed_before: tuple[int, int] = (0, 0),
                 seed_after: tuple[int, int] = (0, 0), config: Optional[SearchConfig] = None,
                 weights: Optional[Sequence[float]] = None,
                 setup_groups: Optional[Sequence[Hashable]] = None):
        """``n`` = index of the bad commit (n >= 1); seeds are (passed, runs) at each end;
        ``weights[i-1]`` optionally scales the prior of commit i being the culprit;
        ``setup_groups[j]`` names commit j's setup (commits with equal names share one installed
        environment; None = each commit needs its own)."""
        if n < 1:
            raise ValueError("a range needs at least one commit after the good one")
        self.n = n
        self.cfg = config or SearchConfig()
        kg, ng = seed_before
        kb, nb = seed_after
        w, a0 = self.cfg.seed_weight, self.cfg.rate_prior
        self.a_before = (a0 + w * kg, a0 + w * (ng - kg))
        self.a_after = (a0 + w * kb, a0 + w * (nb - kb))
        self.a_none = (a0 + w * (kg + kb), a0 + w * (ng - kg + nb - kb))
        self.ev = [CommitEvidence() for _ in range(n + 1)]
        w = list(weights) if weights is not None else [1.0] * n
        if len(w) != n or any(x < 0 for x in w) or sum(w) <= 0:
            raise ValueError("weights: need n non-negative numbers with a positive sum")
        rest = 1.0 - self.cfg.prior_none - self.cfg.prior_good_bad
        tot = sum(w)
        self.log_prior = [math.log(self.cfg.prior_good_bad)]
        self.log_prior += [math.log(rest * x / tot) if x > 0 else -math.inf for x in w]
        self.log_prior.append(math.log(self.cfg.prior_none))
        if setup_groups is not None and len(setup_groups) != n + 1:
            raise ValueError("setup_groups: need one name per commit, 0..n")
        self.groups = list(setup_groups) if setup_groups is not None else None
        self.installed: Optional[Hashable] = None   # setup group of the last run's commit
        self.runs = 0
        self.setups = 0
        self._post: Optional[list[float]] = None

    # -- evidence --------------------------------------------------------------------------
    def needs_setup(self, j: int) -> bool:
        """Would a run at j pay ``setup_cost``?"""
        if self.groups is None:
            return not self.ev[j].set_up
        return self.groups[j] != self.installed

    def end_runs(self) -> int:
        """Runs at the two ends (verdicts and no-verdict runs alike)."""
        return sum(self.ev[j].runs + self.ev[j].other for j in (0, self.n))

    def record(self, j: int, outcome: str) -> None:
        e = self.ev[j]
        if not e.set_up:
            e.set_up = True
            self.setups += 1
        if self.groups is not None:
            self.installed = self.groups[j]
        self.runs += 1
        if outcome == PASS:
            e.passed += 1
        elif outcome == FAIL:
            e.failed += 1
        elif outcome == OTHER:
            e.other += 1
            # A commit that only crashes in unrelated ways says nothing about our bug: skip it.
            # One that sometimes gives a verdict stays testable; its runs just cost more (the
            # scores divide by the share of runs with a verdict).
            if e.other >= self.cfg.max_other and e.runs == 0:
                e.untestable = True
        else:
            raise ValueError(f"outcome must be pass/fail/other, got {outcome!r}")
        self._post = None

    def mark_untestable(self, j: int) -> None:
        """Setup failed at j: it can never be probed (neither good nor bad)."""
        if not self.ev[j].set_up:
            self.ev[j].set_up = True
            self.setups += 1
        self.ev[j].untestable = True
        self._post = None

    # -- posterior -------------------------------------------------------------------------
    def _classes(self) -> list[_Class]:
        probed = [j for j, e in enumerate(self.ev) if e.runs]
        tk = sum(self.ev[j].passed for j in probed)
        tf = sum(self.ev[j].failed for j in probed)
        ag, bg = self.a_before
        ab, bb = self.a_after
        out, kb, fb, lo = [], 0, 0, 0
        for j in probed + [self.n]:
            if j >= lo:
                out.append(_Class(lo, j, (ag + kb, bg + fb), (ab + tk - kb, bb + tf - fb)))
            if j in probed:
                kb += self.ev[j].passed
                fb += self.ev[j].failed
            lo = j + 1
        # "No culprit": one rate for the whole range, whose prior pools both sweeps -- if
        # nothing changed, both sweeps measured that same rate.
        an, bn = self.a_none
        out.append(_Class(self.n + 1, self.n + 1, (an + tk, bn + tf), (ab, bb)))
        return out

    def posterior(self) -> list[float]:
        """P(h) for h = 0..n+1 (0: good already bad, 1..n: culprit, n+1: no culprit)."""
        if self._post is not None:
            return self._post
        logp = list(self.log_prior)
        ag, bg = self.a_before
        ab, bb = self.a_after
        cfg = self.cfg
        classes = self._classes()
        lls = [(lbeta(*c.before) - lbeta(ag, bg)) + (lbeta(*c.after) - lbeta(ab, bb))
               for c in classes[:-1]]
        lls.append(lbeta(*classes[-1].before) - lbeta(*self.a_none))
        for c, ll in zip(classes, lls):
            for h in range(c.lo, c.hi + 1):
                logp[h] += ll
        # Culprit hypotheses (1..n) only admit rate pairs that moved by >= min_effect: the
        # constrained evidence is the unconstrained one times P_post(shift) / P_prior(shift).
        # So does h = 0 ("the good commit already fails"), against the good sweep's rate: else
        # it would be one more "nothing changed" that no number of runs could rule out.
        prior_shift = max(1e-300, prob_shift(self.a_before, self.a_after, cfg.min_effect,
                                             cfg.direction))
        top = max(logp)
        for c, ll in zip(classes, lls):
            lo, hi = c.lo, min(c.hi, self.n)
            if lo > hi or max(logp[lo:hi + 1]) < top - 50:   # negligible either way
                continue
            f = prob_shift(c.before, c.after, cfg.min_effect, cfg.direction) / prior_shift
            lf = math.log(f) if f > 0 else -math.inf
            for h in range(lo, hi + 1):
                logp[h] += lf
        top = max(logp)
        p = [math.exp(x - top) for x in logp]
        z = sum(p)
        self._post = [x / z for x in p]
        return self._post

    # -- choosing probes -------------------------------------------------------------------
    @staticmethod
    def _gain(j: int, m: int, classes: list[_Class], pmfs: dict, cum: list[float],
              cumlog: list[float]) -> float:
        """Expected entropy drop (nats) of P(h) from m more runs at commit j.

        Under h, commit j is on the after side when h <= j, else on the before side; the
        entropy sums split the same way, so each class contributes two pieces whose mass and
        sum of P log P come from prefix sums."""
        pieces = []   # (mass, sum P log P, pmf over k) for each (class, side of j)
        for ci, c in enumerate(classes):
            for lo, hi, side in ((c.lo, min(c.hi, j), 1), (max(c.lo, j + 1), c.hi, 0)):
                if lo > hi:
                    continue
                mass = cum[hi + 1] - cum[lo]
                if mass > 1e-9:
                    pieces.append((mass, cumlog[hi + 1] - cumlog[lo], pmfs[ci, side, m]))
        exp_h = 0.0
        for k in range(m + 1):
            z = s = 0.0
            for mass, plogp, pmf in pieces:
                q, qlq = pmf[k]
                z += mass * q
                s += q * plogp + mass * qlq
            if z > 0.0:
                exp_h += z * math.log(z) - s
        return max(0.0, -cumlog[-1] - exp_h)

    def scores(self) -> dict[int, float]:
        """Information (bits) per unit cost of the next run at each candidate commit."""
        post = self.posterior()
        cum, cumlog = [0.0], [0.0]
        for x in post:
            cum.append(cum[-1] + x)
            cumlog.append(cumlog[-1] + xlogx(x))
        classes = self._classes()
        # Only commits that split the hypotheses still carrying mass can tell us anything.
        live = [h for h, x in enumerate(post) if x > 1e-9]
        lo, hi = max(0, live[0] - 1), min(self.n, live[-1])
        cfg = self.cfg
        # Predictive pmfs depend on the class and side only, not on the commit: compute once.
        pmfs = {}
        for ci, c in enumerate(classes):
            if cum[c.hi + 1] - cum[c.lo] > 1e-15:
                for m in set(cfg.batches) | {1}:
                    for side, ab in ((1, c.after), (0, c.before)):
                        pmfs[ci, side, m] = [(q, xlogx(q)) for q in bb_pmf(m, *ab)]
        out: dict[int, float] = {}
        for j in self._candidates(lo, hi, cum):
            e = self.ev[j]
            if not self.needs_setup(j) or cfg.setup_cost <= 0:
                useful = (e.runs + 1) / (e.runs + e.other + 2) if e.other else 1.0
                val = self._gain(j, 1, classes, pmfs, cum, cumlog) * useful / cfg.run_cost
            else:
                val = max(self._gain(j, m, classes, pmfs, cum, cumlog)
                          / (cfg.setup_cost + m * cfg.run_cost) for m in cfg.batches)
            out[j] = val / math.log(2)
        return out

    def _candidates(self, lo: int, hi: int, cum: list[float]) -> list[int]:
        """Set-up commits in [lo, hi], plus fresh ones at posterior quantiles (the gain is
        smooth between probed commits, so a grid of quantiles finds its peak)."""
        ok = [j for j in range(lo, hi + 1) if not self.ev[j].untestable]
        cands = {j for j in ok if self.ev[j].set_up}
        fresh = [j for j in ok if not self.ev[j].set_up]
        if len(fresh) <= 12:
            cands.update(fresh)
        else:
            i = 0
            for t in range(1, 12):
                q = t / 12
                while i < len(fresh) - 1 and cum[fresh[i] + 1] < q:
                    i += 1
                cands.add(fresh[i])
            cands.update((fresh[0], fresh[-1]))
        return sorted(cands)

    def next_probes(self, slots: int = 1, allowed: Optional[set[int]] = None) -> list[int]:
        """Commits for the next ``slots`` runs (a commit may repeat); [] when done."""
        if self.decision().done:
            return []
        sc = self.scores()
        if allowed is not None:
            sc = {j: v for j, v in sc.items() if j in allowed}
        ranked = sorted(sc, key=lambda j: (-sc[j], j))
        ranked = [j for j in ranked if sc[j] >= self.cfg.min_gain]
        if not ranked:
            # Cold start: with unknown rates a single commit's runs tell nothing about where
            # the change is; runs at both ends (which every hypothesis places) break the tie,
            # the failing end first (its failures name the regression's signature).
            order = (self.n, 0) if self.cfg.direction < 0 else (0, self.n)
            ends = [j for j in order if self.ev[j].runs < 3 and not self.ev[j].untestable
                    and (allowed is None or j in allowed)]
            ranked = ends[:1]
        if not ranked:
            return []
        picks = ranked[:slots]
        i = 0
        while len(picks) < slots:   # more slots than useful commits: repeat the best ones
            picks.append(picks[i])
            i += 1
        return picks

    # -- stopping --------------------------------------------------------------------------
    def blocks(self) -> list[tuple[int, int]]:
        """Hypothesis ranges that no probe can split: h..h' where commits h..h'-1 are
        untestable (culprit at an unbuildable commit or the next testable one)."""
        out, h = [], 0
        while h <= self.n + 1:
            h2 = h
            while h2 <= self.n and self.ev[h2].untestable:
                h2 += 1
            out.append((h, h2))
            h = h2 + 1
        return out

    def credible_range(self, conf: float) -> tuple[int, int, float]:
        """Smallest contiguous hypothesis range around the mode holding >= conf."""
        p = self.posterior()
        lo = hi = max(range(len(p)), key=lambda h: p[h])
        mass = p[lo]
        while mass < conf and (lo > 0 or hi < len(p) - 1):
            left = p[lo - 1] if lo > 0 else -1.0
            right = p[hi + 1] if hi < len(p) - 1 else -1.0
            if left >= right:
                lo -= 1
                mass += left
            else:
                hi += 1
                mass += right
        return lo, hi, mass

    def decision(self) -> Decision:
        p = self.posterior()
        conf = self.cfg.confidence
        best = max(range(len(p)), key=lambda h: p[h])
        need = conf
        if best in (0, self.n + 1) and self.cfg.none_confidence is not None:
            need = min(conf, self.cfg.none_confidence)
        if p[best] >= need:
            status = (GOOD_IS_BAD if best == 0 else NO_CULPRIT if best == self.n + 1 else FOUND)
            return Decision(status, best if status == FOUND else None, p[best], best, best, True)
        # "Good is bad" and "no culprit" both say the range behaves the same throughout; only a
        # seed of the good end's rate tells them apart.  Without one (ends measured, not seeded)
        # their sum answers, named by the range's rate: failing like the bad end -> the good
        # end is bad too; passing -> the failure did not reproduce.
        same = p[0] + p[self.n + 1]
        if same >= min(conf, self.cfg.none_confidence or conf):
            a, b = self._classes()[-1].before
            fails = (b / (a + b) > 0.5) if self.cfg.direction < 0 else (a / (a + b) > 0.5)
            h = 0 if fails else self.n + 1
            return Decision(GOOD_IS_BAD if fails else NO_CULPRIT, None, same, h, h, True)
        for a, b in self.blocks():
            mass = sum(p[a:b + 1])
            if b > a and mass >= conf:
                return Decision(INCONCLUSIVE, None, mass, a, b, True,
                                "the culprit is an unbuildable commit or the next testable one")
        lo, hi, mass = self.credible_range(conf)
        if self.runs >= self.cfg.max_runs:
            return Decision(INCONCLUSIVE, None, mass, lo, hi, True,
                            f"run budget spent ({self.runs})")
        return Decision(INCONCLUSIVE, None, mass, lo, hi, False)


def run_search(search: Search, probe, slots: int = 1) -> Decision:
    """Drive a search with ``probe(j) -> 'pass' | 'fail' | 'other' | None`` (None = untestable)
    until it decides; used by the simulations and by tests of the pure search."""
    while True:
        picks = search.next_probes(slots)
        if not picks:
            d = search.decision()
            if not d.done:
                d.done, d.why = True, d.why or "no probe left that could tell anything"
            return d
        for j in picks:
            out = probe(j)
            if out is None:
                search.mark_untestable(j)
            else:
                search.record(j, out)
