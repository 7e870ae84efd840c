"""The GPU pool the sweep schedules on: which GPUs a k-GPU run gets, and GPU hygiene per run.

It implements the pool protocol of ``pcgbot.slots`` (capacity, try_acquire, release,
before_run, after_run).  Rules, each from something that broke a real run:

* Sets never overlap and are handed out as ``CUDA_VISIBLE_DEVICES`` in the order returned.
* SGLang derives its test ports from the FIRST CHARACTER of ``CUDA_VISIBLE_DEVICES``
  (SGLANG_FACTS.md section 3), so two concurrent runs whose lists start with the same digit
  fight over one port (GPU 1 and GPU 10 collide on a 12-GPU host).  Each set is ordered so its
  first id's first digit is unused by every running set.
* k-GPU sets prefer NVLink-connected GPUs; 1-GPU runs take the GPU whose loss breaks the fewest
  good links, so NVLink pairs stay free for the multi-GPU tests that need them.
* A GPU whose check fails (foreign holder, memory that does not come back) is quarantined for
  the pool's life: nothing is started on it again and the sweep records what could not be
  placed as ``infra`` with the reason.
"""

from __future__ import annotations

import itertools
import math
import os
import threading
from typing import Optional

import psutil

from .nvml import Cleaned, NvmlLike, NvmlUnavailable, check_gpus, open_nvml, wait_for

# Ports a test run on first digit d may use: base = 10000+2000*d in CI (SGLANG_IS_IN_CI) or
# 20000+1000*d locally; DEFAULT_URL_FOR_TEST is base+1000 and find_available_port(base) starts
# at base+100.  So [base+100, base+1000] is that digit's range (the two eras never overlap).
PORT_BASES = ((10000, 2000), (20000, 1000))
_EXHAUSTIVE_LIMIT = 300    # candidate sets enumerated exactly up to this, greedy above


def first_digit(ids: list[int]) -> str:
    return str(ids[0])[0]


def digit_ports(d: int) -> list[tuple[int, int]]:
    return [(b + s * d + 100, b + s * d + 1000) for b, s in PORT_BASES]


def port_conflict(ids: list[int], listening: Optional[dict[int, Optional[int]]] = None,
                  ) -> Optional[str]:
    """None if the ports SGLang will derive from ``CUDA_VISIBLE_DEVICES=ids`` are free, else
    why not ("port 21000 for CUDA_VISIBLE_DEVICES=1 is in use by pid 77 (python3)")."""
    if not ids:
        return None
    d = int(first_digit(ids))
    if listening is None:
        listening = listening_ports()
    for lo, hi in digit_ports(d):
        for port in sorted(p for p in listening if lo <= p <= hi):
            pid = listening[port]
            who = ""
            if pid:
                try:
                    who = f" by pid {pid} ({psutil.Process(pid).name()})"
                except psutil.Error:
                    who = f" by pid {pid}"
            cvd = ",".join(map(str, ids))
            return f"port {port} for CUDA_VISIBLE_DEVICES={cvd} is in use{who}"
    return None


def listening_ports() -> dict[int, Optional[int]]:
    """TCP ports in LISTEN state on this host -> owning pid (None when not ours to see)."""
    out: dict[int, Optional[int]] = {}
    try:
        conns = psutil.net_connections(kind="tcp")
    except (psutil.Error, OSError):
        return out
    for c in conns:
        if c.status == psutil.CONN_LISTEN and c.laddr:
            out.setdefault(c.laddr.port, c.pid)
    return out


