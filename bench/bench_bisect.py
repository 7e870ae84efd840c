"""Bisection strategies on simulated histories: accuracy and cost.

    python bench/bench_bisect.py [--trials 100] [--sizes 40,80,320] [--procs N] [--markdown]

(The default takes ~2.5 min with 2 processes; docs/bisect.md's table is --trials 300.)

Each trial: a linear history of n commits after the good one, a culprit drawn uniformly from
1..n that changes the pass rate (before -> after), or none ("flake").  The bisection starts the
way pcgbot starts one: the diff of two 10-run sweeps (good end, bad end) flagged a regression
(pcgbot.results.stats.verdict == "regression"), so sweeps are drawn until they do -- which biases them
(winner's curse), as in real life.  In the flake scenario the test passes 95% everywhere and
the bad sweep caught a burst of failures (its runs drawn at 50%).

Strategies (all see the same histories and random outcomes per trial seed):
- pcgbot: bisect_search.Search with its defaults (confidence 0.99, max 300 runs), seeded by the
  two sweeps.  pcgbot+h: the same, with the good prior also fed by up to 4 older healthy 10-run
  sweeps at the good rate, as bisect_seed does from the store (a sweep counts while it fails at
  most half as often as the bad sweep; the first one that does not ends the history).
  Not in the default set: pcgbot95 (confidence 0.95, max 300 runs), pcgbot-old (the old
  defaults: confidence 0.95, max 150 runs), pcgbot-n95 and pcgbot+h-n95 (--none-confidence
  0.95: "no culprit" / "good is bad" at 0.95, a commit at 0.99), oracle (the defaults told
  the true rates: the floor that learning the rates from sweeps adds to), pcgbot+p and
  pcgbot+hp (with --docs-share: docs-only commits get the unlikely_culprits prior, 0.1).
- plain: git bisect with 1 run per step (fail = bad).
- fixed10: 10 runs per step, bad if any run fails.
- syzbot: 10 runs per step, bad at >= max(2, n/6) fails, good at 0 fails, else skip; the bad
  end is checked first and "no culprit" is reported when it does not reproduce.

Accuracy = the exact culprit (or "no culprit" for the flake); wrong = any other definite answer;
the rest are inconclusive (pcgbot's answer below its confidence, syzbot's all-skipped range).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from multiprocessing import Pool
from typing import Optional

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from pcgbot.bisect.search import (FAIL, FOUND, NO_CULPRIT, PASS, Search, SearchConfig,  # noqa: E402
                                  run_search)
from pcgbot.results.stats import verdict  # noqa: E402

SCENARIOS = [("1.0->0.0", 1.0, 0.0), ("1.0->0.5", 1.0, 0.5), ("0.95->0.6", 0.95, 0.6),
             ("0.9->0.7", 0.9, 0.7), ("flake", 0.95, None)]
METHODS = ["pcgbot", "pcgbot+h", "plain", "fixed10", "syzbot"]   # more: FUNCS
HISTORY_SWEEPS = 4   # = bisect_seed.HISTORY_SWEEPS
NO = "none"      # answer: no culprit
UNSURE = "?"     # answer: inconclusive


class History:
    """Ground truth plus a reproducible outcome stream per (commit, attempt)."""

    def __init__(self, n: int, before: float, after: Optional[float], seed: int,
                 docs_share: float = 0.0):
        rng = random.Random(seed)
        self.n = n
        self.culprit = rng.randint(1, n) if after is not None else None
        # --docs-share: commits that change only docs (never the culprit), from their own
        # stream so that the rest of the trial is the same with and without them
        drng = random.Random(f"docs/{seed}")
        self.docs = {j for j in range(1, n + 1)
                     if j != self.culprit and drng.random() < docs_share}
        self.before, self.after = before, after if after is not None else before
        self.seed = seed
        burst = 0.5 if after is None else self.after
        while True:   # the sweeps that raised the alarm
            kg = sum(rng.random() < before for _ in range(10))
            kb = sum(rng.random() < burst for _ in range(10))
            if verdict((kg, 10), (kb, 10)).verdict == "regression":
                break
        self.seeds = ((kg, 10), (kb, 10))
        # Older healthy sweeps (pcgbot+h): drawn at the good rate, counted while healthy.
        hk = hn = 0
        for _ in range(HISTORY_SWEEPS):
            k = sum(rng.random() < before for _ in range(10))
            if not (k > 0 and 10 - k <= (10 - kb) / 2):
                break
            hk, hn = hk + k, hn + 10
        self.history = (hk, hn)

    def rate(self, j: int) -> float:
        return self.before if self.culprit is None or j < self.culprit else self.after

    def outcome(self, j: int, attempt: int) -> bool:
        return random.Random(f"{self.seed}/{j}/{attempt}").random() < self.rate(j)


class Prober:
    def __init__(self, h: History):
        self.h, self.runs, self.next = h, 0, {}
        self.commits: set[int] = set()

    def run(self, j: int) -> bool:
        a = self.next.get(j, 0)
        self.next[j] = a + 1
        self.runs += 1
        self.commits.add(j)
        return self.h.outcome(j, a)


def m_pcgbot(h: History, p: Prober, history: bool = False, prior: bool = False, **cfg):
    (kg, ng), (hk, hn) = h.seeds[0], h.history if history else (0, 0)
    conf = SearchConfig(**cfg)
    w = [conf.unlikely_weight if j in h.docs else 1.0 for j in range(1, h.n + 1)] \
        if prior and h.docs else None
    s = Search(h.n, (kg + hk, ng + hn), h.seeds[1], conf, weights=w)
    d = run_search(s, lambda j: PASS if p.run(j) else FAIL)
    return d.index if d.status == FOUND else NO if d.status == NO_CULPRIT else UNSURE


def m_oracle(h: History, p: Prober):
    """pcgbot's search told the true pass rates (priors of 2000 runs at each): what the
    defaults cost once nothing has to be learned about the rates -- the floor the seeded
    methods approach."""
    if h.culprit is None:
        return None        # no true "after" rate to be told: not a cell of the table
    k = lambda r: round(2000 * r)  # noqa: E731
    s = Search(h.n, (k(h.before), 2000), (k(h.after), 2000), SearchConfig())
    d = run_search(s, lambda j: PASS if p.run(j) else FAIL)
    return d.index if d.status == FOUND else NO if d.status == NO_CULPRIT else UNSURE


def _bisect(h: History, bad_at) -> int:
    lo, hi = 0, h.n          # lo known good, hi known bad
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if bad_at(mid):
            hi = mid
        else:
            lo = mid
    return hi


def m_plain(h: History, p: Prober):
    return _bisect(h, lambda j: not p.run(j))


def m_fixed10(h: History, p: Prober):
    return _bisect(h, lambda j: sum(not p.run(j) for _ in range(10)) >= 1)


def m_syzbot(h: History, p: Prober):
    def judge(j: int) -> str:
        fails = sum(not p.run(j) for _ in range(10))
        return "bad" if fails >= max(2, 10 // 6) else "good" if fails == 0 else "skip"
    if judge(h.n) != "bad":
        return NO                                # the crash does not reproduce
    lo, hi, skipped = 0, h.n, set()
    while True:
        cands = [j for j in range(lo + 1, hi) if j not in skipped]
        if not cands:
            return hi if hi - lo == 1 else UNSURE
        mid = min(cands, key=lambda j: (abs(j - (lo + hi) / 2), j))
        v = judge(mid)
        if v == "bad":
            hi = mid
        elif v == "good":
            lo = mid
        else:
            skipped.add(mid)


FUNCS = {"pcgbot": m_pcgbot, "pcgbot+h": lambda h, p: m_pcgbot(h, p, history=True),
         "pcgbot+p": lambda h, p: m_pcgbot(h, p, prior=True),
         "pcgbot+hp": lambda h, p: m_pcgbot(h, p, history=True, prior=True),
         "pcgbot95": lambda h, p: m_pcgbot(h, p, confidence=0.95),
         "pcgbot-n95": lambda h, p: m_pcgbot(h, p, none_confidence=0.95),
         "pcgbot+h-n95": lambda h, p: m_pcgbot(h, p, history=True, none_confidence=0.95),
         "pcgbot-old": lambda h, p: m_pcgbot(h, p, confidence=0.95, max_runs=150),
         "oracle": m_oracle, "plain": m_plain, "fixed10": m_fixed10, "syzbot": m_syzbot}


def trial(args):
    method, n, before, after, seed, docs_share = args
    h = History(n, before, after, seed, docs_share)
    p = Prober(h)
    ans = FUNCS[method](h, p)
    if ans is None:
        return None
    truth = h.culprit if h.culprit is not None else NO
    return ans == truth, ans not in (truth, UNSURE), p.runs, len(p.commits)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--sizes", default="40,80,320")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--scenarios", default=",".join(s[0] for s in SCENARIOS))
    ap.add_argument("--procs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--markdown", action="store_true", help="also print the table as Markdown")
    ap.add_argument("--docs-share", type=float, default=0.0,
                    help="share of commits that change only docs (never the culprit); "
                    "pcgbot+p / pcgbot+hp give them the plan's unlikely_culprits prior")
    a = ap.parse_args()
    sizes = [int(x) for x in a.sizes.split(",")]
    methods = a.methods.split(",")
    scen = [s for s in SCENARIOS if s[0] in a.scenarios.split(",")]
    t0 = time.time()
    print(f"{a.trials} trials per cell; accuracy / wrong / inconclusive in %, mean runs, "
          "mean commits probed; x10 = runs relative to fixed10")
    print(f"{'n':>4} {'scenario':<10} {'method':<12} {'acc%':>6} {'wrong%':>7} {'inc%':>5} "
          f"{'runs':>7} {'commits':>8} {'x10':>5}")
    table = []
    with Pool(a.procs) as pool:
        for n in sizes:
            for name, before, after in scen:
                rows = {}
                for m in methods:
                    jobs = [(m, n, before, after, 1000 * n + i, a.docs_share)
                            for i in range(a.trials)]
                    rows[m] = pool.map(trial, jobs, chunksize=4)
                ref = statistics.mean(r[2] for r in rows["fixed10"]) if "fixed10" in rows else None
                for m in methods:
                    res = [r for r in rows[m] if r is not None]
                    if not res:
                        continue
                    acc = 100 * sum(r[0] for r in res) / len(res)
                    wrong = 100 * sum(r[1] for r in res) / len(res)
                    runs = statistics.mean(r[2] for r in res)
                    commits = statistics.mean(r[3] for r in res)
                    x10 = f"{runs / ref:.2f}" if ref else "-"
                    inc = max(0.0, 100 - acc - wrong)
                    table.append((n, name, m, f"{acc:.1f}", f"{wrong:.1f}", f"{inc:.1f}",
                                  f"{runs:.1f}", f"{commits:.1f}", x10))
                    print(f"{n:>4} {name:<10} {m:<12} {acc:6.1f} {wrong:7.1f} {inc:5.1f} "
                          f"{runs:7.1f} {commits:8.1f} {x10:>5}", flush=True)
    print(f"# {time.time() - t0:.0f} s with {a.procs} processes")
    if a.markdown:   # the table of docs/bisect.md
        print("\n| n | scenario | method | acc % | wrong % | inconcl. % | mean runs "
              "| commits probed | runs / fixed10 |\n|---|---|---|---|---|---|---|---|---|")
        for row in table:
            print("| " + " | ".join(str(x) for x in row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
