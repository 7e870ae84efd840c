"""Cost of a sweep: GPU-hours and wall time, so a maintainer can size the runner pool.

A sweep of the SGLang 1-GPU plan is ~7.7 GPU-hours per repeat; at the seed's 10 repeats that is
~77 GPU-hours, which decides how many self-hosted runners the nightly sweep needs.  This module
answers "how long will it take on R runners of N GPUs" with the same split the workflows use
(``--shard i/n``: one shard per runner, tests balanced by time), then a list schedule of each
shard's runs on its runner's GPUs.  It is a pure function of the plan and optional history.

Assumptions (also printed with every estimate, because a number without them misleads):
- duration of a run = median historical duration from the store when the test has history,
  else the plan's ``est_time``; capped at the test's timeout (the runner kills it there);
- a k-GPU test holds k GPUs of one runner for its whole run; a 0-GPU (CPU) test holds one slot;
- adaptive repeats stop a *stable* test after ~1/3 of the repeats (``ADAPTIVE_FACTOR``), while a
  test whose history mixes pass and fail runs all of them;
- a PCG-inert test (``pcgbot.results.inert``: PCG off in every recent run) runs once per sweep,
  as a sentinel; the few sentinels that wake up (PCG active again) are not priced.
"""

from __future__ import annotations

import heapq
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

from ..errors import UsageError
from ..model import FAIL, PASS
from ..plan.schema import Plan, TestSpec

# Adaptive stopping ends a test once its runs agree; for a stable test that happens after about a
# third of the fixed repeats (10 -> 4).  A stated assumption, not a measurement: the sweep's own
# stopping rule decides the real number, and `--store` history marks which tests are flaky.
ADAPTIVE_FACTOR = 3.0
# How many of the newest sweeps of the plan are read to find flaky tests.
FLAKY_HISTORY_SWEEPS = 5


@dataclass
class Estimate:
    plan: str
    gpus_per_runner: int
    runners: int
    repeats: int
    adaptive: bool
    tests: int                         # tests that fit on a runner of this size
    runs: int                          # runs scheduled (tests x repeats, adaptive applied)
    gpu_hours: float                   # sum of run time x GPUs held
    gpu_hours_per_repeat: float        # one pass over every test
    wall_hours: float                  # makespan of the simulated schedule
    wall_lower_bound_hours: float      # max(total / pool, longest single run): no schedule beats it
    longest_test_hours: float
    runners_for_24h: int               # smallest pool whose lower bound fits in a day
    durations_from_store: int          # tests whose duration came from history
    durations_from_plan: int           # tests that used est_time
    flaky_tests: int                   # tests run at full repeats under --adaptive
    inert_tests: int = 0               # PCG-inert tests run once per sweep (sentinels)
    gpu_hours_without_sentinels: float = 0.0   # the same sweep with inert tests at full repeats
    too_big: list[str] = field(default_factory=list)  # tests needing more GPUs than a runner has
    per_runner_hours: list[float] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _slots(test: TestSpec) -> int:
    return max(1, test.gpus)


def _shard_tests(loads: list[tuple[str, float]], n: int) -> list[list[str]]:
    """LPT split of (test, total seconds) into n shards, longest first, name as tie-break —
    the same greedy rule SGLang's run_suite partitioning and ``--shard`` use."""
    shards: list[list[str]] = [[] for _ in range(n)]
    heap = [(0.0, i) for i in range(n)]
    for name, load in sorted(loads, key=lambda x: (-x[1], x[0])):
        total, i = heapq.heappop(heap)
        shards[i].append(name)
        heapq.heappush(heap, (total + load, i))
    return shards


def _makespan(jobs: list[tuple[float, int]], gpus: int) -> float:
    """List schedule (longest first) of (seconds, GPUs needed) jobs on one runner with `gpus`
    GPUs: each job starts when the k earliest-free GPUs are all free."""
    free = [0.0] * gpus
    end = 0.0
    for dur, k in sorted(jobs, key=lambda j: (-j[0] * j[1], -j[1])):
        free.sort()
        start = free[k - 1]
        for i in range(k):
            free[i] = start + dur
        end = max(end, start + dur)
    return end


