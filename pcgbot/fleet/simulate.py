"""Replay a commit stream against a fleet of runners: time from a bad commit to its culprit.

A discrete-event simulation of what the sweep and bisect workflows do, built from pcgbot's own
parts so the number means what the fleet does:

- commits arrive at real first-parent times (``commits``); each push and the nightly cron
  trigger the sweep workflow, which GitHub coalesces by its ``concurrency`` setting
  (``concurrency.Group``: one running, one pending, newer triggers replace the pending one);
- a sweep is one shard per runner; shard lengths and GPU-hours come from ``plan cost``
  (``pcgbot.results.cost.estimate``: the plan's durations, adaptive repeats, PCG-inert tests at
  one sentinel run each);
- regressions are planted at random commits in random PCG-active tests: after the bad commit a
  run of that test fails with probability ``failure_rate``.  A sweep that contains the bad
  commit runs the test by the real adaptive rule (``results.adaptive.decide``, starting at
  ``min_runs``) and the real verdict (``results.stats.verdict``) decides whether it alarms;
- an alarm dispatches a bisection over the commits since the previous sweep: the real search
  (``pcgbot.bisect.Search``, its defaults) on simulated outcomes, one probe at a time on one
  runner (a 1-GPU runner holds one probe), each run the test's duration plus ``setup_s`` at
  every new commit.  The culprit is filed when the search names the planted commit;
- runners take queued jobs (sweep shards, bisections) first come, first served.

Not modelled (stated with every result): reverts and fixes of a planted regression before it is
caught, several regressions in one test, runner failures, the time to file the issue after the
bisection ends (seconds), and tests needing more GPUs than a runner has (left out, as in
``plan cost``).
"""

from __future__ import annotations

import heapq
import math
import random
import statistics
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Optional

from ..bisect import Search, SearchConfig
from ..bisect.search import FOUND
from ..errors import UsageError
from ..plan.schema import Plan
from ..results import adaptive, stats
from ..results.cost import estimate
from .commits import DAY
from .concurrency import Concurrency, Group

HOUR = 3600.0


@dataclass
class FleetConfig:
    runners: int
    gpus: int = 1
    failure_rate: float = 1.0          # P(a run of the regressed test fails) after the bad commit
    regressions_per_day: float = 1.0
    setup_s: float = 600.0             # bisect: worktree + `pip install -e` at each new commit
    baseline: tuple[int, int] = (stats.POOL_RUNS, stats.POOL_RUNS)  # pooled healthy baseline
    plant_share: float = 0.8           # plant in the first 80%: late ones get no second sweep
    inert: frozenset[str] = frozenset()
    durations: dict[str, float] = field(default_factory=dict)   # store medians (else est_time)
    flaky: frozenset[str] = frozenset()   # tests whose history mixes pass and fail: all repeats
    nightly_hour: Optional[float] = 2.0   # the workflow's cron "0 2 * * *" (UTC)
    max_repeats: int = adaptive.DEFAULT_MAX_RUNS
    seed: int = 1


@dataclass
class Regression:
    commit: int                        # index of the bad commit in the stream
    test: str
    duration_s: float
    caught_at: Optional[float] = None  # sweep end that alarmed
    filed_at: Optional[float] = None   # bisection end that named the planted commit
    bisect_runs: int = 0
    missed_sweeps: int = 0             # sweeps that contained it and did not alarm
    last_clean: Optional[int] = None   # newest swept commit where the test passed every run


@dataclass
class SimResult:
    runners: int
    gpus: int
    days: float
    commits: int
    sweeps: int
    commits_per_sweep: float
    sweep_wall_hours: float            # one sweep's makespan on an idle fleet
    gpu_hours_per_sweep: float
    gpu_hours_per_day: float           # sweeps + bisections
    regressions: int
    caught_share: float                # alarmed by a sweep
    culprit_share: float               # culprit filed
    ttc_median_hours: Optional[float]  # bad commit -> culprit filed
    ttc_p90_hours: Optional[float]
    bisect_runs_mean: Optional[float]
    ttc_hours: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("ttc_hours")
        return d


def percentile(xs: list[float], q: float) -> Optional[float]:
    """Nearest-rank percentile (q in 0..100) of a non-empty list, else None."""
    if not xs:
        return None
    s = sorted(xs)
    return s[max(0, math.ceil(q / 100 * len(s)) - 1)]


def _sweep_runs(rng: random.Random, reg: Regression, cfg: FleetConfig, min_runs: int,
                ) -> tuple[int, int]:
    """(passes, runs) of the regressed test in one sweep under the adaptive rule."""
    k = n = 0
    while True:
        n += 1
        k += rng.random() >= cfg.failure_rate
        if n < min_runs:
            continue
        d = adaptive.decide(cfg.baseline, k, n, min_runs=min_runs, max_runs=cfg.max_repeats)
        if d.action == adaptive.STOP or n >= cfg.max_repeats:
            return k, n


