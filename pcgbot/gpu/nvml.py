"""GPUs through NVML: inventory, who holds each GPU, how GPUs are linked, and GPU hygiene.

Why this exists: in the seed report a timed-out test left its server holding 63.7 GB on a GPU
and ten later tests failed with OOM -- failures that said nothing about the code under test.
So before a run gets a GPU, the GPU is checked: a leftover of one of our own runs (a process
carrying ``PCGBOT_RUN_ID``) is killed and its memory release awaited; anything else holding the
GPU makes it *quarantined*, and what cannot run there is recorded ``infra``, never ``fail``.

NVML sits behind one small class (``Nvml``) so that the selection and hygiene logic can be
tested on CPU with a fake of the same shape (``tests/gpu_fakes.py``).
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Optional, Protocol

import psutil

from ..errors import PcgbotError
from ..procs import OWNER_MARKER, RUN_MARKER, find_marked
MIB = 1024 * 1024

# nvmlDeviceGetTopologyCommonAncestor levels (nvml.h): lower = closer.
TOPO_NAMES = {0: "internal", 10: "single-switch", 20: "multi-switch", 30: "host-bridge",
              40: "numa-node", 50: "system"}


class NvmlUnavailable(PcgbotError):
    """No NVML library, no driver, or no GPU: the sweep falls back to CPU slots."""


@dataclass
class GpuProc:
    pid: int
    used_mib: Optional[float]           # None when the driver does not say (e.g. no permission)


@dataclass
class GpuInfo:
    index: int
    name: str
    uuid: str
    bus_id: str
    used_mib: float
    total_mib: float


@dataclass
class Link:
    """How two GPUs talk: NVLink lanes between them, NVLink P2P status, PCIe topology level."""
    nvlink: int = 0                     # active NVLink links joining them (direct or via NVSwitch)
    p2p_nvlink: bool = False            # nvmlDeviceGetP2PStatus(..., NVLINK) == OK
    level: int = 50                     # common ancestor level (TOPO_NAMES)

    @property
    def score(self) -> int:
        """Higher is better: any NVLink beats any PCIe path; closer PCIe beats farther."""
        if self.nvlink or self.p2p_nvlink:
            return 1000 + self.nvlink
        return 100 - self.level


class NvmlLike(Protocol):
    """The seam: what pcgbot needs from NVML (the real class below, or a test fake)."""

    def count(self) -> int: ...
    def info(self, i: int) -> GpuInfo: ...
    def processes(self, i: int) -> list[GpuProc]: ...
    def link(self, a: int, b: int) -> Link: ...
    def driver(self) -> str: ...


class Nvml:
    """Thin wrapper over pynvml (nvidia-ml-py).  Raises NvmlUnavailable if NVML cannot start."""

    def __init__(self) -> None:
        try:
            import pynvml
        except ImportError as e:  # the package is a dependency, but keep the message clear
            raise NvmlUnavailable(f"nvidia-ml-py is not installed ({e})") from None
        self._n = pynvml
        try:
            pynvml.nvmlInit()
            self._count = pynvml.nvmlDeviceGetCount()
        except pynvml.NVMLError as e:
            raise NvmlUnavailable(f"NVML unavailable: {e}") from None
        self._handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(self._count)]
        self._links: Optional[dict[tuple[int, int], Link]] = None

    def count(self) -> int:
        return self._count

    def driver(self) -> str:
        v = self._n.nvmlSystemGetDriverVersion()
        return v.decode() if isinstance(v, bytes) else str(v)

    def info(self, i: int) -> GpuInfo:
        n, h = self._n, self._handles[i]
        mem = n.nvmlDeviceGetMemoryInfo(h)
        name, uuid = n.nvmlDeviceGetName(h), n.nvmlDeviceGetUUID(h)
        bus = n.nvmlDeviceGetPciInfo(h).busId
        dec = lambda s: s.decode() if isinstance(s, bytes) else str(s)  # noqa: E731
        return GpuInfo(i, dec(name), dec(uuid), dec(bus), mem.used / MIB, mem.total / MIB)

    def processes(self, i: int) -> list[GpuProc]:
        n, h = self._n, self._handles[i]
        seen: dict[int, GpuProc] = {}
        for getter in (n.nvmlDeviceGetComputeRunningProcesses,
                       n.nvmlDeviceGetGraphicsRunningProcesses):
            try:
                procs = getter(h)
            except n.NVMLError:
                continue
            for p in procs:
                used = p.usedGpuMemory
                # NVML reports "not available" as a huge sentinel or None.
                mib = None if used is None or used >= (1 << 60) else used / MIB
                seen.setdefault(p.pid, GpuProc(p.pid, mib))
        return sorted(seen.values(), key=lambda p: p.pid)

    def link(self, a: int, b: int) -> Link:
        if self._links is None:
            self._links = self._topology()
        return self._links.get((min(a, b), max(a, b)), Link())

    def _topology(self) -> dict[tuple[int, int], Link]:
        """NVLink lanes, P2P status and PCIe level for every pair; computed once (static)."""
        n = self._n
        buses = [self.info(i).bus_id.lower() for i in range(self._count)]
        direct: dict[tuple[int, int], int] = {}
        to_switch = [0] * self._count
        # nvidia-ml-py releases differ: older ones lack the _v2 call (seen on an H100 host).
        remote_pci = getattr(n, "nvmlDeviceGetNvLinkRemotePciInfo_v2", None) or \
            getattr(n, "nvmlDeviceGetNvLinkRemotePciInfo", None)
        for i, h in enumerate(self._handles):
            for lane in range(getattr(n, "NVML_NVLINK_MAX_LINKS", 18)):
                try:
                    if n.nvmlDeviceGetNvLinkState(h, lane) != n.NVML_FEATURE_ENABLED:
                        continue
                    if remote_pci is None:          # link is up, far end unknown: count it
                        to_switch[i] += 1
                        continue
                    remote = remote_pci(h, lane).busId
                except (n.NVMLError, AttributeError):
                    continue
                remote = (remote.decode() if isinstance(remote, bytes) else remote).lower()
                if remote in buses:
                    j = buses.index(remote)
                    key = (min(i, j), max(i, j))
                    direct[key] = direct.get(key, 0) + (1 if i < j else 0)
                else:  # the far end is an NVSwitch: every switched GPU reaches every other
                    to_switch[i] += 1
        out: dict[tuple[int, int], Link] = {}
        for i in range(self._count):
            for j in range(i + 1, self._count):
                hi, hj = self._handles[i], self._handles[j]
                link = Link(nvlink=direct.get((i, j), 0) + min(to_switch[i], to_switch[j]))
                try:
                    link.level = int(n.nvmlDeviceGetTopologyCommonAncestor(hi, hj))
                except n.NVMLError:
                    pass
                try:
                    st = n.nvmlDeviceGetP2PStatus(hi, hj, n.NVML_P2P_CAPS_INDEX_NVLINK)
                    link.p2p_nvlink = st == n.NVML_P2P_STATUS_OK
                except (n.NVMLError, AttributeError):
                    pass
                out[(i, j)] = link
        return out


def open_nvml() -> NvmlLike:
    """The real NVML, or NvmlUnavailable with a message saying why (no library, no GPU)."""
    nv = Nvml()
    if nv.count() == 0:
        raise NvmlUnavailable("NVML reports no GPU")
    return nv


# ----------------------------------------------------------------------------------------------
# Who holds a GPU
# ----------------------------------------------------------------------------------------------

@dataclass
class Holder:
    gpu: int
    pid: int
    name: str                    # process name ("?" when the pid is not visible here)
    used_mib: Optional[float]
    marker: Optional[str]        # PCGBOT_RUN_ID of the process, None = not one of ours
    owner: Optional[int] = None  # PCGBOT_OWNER_PID: the pcgbot process that started the run

    def owner_alive_elsewhere(self) -> bool:
        """A run of another pcgbot process that is still running (a second sweep on this
        host): not a leftover, never ours to kill."""
        return (self.owner is not None and self.owner != os.getpid()
                and psutil.pid_exists(self.owner))

    def describe(self) -> str:
        mem = "memory n/a" if self.used_mib is None else gib(self.used_mib)
        return f"pid {self.pid} ({self.name}, {mem})"


def gib(mib: float) -> str:
    return f"{mib / 1024:.1f} GiB"


def run_marker(pid: int) -> Optional[str]:
    """The process's PCGBOT_RUN_ID, or None (no marker, gone, or not ours to read)."""
    return _markers(pid)[0]


