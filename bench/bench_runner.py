"""Sweep-engine benchmark (prints numbers; not a test).  Both parts run pcgbot's own code.

1. Orchestration overhead per run: a real sweep (``run_sweep``) of N runs of a trivial test on
   one slot, against a bare ``subprocess.run`` of the same command.  Medians of N runs, one pass,
   unseeded (wall clock).  Target: < 20 ms per run at the median.
2. Makespan of the real SGLang 1-GPU plan on S slots, in two ways:
   - schedule: pcgbot's ``Scheduler`` (the class the sweep uses) hands out every test x repeats
     to S slots in virtual time, each run lasting its ``est_time`` (a simulation: no process
     runs; what it measures is the order pcgbot chooses);
   - sweep: ``run_sweep`` runs the same plan, each run a real process sleeping ``est_time`` x
     SCALE (measured, one pass, wall clock, not seeded).  Its excess over the scaled schedule,
     per run and slot, is what pcgbot adds per run (slot hand-off, process start and clean-up,
     records); it weighs far more against runs of a fraction of a second than against SGLang's
     minutes, so the projection adds it to the unscaled schedule.
   Each is compared with the lower bound max(total work / S, longest run).  Target: <= 1.05.
   The durations are the plan's estimates, not real test times.

Run: python bench/bench_runner.py [--runs 200] [--slots 8] [--repeats 10] [--scale 0.002]
Tiny: python bench/bench_runner.py --runs 5 --tests 12 --repeats 2 --scale 0.0002
"""

from __future__ import annotations

import argparse
import dataclasses
import heapq
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pcgbot.plan import load_plan, parse_plan  # noqa: E402
from pcgbot.results import read_runs  # noqa: E402
from pcgbot.sweep import Scheduler, run_sweep  # noqa: E402

TRIVIAL = "/bin/true"