def _bisect(rng: random.Random, n: int, culprit: int, current: tuple[int, int],
            cfg: FleetConfig) -> tuple[bool, int, int]:
    """(named the culprit, runs, setups) of the real search over n commits after the good one;
    ``culprit`` 0 means the good end already fails (an earlier sweep missed the regression)."""
    s = Search(n, seed_before=cfg.baseline, seed_after=current, config=SearchConfig())
    while True:
        picks = s.next_probes(1)
        if not picks:
            break
        for j in picks:
            bad = j >= culprit
            s.record(j, "fail" if bad and rng.random() < cfg.failure_rate else "pass")
    d = s.decision()
    return d.status == FOUND and d.index == culprit and culprit > 0, s.runs, s.setups


def simulate(plan: Plan, times: list[float], cfg: FleetConfig, rule: Concurrency) -> SimResult:
    """One seeded replay of ``times`` (seconds, ascending) on ``cfg.runners`` runners."""
    if rule.cancel_in_progress:
        raise UsageError("workflow: concurrency.cancel-in-progress: true cancels running sweeps;"
                         " the simulator models the sweep workflow's false only")
    if cfg.runners < 1:
        raise UsageError(f"--runners: must be >= 1, got {cfg.runners}")
    if not 0 < cfg.failure_rate <= 1:
        raise UsageError(f"--failure-rate: must be in (0, 1], got {cfg.failure_rate}")
    rng = random.Random(cfg.seed)
    est = estimate(plan, gpus=cfg.gpus, runners=cfg.runners, adaptive=True,
                   inert=set(cfg.inert), durations=cfg.durations, flaky=set(cfg.flaky))
    shards = [h * HOUR for h in est.per_runner_hours]
    active = [t for t in plan.tests if t.gpus <= cfg.gpus and t.path not in cfg.inert]
    if not active:
        raise UsageError(f"{plan.source or plan.name}: no PCG-active test fits a runner of "
                         f"{cfg.gpus} GPU(s): nothing for a regression to break")
    min_runs = min(adaptive.DEFAULT_MIN_RUNS, plan.repeats)
    stable_runs = max(1, math.ceil(plan.repeats / 3.0))   # what plan cost prices per test
    span = times[-1] - times[0]
    days = span / DAY
    t0 = times[0]

    # plant regressions at random commits of the first plant_share of the stream
    n_reg = max(1, round(cfg.regressions_per_day * days * cfg.plant_share))
    last_plant = max(1, int(len(times) * cfg.plant_share))
    regs = []
    for _ in range(n_reg):
        t = rng.choice(active)
        regs.append(Regression(rng.randrange(1, last_plant), t.path,
                               min(cfg.durations.get(t.path, t.est_time),
                                   t.timeout or plan.timeout)))

    group = Group(rule)
    events: list[tuple[float, int, str, Any]] = []
    seq = [0]

    def push(t: float, kind: str, payload: Any = None) -> None:
        seq[0] += 1
        heapq.heappush(events, (t, seq[0], kind, payload))

    for i, t in enumerate(times):
        push(t, "commit", i)
    if cfg.nightly_hour is not None:
        day0 = math.floor(t0 / DAY) * DAY
        for d in range(int(days) + 2):
            t = day0 + d * DAY + cfg.nightly_hour * HOUR
            if t0 < t <= times[-1]:
                push(t, "cron")

    free = cfg.runners
    queue: list[tuple[str, Any, float]] = []          # FIFO of (kind, payload, seconds)
    head = [-1]                                        # newest commit pushed so far
    sweeps_done = [0]
    covered: list[int] = []                            # commits swept, in order
    gpu_s = [0.0]
    open_shards: dict[int, int] = {}

    def dispatch(now: float) -> None:
        nonlocal free
        while free and queue:
            kind, payload, dur = queue.pop(0)
            free -= 1
            gpu_s[0] += dur * cfg.gpus
            push(now + dur, "done", (kind, payload))

    def start_sweep(commit: int, now: float) -> None:
        open_shards[commit] = len(shards)
        for dur in shards:
            queue.append(("shard", commit, dur))

    def end_sweep(commit: int, now: float) -> None:
        for r in regs:                  # sweeps before the bad commit saw the test clean
            if commit < r.commit:
                r.last_clean = commit
        covered.append(commit)
        sweeps_done[0] += 1
        for r in regs:
            if r.caught_at is not None or r.commit > commit:
                continue
            k, n = _sweep_runs(rng, r, cfg, min_runs)
            gpu_s[0] += max(0, n - stable_runs) * r.duration_s * cfg.gpus  # extra repeats
            if stats.verdict(cfg.baseline, (k, n)).verdict != stats.REGRESSION:
                r.missed_sweeps += 1
                if k == n:
                    # passed every run: to the bisection's seed this sweep looks good, so a
                    # later alarm bisects from here -- past the culprit ("good is bad")
                    r.last_clean = commit
                continue
            r.caught_at = now
            # the good end: the newest sweep where the test ran clean (pcgbot's bisect seed
            # walks back over sweeps that failed no more than the bad one, see bisect/seed.py)
            prev = r.last_clean if r.last_clean is not None else 0
            n_range = max(1, commit - prev)
            culprit = r.commit - prev if r.commit > prev else 0
            found, runs, setups = _bisect(rng, n_range, culprit, (k, n), cfg)
            r.bisect_runs = runs
            queue.append(("bisect", (r, found), runs * r.duration_s + setups * cfg.setup_s))
        nxt = group.finish()
        if nxt is not None:
            start_sweep(nxt, now)

    while events:
        now, _, kind, payload = heapq.heappop(events)
        if kind == "commit":
            head[0] = payload
            if group.trigger(payload) is not None:
                start_sweep(payload, now)
        elif kind == "cron":
            if group.trigger(head[0]) is not None:
                start_sweep(head[0], now)
        else:
            free += 1
            jk, jp = payload
            if jk == "shard":
                open_shards[jp] -= 1
                if open_shards[jp] == 0:
                    del open_shards[jp]
                    end_sweep(jp, now)
            else:
                r, found = jp
                if found:
                    r.filed_at = now
        dispatch(now)

    ttc = [(r.filed_at - times[r.commit]) / HOUR for r in regs if r.filed_at is not None]
    runs = [r.bisect_runs for r in regs if r.caught_at is not None]
    return SimResult(
        runners=cfg.runners, gpus=cfg.gpus, days=days, commits=len(times),
        sweeps=sweeps_done[0],
        commits_per_sweep=(len(times) / sweeps_done[0]) if sweeps_done[0] else 0.0,
        sweep_wall_hours=est.wall_hours, gpu_hours_per_sweep=est.gpu_hours,
        gpu_hours_per_day=gpu_s[0] / HOUR / days if days else 0.0,
        regressions=len(regs),
        caught_share=sum(r.caught_at is not None for r in regs) / len(regs),
        culprit_share=len(ttc) / len(regs),
        ttc_median_hours=statistics.median(ttc) if ttc else None,
        ttc_p90_hours=percentile(ttc, 90),
        bisect_runs_mean=statistics.mean(runs) if runs else None, ttc_hours=ttc)