def _markers(pid: int) -> tuple[Optional[str], Optional[int]]:
    """(PCGBOT_RUN_ID, PCGBOT_OWNER_PID) of a process; Nones where absent or unreadable."""
    try:
        env = psutil.Process(pid).environ()
    except (psutil.Error, OSError):
        return None, None
    owner = env.get(OWNER_MARKER)
    return env.get(RUN_MARKER), (int(owner) if owner and owner.isdigit() else None)


def holders(nv: NvmlLike, i: int) -> list[Holder]:
    out = []
    for p in nv.processes(i):
        try:
            name = psutil.Process(p.pid).name()
        except (psutil.Error, OSError):
            name = "?"
        marker, owner = _markers(p.pid)
        out.append(Holder(i, p.pid, name, p.used_mib, marker, owner))
    return out


def _protected() -> set[int]:
    """Ourselves and our ancestors: never killed, even when they carry a marker (a sweep run
    inside another pcgbot run inherits one)."""
    pids = {os.getpid()}
    try:
        pids.update(p.pid for p in psutil.Process().parents())
    except psutil.Error:
        pass
    return pids


def kill_leftover(h: Holder, grace: float = 3.0) -> list[int]:
    """Kill a leftover run's whole tree: the holder's process group, every process carrying
    the same marker, and their descendants.  SIGTERM, ``grace`` seconds, then SIGKILL."""
    keep = _protected()
    my_pgid = os.getpgid(0)
    victims: dict[int, psutil.Process] = {}
    try:
        root = psutil.Process(h.pid)
        victims[root.pid] = root
        pgid = os.getpgid(h.pid)
        if pgid not in (my_pgid, 0, 1):
            for p in psutil.process_iter():
                try:
                    if os.getpgid(p.pid) == pgid:
                        victims[p.pid] = p
                except OSError:
                    continue
    except (psutil.Error, OSError):
        pass
    if h.marker:
        for p in find_marked(RUN_MARKER, h.marker):
            victims[p.pid] = p
    for p in list(victims.values()):
        try:
            for c in p.children(recursive=True):
                victims[c.pid] = c
        except psutil.Error:
            continue
    procs = [p for pid, p in victims.items() if pid not in keep]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for p in procs:
            try:
                p.send_signal(sig)
            except psutil.Error:
                pass
        # Zombies count as gone: an orphan's new parent may reap it late (or, in some
        # containers, never) and a zombie holds no GPU memory.
        if wait_for(lambda: all(_gone(p) for p in procs), grace if sig == signal.SIGTERM else 5,
                    step=0.05):
            break
    return sorted(p.pid for p in procs)


