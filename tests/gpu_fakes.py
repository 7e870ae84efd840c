"""A fake NVML of the same shape as ``pcgbot.gpu.nvml.Nvml`` for CPU tests, plus real-process helpers.

The fake's processes are REAL pids: a GPU "held" by pid N uses memory only while N is alive,
so the hygiene code kills real process trees and the fake sees the memory come back.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Optional

import psutil

from pcgbot.gpu.nvml import GpuInfo, GpuProc, Link


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


class FakeNvml:
    def __init__(self, n: int, nvlink_pairs: tuple = (), *, total_mib: float = 81559.0,
                 base_mib: float = 0.0) -> None:
        self.n = n
        self.total_mib = total_mib
        self.base = {i: base_mib for i in range(n)}        # memory nobody visible explains
        self.procs: dict[int, dict[int, Optional[float]]] = {i: {} for i in range(n)}
        self.links = {}
        for a, b in nvlink_pairs:
            self.links[(min(a, b), max(a, b))] = Link(nvlink=18, p2p_nvlink=True, level=0)

    # -- the seam -----------------------------------------------------------------------------
    def count(self) -> int:
        return self.n

    def driver(self) -> str:
        return "fake-1.0"

    def info(self, i: int) -> GpuInfo:
        used = self.base[i] + sum(m or 0.0 for pid, m in self.procs[i].items() if alive(pid))
        return GpuInfo(i, "Fake H100", f"GPU-fake-{i:04d}", f"00000000:{i:02x}:00.0",
                       used, self.total_mib)

    def processes(self, i: int) -> list[GpuProc]:
        return [GpuProc(pid, m) for pid, m in sorted(self.procs[i].items()) if alive(pid)]

    def link(self, a: int, b: int) -> Link:
        return self.links.get((min(a, b), max(a, b)), Link(level=50))

    # -- test controls ---------------------------------------------------------------------------
    def hold(self, gpu: int, pid: int, mib: Optional[float]) -> None:
        self.procs[gpu][pid] = mib


def spawn_orphan(marker: Optional[str], seconds: float = 120) -> int:
    """A setsid grandchild (``sleep``) whose parent has already exited, like a leaked server.
    ``marker`` set => it carries PCGBOT_RUN_ID=marker.  Returns the grandchild's pid."""
    env = dict(os.environ)
    env.pop("PCGBOT_RUN_ID", None)
    if marker is not None:
        env["PCGBOT_RUN_ID"] = marker
    code = ("import subprocess,sys; p=subprocess.Popen(['sleep', sys.argv[1]], "
            "start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, "
            "stderr=subprocess.DEVNULL); print(p.pid)")
    out = subprocess.run([sys.executable, "-c", code, str(seconds)], env=env,
                         capture_output=True, text=True, check=True)
    pid = int(out.stdout.strip())
    deadline = time.monotonic() + 5
    while not alive(pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    return pid


def reap(pid: int) -> None:
    """End a process this test started (by pid, never by name)."""
    try:
        psutil.Process(pid).kill()
    except psutil.Error:
        return
    deadline = time.monotonic() + 5
    while alive(pid) and time.monotonic() < deadline:   # a zombie counts as ended
        time.sleep(0.01)
