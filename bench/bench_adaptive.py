"""Adaptive repeats vs the fixed 10-repeat protocol, on the seed report's population.

    python bench/bench_adaptive.py [--trials 2000] [--seed 1]

Population (181 tests, shared/seed/000_834ccdf392e47f5d.txt): every pass rate below comes from a
table of the report; where the report gives no rate (Category 2 "not PCG-related", Category 5
"marked passed") the test is taken as failing every run, except the two it calls borderline
flaky (test_awq, test_vision_chunked_prefill) at 50%.  The 11 Category 1 PCG bugs are the
regressions: 100% in the baseline, their report rate now.  Drops of at least 0.3 (to 0%, 20%,
70%) must be caught; 100% -> 90%/80% are "small drops" (reported, not scored).  Every other test
has the same true rate in the baseline and now, so an alarm on it is a false alarm.

Each trial simulates a history on one branch: WARMUP sweeps at the baseline rates (the first with
no baseline at all), then the scored sweep at the current rates.  Each sweep is diffed against
the previous one (or, for "pooled", against earlier sweeps pooled to >= 20 runs per test with
change-point cut-off, stats.pool_history).  Verdicts come from stats.verdict (Fisher exact,
one-sided, p < 0.05), the same function `pcgbot diff` uses.
"""

from __future__ import annotations

import argparse
import functools
import random
import sys
import time
from pathlib import Path
from typing import Callable, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pcgbot.results import adaptive, stats  # noqa: E402

Counts = tuple[int, int]

# (test, baseline rate, current rate): Category 1 (report table rows 1-11) regress from 1.0.
CAT1 = [("scheduler/test_retract_decode.py", 0.0), ("quant/test_autoround.py", 0.0),
        ("core/test_gpt_oss_1gpu.py", 0.2), ("models/test_embedding_models.py", 0.0),
        ("openai_server/validation/test_large_max_new_tokens.py", 0.0),
        ("attention/test_triton_sliding_window.py", 0.8), ("spec/eagle/test_eagle_infer_b.py", 0.7),
        ("quant/test_torchao.py", 0.9), ("scheduler/test_abort.py", 0.9),
        ("lora/test_lora_tp.py", 0.0), ("eval/test_text_models_gsm8k_eval.py", 0.0)]
CAT2 = {"spec/eagle/test_eagle_infer_a.py": 0.0, "spec/eagle/test_eagle3_basic.py": 0.0,
        "spec/eagle/test_eagle_infer_beta.py": 0.0, "attention/test_fa3.py": 0.0,
        "quant/test_awq.py": 0.5, "vlm/test_vision_chunked_prefill.py": 0.5,
        "lora/test_lora_qwen3.py": 0.0,
        "openai_server/features/test_openai_server_hidden_states.py": 0.0}
CAT6 = {"lora/test_lora_backend.py": 0.0, "lora/test_lora_update.py": 0.0,
        "attention/test_hybrid_attn_backend.py": 0.0, "vlm/test_vision_openai_server_a.py": 0.0,
        "perf/test_bench_serving_1gpu_part2.py": 0.9, "quant/test_w8a8_quantization.py": 0.9,
        "tokenizer/test_multi_tokenizer.py": 0.9, "scheduler/test_routing_key_scheduling.py": 0.2,
        "cuda_graph/test_piecewise_cuda_graph_2_gpu.py": 0.9,
        "eval/test_moe_eval_accuracy_large.py": 0.9, "moe/test_glm4_moe_models.py": 0.9,
        "distributed/test_dp_attention.py": 0.0, "perf/test_bench_serving_2gpu.py": 0.0,
        "eval/test_vlms_mmmu_eval.py": 0.0, "perf/test_text_models_perf.py": 0.0,
        "attention/test_local_attn.py": 0.0, "distributed/test_dp_attention_large.py": 0.0,
        "core/test_qwen3_next_deterministic.py": 0.0, "vlm/test_encoder_dp.py": 0.0}
N_CAT5 = 11          # "triaged as not PCG (marked passed)": failed, counted among the 143 passed
TOTAL, PASSED = 181, 143


def population() -> list[tuple[str, float, float]]:
    pop = [(t, 1.0, r) for t, r in CAT1]
    pop += [(t, r, r) for t, r in {**CAT2, **CAT6}.items()]
    pop += [(f"cat5/test_{i}.py", 0.0, 0.0) for i in range(N_CAT5)]
    pop += [(f"healthy/test_{i}.py", 1.0, 1.0) for i in range(TOTAL - len(pop))]
    assert len(pop) == TOTAL and len(CAT1) + len(CAT2) + len(CAT6) == TOTAL - PASSED
    return pop


@functools.lru_cache(maxsize=None)
def _verdict(base: Optional[Counts], cur: Counts) -> str:
    return stats.verdict(base, cur).verdict


@functools.lru_cache(maxsize=None)
def _stop(base: Optional[Counts], k: int, n: int, min_runs: int, max_runs: int,
          kw: tuple = ()) -> bool:
    return adaptive.decide(base, k, n, min_runs=min_runs, max_runs=max_runs,
                           **dict(kw)).action == adaptive.STOP


