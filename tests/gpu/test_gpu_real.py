"""GPU hygiene on a real GPU: real torch processes holding real memory, real NVML.

Marked ``gpu``; skipped where there is no NVML, no GPU or no torch.  Set PCGBOT_GPU_EVIDENCE to
a folder to get the measured figures as JSON (the device runs do; docs/gpu.md quotes them).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

import psutil
import pytest

from pcgbot.gpu.nvml import NvmlUnavailable, holders, inventory, open_nvml, wait_for
from pcgbot.gpu.pool import GpuPool

SUITE = Path(__file__).resolve().parents[1] / "gpu_suite"


def _nvml_or_skip():
    try:
        nv = open_nvml()
    except NvmlUnavailable as e:
        pytest.skip(f"no GPU: {e}")
    try:
        import torch  # noqa: F401
    except ImportError:
        pytest.skip("torch is not installed")
    return nv


pytestmark = pytest.mark.gpu


def _evidence(name: str, data: dict) -> None:
    out = os.environ.get("PCGBOT_GPU_EVIDENCE")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / f"{name}.json").write_text(json.dumps(data, indent=2, default=str))


def _holder(gib: float, marker: Optional[str], orphan: bool) -> tuple[int, subprocess.Popen]:
    env = {k: v for k, v in os.environ.items() if k != "PCGBOT_RUN_ID"}
    env["CUDA_VISIBLE_DEVICES"] = "0"
    if marker:
        env["PCGBOT_RUN_ID"] = marker
    argv = [sys.executable, str(SUITE / "hold_memory.py"), str(gib), "600"]
    proc = subprocess.Popen(argv + (["--orphan"] if orphan else []), env=env,
                            stdout=subprocess.PIPE, text=True)
    pid = int(proc.stdout.readline().split()[1])
    if orphan:
        proc.wait(30)
    return pid, proc


def _await_holding(nv, pid: int, gib: float, timeout: float = 180) -> float:
    """Seconds until NVML lists ``pid`` on GPU 0 with at least ``gib`` GiB."""
    t0 = time.monotonic()
    ok = wait_for(lambda: any(h.pid == pid and (h.used_mib or 0) >= gib * 1024
                              for h in holders(nv, 0)), timeout, step=0.25)
    assert ok, f"pid {pid} never showed up holding {gib} GiB on GPU 0: {holders(nv, 0)}"
    return time.monotonic() - t0


def _kill(pid: int) -> None:
    """End a holder this test started, by pid (a zombie counts as ended)."""
    from pcgbot.gpu.nvml import _gone
    try:
        p = psutil.Process(pid)
        p.kill()
    except psutil.Error:
        return
    wait_for(lambda: _gone(p), 10)


def test_orphaned_marked_holder_is_cleaned_and_next_run_passes(tmp_path) -> None:
    nv = _nvml_or_skip()
    pid, _ = _holder(4.5, "leaky-run-1", orphan=True)
    try:
        assert psutil.Process(pid).ppid() != os.getpid()        # truly orphaned
        _await_holding(nv, pid, 4.0)
        used_before = nv.info(0).used_mib
        pool = GpuPool(nv, [0], release_wait_s=30)
        ids = pool.try_acquire(1)
        t0 = time.monotonic()
        reason = pool.before_run(ids, "next-run")
        clean_s = time.monotonic() - t0
        assert reason is None, reason
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"
        used_after = nv.info(0).used_mib
        assert used_after < 2048
        (c,) = pool.cleaned
        assert c.pid == pid and c.marker == "leaky-run-1"
        # the next run: a real torch program on the cleaned GPU, through the real runner
        from pcgbot.procs import run_process
        env = dict(os.environ, CUDA_VISIBLE_DEVICES="0")
        prog = ("import torch; x=torch.randn(4096,4096,device='cuda'); "
                "y=(x@x).sum().item(); torch.cuda.synchronize(); print('ok', y)")
        res = run_process([sys.executable, "-c", prog], cwd=tmp_path, env=env,
                          log_path=tmp_path / "next.log", timeout=300, run_id="next-run")
        leaked = pool.after_run(ids, "next-run")
        assert res.exit_code == 0, (tmp_path / "next.log").read_text()
        assert leaked is not None and leaked < 256
        _evidence("orphan_cleaned", {
            "holder_pid": pid, "holder_mib": c.used_mib, "used_mib_before_clean": used_before,
            "used_mib_after_clean": used_after, "before_run_s": round(clean_s, 3),
            "release_s": c.released_s, "killed": c.killed, "next_run_exit": res.exit_code,
            "next_run_s": round(res.duration_s, 2), "next_run_leaked_mib": leaked})
    finally:
        _kill(pid)


def test_foreign_holder_quarantines_gpu() -> None:
    nv = _nvml_or_skip()
    pid, proc = _holder(4.5, None, orphan=False)
    try:
        _await_holding(nv, pid, 4.0)
        pool = GpuPool(nv, [0], release_wait_s=5)
        ids = pool.try_acquire(1)
        reason = pool.before_run(ids, "victim-run")
        pool.release(ids)
        assert reason and reason.startswith(f"GPU 0 held by pid {pid} (python")
        assert psutil.pid_exists(pid)                          # not ours: left alone
        assert pool.quarantined() == {0: reason}
        assert pool.try_acquire(1) is None and pool.usable() == 0
        _evidence("foreign_quarantined", {"holder_pid": pid, "reason": reason})
    finally:
        _kill(pid)
        proc.wait(10)


def test_inventory_matches_the_device() -> None:
    nv = _nvml_or_skip()
    inv = inventory(nv).to_dict()
    assert len(inv["gpus"]) == nv.count() >= 1
    g = inv["gpus"][0]
    assert g["uuid"].startswith("GPU-") and g["total_mib"] > 1000
    assert len(inv["links"]) == nv.count() * (nv.count() - 1) // 2
    _evidence("inventory", inv)