def estimate(plan: Plan, *, gpus: int, runners: int = 1, repeats: Optional[int] = None,
             adaptive: bool = False, durations: Optional[dict[str, float]] = None,
             flaky: Optional[set[str]] = None, tests: Optional[list[TestSpec]] = None,
             inert: Optional[set[str]] = None) -> Estimate:
    """Estimate a sweep of `plan` (or of `tests`) on `runners` machines with `gpus` GPUs each.

    `durations` maps test path -> historical seconds; `flaky` holds test paths whose history
    mixes pass and fail (they keep all repeats under `adaptive`); `inert` holds PCG-inert test
    paths (one sentinel run each; a test with ``pcg_inert: false`` in the plan is not one)."""
    if gpus < 1:
        raise UsageError(f"--gpus: must be >= 1, got {gpus}")
    if runners < 1:
        raise UsageError(f"--runners: must be >= 1, got {runners}")
    k = plan.repeats if repeats is None else repeats
    if k < 1:
        raise UsageError(f"--repeats: must be >= 1, got {k}")
    durations = durations or {}
    flaky = flaky or set()
    inert = {t.path for t in plan.tests if t.pcg_inert and t.path in (inert or set())}
    stable_runs = max(1, math.ceil(k / ADAPTIVE_FACTOR))

    fits = [t for t in (plan.tests if tests is None else tests) if t.gpus <= gpus]
    too_big = sorted(t.path for t in (plan.tests if tests is None else tests) if t.gpus > gpus)
    from_store = 0
    per_test: dict[str, tuple[float, int, int]] = {}   # path -> (seconds, slots, runs)
    full_s = 0.0                                        # GPU-seconds with no sentinels
    for t in fits:
        hist = durations.get(t.path)
        if hist is not None:
            from_store += 1
        sec = float(hist if hist is not None else t.est_time)
        sec = min(sec, t.timeout or plan.timeout)
        runs = k if (not adaptive or t.path in flaky) else stable_runs
        full_s += sec * _slots(t) * runs
        per_test[t.path] = (sec, _slots(t), 1 if t.path in inert else runs)

    gpu_s_repeat = sum(sec * slots for sec, slots, _ in per_test.values())
    gpu_s = sum(sec * slots * runs for sec, slots, runs in per_test.values())
    longest = max((sec for sec, _, _ in per_test.values()), default=0.0)

    shards = _shard_tests([(p, s * g * r) for p, (s, g, r) in per_test.items()], runners)
    per_runner = []
    for names in shards:
        jobs = [(per_test[p][0], per_test[p][1]) for p in names for _ in range(per_test[p][2])]
        per_runner.append(_makespan(jobs, gpus) / 3600)
    lower = max(gpu_s / (gpus * runners), longest) / 3600
    need_24h = max(1, math.ceil(gpu_s / 3600 / (gpus * 24))) if longest <= 24 * 3600 else 0

    assumptions = [
        f"run time = {'median duration from the store, else ' if durations else ''}"
        f"plan est_time, capped at the timeout ({plan.timeout:g} s unless a test overrides it)",
        "a k-GPU test holds k GPUs of one runner; a CPU test holds one slot",
        f"one shard per runner ({runners}), tests split longest-first by total time",
    ]
    if inert & set(per_test):
        assumptions.append(f"{len(inert & set(per_test))} PCG-inert test(s) run once each "
                           "(sentinels; one that sees PCG again runs in full, not priced)")
    if adaptive:
        assumptions.append(
            f"adaptive: stable tests stop after ~1/{ADAPTIVE_FACTOR:g} of the repeats "
            f"({stable_runs} of {k}); {len(flaky & set(per_test))} flaky test(s) from history run "
            f"all {k}")
    return Estimate(
        plan=plan.name, gpus_per_runner=gpus, runners=runners, repeats=k, adaptive=adaptive,
        tests=len(per_test), runs=sum(r for _, _, r in per_test.values()),
        gpu_hours=gpu_s / 3600, gpu_hours_per_repeat=gpu_s_repeat / 3600,
        wall_hours=max(per_runner, default=0.0), wall_lower_bound_hours=lower,
        longest_test_hours=longest / 3600, runners_for_24h=need_24h,
        durations_from_store=from_store, durations_from_plan=len(per_test) - from_store,
        flaky_tests=len(flaky & set(per_test)) if adaptive else 0, too_big=too_big,
        inert_tests=len(inert & set(per_test)), gpu_hours_without_sentinels=full_s / 3600,
        per_runner_hours=per_runner, assumptions=assumptions)