def simulate_trials(plan: Plan, times: list[float], cfg: FleetConfig, rule: Concurrency,
                    trials: int) -> SimResult:
    """``trials`` seeded replays (seeds seed..seed+trials-1) pooled into one result."""
    if trials < 1:
        raise UsageError(f"--trials: must be >= 1, got {trials}")
    res = [simulate(plan, times, replace(cfg, seed=cfg.seed + i), rule)
           for i in range(trials)]
    ttc = [x for r in res for x in r.ttc_hours]
    regs = sum(r.regressions for r in res)
    first = res[0]
    runs = [r.bisect_runs_mean for r in res if r.bisect_runs_mean is not None]
    return SimResult(
        runners=first.runners, gpus=first.gpus, days=first.days, commits=first.commits,
        sweeps=round(statistics.mean(r.sweeps for r in res)),
        commits_per_sweep=statistics.mean(r.commits_per_sweep for r in res),
        sweep_wall_hours=first.sweep_wall_hours, gpu_hours_per_sweep=first.gpu_hours_per_sweep,
        gpu_hours_per_day=statistics.mean(r.gpu_hours_per_day for r in res),
        regressions=regs,
        caught_share=sum(r.caught_share * r.regressions for r in res) / regs,
        culprit_share=len(ttc) / regs,
        ttc_median_hours=statistics.median(ttc) if ttc else None,
        ttc_p90_hours=percentile(ttc, 90),
        bisect_runs_mean=statistics.mean(runs) if runs else None, ttc_hours=ttc)


def runners_for_target(plan: Plan, times: list[float], cfg: FleetConfig, rule: Concurrency,
                       trials: int, target_hours: float, max_runners: int,
                       ) -> tuple[Optional[int], list[SimResult]]:
    """The smallest runner count whose median time-to-culprit is at most ``target_hours``
    (None when ``max_runners`` cannot), and every result tried on the way."""
    tried = []
    for n in range(1, max_runners + 1):
        r = simulate_trials(plan, times, replace(cfg, runners=n), rule, trials)
        tried.append(r)
        if r.ttc_median_hours is not None and r.ttc_median_hours <= target_hours:
            return n, tried
    return None, tried
