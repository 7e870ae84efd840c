"""Sweep-engine benchmark (prints numbers; not a test).

1. Orchestration overhead per run: a sweep of N runs of a trivial command on one slot, against a
   bare ``subprocess.run`` of the same command.  Target: < 20 ms per run at the median.
2. Makespan of the real SGLang 1-GPU plan (estimated times x repeats) on 8 simulated slots with
   the sweep's longest-first order, against the lower bound max(sum/8, longest).  Target: within 5%.

Run: python bench/bench_runner.py [--runs 200]
"""

from __future__ import annotations

import argparse
import heapq
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pcgbot.plan.schema import load_plan, parse_plan  # noqa: E402
from pcgbot.sweep.sweep import order_tests, run_sweep, read_runs  # noqa: E402

TRIVIAL = "/bin/true"


def bare(n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run([TRIVIAL])
        out.append(time.perf_counter() - t)
    return out


def orchestrated(n: int) -> tuple[list[float], float]:
    with tempfile.TemporaryDirectory() as d:
        plan = parse_plan(f"name: bench\nrepo: {d}\ncommand: '{TRIVIAL} {{path}}'\nrepeats: {n}\n"
                          "modes: {pcg: {server_args: {cuda_graph_backend_prefill: tc_piecewise}}}\n"
                          "tests: [x]\n", "bench.yaml")
        stamps: list[float] = []

        def progress(rec, done, total):
            stamps.append(time.perf_counter())
        t0 = time.perf_counter()
        run_sweep(plan, Path(d) / "out", slots=1, progress=progress)
        total = time.perf_counter() - t0
        recs = read_runs(Path(d) / "out")
        assert len(recs) == n and all(r.outcome == "pass" for r in recs)
        gaps = [b - a for a, b in zip([t0] + stamps[:-1], stamps)]
        return gaps, total


def makespan(durations: list[float], slots: int) -> float:
    free = [0.0] * slots
    heapq.heapify(free)
    end = 0.0
    for d in durations:
        start = heapq.heappop(free)
        heapq.heappush(free, start + d)
        end = max(end, start + d)
    return end


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--slots", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=10)
    a = ap.parse_args()

    b = bare(a.runs)
    gaps, total = orchestrated(a.runs)
    mb, mo = statistics.median(b) * 1e3, statistics.median(gaps) * 1e3
    print(f"== orchestration overhead ({a.runs} runs of {TRIVIAL}, 1 slot) ==")
    print(f"bare subprocess.run     median {mb:7.2f} ms")
    print(f"pcgbot sweep per run    median {mo:7.2f} ms  (p90 "
          f"{sorted(gaps)[int(0.9 * len(gaps))] * 1e3:.2f} ms)")
    print(f"overhead per run        median {mo - mb:7.2f} ms   target < 20 ms")

    plan = load_plan(ROOT / "plans/sglang-1gpu.yaml")
    items = [t.est_time for t in order_tests(plan.tests, {}) for _ in range(a.repeats)]
    ms = makespan(items, a.slots)
    lb = max(sum(items) / a.slots, max(items))
    print(f"\n== makespan: {plan.name}, {len(plan.tests)} tests x {a.repeats} repeats, "
          f"{a.slots} slots (est_time) ==")
    print(f"total work {sum(items) / 3600:.1f} GPU-h; lower bound {lb / 3600:.3f} h; "
          f"longest-first makespan {ms / 3600:.3f} h; ratio {ms / lb:.4f} (target <= 1.05)")


if __name__ == "__main__":
    main()