class GpuPool:
    """GPU slots with hygiene.  Thread-safe: the sweep may call it from several workers."""

    is_gpu = True

    def __init__(self, nv: NvmlLike, ids: Optional[list[int]] = None, *,
                 threshold_mib: float = 2048.0, release_wait_s: float = 30.0,
                 leak_wait_s: float = 10.0, cpu_slots: Optional[int] = None,
                 check_ports: bool = True) -> None:
        self.nv = nv
        self.ids = sorted(ids) if ids is not None else list(range(nv.count()))
        self.threshold_mib = threshold_mib
        self.release_wait_s = release_wait_s
        self.leak_wait_s = leak_wait_s
        self.check_ports = check_ports
        self.cpu_slots = cpu_slots if cpu_slots is not None else (os.cpu_count() or 1)
        self._lock = threading.Lock()
        self._busy: dict[int, list[int]] = {}          # first id -> the set it starts
        self._cpu_busy = 0
        self._quarantined: dict[int, str] = {}
        self._live: dict[str, list[int]] = {}          # run_id -> its GPUs (between before/after)
        self._before_mib: dict[str, dict[int, float]] = {}
        self.cleaned: list[Cleaned] = []
        self.leaks: dict[str, float] = {}
        self._score: dict[tuple[int, int], int] = {}    # link scores are static: ask NVML once

    def precheck(self) -> dict[int, str]:
        """Check every GPU once before the first run: leftovers of earlier runs are cleaned and
        foreign-held GPUs quarantined up front, so no run draws a GPU that is known dirty."""
        dirty, cleaned = check_gpus(self.nv, self.ids, run_id="pcgbot-pool-start",
                                    threshold_mib=self.threshold_mib,
                                    release_wait_s=self.release_wait_s)
        with self._lock:
            self.cleaned.extend(cleaned)
            for g, why in dirty.items():
                self._quarantined.setdefault(g, why)
        return dirty

    def summary(self) -> dict:
        """What hygiene did during the sweep, for sweep.json / the report: GPUs, quarantined
        GPUs with the holder named, leftovers killed, runs that leaked."""
        with self._lock:
            return {"gpus": list(self.ids), "quarantined": {str(g): w for g, w in
                                                            self._quarantined.items()},
                    "cleaned": [dict(c.__dict__) for c in self.cleaned],
                    "leaks_mib": dict(self.leaks)}

    # -- protocol ----------------------------------------------------------------------------
    def capacity(self) -> int:
        return len(self.ids)

    def usable(self) -> int:
        """GPUs not quarantined: a k-GPU test with k > usable() can never be placed."""
        return len(self.ids) - len(self._quarantined)

    def quarantined(self) -> dict[int, str]:
        with self._lock:
            return dict(self._quarantined)

    def try_acquire(self, k: int) -> Optional[list[int]]:
        with self._lock:
            if k == 0:
                if self._cpu_busy >= self.cpu_slots:
                    return None
                self._cpu_busy += 1
                return []
            taken = {g for s in self._busy.values() for g in s}
            free = [g for g in self.ids if g not in taken and g not in self._quarantined]
            used_digits = {first_digit(s) for s in self._busy.values()}
            chosen = self._choose(free, k, used_digits)
            if chosen is None:
                return None
            self._busy[chosen[0]] = chosen
            return chosen

    def release(self, ids: list[int]) -> None:
        with self._lock:
            if not ids:
                self._cpu_busy = max(0, self._cpu_busy - 1)
                return
            self._busy.pop(ids[0], None)

    def before_run(self, ids: list[int], run_id: str) -> Optional[str]:
        """Clean ``ids`` for ``run_id``; None = clean, else the infra reason (GPU quarantined)."""
        if not ids:
            return None
        with self._lock:
            live = set(self._live)
        dirty, cleaned = check_gpus(self.nv, ids, run_id=run_id, threshold_mib=self.threshold_mib,
                                    release_wait_s=self.release_wait_s, live_runs=live)
        with self._lock:
            self.cleaned.extend(cleaned)
            for g, why in dirty.items():
                self._quarantined.setdefault(g, why)
        if dirty:
            return "; ".join(dirty[g] for g in ids if g in dirty)
        if self.check_ports:
            why = port_conflict(ids)
            if why:   # not the GPU's fault: no quarantine, this run alone is infra
                return why
        with self._lock:
            self._live[run_id] = list(ids)
            self._before_mib[run_id] = {g: self.nv.info(g).used_mib for g in ids}
        return None

    def after_run(self, ids: list[int], run_id: str) -> Optional[float]:
        """GPU memory (MiB, summed over ``ids``) still used above the pre-run level once the
        run's tree is dead, after a bounded wait for the driver to release it."""
        if not ids:
            return None
        with self._lock:
            self._live.pop(run_id, None)
            before = self._before_mib.pop(run_id, None)
        if before is None:
            return None
        slack = 64.0   # allocator/driver noise: not a leak
        over = lambda: sum(max(0.0, self.nv.info(g).used_mib - before[g]) for g in ids)  # noqa
        wait_for(lambda: over() <= slack, self.leak_wait_s, step=0.1)
        leaked = round(over(), 1)
        if leaked > slack:
            with self._lock:
                self.leaks[run_id] = leaked
            return leaked
        return 0.0

    # -- selection -----------------------------------------------------------------------------
    def _pair(self, a: int, b: int) -> int:
        key = (a, b) if a < b else (b, a)
        sc = self._score.get(key)
        if sc is None:
            sc = self._score[key] = self.nv.link(a, b).score
        return sc

    def _choose(self, free: list[int], k: int, used_digits: set[str]) -> Optional[list[int]]:
        """Best k-subset of ``free`` whose order can start with an unused first digit."""
        if k > len(free):
            return None
        starters = [g for g in free if str(g)[0] not in used_digits]
        if not starters:
            return None
        n_sets = _comb(len(free), k)
        cands = (itertools.combinations(free, k) if n_sets <= _EXHAUSTIVE_LIMIT
                 else self._greedy(free, k, starters))
        best: Optional[tuple] = None
        for s in cands:
            if not any(str(g)[0] not in used_digits for g in s):
                continue
            key = self._rank(s, free)
            if best is None or key > best[0]:
                best = (key, s)
        if best is None:
            return None
        s = list(best[1])
        head = min(g for g in s if str(g)[0] not in used_digits)
        return [head] + [g for g in s if g != head]

    def _rank(self, s: tuple[int, ...], free: list[int]) -> tuple:
        pairs = [self._pair(a, b) for a, b in itertools.combinations(s, 2)]
        # Cost to the GPUs left behind: good links from the set to remaining free GPUs.
        rest = [g for g in free if g not in s]
        broken = sum(sc for a in s for b in rest if (sc := self._pair(a, b)) >= 1000)
        return (min(pairs) if pairs else 0, sum(pairs), -broken, [-g for g in s])

    def _greedy(self, free: list[int], k: int, starters: list[int]):
        """For large hosts: grow a set from each possible starter by best link."""
        for start in starters:
            s = [start]
            while len(s) < k:
                nxt = max((g for g in free if g not in s),
                          key=lambda g: (min(self._pair(g, x) for x in s), -g))
                s.append(nxt)
            yield tuple(sorted(s))


