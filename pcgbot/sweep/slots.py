"""Where runs execute: a pool of slots.

The sweep asks a pool for ``k`` devices per run.  ``CpuPool`` hands out anonymous CPU slots (for
``gpus: 0`` tests, and for every test on a host without GPUs).  The GPU pool (``gpuslots``)
implements the same protocol with real devices and NVML hygiene checks.
"""

from __future__ import annotations

import threading
from typing import Optional, Protocol


class Pool(Protocol):
    def capacity(self) -> int: ...
    def try_acquire(self, k: int) -> Optional[list[int]]: ...
    def release(self, ids: list[int]) -> None: ...
    def before_run(self, ids: list[int], run_id: str) -> Optional[str]: ...
    def after_run(self, ids: list[int], run_id: str) -> Optional[float]: ...


class CpuPool:
    """``n`` interchangeable slots; a run of any GPU count takes one (no GPU is visible)."""

    is_gpu = False

    def __init__(self, n: int):
        self.n = max(1, int(n))
        self.free = self.n
        self._lock = threading.Lock()

    def capacity(self) -> int:
        # CPU slots can run any test: the GPU count is not checked on a CPU-only host.
        return 1 << 30

    def try_acquire(self, k: int) -> Optional[list[int]]:
        with self._lock:
            if self.free <= 0:
                return None
            self.free -= 1
            return []

    def release(self, ids: list[int]) -> None:
        with self._lock:
            self.free = min(self.n, self.free + 1)

    def before_run(self, ids: list[int], run_id: str) -> Optional[str]:
        return None

    def after_run(self, ids: list[int], run_id: str) -> Optional[float]:
        return None

    def quarantined(self) -> dict[int, str]:
        return {}
