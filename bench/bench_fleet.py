"""GPU-hours per sweep with and without PCG-inert sentinels, and time-to-culprit per fleet size.

    python bench/bench_fleet.py [--trials 10] [--runners 2,4,8] [--per-day 40.2] [--target 12]

Everything here is computed, not measured on GPUs: GPU-hours come from `pcgbot plan cost`'s
model (the plan's est_time, adaptive repeats), time-to-culprit from `pcgbot plan simulate`'s
seeded replay (real first-parent commit times of sgl-project/sglang-jax, rescaled to
--per-day; the sweep workflow's concurrency rule; the real adaptive rule, verdict and
bisection search).  Tables:

1. Which tests of plans/sglang-1gpu.yaml run without PCG in its pcg mode, estimated from
   SGLang's code (below, INERT_*), and GPU-h per sweep with and without sentinels for each
   estimate, next to the path-only guess of the issue (VLM, speculative, multimodal paths).
2. The saving as a function of the inert share (the share is not assumed: the estimate's
   rows say where SGLang's code puts it).
3. Time from a bad commit to its filed culprit for each runner count, with and without
   sentinels, for a hard break (every run fails) and a flaky one (30% of runs fail); and the
   smallest runner count with a median time-to-culprit <= --target hours.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

from pcgbot.fleet import (DEFAULT_COMMITS, FleetConfig, load_times, rescale, runners_for_target,
                          simulate_trials, workflow_concurrency)
from pcgbot.plan.schema import Plan, load_plan
from pcgbot.results.cost import ADAPTIVE_FACTOR, estimate

ROOT = Path(__file__).resolve().parents[1]

# The plan's pcg mode sets cuda_graph_backend_prefill=tc_piecewise, which SGLang locks: the
# server_args auto-disable cascade (multimodal, LoRA, ... in _apply_cuda_graph_compatibility) is
# skipped (SGLANG_FACTS.md, "Setting the prefill backend explicitly locks it").  What still turns
# PCG off is the runtime gate in cuda_graph_setup.py:capture_prefill_graph: an EAGLE-family
# target (spec_algorithm.is_eagle(): EAGLE, EAGLE3, FROZEN_KV_MTP; NEXTN becomes EAGLE) logs
# "Disable prefill CUDA graph for EAGLE target on tc_piecewise" and runs eager, and its draft
# worker never captures.  Read from the sglang snapshot in the code index (2026), not run.
INERT_EAGLE = ("registered/spec/eagle/test_*.py,registered/core/test_basic_sanity_eagle3.py,"
               "registered/spec/test_frozen_kv_mtp.py")
# Upper estimate: newer capture_prefill_graph also gates LoRA (`lora_manager is not None and
# ...`, condition cut off in what could be read) and DFlash may count as EAGLE-like; unverified.
INERT_UPPER = INERT_EAGLE + (",registered/lora/test_lora_*.py,registered/lora/test_multi_lora_"
                             "backend.py,registered/spec/dflash/test_dflash.py")
# The path-only guess: every VLM, speculative and multimodal path (~36% of GPU time).
PATH_GUESS = "registered/vlm/*,registered/spec/*,registered/unit/spec/*,*multimodal*,*mm_*"


def _select(plan: Plan, globs: str) -> set[str]:
    return {t.path for t in plan.select(globs)}


def gpu_table(plan: Plan) -> dict[str, set[str]]:
    total = sum(min(t.est_time, plan.timeout) for t in plan.tests)
    base = estimate(plan, gpus=1, runners=4, adaptive=True)
    fixed = estimate(plan, gpus=1, runners=4)
    print(f"## 1. GPU-h per sweep of {plan.name} (4 x 1-GPU runners; plan est_time)\n")
    print(f"no sentinels: {base.gpu_hours:.1f} GPU-h adaptive ({base.wall_hours:.1f} h wall), "
          f"{fixed.gpu_hours:.1f} GPU-h at {plan.repeats} fixed repeats\n")
    print("| inert set | tests | share of GPU time | GPU-h adaptive | saved | GPU-h fixed "
          "| saved |")
    print("|---|---|---|---|---|---|---|")
    sets = {"EAGLE-family runtime gate (estimate)": _select(plan, INERT_EAGLE),
            "+ LoRA, DFlash (upper, unverified)": _select(plan, INERT_UPPER),
            "path-only guess (issue's 36%)": _select(plan, PATH_GUESS)}
    for name, inert in sets.items():
        share = sum(min(t.est_time, plan.timeout) for t in plan.tests if t.path in inert) / total
        ad = estimate(plan, gpus=1, runners=4, adaptive=True, inert=inert)
        fx = estimate(plan, gpus=1, runners=4, inert=inert)
        print(f"| {name} | {len(inert)} | {share:.1%} | {ad.gpu_hours:.1f} | "
              f"{1 - ad.gpu_hours / base.gpu_hours:.1%} | {fx.gpu_hours:.1f} | "
              f"{1 - fx.gpu_hours / fixed.gpu_hours:.1%} |")
    return sets


def share_table(plan: Plan) -> None:
    """A test of share s of the GPU time at r runs per sweep costs s*r; as a sentinel s*1."""
    r_ad = max(1, math.ceil(plan.repeats / ADAPTIVE_FACTOR))
    print(f"\n## 2. Saving per sweep as a function of the inert share s\n")
    print(f"saving = s x (1 - 1/r): r = {r_ad} runs (adaptive, stable tests) or {plan.repeats} "
          f"(fixed). 25% fewer GPU-h needs s >= {0.25 / (1 - 1 / r_ad):.0%} adaptive, "
          f">= {0.25 / (1 - 1 / plan.repeats):.0%} fixed.\n")
    print("| s | adaptive | fixed |")
    print("|---|---|---|")
    for pct in range(0, 55, 5):
        s = pct / 100
        print(f"| {pct}% | {s * (1 - 1 / r_ad):.1%} | {s * (1 - 1 / plan.repeats):.1%} |")


def ttc_table(plan: Plan, inert: set[str], args: argparse.Namespace) -> None:
    times = rescale(load_times(DEFAULT_COMMITS), args.per_day)
    rule = workflow_concurrency(ROOT / "docs" / "examples" / "pcgbot-sweep.yml")
    counts = [int(x) for x in args.runners.split(",")]
    print(f"\n## 3. Time from bad commit to filed culprit ({len(times)} real commit times "
          f"rescaled to {args.per_day}/day = {(times[-1] - times[0]) / 86400:.1f} days; "
          f"{args.trials} seeded trials; {args.regressions} regressions/day)\n")
    print("| failure rate | sentinels | runners | sweep h | GPU-h/sweep | commits/sweep | "
          "GPU-h/day | caught | culprit | TTC median h | TTC p90 h |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for rate in (1.0, 0.3):
        for label, inert_set in (("no", frozenset()), ("yes", frozenset(inert))):
            for n in counts:
                cfg = FleetConfig(runners=n, failure_rate=rate, inert=inert_set,
                                  regressions_per_day=args.regressions, seed=args.seed)
                r = simulate_trials(plan, times, cfg, rule, args.trials)
                f = lambda v: "-" if v is None else f"{v:.1f}"  # noqa: E731
                print(f"| {rate:g} | {label} | {n} | {r.sweep_wall_hours:.1f} | "
                      f"{r.gpu_hours_per_sweep:.1f} | {r.commits_per_sweep:.1f} | "
                      f"{r.gpu_hours_per_day:.0f} | {r.caught_share:.0%} | "
                      f"{r.culprit_share:.0%} | {f(r.ttc_median_hours)} | {f(r.ttc_p90_hours)} |")
    print(f"\nsmallest runner count with a median time-to-culprit <= {args.target:g} h:")
    for rate in (1.0, 0.3):
        for label, inert_set in (("without", frozenset()), ("with", frozenset(inert))):
            cfg = FleetConfig(runners=1, failure_rate=rate, inert=inert_set,
                              regressions_per_day=args.regressions, seed=args.seed)
            need, tried = runners_for_target(plan, times, cfg, rule, args.trials, args.target,
                                             args.max_runners)
            got = tried[-1]
            print(f"- failure rate {rate:g}, {label} sentinels: "
                  + (f"{need} runners (median {got.ttc_median_hours:.1f} h, p90 "
                     f"{got.ttc_p90_hours:.1f} h)" if need else f"more than {args.max_runners}"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--plan", default=str(ROOT / "plans" / "sglang-1gpu.yaml"))
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--runners", default="2,4,8")
    ap.add_argument("--per-day", type=float, default=40.2,
                    help="commits per day (SGLang main, SGLANG_FACTS.md section 5)")
    ap.add_argument("--regressions", type=float, default=1.0, help="planted per day")
    ap.add_argument("--target", type=float, default=12.0, help="median time-to-culprit, hours")
    ap.add_argument("--max-runners", type=int, default=16)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--skip-ttc", action="store_true", help="tables 1 and 2 only")
    args = ap.parse_args()
    t0 = time.perf_counter()
    plan = load_plan(args.plan)
    sets = gpu_table(plan)
    share_table(plan)
    if not args.skip_ttc:
        ttc_table(plan, next(iter(sets.values())), args)
    print(f"\n(computed in {time.perf_counter() - t0:.1f} s; simulated and seeded, not measured)")


if __name__ == "__main__":
    main()
