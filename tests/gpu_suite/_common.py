"""Shared bits of the GPU smoke suite (a tiny real GPU suite for proving pcgbot's scheduling)."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
import time

T_BEGIN = time.time()     # before torch loads: the run's begin as the suite sees it

# Each run compiles from scratch: a warm inductor cache would make the first and the later
# runs incomparable, and the sweep's parallel-vs-serial timing is what this suite measures.
os.environ.setdefault("TORCHINDUCTOR_FORCE_DISABLE_CACHES", "1")
if "TRITON_CACHE_DIR" not in os.environ:
    os.environ["TRITON_CACHE_DIR"] = tempfile.mkdtemp(prefix="pcgbot-triton-")
    atexit.register(shutil.rmtree, os.environ["TRITON_CACHE_DIR"], True)
# NVLink multicast can take a shared host's GPUs out of service: keep it off everywhere.
os.environ.setdefault("NCCL_NVLS_ENABLE", "0")
os.environ.setdefault("TORCH_SYMM_MEM_DISABLE_MULTICAST", "1")


def report(name: str, t0: float, **extra) -> None:
    """One JSON line the bench/docs read back out of the run's log."""
    rec = {"gpu_suite": name, "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
           "run_id": os.environ.get("PCGBOT_RUN_ID"), "seconds": round(time.time() - t0, 2),
           "t_begin": round(T_BEGIN, 3), "t_end": round(time.time(), 3)}
    rec.update(extra)
    print("GPU_SUITE " + json.dumps(rec, sort_keys=True), flush=True)