def history(plan: Plan, store_path: Optional[str]) -> tuple[dict[str, float], set[str], str]:
    """(durations, flaky tests, description) from the store, or empty when there is none.
    ``inert_from_store`` gives the PCG-inert tests of the same store.

    An explicit `store_path` must exist; the default store ($PCGBOT_STORE or .pcgbot/pcgbot.db)
    is read only if it is already there, so estimating never creates a database."""
    path = store_path or os.environ.get("PCGBOT_STORE") or ".pcgbot/pcgbot.db"
    if not Path(path).is_file():
        if store_path:
            raise UsageError(f"--store: {store_path}: no such file")
        return {}, set(), "no store (durations from plan est_time)"
    from .store import Store   # imported here: estimating from a plan alone needs no store

    store = Store(path)
    durations = {t: float(s) for t, s in store.durations(plan.name).items() if s is not None}
    seen: dict[str, set[str]] = {}
    for sweep in store.sweeps(plan=plan.name)[:FLAKY_HISTORY_SWEEPS]:
        for rec in store.runs(sweep["sweep_id"]):
            if rec.outcome in (PASS, FAIL):
                seen.setdefault(rec.test, set()).add(rec.outcome)
    flaky = {t for t, outs in seen.items() if outs == {PASS, FAIL}}
    return durations, flaky, f"store {path}: {len(durations)} test(s) with history"


def inert_from_store(plan: Plan, store_path: Optional[str]) -> set[str]:
    """PCG-inert tests of the plan's default mode per the store (empty without a store)."""
    path = store_path or os.environ.get("PCGBOT_STORE") or ".pcgbot/pcgbot.db"
    if not Path(path).is_file():
        return set()
    from .inert import inert_tests
    from .store import Store

    return set(inert_tests(Store(path), plan, plan.default_mode, reasons=False))


def render(est: Estimate, source: str) -> str:
    """Human-readable estimate; the numbers a maintainer sizes the pool with come first."""
    pool = est.gpus_per_runner * est.runners
    lines = [
        f"plan {est.plan}: {est.tests} test(s) on {est.runners} runner(s) x "
        f"{est.gpus_per_runner} GPU(s) = {pool} GPU(s); {source}",
        f"  GPU-hours per repeat : {est.gpu_hours_per_repeat:8.1f}",
        f"  repeats              : {est.repeats}{' (adaptive)' if est.adaptive else ''}"
        f" -> {est.runs} run(s)",
        f"  GPU-hours            : {est.gpu_hours:8.1f}",
        f"  wall time            : {est.wall_hours:8.1f} h  (lower bound "
        f"{est.wall_lower_bound_hours:.1f} h; longest test {est.longest_test_hours * 60:.0f} min)",
    ]
    if est.inert_tests:
        lines.append(f"  PCG-inert sentinels  : {est.inert_tests} test(s) run once; without them "
                     f"{est.gpu_hours_without_sentinels:.1f} GPU-h "
                     f"({1 - est.gpu_hours / est.gpu_hours_without_sentinels:.0%} saved)"
                     if est.gpu_hours_without_sentinels else "")
    if est.runners_for_24h:
        lines.append(f"  runners for <= 24 h  : {est.runners_for_24h} of "
                     f"{est.gpus_per_runner} GPU(s) each (lower bound)")
    if est.too_big:
        lines.append(f"  not counted: {len(est.too_big)} test(s) need more than "
                     f"{est.gpus_per_runner} GPU(s): " + ", ".join(est.too_big[:5])
                     + (" ..." if len(est.too_big) > 5 else ""))
    lines.append("assumptions:")
    lines.extend(f"  - {a}" for a in est.assumptions)
    return "\n".join(lines)
