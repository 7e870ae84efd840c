"""The real ``Nvml`` wrapper against a stand-in ``pynvml`` module: topology parsing (direct
NVLink, NVSwitch, old nvidia-ml-py without the _v2 call), process memory sentinels, errors."""

from __future__ import annotations

import sys
import types
from types import SimpleNamespace as NS

import pytest

from pcgbot.gpu.nvml import Nvml, NvmlUnavailable, inventory, render_inventory


class NVMLError(Exception):
    pass


def fake_pynvml(n: int, lanes: dict[int, list[str]], *, v2: bool = True,
                procs: dict[int, list] | None = None, fail_init: bool = False):
    """``lanes[i]`` = remote bus id of each active NVLink lane of GPU i."""
    m = types.ModuleType("pynvml")
    m.NVMLError = NVMLError
    m.NVML_FEATURE_ENABLED = 1
    m.NVML_NVLINK_MAX_LINKS = 18
    m.NVML_P2P_CAPS_INDEX_NVLINK = 3
    m.NVML_P2P_STATUS_OK = 0
    bus = [f"00000000:{0x18 + i:02X}:00.0" for i in range(n)]

    def init():
        if fail_init:
            raise NVMLError("Driver Not Loaded")
    m.nvmlInit = init
    m.nvmlDeviceGetCount = lambda: n
    m.nvmlDeviceGetHandleByIndex = lambda i: i
    m.nvmlSystemGetDriverVersion = lambda: b"580.159.04"
    m.nvmlDeviceGetName = lambda h: "NVIDIA H100 80GB HBM3"
    m.nvmlDeviceGetUUID = lambda h: f"GPU-{h:08d}"
    m.nvmlDeviceGetPciInfo = lambda h: NS(busId=bus[h].encode())
    m.nvmlDeviceGetMemoryInfo = lambda h: NS(used=480 << 20, total=81559 << 20)

    def state(h, lane):
        if lane >= len(lanes.get(h, [])):
            raise NVMLError("Not Supported")
        return 1
    m.nvmlDeviceGetNvLinkState = state
    remote = lambda h, lane: NS(busId=lanes[h][lane])  # noqa: E731
    if v2:
        m.nvmlDeviceGetNvLinkRemotePciInfo_v2 = remote
    else:
        m.nvmlDeviceGetNvLinkRemotePciInfo = remote
    m.nvmlDeviceGetTopologyCommonAncestor = lambda a, b: 30
    m.nvmlDeviceGetP2PStatus = lambda a, b, cap: 0 if lanes.get(a) and lanes.get(b) else 1
    m.nvmlDeviceGetComputeRunningProcesses = lambda h: (procs or {}).get(h, [])
    m.nvmlDeviceGetGraphicsRunningProcesses = lambda h: []
    return m, bus


@pytest.mark.parametrize("v2", [True, False])
def test_direct_nvlink_pair(monkeypatch, v2) -> None:
    _, bus = fake_pynvml(3, {})
    m, _ = fake_pynvml(3, {0: [bus[1]] * 18, 1: [bus[0]] * 18}, v2=v2)
    monkeypatch.setitem(sys.modules, "pynvml", m)
    nv = Nvml()
    assert nv.link(0, 1).nvlink == 18 and nv.link(1, 0).p2p_nvlink
    assert nv.link(0, 2).nvlink == 0 and nv.link(0, 2).level == 30
    assert nv.link(0, 1).score > nv.link(0, 2).score
    text = render_inventory(inventory(nv))
    assert "GPU 0 <-> GPU 1: NVLink x18, PCIe host-bridge" in text
    assert "GPU 0 <-> GPU 2: no NVLink, PCIe host-bridge" in text


def test_nvswitch_links_join_every_switched_gpu(monkeypatch) -> None:
    switch = "00000000:C0:00.0"
    m, _ = fake_pynvml(4, {i: [switch] * 18 for i in range(4)})
    monkeypatch.setitem(sys.modules, "pynvml", m)
    nv = Nvml()
    assert all(nv.link(a, b).nvlink == 18 for a in range(4) for b in range(a + 1, 4))


def test_process_memory_sentinel_and_dedupe(monkeypatch) -> None:
    m, _ = fake_pynvml(1, {}, procs={0: [NS(pid=10, usedGpuMemory=6 << 30),
                                         NS(pid=11, usedGpuMemory=None),
                                         NS(pid=12, usedGpuMemory=(1 << 64) - 1)]})
    monkeypatch.setitem(sys.modules, "pynvml", m)
    got = {p.pid: p.used_mib for p in Nvml().processes(0)}
    assert got == {10: 6144.0, 11: None, 12: None}


def test_init_failure_is_nvml_unavailable(monkeypatch) -> None:
    m, _ = fake_pynvml(1, {}, fail_init=True)
    monkeypatch.setitem(sys.modules, "pynvml", m)
    with pytest.raises(NvmlUnavailable, match="Driver Not Loaded"):
        Nvml()