def _gone(p: psutil.Process) -> bool:
    try:
        return not p.is_running() or p.status() == psutil.STATUS_ZOMBIE
    except psutil.Error:
        return True


def wait_for(pred: Callable[[], bool], timeout: float, step: float = 0.1) -> bool:
    """Poll ``pred`` until true or ``timeout`` seconds pass (bounded waits, never forever)."""
    deadline = time.monotonic() + timeout
    while True:
        if pred():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(step)


# ----------------------------------------------------------------------------------------------
# Inventory (what `pcgbot gpu` prints)
# ----------------------------------------------------------------------------------------------

@dataclass
class Inventory:
    driver: str
    gpus: list[dict] = field(default_factory=list)
    links: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def inventory(nv: NvmlLike) -> Inventory:
    inv = Inventory(driver=nv.driver())
    for i in range(nv.count()):
        g = asdict(nv.info(i))
        g["used_mib"], g["total_mib"] = round(g["used_mib"], 1), round(g["total_mib"], 1)
        g["processes"] = [{"pid": h.pid, "name": h.name,
                           "used_mib": None if h.used_mib is None else round(h.used_mib, 1),
                           "pcgbot_run": h.marker} for h in holders(nv, i)]
        inv.gpus.append(g)
    for a in range(nv.count()):
        for b in range(a + 1, nv.count()):
            ln = nv.link(a, b)
            inv.links.append({"a": a, "b": b, "nvlink": ln.nvlink, "p2p_nvlink": ln.p2p_nvlink,
                              "level": TOPO_NAMES.get(ln.level, str(ln.level)),
                              "score": ln.score})
    return inv


