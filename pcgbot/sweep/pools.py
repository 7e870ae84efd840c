"""Choosing where a sweep runs (GPU pool or CPU slots), how many bisection probes run at once,
the sweep's adaptive-repeat policy, and which PCG-inert tests run as one-run sentinels."""

from __future__ import annotations

import sys
from typing import Any, Callable, Optional

from ..errors import PcgbotError
from ..plan.schema import TestSpec
from .slots import CpuPool


def choose_pool(slots: Optional[int], force_cpu: bool):
    """GPU pool when NVML sees GPUs (unless --cpu), else ``slots`` CPU slots.

    The GPU pool's start check cleans leftovers of earlier pcgbot runs and quarantines GPUs
    held by anything else; what it did is printed to stderr and recorded in sweep.json."""
    if not force_cpu:
        from ..gpu.pool import gpu_pool_or_none

        pool = gpu_pool_or_none(echo=lambda m: print(m, file=sys.stderr))
        if pool is not None:
            return pool, slots or pool.capacity()
    return CpuPool(slots or 1), slots or 1


class SweepPolicy:
    """``adaptive.decide`` as the sweep scheduler calls it after each finished run of a test."""

    def __init__(self, min_runs: int, max_runs: int):
        self.min_runs = min_runs
        self.max_runs = max_runs

    @classmethod
    def for_plan(cls, plan, repeats: Optional[int] = None) -> "SweepPolicy":
        """min_runs 3 (fewer when the plan repeats less); max_runs the plan's ``max_repeats``
        (default twice the repeats: 20 for the usual 10)."""
        from ..results import adaptive

        reps = repeats or plan.repeats
        lo = min(adaptive.DEFAULT_MIN_RUNS, reps)
        return cls(lo, max(plan.max_repeats or 2 * reps, lo))

    def decide(self, baseline, passes: int, runs: int, attempts: int):
        """``runs`` counts pass/fail runs (timeouts where the plan says); ``attempts`` counts
        every run.  Once ``min_runs`` attempts told nothing (infra, timeout), repeating a test
        that costs up to its timeout per run cannot decide anything either."""
        from ..results import adaptive

        if attempts - runs >= self.min_runs:
            return adaptive.Decision(adaptive.STOP, f"{attempts - runs} of {attempts} attempts "
                                     "were not pass/fail: more repeats would not decide")
        if attempts >= self.max_runs:
            return adaptive.Decision(adaptive.STOP, f"reached max_runs={self.max_runs} attempts")
        return adaptive.decide(tuple(baseline) if baseline else None, passes, runs,
                               min_runs=self.min_runs, max_runs=self.max_runs)


def baseline_counts(plan, mode: str, *, repo=None, store_path=None) -> Optional[dict]:
    """For a sweep about to start: the pooled baseline counts its adaptive policy compares
    with, or None when the store has no baseline for this plan, mode and branch."""
    from pathlib import Path

    from ..results.baseline import find_baseline, pooled_counts
    from ..results.store import Store
    from .sweep import _new_meta

    store = Store(store_path)
    repo_p = Path(repo) if repo else plan.repo_path()
    # the sweep.json this sweep is about to get: same branch/base-branch rules, same clock
    meta = _new_meta(plan, mode, repo_p, [], 1, None, None)
    row = find_baseline(store, meta, repo_p)
    if row is None:
        return None
    return pooled_counts(store, row, timeout_is_failure=plan.timeout_is_failure, repo=repo_p)


def adaptive_setup(flag: Optional[bool], plan, mode: str, repo, store_path, repeats):
    """The adaptive policy and the baseline pass counts it compares with (or None, None).

    ``flag`` None = on when a baseline exists; True = on (tests without a baseline still stop
    early once unanimous); False = fixed repeats."""
    if flag is False:
        return None, None
    base = baseline_counts(plan, mode, repo=repo, store_path=store_path)
    if base is None and not flag:
        return None, None
    return SweepPolicy.for_plan(plan, repeats), base or {}


def probe_slots(spec: TestSpec, slots: Optional[int], gpus: tuple[int, ...], pool: Any,
                say: Callable[[str], None]) -> int:
    """How many probes run at once: what the clean GPUs of ``pool`` hold (a ``slots`` above
    that is lowered, with a note), else ``slots`` or as many as ``gpus`` hold (default 1)."""
    g = spec.gpus
    if pool is None:
        fit = max(1, len(gpus) // g) if gpus and g else None   # a slot's share of --gpus
        if slots is not None and fit is not None and slots > fit:
            say(f"--slots {slots}: --gpus {','.join(map(str, gpus))} hold {fit} {g}-GPU probes "
                f"at once; running {fit}")
            return fit
        return slots or fit or 1
    fit = pool.usable() // g
    if fit < 1:
        q = pool.quarantined()
        if not q:
            raise PcgbotError(f"{spec.path} needs {g} GPUs, this host has {pool.capacity()}")
        raise PcgbotError(f"no clean GPU for {spec.path} (needs {g}): "
                          + "; ".join(w for _, w in sorted(q.items())))
    if slots is not None and slots > fit:
        say(f"--slots {slots}: {pool.usable()} clean GPUs hold {fit} {g}-GPU probes at once; "
            f"running {fit}")
    return min(slots, fit) if slots is not None else fit


def sentinel_setup(flag: bool, plan, mode: str, store_path=None) -> Optional[set[str]]:
    """PCG-inert tests of ``plan`` for a sweep of ``mode`` (they run once, as sentinels), or
    None when ``flag`` is off.  Read from the store's recent complete sweeps."""
    if not flag:
        return None
    from ..results.inert import inert_tests
    from ..results.store import Store

    inert = inert_tests(Store(store_path), plan, mode, reasons=False)
    if inert:
        print(f"pcg-inert: {len(inert)} test(s) run once as sentinels (PCG off in their last "
              f"{plan.pcg_inert.sweeps} sweeps): " + ", ".join(sorted(inert)[:5])
              + (" ..." if len(inert) > 5 else ""), file=sys.stderr)
    return set(inert)
