"""Sweep-engine benchmark (prints numbers; not a test).  Both parts run pcgbot's own code.

1. Orchestration overhead per run: a real sweep (``run_sweep``) of N runs of a trivial test on
   one slot, against a bare ``subprocess.run`` of the same command.  Medians of N runs, one pass,
   unseeded (wall clock).  Target: < 20 ms per run at the median.
2. Makespan of the real SGLang 1-GPU plan on S slots: ``run_sweep`` runs every test x repeats of
   ``plans/sglang-1gpu.yaml`` with pcgbot's own scheduler, each run a real process that sleeps the
   test's ``est_time`` x SCALE.  The measured wall time is compared with the lower bound
   max(total work / S, longest run) at the same scale, so the ratio includes what pcgbot adds
   per run (ordering, slot hand-off, process start and clean-up, records), which weighs far more
   against runs of a fraction of a second than against SGLang's minutes.  With two or more
   scales, wall = scale x M + C is fitted (least squares): M / lower bound is the schedule's own
   ratio with the per-run cost C taken out, C / (runs per slot) that cost.  Target: within 5%.
   Measured, one pass per scale, not seeded; the durations are the plan's estimates, not real
   test times.

Run: python bench/bench_runner.py [--runs 200] [--slots 8] [--repeats 10] [--scale 0.001,0.002]
Tiny: python bench/bench_runner.py --runs 5 --tests 12 --repeats 2 --scale 0.0002
"""

from __future__ import annotations

import argparse
import dataclasses
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
from pcgbot.sweep import run_sweep  # noqa: E402

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


def makespan(plan_file: Path, tests: int, repeats: int, slots: int, scale: float
             ) -> tuple[float, float, float, int]:
    """(measured wall s, lower bound s, total work s, runs) of a scaled sweep of the plan."""
    plan = load_plan(plan_file)
    chosen = sorted(plan.tests, key=lambda t: t.path)[:tests] if tests else plan.tests
    with tempfile.TemporaryDirectory() as d:
        for t in chosen:                    # each test: a script sleeping its scaled estimate
            f = Path(d, t.path)
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(f"exec sleep {t.est_time * scale:.6f}\n")
        bench = dataclasses.replace(plan, repo=d, workdir=".", command="/bin/sh {path}",
                                    setup=None, pythonpath=[], tests=chosen, repeats=repeats,
                                    timeout=max(t.est_time for t in chosen) * scale + 60)
        t0 = time.perf_counter()
        run_sweep(bench, Path(d) / "out", slots=slots)
        wall = time.perf_counter() - t0
        recs = read_runs(Path(d) / "out")
        bad = [r for r in recs if r.outcome != "pass"]
        if len(recs) != len(chosen) * repeats or bad:
            sys.exit(f"bench_runner: makespan sweep: {len(recs)} runs, {len(bad)} not passing")
    work = [t.est_time * scale for t in chosen for _ in range(repeats)]
    return wall, max(sum(work) / slots, max(work)), sum(work), len(work)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=200, help="runs for the overhead part")
    ap.add_argument("--plan", type=Path, default=ROOT / "plans" / "sglang-1gpu.yaml")
    ap.add_argument("--tests", type=int, default=0, help="first N tests by path (0 = all)")
    ap.add_argument("--slots", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--scale", default="0.001,0.002",
                    help="comma-separated: run i sleeps est_time x SCALE s (0.002: ~70 s wall)")
    a = ap.parse_args()
    try:
        scales = [float(x) for x in a.scale.split(",")]
    except ValueError:
        sys.exit(f"bench_runner: --scale: {a.scale!r} is not a comma-separated list of numbers")

    # Both parts are wall clock: the machine's load is part of the result.
    print(f"load average (1 min) {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    b = bare(a.runs)
    gaps = orchestrated(a.runs)
    mb, mo = statistics.median(b) * 1e3, statistics.median(gaps) * 1e3
    print(f"== orchestration overhead ({a.runs} runs of {TRIVIAL}, 1 slot; medians) ==")
    print(f"bare subprocess.run     median {mb:7.2f} ms")
    print(f"pcgbot sweep per run    median {mo:7.2f} ms  (p90 "
          f"{sorted(gaps)[int(0.9 * len(gaps))] * 1e3:.2f} ms)")
    print(f"overhead per run        median {mo - mb:7.2f} ms   target < 20 ms")

    print(f"\n== makespan: {a.plan.name}, {a.repeats} repeats, {a.slots} slots, pcgbot's sweep of "
          "runs sleeping est_time x scale (measured, one pass each) ==")
    points = []
    for sc in scales:
        wall, lb, work, runs = makespan(a.plan, a.tests, a.repeats, a.slots, sc)
        points.append((sc, wall, lb / sc))
        print(f"scale {sc:g}: {runs} runs, {work / sc / 3600:.1f} GPU-h unscaled; lower bound "
              f"{lb:.2f} s; measured {wall:.2f} s; ratio {wall / lb:.4f} (target <= 1.05)")
    if len(points) >= 2:
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        mx, my = statistics.fmean(xs), statistics.fmean(ys)
        slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
        cost = my - slope * mx
        per_slot = runs / a.slots
        print(f"fit wall = scale x M + C: schedule ratio M / lower bound {slope / points[0][2]:.4f}"
              f" (target <= 1.05); C = {cost:.2f} s, {cost / per_slot * 1e3:.1f} ms per run "
              "and slot")


if __name__ == "__main__":
    main()