def bare(n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run([TRIVIAL])
        out.append(time.perf_counter() - t)
    return out


def orchestrated(n: int) -> list[float]:
    """Per-run wall time of a sweep of ``n`` runs on one slot (gaps between run ends)."""
    with tempfile.TemporaryDirectory() as d:
        Path(d, "x").touch()                # the test file: a missing one would be a skip
        plan = parse_plan(f"name: bench\nrepo: {d}\ncommand: '{TRIVIAL} {{path}}'\nrepeats: {n}\n"
                          "modes: {pcg: {server_args: {cuda_graph_backend_prefill: tc_piecewise}}}\n"
                          "tests: [x]\n", "bench.yaml")
        stamps: list[float] = []
        t0 = time.perf_counter()
        run_sweep(plan, Path(d) / "out", slots=1,
                  progress=lambda rec, done, total: stamps.append(time.perf_counter()))
        recs = read_runs(Path(d) / "out")
        bad = [r for r in recs if r.outcome != "pass"]
        if len(recs) != n or bad:
            why = f" (first: {bad[0].outcome}, {bad[0].reason})" if bad else ""
            sys.exit(f"bench_runner: expected {n} passing runs, got {len(recs)} runs, "
                     f"{len(bad)} not passing{why}")
        return [b - a for a, b in zip([t0] + stamps[:-1], stamps)]


def chosen_plan(plan_file: Path, tests: int, repeats: int):
    plan = load_plan(plan_file)
    chosen = sorted(plan.tests, key=lambda t: t.path)[:tests] if tests else plan.tests
    return dataclasses.replace(plan, tests=chosen, repeats=repeats)


def schedule(plan, slots: int) -> float:
    """Makespan of pcgbot's Scheduler on ``slots`` slots, each run lasting its est_time
    (virtual time): free slots take ``ready()`` in its order, as the sweep's loop does."""
    sched = Scheduler(plan, plan.tests, plan.mode(None).name, plan.repeats, {}, None, {}, {})
    now, free, running = 0.0, slots, []        # running: heap of (end, seq, test)
    seq = 0
    while True:
        for t, a in sched.ready():          # taking one lets ready() offer its next attempt
            if free == 0:
                break
            sched.take(t, a)
            free -= 1
            seq += 1
            heapq.heappush(running, (now + t.est_time, seq, t))
        if not running:
            if seq != len(plan.tests) * plan.repeats:
                sys.exit(f"bench_runner: the scheduler placed {seq} runs, expected "
                         f"{len(plan.tests) * plan.repeats}")
            return now
        now, _, t = heapq.heappop(running)
        free += 1
        sched.finish(t, None)


def sweep_wall(plan, slots: int, scale: float) -> float:
    """Wall time of a real sweep of ``plan`` whose runs sleep est_time x scale."""
    with tempfile.TemporaryDirectory() as d:
        for t in plan.tests:                # each test: a script sleeping its scaled estimate
            f = Path(d, t.path)
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(f"exec sleep {t.est_time * scale:.6f}\n")
        bench = dataclasses.replace(plan, repo=d, workdir=".", command="/bin/sh {path}",
                                    setup=None, pythonpath=[],
                                    timeout=max(t.est_time for t in plan.tests) * scale + 60)
        t0 = time.perf_counter()
        run_sweep(bench, Path(d) / "out", slots=slots)
        wall = time.perf_counter() - t0
        recs = read_runs(Path(d) / "out")
        bad = [r for r in recs if r.outcome != "pass"]
        if len(recs) != len(plan.tests) * plan.repeats or bad:
            sys.exit(f"bench_runner: makespan sweep: {len(recs)} runs, {len(bad)} not passing")
    return wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=200, help="runs for the overhead part")
    ap.add_argument("--plan", type=Path, default=ROOT / "plans" / "sglang-1gpu.yaml")
    ap.add_argument("--tests", type=int, default=0, help="first N tests by path (0 = all)")
    ap.add_argument("--slots", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--scale", type=float, default=0.002,
                    help="the sweep's run i sleeps est_time x SCALE s (0.002: ~70 s of work/slot)")
    a = ap.parse_args()

    # Both measured parts are wall clock: the machine's load is part of the result.
    print(f"load average (1 min) {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    b = bare(a.runs)
    gaps = orchestrated(a.runs)
    mb, mo = statistics.median(b) * 1e3, statistics.median(gaps) * 1e3
    print(f"== orchestration overhead ({a.runs} runs of {TRIVIAL}, 1 slot; medians) ==")
    print(f"bare subprocess.run     median {mb:7.2f} ms")
    print(f"pcgbot sweep per run    median {mo:7.2f} ms  (p90 "
          f"{sorted(gaps)[int(0.9 * len(gaps))] * 1e3:.2f} ms)")
    print(f"overhead per run        median {mo - mb:7.2f} ms   target < 20 ms")

    plan = chosen_plan(a.plan, a.tests, a.repeats)
    work = [t.est_time for t in plan.tests for _ in range(a.repeats)]
    lb = max(sum(work) / a.slots, max(work))
    per_slot = len(work) / a.slots
    print(f"\n== makespan: {a.plan.name}, {len(plan.tests)} tests x {a.repeats} repeats = "
          f"{len(work)} runs, {sum(work) / 3600:.1f} GPU-h, {a.slots} slots; lower bound "
          f"{lb / 3600:.3f} h ==")
    ms = schedule(plan, a.slots)
    print(f"schedule (pcgbot's Scheduler, simulated in virtual time): {ms / 3600:.3f} h; "
          f"ratio {ms / lb:.4f} (target <= 1.05)")
    wall = sweep_wall(plan, a.slots, a.scale)
    print(f"sweep (run_sweep, runs sleep est_time x {a.scale:g}, measured once): {wall:.2f} s "
          f"vs scaled schedule {ms * a.scale:.2f} s and bound {lb * a.scale:.2f} s; "
          f"ratio {wall / (lb * a.scale):.4f} at this scale")
    extra = max(0.0, wall - ms * a.scale) / per_slot
    print(f"pcgbot's cost per run and slot {extra * 1e3:.1f} ms; projected at the plan's "
          f"durations: ratio {(ms + per_slot * extra) / lb:.4f} (target <= 1.05)")


if __name__ == "__main__":
    main()