def render_inventory(inv: Inventory) -> str:
    lines = [f"driver {inv.driver}, {len(inv.gpus)} GPU(s)"]
    for g in inv.gpus:
        lines.append(f"GPU {g['index']}: {g['name']}  {g['uuid']}  "
                     f"{g['used_mib']:.0f}/{g['total_mib']:.0f} MiB used")
        for p in g["processes"]:
            mem = "n/a" if p["used_mib"] is None else f"{p['used_mib']:.0f} MiB"
            run = f"  pcgbot run {p['pcgbot_run']}" if p["pcgbot_run"] else ""
            lines.append(f"    pid {p['pid']} {p['name']} {mem}{run}")
    if inv.links:
        lines.append("topology:")
        for ln in inv.links:
            nvl = f"NVLink x{ln['nvlink']}" if ln["nvlink"] else (
                "NVLink P2P" if ln["p2p_nvlink"] else "no NVLink")
            lines.append(f"    GPU {ln['a']} <-> GPU {ln['b']}: {nvl}, PCIe {ln['level']}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------
# Hygiene: make GPUs clean before a run, or say who holds them
# ----------------------------------------------------------------------------------------------

@dataclass
class Cleaned:
    """One leftover killed before a run (kept so the report can say what was cleaned)."""
    gpu: int
    pid: int
    name: str
    used_mib: Optional[float]
    marker: str
    killed: list[int]
    released_s: float            # seconds until the GPU's memory was back under the threshold
    before_run: str              # the run that was about to start


def check_gpus(nv: NvmlLike, ids: list[int], *, run_id: str, threshold_mib: float,
               release_wait_s: float, live_runs: set[str] = frozenset(),
               ) -> tuple[dict[int, str], list[Cleaned]]:
    """Clean or condemn each GPU in ``ids``.  Returns (dirty GPU -> reason, leftovers cleaned).

    A holder carrying a marker of a run that is not live in this pool is a leftover: its tree
    is killed and the memory release awaited (bounded).  A holder without a marker, a marker of
    a live run, or memory over ``threshold_mib`` that no visible process explains makes the GPU
    dirty with a reason like "GPU 1 held by pid 4242 (python3, 6.1 GiB)".
    """
    dirty: dict[int, str] = {}
    cleaned: list[Cleaned] = []
    for i in ids:
        hs = holders(nv, i)
        foreign = [h for h in hs if not h.marker or h.marker in live_runs
                   or h.owner_alive_elsewhere()]
        if foreign:
            dirty[i] = f"GPU {i} held by " + ", ".join(h.describe() for h in foreign)
            continue
        # Kill every leftover first, then wait once: waiting per holder would wait for memory
        # that the next leftover on the same GPU still holds.
        t0 = time.monotonic()
        killed = {h.pid: kill_leftover(h) for h in hs if psutil.pid_exists(h.pid)}
        if killed:
            gone = {h.pid for h in hs}
            ok = wait_for(lambda: not any(p.pid in gone for p in nv.processes(i))
                          and nv.info(i).used_mib <= threshold_mib, release_wait_s)
            took = round(time.monotonic() - t0, 3)
            for h in hs:
                if h.pid in killed:
                    cleaned.append(Cleaned(i, h.pid, h.name, h.used_mib, h.marker or "",
                                           killed[h.pid], took, run_id))
            if not ok:
                dirty[i] = (f"GPU {i} still held after killing leftover(s) "
                            + ", ".join(f"{h.describe()} of run {h.marker}" for h in hs)
                            + f" (waited {release_wait_s:g}s)")
        if i in dirty:
            continue
        # memory with no (visible) process: another container, or a release still under way
        if not wait_for(lambda: nv.info(i).used_mib <= threshold_mib, min(release_wait_s, 5.0)):
            left = nv.processes(i)
            who = (" by " + ", ".join(f"pid {p.pid}" for p in left)) if left else \
                " by no visible process"
            dirty[i] = (f"GPU {i} has {gib(nv.info(i).used_mib)} in use{who} "
                        f"(threshold {gib(threshold_mib)})")
    return dirty, cleaned
