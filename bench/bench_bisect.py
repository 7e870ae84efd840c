"""Bisection strategies on simulated histories: accuracy and cost.

    python bench/bench_bisect.py [--trials 100] [--sizes 40,80,320] [--procs N] [--markdown]
        [--families sweeps,none] [--setup-cost 0,1,5] [--targets] [--quick] [--git]

(--quick: 20 trials at n = 40, a few seconds, for CI.  docs/bisect.md says how long the tables
took and on what.)

Each trial: a linear history of n commits after the good one, a culprit drawn uniformly from
1..n that changes the pass rate (before -> after), or none ("flake").  Two families:
- sweeps: the bisection starts the way pcgbot's automatic one does: the diff of two 10-run
  sweeps (good end, bad end) flagged a regression (pcgbot.results.stats.verdict ==
  "regression"), so sweeps are drawn until they do -- which biases them (winner's curse), as in
  real life.  Flake: the test passes 95% everywhere and the bad sweep caught a burst (its runs
  drawn at 50%).  The sweeps are free to every method: they were run anyway.
- none: no stored sweeps (a person runs pcgbot bisect --good A --bad B from a terminal).  Every
  method pays for what it needs to know: pcgbot's runs at the ends count like any run, syzbot
  pays its 10-run reproduction at the bad end, plain and fixed10 take the ends on trust (as
  git bisect run does).  Flake: 95% everywhere, nothing else.
--setup-cost S (runs): --setup-share of the commits change the setup key; every method pays S
whenever it runs a commit whose setup is not the installed one (cost = runs + S x setups), and
pcgbot's search is told S and the keys, as the engine tells it the measured ratio.

Strategies (all see the same histories and random outcomes per trial seed):
- pcgbot: bisect.search.Search with its defaults (confidence 0.99, max 300 runs), seeded by the
  two sweeps (family sweeps) or by nothing (family none).  pcgbot+h: the same, with the good
  prior also fed by up to 4 older healthy 10-run sweeps at the good rate, as bisect.seed does
  from the store (a sweep counts while it fails at most half as often as the bad sweep; the
  first one that does not ends the history); family sweeps only.
  Not in the default set: pcgbot95 (confidence 0.95, max 300 runs), pcgbot-old (confidence
  0.95, max 150 runs), pcgbot-n95 and pcgbot+h-n95 (--none-confidence 0.95), oracle (the
  defaults told the true rates: the floor that learning the rates adds to; the issue's targets
  are relative to it), pcgbot+p and pcgbot+hp (with --docs-share: docs-only commits get the
  unlikely_culprits prior, 0.1).  --config k=v,... changes SearchConfig fields of every pcgbot*
  method (to try a variant).
- plain: git bisect with 1 run per step (fail = bad).
- fixed10: 10 runs per step, bad if any run fails.
- syzbot: 10 runs per step, bad at >= max(2, n/6) fails, good at 0 fails, else skip; the bad
  end is checked first (from the bad sweep when there is one) and "no culprit" is reported
  when it does not reproduce.

Accuracy = the exact culprit (or "no culprit" for the flake); wrong = any other definite answer;
the rest are inconclusive (pcgbot's answer below its confidence, syzbot's all-skipped range).
--git instead runs the issue's terminal cases on real git and real processes.
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
                 docs_share: float = 0.0, sweeps: bool = True, setup_share: float = 0.0):
        rng = random.Random(seed)
        self.n = n
        self.sweeps = sweeps      # False: no stored sweeps, the ends are unknown to everyone
        self.culprit = rng.randint(1, n) if after is not None else None
        # --docs-share: commits that change only docs (never the culprit), from their own
        # stream so that the rest of the trial is the same with and without them
        drng = random.Random(f"docs/{seed}")
        self.docs = {j for j in range(1, n + 1)
                     if j != self.culprit and drng.random() < docs_share}
        # --setup-share: commits that change the setup key (the next ones share their setup)
        srng = random.Random(f"setup/{seed}")
        self.groups = [0]
        for _ in range(n):
            self.groups.append(self.groups[-1] + (srng.random() < setup_share))
        self.before, self.after = before, after if after is not None else before
        self.seed = seed
        # The flake: with sweeps, the bad sweep caught a burst (its runs at 50%); without, a
        # person saw a failure of a test that passes 95% everywhere and bisects it.
        burst = 0.5 if after is None else self.after
        while True:   # the sweeps that raised the alarm
            kg = sum(rng.random() < before for _ in range(10))
            kb = sum(rng.random() < burst for _ in range(10))
            if verdict((kg, 10), (kb, 10)).verdict == "regression":
                break
        self.seeds = ((kg, 10), (kb, 10)) if sweeps else ((0, 0), (0, 0))
        # Older healthy sweeps (pcgbot+h): drawn at the good rate, counted while healthy.
        hk = hn = 0
        for _ in range(HISTORY_SWEEPS):
            k = sum(rng.random() < before for _ in range(10))
            if not (k > 0 and 10 - k <= (10 - kb) / 2):
                break
            hk, hn = hk + k, hn + 10
        self.history = (hk, hn)
        self.bad_sweep_fails = 10 - kb

    def rate(self, j: int) -> float:
        return self.before if self.culprit is None or j < self.culprit else self.after

    def outcome(self, j: int, attempt: int) -> bool:
        return random.Random(f"{self.seed}/{j}/{attempt}").random() < self.rate(j)


class Prober:
    """Runs the simulated test for one method and counts what it pays: runs, runs at the
    ends, and setups (a run at a commit whose setup group is not the installed one)."""

    def __init__(self, h: History):
        self.h, self.runs, self.next = h, 0, {}
        self.commits: set[int] = set()
        self.ends = self.setups = 0
        self.installed: Optional[int] = None

    def run(self, j: int) -> bool:
        a = self.next.get(j, 0)
        self.next[j] = a + 1
        self.runs += 1
        self.ends += j in (0, self.h.n)
        self.commits.add(j)
        if self.h.groups[j] != self.installed:
            self.installed = self.h.groups[j]
            self.setups += 1
        return self.h.outcome(j, a)


def _answer(d) -> object:
    return d.index if d.status == FOUND else NO if d.status == NO_CULPRIT else UNSURE


def m_pcgbot(h: History, p: Prober, history: bool = False, prior: bool = False, **cfg):
    if history and not h.sweeps:
        return None        # no store, no older sweeps: pcgbot+h is pcgbot here
    (kg, ng), (hk, hn) = h.seeds[0], h.history if history else (0, 0)
    conf = SearchConfig(**{"setup_cost": h.setup_cost, **cfg})
    w = [conf.unlikely_weight if j in h.docs else 1.0 for j in range(1, h.n + 1)] \
        if prior and h.docs else None
    s = Search(h.n, (kg + hk, ng + hn), h.seeds[1], conf, weights=w, setup_groups=h.groups)
    return _answer(run_search(s, lambda j: PASS if p.run(j) else FAIL))


def m_oracle(h: History, p: Prober):
    """pcgbot's search told the true pass rates (priors of 2000 runs at each): what the
    defaults cost once nothing has to be learned about the rates -- the floor the other
    methods approach.  The same in both families (it is told, not seeded)."""
    if h.culprit is None:
        return None        # no true "after" rate to be told: not a cell of the table
    k = lambda r: round(2000 * r)  # noqa: E731
    s = Search(h.n, (k(h.before), 2000), (k(h.after), 2000),
               SearchConfig(setup_cost=h.setup_cost), setup_groups=h.groups)
    return _answer(run_search(s, lambda j: PASS if p.run(j) else FAIL))


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
    # git bisect run takes the ends on trust: it runs neither of them.
    return _bisect(h, lambda j: not p.run(j))


def m_fixed10(h: History, p: Prober):
    return _bisect(h, lambda j: sum(not p.run(j) for _ in range(10)) >= 1)


def m_syzbot(h: History, p: Prober):
    def judge(j: int) -> str:
        fails = sum(not p.run(j) for _ in range(10))
        return _judge(fails)

    def _judge(fails: int) -> str:
        return "bad" if fails >= max(2, 10 // 6) else "good" if fails == 0 else "skip"
    # syzbot first reproduces the crash at the bad end; a stored 10-run sweep there is that
    # reproduction already (free), without one it costs 10 runs.
    bad_end = _judge(h.bad_sweep_fails) if h.sweeps else judge(h.n)
    if bad_end != "bad":
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
    method, n, before, after, seed, docs_share, sweeps, setup_cost, setup_share, extra = args
    h = History(n, before, after, seed, docs_share, sweeps, setup_share)
    h.setup_cost = setup_cost
    p = Prober(h)
    fn = FUNCS[method] if not extra else (lambda h, p: m_pcgbot(h, p, **extra))
    ans = fn(h, p)
    if ans is None:
        return None
    truth = h.culprit if h.culprit is not None else NO
    return ans == truth, ans not in (truth, UNSURE), p.runs, len(p.commits), p.ends, p.setups


def _se(xs: list[float]) -> float:
    return statistics.stdev(xs) / len(xs) ** 0.5 if len(xs) > 1 else 0.0


def targets(cells: dict) -> list[str]:
    """Issue 19's targets, checked against the oracle's mean runs in the same cell."""
    out = []
    for (fam, s, n, name, m), c in sorted(cells.items()):
        o = cells.get(("sweeps", s, n, name, "oracle")) or cells.get(("none", s, n, name,
                                                                      "oracle"))
        if m != "pcgbot":
            continue
        if name == "flake" and fam == "none":
            goal, ok = "no culprit >= 95%", c["acc"] >= 95
        elif o is None:
            continue
        elif fam == "none" and name == "1.0->0.0":
            lim = o["cost"] + 4
            goal, ok = f"100% within oracle + 4 = {lim:.1f}", c["acc"] >= 100 and c["cost"] <= lim
        elif fam == "none" and name == "1.0->0.5":
            lim = 1.3 * o["cost"] + 6
            goal, ok = f">= 99% within 1.3 x oracle + 6 = {lim:.1f}", (c["acc"] >= 99
                                                                       and c["cost"] <= lim)
        elif fam == "sweeps" and name == "1.0->0.5":
            lim = 1.25 * o["cost"]
            goal, ok = f">= 99% within 1.25 x oracle = {lim:.1f}", (c["acc"] >= 99
                                                                  and c["cost"] <= lim)
        else:
            continue
        out.append(f"{fam:<7} setup {s:g} n={n:<4} {name:<9} {goal:<40} acc {c['acc']:5.1f}% "
                   f"cost {c['cost']:6.1f} +- {c['se']:.1f}  {'met' if ok else 'NOT met'}")
    return out


# The terminal cases: `pcgbot bisect TEST --plan P --good A --bad B` on a real git
# history (tests/bisect_repo.py: one commit = one behaviour.json, the test a real process), with
# an empty store, counting the runs the result reports.  (label, commits, culprit, pass rate
# after it, plan repeats, --confidence, trials)
GIT_CASES = [("64 commits, fails every run from 41 on, repeats: 10", 64, 41, 0.0, 10, 0.99, 1),
             ("same, repeats: 3", 64, 41, 0.0, 3, 0.99, 1),
             ("32 commits, fails half the runs from 20 on, --confidence 0.95", 32, 20, 0.5, 3,
              0.95, 5),
             ("80 commits, fails half the runs from 50 on, defaults", 80, 50, 0.5, 3, 0.99, 5)]


def git_cases(trials: Optional[int]) -> None:
    import json
    import subprocess
    import tempfile
    from pathlib import Path
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
    from bisect_repo import make_plan, make_repo, step
    print("real git, real processes, empty store (pcgbot bisect TEST --plan P --good A --bad B)")
    print(f"{'case':<62} {'trials':>6} {'right':>6} {'runs':>6} {'ends':>5} {'range':>6} "
          f"{'s/trial':>8}")
    for label, n, c, after, repeats, conf, k in GIT_CASES:
        k = trials or k
        right, runs, ends, t0 = 0, [], [], time.time()
        for i in range(k):
            with tempfile.TemporaryDirectory() as tmp:
                t = Path(tmp)
                shas = make_repo(t / "repo", n, step(c, 1.0, after), seed=100 + i)
                make_plan(t, t / "repo", repeats=repeats)
                p = subprocess.run([sys.executable, "-m", "pcgbot", "bisect",
                                    "test_embedding_models", "--plan", str(t / "toy.yaml"),
                                    "--good", shas[0], "--bad", shas[-1], "--confidence",
                                    str(conf), "--store", str(t / "empty.db"), "--state-dir",
                                    str(t / "st"), "--json"], capture_output=True, text=True,
                                   cwd=t)
                if p.returncode != 0:
                    print(p.stderr, file=sys.stderr)
                    raise SystemExit(1)
                r = json.loads(p.stdout)
                right += r["sha"] == shas[c]
                runs.append(r["runs"])
                ends.append(r["end_runs"])
        mean = statistics.mean
        print(f"{label:<62} {k:>6} {right:>3}/{k:<2} {mean(runs):6.1f} {mean(ends):5.1f} "
              f"{mean(runs) - mean(ends):6.1f} {(time.time() - t0) / k:8.1f}", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--sizes", default="40,80,320")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--scenarios", default=",".join(s[0] for s in SCENARIOS))
    ap.add_argument("--families", default="sweeps,none",
                    help="sweeps: seeded by the two 10-run sweeps that raised the alarm; none: "
                    "no stored sweeps, every method measures what it needs (ends included)")
    ap.add_argument("--setup-cost", default="0",
                    help="comma-separated costs of one setup, in runs (e.g. 0,1,5); a method "
                    "pays it whenever it runs a commit whose setup is not the installed one")
    ap.add_argument("--setup-share", type=float, default=0.1,
                    help="share of commits that change the setup key (with --setup-cost > 0)")
    ap.add_argument("--procs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--quick", action="store_true",
                    help="CI smoke: 20 trials, n = 40, both families, a few methods (seconds)")
    ap.add_argument("--markdown", action="store_true", help="also print the table as Markdown")
    ap.add_argument("--targets", action="store_true",
                    help="check issue 19's targets (needs the pcgbot and oracle methods)")
    ap.add_argument("--config", default="",
                    help="extra SearchConfig fields for a method 'pcgbot*' (key=value,...): "
                    "for trying a variant, e.g. rate_prior=0.5")
    ap.add_argument("--git", action="store_true",
                    help="instead: the issue's terminal cases on real git repositories and "
                    "processes (tests/bisect_repo.py), runs counted from pcgbot bisect --json")
    ap.add_argument("--docs-share", type=float, default=0.0,
                    help="share of commits that change only docs (never the culprit); "
                    "pcgbot+p / pcgbot+hp give them the plan's unlikely_culprits prior")
    a = ap.parse_args()
    if a.git:
        git_cases(a.trials if "--trials" in sys.argv else None)
        return 0
    if a.quick:
        a.trials, a.sizes = 20, "40"
        a.methods, a.scenarios = "pcgbot,oracle,plain,syzbot", "1.0->0.0,1.0->0.5,flake"
    try:
        sizes = [int(x) for x in a.sizes.split(",")]
        costs = [float(x) for x in a.setup_cost.split(",")]
        extra = {k: float(v) for k, v in (kv.split("=") for kv in a.config.split(",") if kv)}
    except ValueError as e:
        print(f"bench_bisect: bad number in --sizes/--setup-cost/--config ({e})", file=sys.stderr)
        return 2
    methods = a.methods.split(",")
    unknown = [m for m in methods if m not in FUNCS] + [
        f for f in a.families.split(",") if f not in ("sweeps", "none")]
    if unknown:
        print(f"bench_bisect: unknown method or family {', '.join(unknown)} "
              f"(methods: {', '.join(FUNCS)}; families: sweeps, none)", file=sys.stderr)
        return 2
    families = a.families.split(",")
    scen = [s for s in SCENARIOS if s[0] in a.scenarios.split(",")]
    t0 = time.time()
    print(f"{a.trials} trials per cell (seeded: trial i of size n uses seed 1000 n + i); "
          "acc / wrong / inconclusive in %, mean runs (+- standard error), runs at the ends, "
          "commits probed, setups, cost = runs + setup cost x setups; x10 = cost / fixed10's")
    print(f"{'seeds':<6} {'setup':>5} {'n':>4} {'scenario':<10} {'method':<12} {'acc%':>6} "
          f"{'wrong%':>7} {'inc%':>5} {'runs':>7} {'+-':>4} {'ends':>5} {'commits':>7} "
          f"{'setups':>6} {'cost':>7} {'x10':>5}")
    table, cells = [], {}
    with Pool(a.procs) as pool:
        for fam in families:
            for sc in costs:
                for n in sizes:
                    for name, before, after in scen:
                        rows = {}
                        for m in methods:
                            ex = extra if (extra and m.startswith("pcgbot")) else None
                            jobs = [(m, n, before, after, 1000 * n + i, a.docs_share,
                                     fam == "sweeps", sc, a.setup_share if sc else 0.0, ex)
                                    for i in range(a.trials)]
                            rows[m] = [r for r in pool.map(trial, jobs, chunksize=4)
                                       if r is not None]
                        cost = {m: [r[2] + sc * r[5] for r in rs] for m, rs in rows.items()}
                        ref = (statistics.mean(cost["fixed10"])
                               if cost.get("fixed10") else None)
                        for m in methods:
                            res = rows[m]
                            if not res:
                                continue
                            acc = 100 * sum(r[0] for r in res) / len(res)
                            wrong = 100 * sum(r[1] for r in res) / len(res)
                            runs = statistics.mean(r[2] for r in res)
                            se = _se([r[2] + sc * r[5] for r in res])
                            ends = statistics.mean(r[4] for r in res)
                            commits = statistics.mean(r[3] for r in res)
                            setups = statistics.mean(r[5] for r in res)
                            c = statistics.mean(cost[m])
                            x10 = f"{c / ref:.2f}" if ref else "-"
                            inc = max(0.0, 100 - acc - wrong)
                            cells[fam, sc, n, name, m] = {"acc": acc, "cost": c, "se": se}
                            table.append((fam, f"{sc:g}", n, name, m, f"{acc:.1f}", f"{wrong:.1f}",
                                          f"{inc:.1f}", f"{runs:.1f}", f"{se:.1f}", f"{ends:.1f}",
                                          f"{commits:.1f}", f"{setups:.1f}", f"{c:.1f}", x10))
                            print(f"{fam:<6} {sc:5g} {n:>4} {name:<10} {m:<12} {acc:6.1f} "
                                  f"{wrong:7.1f} {inc:5.1f} {runs:7.1f} {se:4.1f} {ends:5.1f} "
                                  f"{commits:7.1f} {setups:6.1f} {c:7.1f} {x10:>5}", flush=True)
    print(f"# {time.time() - t0:.0f} s with {a.procs} processes")
    if a.targets:
        print("\ntargets (issue 19; cost in runs, +- one standard error):")
        print("\n".join(targets(cells)) or "(none: run the pcgbot and oracle methods)")
    if a.markdown:   # the table of docs/bisect.md
        print("\n| seeds | setup | n | scenario | method | acc % | wrong % | inconcl. % | mean runs "
              "| +- | at ends | commits probed | setups | cost | cost / fixed10 |\n"
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for row in table:
            print("| " + " | ".join(str(x) for x in row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
