"""Choosing where a sweep runs (GPU pool or CPU slots) and its adaptive-repeat policy."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

from .slots import CpuPool


def choose_pool(slots: Optional[int], force_cpu: bool):
    """GPU pool when NVML sees GPUs (unless --cpu), else ``slots`` CPU slots."""
    if not force_cpu:
        try:
            from .gpuslots import gpu_pool_or_none
        except ImportError:
            gpu_pool_or_none = None
        pool = gpu_pool_or_none() if gpu_pool_or_none else None
        if pool is not None:
            return pool, slots or pool.capacity()
        print("pcgbot: no NVIDIA GPU visible (NVML); using CPU slots", file=sys.stderr)
    return CpuPool(slots or 1), slots or 1


class SweepPolicy:
    """Adapter between the sweep scheduler and ``adaptive.decide``: counts a test's outcomes
    exactly as the diff does (timeouts are fails only where the plan says so)."""

    def __init__(self, min_runs: int, max_runs: int, timeout_is_failure: bool = False):
        self.min_runs = min_runs
        self.max_runs = max_runs
        self.timeout_is_failure = timeout_is_failure

    @classmethod
    def for_plan(cls, plan, repeats: Optional[int] = None) -> "SweepPolicy":
        from . import adaptive

        reps = repeats or plan.repeats
        cap = plan.max_repeats or max(2 * reps, adaptive.DEFAULT_MAX_RUNS)
        return cls(min(adaptive.DEFAULT_MIN_RUNS, reps), cap, plan.timeout_is_failure)

    def decide(self, baseline, outcomes: list[str]) -> tuple[str, str]:
        from . import adaptive

        k = outcomes.count("pass")
        n = k + outcomes.count("fail") + (outcomes.count("timeout") if self.timeout_is_failure
                                         else 0)
        d = adaptive.decide(tuple(baseline) if baseline else None, k, n,
                            min_runs=self.min_runs, max_runs=self.max_runs)
        # infra/skip runs do not count towards n; never loop past the attempt cap regardless
        if len(outcomes) >= self.max_runs:
            return "stop", "attempt cap"
        return d.action, d.reason


def baseline_counts(plan, mode: str, *, repo, store_path) -> Optional[dict]:
    """Pass counts per test in the baseline this sweep will be compared with, or None."""
    from datetime import datetime, timezone

    from .baseline import find_baseline, pooled_counts
    from .store import Store
    from .sweep import repo_info

    repo_p = Path(repo) if repo else plan.repo_path()
    commit, branch = repo_info(repo_p)
    meta = {"sweep_id": None, "plan": plan.name, "mode": mode, "commit": commit,
            "branch": branch, "repo": str(repo_p),
            "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    store = Store(store_path)
    row = find_baseline(store, meta, repo=str(repo_p))
    if row is None:
        return None
    return {t: tuple(c) for t, c in pooled_counts(store, row, repo=str(repo_p),
                                                  timeout_is_failure=plan.timeout_is_failure
                                                  ).items()}


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
