"""Choosing where a sweep runs (GPU pool or CPU slots) and its adaptive-repeat policy."""

from __future__ import annotations

import sys
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


def adaptive_setup(flag: Optional[bool], plan, mode: str, repo, store_path, repeats):
    """The adaptive policy and the baseline pass counts it compares with (or None, None)."""
    if flag is False:
        return None, None
    try:
        from .adaptive import SweepPolicy
        from .baseline import baseline_counts
    except ImportError:
        return None, None
    base = baseline_counts(plan, mode, repo=repo, store_path=store_path)
    if base is None and not flag:
        return None, None
    return SweepPolicy.for_plan(plan, repeats), base or {}
