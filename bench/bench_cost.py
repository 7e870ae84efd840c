"""Pool sizing table for the shipped SGLang plans: GPU-hours and wall time per runner count.

Run: python bench/bench_cost.py [--repeats 10]
Prints, per plan and runner size, the numbers `pcgbot plan cost` gives for 1..8 runners, with
fixed and adaptive repeats, and how long the estimate itself takes (it simulates every run).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from pcgbot.results.cost import estimate
from pcgbot.plan.schema import load_plan

PLANS = [("sglang-1gpu", 1), ("sglang-2gpu", 2), ("sglang-4gpu", 4)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args()
    root = Path(__file__).resolve().parents[1] / "plans"
    print(f"{'plan':<12} {'GPUs/runner':>11} {'runners':>7} {'tests':>5} {'GPU-h/rep':>9} "
          f"{'GPU-h':>7} {'wall h':>7} {'GPU-h ad.':>9} {'wall ad.':>8} {'ms':>6}")
    for name, gpus in PLANS:
        plan = load_plan(root / f"{name}.yaml")
        for runners in (1, 2, 4, 8):
            t0 = time.perf_counter()
            fixed = estimate(plan, gpus=gpus, runners=runners, repeats=args.repeats)
            adapt = estimate(plan, gpus=gpus, runners=runners, repeats=args.repeats,
                             adaptive=True)
            ms = (time.perf_counter() - t0) * 1000
            print(f"{name:<12} {gpus:>11} {runners:>7} {fixed.tests:>5} "
                  f"{fixed.gpu_hours_per_repeat:>9.1f} {fixed.gpu_hours:>7.1f} "
                  f"{fixed.wall_hours:>7.1f} {adapt.gpu_hours:>9.1f} {adapt.wall_hours:>8.1f} "
                  f"{ms:>6.0f}")


if __name__ == "__main__":
    main()