def _comb(n: int, k: int) -> int:
    return math.comb(n, k)


def visible_ids(nv: NvmlLike, env: Optional[dict[str, str]] = None) -> list[int]:
    """GPU indices this process may use: CUDA_VISIBLE_DEVICES (indices or UUIDs) if set."""
    env = os.environ if env is None else env
    raw = env.get("CUDA_VISIBLE_DEVICES")
    n = nv.count()
    if raw is None:
        return list(range(n))
    uuids = {nv.info(i).uuid: i for i in range(n)}
    out: list[int] = []
    for tok in (t.strip() for t in raw.split(",")):
        if not tok:
            continue
        if tok.isdigit() and int(tok) < n:
            out.append(int(tok))
        else:
            hit = [i for u, i in uuids.items() if tok.startswith("GPU-") and u.startswith(tok)]
            if not hit:
                break    # CUDA stops at the first invalid entry too
            out.append(hit[0])
    return list(dict.fromkeys(out))


def gpu_pool_or_none(ids: Optional[list[int]] = None, *, nv: Optional[NvmlLike] = None,
                     echo=None, precheck: bool = True, **kw) -> Optional[GpuPool]:
    """A GpuPool over this host's GPUs, or None (after telling ``echo`` why) when there is no
    NVML or no GPU: the sweep then falls back to CPU slots.  With ``precheck`` every GPU is
    checked (leftovers cleaned, foreign holders quarantined) before it is returned."""
    try:
        nv = nv or open_nvml()
    except NvmlUnavailable as e:
        if echo:
            echo(f"pcgbot: no GPU pool ({e}); running on CPU slots")
        return None
    ids = visible_ids(nv) if ids is None else ids
    if not ids:
        if echo:
            echo("pcgbot: no GPU pool (CUDA_VISIBLE_DEVICES hides every GPU); running on CPU slots")
        return None
    pool = GpuPool(nv, ids, **kw)
    if precheck:
        pool.precheck()
        if echo:
            for c in pool.cleaned:
                echo(f"pcgbot: GPU {c.gpu}: killed leftover pid {c.pid} ({c.name}) of run "
                     f"{c.marker}")
            for g, why in sorted(pool.quarantined().items()):
                echo(f"pcgbot: GPU {g} quarantined: {why}")
    return pool


__all__ = ["GpuPool", "gpu_pool_or_none", "port_conflict", "first_digit", "visible_ids",
           "listening_ports"]