def fixed(n: int) -> Callable[[random.Random, float, Optional[Counts]], Counts]:
    def run(rng: random.Random, p: float, base: Optional[Counts]) -> Counts:
        return sum(rng.random() < p for _ in range(n)), n
    return run


def adaptive_runner(min_runs: int = adaptive.DEFAULT_MIN_RUNS,
                    max_runs: int = adaptive.DEFAULT_MAX_RUNS,
                    **kw: float) -> Callable[[random.Random, float, Optional[Counts]], Counts]:
    frozen = tuple(sorted(kw.items()))

    def run(rng: random.Random, p: float, base: Optional[Counts]) -> Counts:
        k = n = 0
        while True:
            k += rng.random() < p
            n += 1
            if _stop(base, k, n, min_runs, max_runs, frozen):
                return k, n
    return run


def simulate(runner, pooled: bool, trials: int, warmup: int, seed: int) -> dict[str, float]:
    rng = random.Random(seed)
    pop = population()
    want = stats.POOL_RUNS
    runs = false_alarms = misses = regressions = small = small_hits = 0
    for _ in range(trials):
        for _t, p_base, p_cur in pop:
            hist: list[Counts] = []           # newest first
            for s in range(warmup + 1):
                p = p_base if s < warmup else p_cur
                if pooled:
                    base = stats.pool_history(hist, want)
                else:
                    base = hist[0] if hist else None
                cur = runner(rng, p, base)
                hist.insert(0, cur)
            is_alarm = _verdict(base, cur) == stats.REGRESSION
            runs += cur[1]
            drop = p_base - p_cur
            if drop >= 0.3:
                regressions += 1
                misses += not is_alarm
            elif drop > 0:
                small += 1
                small_hits += is_alarm
            else:
                false_alarms += is_alarm
    fa = false_alarms / trials
    miss = misses / regressions
    return {"runs/test": runs / trials / len(pop), "false alarms/sweep": fa,
            # standard errors: alarms per sweep ~ Poisson, misses ~ binomial over all regressions
            "fa_se": (false_alarms ** 0.5) / trials, "miss_se": (miss * (1 - miss) / regressions) ** 0.5,
            "miss rate": miss, "missed/sweep": misses / trials,
            "small drops caught": small_hits / max(small, 1)}


def fixed_oc(base: Counts, p: float, n: int = 10) -> float:
    """Exact P(verdict regression) of n fixed runs at true rate p against ``base``."""
    from math import comb

    return sum(comb(n, k) * p ** k * (1 - p) ** (n - k) for k in range(n + 1)
               if _verdict(base, (k, n)) == stats.REGRESSION)


def print_oc() -> None:
    """Exact operating characteristics (no simulation): P(regression) and expected runs."""
    print("\nexact operating characteristic, per test (adaptive.operating_characteristic):")
    print(f"{'baseline':>8} {'true rate':>9} {'fixed10 P(alarm)':>16} {'adaptive P(alarm)':>17} "
          f"{'adaptive E[runs]':>16}")
    for base in ((10, 10), (20, 20), (9, 10), (5, 10)):
        for p in (1.0, 0.98, 0.9, 0.7, 0.5, 0.45, 0.2, 0.0):
            oc = adaptive.operating_characteristic(base, p)
            print(f"{base[0]:>5}/{base[1]:<2} {p:9.2f} {fixed_oc(base, p):16.4f} "
                  f"{oc[stats.REGRESSION]:17.4f} {oc['expected_runs']:16.2f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=2000)
    ap.add_argument("--warmup", type=int, default=4, help="sweeps before the scored one")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    protocols = [
        ("fixed 10, vs previous sweep", fixed(10), False),
        ("fixed 10, pooled baseline", fixed(10), True),
        ("adaptive (defaults), pooled baseline", adaptive_runner(), True),
        ("adaptive (defaults), previous sweep", adaptive_runner(), False),
        ("adaptive min_runs=2, pooled", adaptive_runner(2), True),
        ("adaptive a=.05 b=.05 d=.6, pooled", adaptive_runner(alpha=0.05, beta=0.05, delta=0.6), True),
    ]
    print(f"population: {len(population())} tests; {a.trials} trials; warmup {a.warmup} sweeps; "
          f"alpha={adaptive.DEFAULT_ALPHA} beta={adaptive.DEFAULT_BETA} delta={adaptive.DEFAULT_DELTA}; "
          f"alarm Fisher p<{stats.ALARM_P}")
    hdr = (f"{'protocol':38} {'runs/test':>9} {'saving':>7} {'false alarms/sweep':>19} "
           f"{'miss rate':>16} {'missed/sweep':>12} {'small drops caught':>18} {'sec':>5}")
    print(hdr)
    print("-" * len(hdr))
    for name, runner, pooled in protocols:
        t0 = time.perf_counter()
        r = simulate(runner, pooled, a.trials, a.warmup, a.seed)
        print(f"{name:38} {r['runs/test']:9.2f} {10 / r['runs/test']:6.2f}x "
              f"{r['false alarms/sweep']:10.4f} ±{r['fa_se']:.4f} {r['miss rate']:7.4f} ±{r['miss_se']:.4f} "
              f"{r['missed/sweep']:12.3f} {r['small drops caught']:18.3f} {time.perf_counter() - t0:5.1f}")
    print_oc()
    return 0


if __name__ == "__main__":
    sys.exit(main())
