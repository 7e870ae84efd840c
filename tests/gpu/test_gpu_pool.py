"""GPU pool on CPU: selection, first-digit rule, NVLink preference, hygiene with real processes."""

from __future__ import annotations

import json
import socket
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpu_fakes import FakeNvml, alive, reap, spawn_orphan
from pcgbot.gpu.nvml import NvmlUnavailable, open_nvml
from pcgbot.gpu.pool import (GpuPool, first_digit, gpu_pool_or_none, port_conflict,
                             visible_ids)

HGX_PAIRS = ((0, 1), (2, 3), (4, 5), (6, 7))


def pool(nv, **kw) -> GpuPool:
    kw.setdefault("check_ports", False)
    kw.setdefault("release_wait_s", 5.0)
    kw.setdefault("leak_wait_s", 0.3)
    return GpuPool(nv, **kw)


# -- selection ------------------------------------------------------------------------------------

def test_two_gpu_sets_are_nvlink_pairs_and_singles_keep_pairs_whole() -> None:
    p = pool(FakeNvml(8, HGX_PAIRS))
    a = p.try_acquire(1)
    b = p.try_acquire(1)
    # the second single takes the first one's NVLink partner: no other pair is broken
    assert sorted(a + b) in ([0, 1], [2, 3], [4, 5], [6, 7])
    for _ in range(3):
        s = p.try_acquire(2)
        assert tuple(sorted(s)) in HGX_PAIRS
    assert p.try_acquire(1) is None


def test_four_gpu_set_prefers_two_linked_pairs_over_scattered_gpus() -> None:
    nv = FakeNvml(8, ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)))  # 0-3 all-to-all NVLink
    s = pool(nv).try_acquire(4)
    assert sorted(s) == [0, 1, 2, 3]


def test_first_digit_rule_on_twelve_gpus() -> None:
    p = pool(FakeNvml(12))
    for g in range(12):           # occupy everything, then free exactly what the case needs
        p._busy[g] = [g]
    p.release([0]); p.release([10]); p.release([11])   # GPU 1 stays running: digit '1' taken
    got = p.try_acquire(2)
    assert got is not None and got[0] == 0 and sorted(got) == [0, 10]
    # now only 11 is free and digit '1' is in use by run [1]: no placement
    assert p.try_acquire(1) is None
    p.release([1])
    assert p.try_acquire(1) in ([1], [11])


def test_set_is_ordered_to_start_with_a_free_digit() -> None:
    p = pool(FakeNvml(12))
    for g in range(12):
        if g not in (2, 10):
            p._busy[g] = [g]
    # running sets start with every digit but '2' -> [10, 2] must be handed out as [2, 10]
    assert p.try_acquire(2) == [2, 10]


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 16), ops=st.lists(st.tuples(st.booleans(), st.integers(1, 4)),
                                          max_size=40))
def test_sets_never_overlap_and_first_digits_stay_unique(n, ops) -> None:
    p = pool(FakeNvml(n, tuple((i, i + 1) for i in range(0, n - 1, 2))))
    running: list[list[int]] = []
    for acquire, k in ops:
        if acquire:
            s = p.try_acquire(k)
            if s is None:
                continue
            assert len(s) == k == len(set(s))
            assert all(0 <= g < n for g in s)
            assert not set(s) & {g for r in running for g in r}
            assert first_digit(s) not in {first_digit(r) for r in running}
            running.append(s)
        elif running:
            p.release(running.pop(k % len(running)))


def test_cpu_slots_for_zero_gpu_tests() -> None:
    p = pool(FakeNvml(2), cpu_slots=2)
    assert p.try_acquire(0) == [] and p.try_acquire(0) == []
    assert p.try_acquire(0) is None
    p.release([])
    assert p.try_acquire(0) == []
    assert p.try_acquire(2) is not None    # GPU sets are independent of CPU slots


# -- hygiene with real processes ------------------------------------------------------------------

def test_leftover_with_marker_is_killed_and_next_run_starts() -> None:
    nv = FakeNvml(2)
    pid = spawn_orphan("old-run-7")
    try:
        nv.hold(0, pid, 6246.4)
        p = pool(nv)
        assert p.before_run([0], "new-run") is None
        assert not alive(pid)
        assert nv.info(0).used_mib == 0
        (c,) = p.cleaned
        assert (c.gpu, c.pid, c.marker, c.before_run) == (0, pid, "old-run-7", "new-run")
        assert pid in c.killed and p.quarantined() == {}
        summ = p.summary()
        assert summ["cleaned"][0]["marker"] == "old-run-7" and summ["quarantined"] == {}
    finally:
        reap(pid)


def test_two_leftovers_on_one_gpu_are_both_killed_before_waiting() -> None:
    # Seen on a real H100: waiting for the first leftover's memory while the second still held
    # its own made a cleanable GPU look stuck.
    nv = FakeNvml(1)
    a, b = spawn_orphan("old-a"), spawn_orphan("old-b")
    try:
        nv.hold(0, a, 5000.0)
        nv.hold(0, b, 5000.0)
        p = pool(nv, release_wait_s=10)
        assert p.before_run([0], "new") is None
        assert not alive(a) and not alive(b)
        assert sorted(c.marker for c in p.cleaned) == ["old-a", "old-b"]
    finally:
        reap(a)
        reap(b)


def test_foreign_holder_quarantines_and_is_left_alone() -> None:
    nv = FakeNvml(2)
    pid = spawn_orphan(None)
    try:
        nv.hold(1, pid, 6246.4)
        p = pool(nv)
        reason = p.before_run([1], "r1")
        assert reason == f"GPU 1 held by pid {pid} (sleep, 6.1 GiB)"
        assert alive(pid)                                    # not ours: never killed
        assert p.quarantined() == {1: reason}
        p.release([1])
        assert [p.try_acquire(1) for _ in range(3)] == [[0], None, None]
        assert p.usable() == 1 and p.capacity() == 2
    finally:
        reap(pid)


def test_every_gpu_quarantined_means_nothing_is_handed_out() -> None:
    nv = FakeNvml(2, base_mib=9000.0)                        # memory used, no process visible
    p = pool(nv, release_wait_s=0.2)
    s = p.try_acquire(2)
    why = p.before_run(s, "r")
    assert "GPU 0 has 8.8 GiB in use by no visible process" in why
    p.release(s)
    assert p.try_acquire(1) is None and p.usable() == 0
    assert set(p.quarantined()) == {0, 1}


def test_marker_of_a_live_run_is_not_killed() -> None:
    nv = FakeNvml(2)
    pid = spawn_orphan("live-run")
    try:
        p = pool(nv)
        assert p.before_run([0], "live-run") is None        # live-run now owns GPU 0
        nv.hold(1, pid, 1000.0)                             # ...and shows up on GPU 1
        why = p.before_run([1], "other")
        assert why.startswith(f"GPU 1 held by pid {pid}") and alive(pid)
    finally:
        reap(pid)


def test_leak_measured_after_run() -> None:
    nv = FakeNvml(2)
    p = pool(nv)
    assert p.before_run([0, 1], "r") is None
    pid = spawn_orphan(None)
    try:
        nv.hold(1, pid, 4096.0)
        assert p.after_run([0, 1], "r") == 4096.0
        assert p.leaks == {"r": 4096.0}
    finally:
        reap(pid)
    assert p.before_run([0], "r2") is None
    assert p.after_run([0], "r2") == 0.0


# -- ports -----------------------------------------------------------------------------------------

def test_port_conflict_pure() -> None:
    assert port_conflict([1], {22000: None}) == \
        "port 22000 for CUDA_VISIBLE_DEVICES=1 is in use"      # DEFAULT_URL of digit 1
    assert port_conflict([1], {21000: None, 21099: None}) is None
    assert port_conflict([1, 0], {12500: None}).startswith("port 12500")
    assert port_conflict([0], {21000: None}) == \
        "port 21000 for CUDA_VISIBLE_DEVICES=0 is in use"  # DEFAULT_URL of digit 0
    assert port_conflict([2], {21000: None, 11000: None, 22050: None}) is None
    assert port_conflict([10], {21500: None}) is not None       # GPU 10 uses digit 1's ports


def test_port_conflict_real_socket_blocks_run_without_quarantine() -> None:
    d = next(d for d in range(9, -1, -1) if port_conflict([d]) is None)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", 20000 + 1000 * d + 500))
        s.listen(1)
        why = port_conflict([d])
        assert why and why.startswith(f"port {20000 + 1000 * d + 500}")
        nv = FakeNvml(10)
        p = GpuPool(nv, check_ports=True, release_wait_s=1)
        assert p.before_run([d], "r") == why
        assert p.quarantined() == {}
    finally:
        s.close()


# -- discovery ---------------------------------------------------------------------------------

def test_visible_ids_indices_and_uuids() -> None:
    nv = FakeNvml(4)
    assert visible_ids(nv, {}) == [0, 1, 2, 3]
    assert visible_ids(nv, {"CUDA_VISIBLE_DEVICES": "2,0"}) == [2, 0]
    assert visible_ids(nv, {"CUDA_VISIBLE_DEVICES": "GPU-fake-0003,1"}) == [3, 1]
    assert visible_ids(nv, {"CUDA_VISIBLE_DEVICES": "1,9,2"}) == [1]   # CUDA stops at 9
    assert visible_ids(nv, {"CUDA_VISIBLE_DEVICES": ""}) == []


def test_gpu_pool_or_none_without_nvml_says_why() -> None:
    msgs: list[str] = []
    try:
        open_nvml()
        pytest.skip("this host has NVML and a GPU")
    except NvmlUnavailable:
        pass
    assert gpu_pool_or_none(echo=msgs.append) is None
    assert msgs and "running on CPU slots" in msgs[0]
    nv = FakeNvml(3)
    gp = gpu_pool_or_none([0, 2], nv=nv)
    assert gp is not None and gp.capacity() == 2 and gp.try_acquire(2) in ([0, 2], [2, 0])


def test_cli_gpu_without_nvml_exits_zero() -> None:
    try:
        open_nvml()
        pytest.skip("this host has NVML and a GPU")
    except NvmlUnavailable:
        pass
    out = subprocess.run(["pcgbot", "gpu", "--json"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["available"] is False and "NVML" in doc["reason"] and doc["gpus"] == []
    out = subprocess.run(["pcgbot", "gpu"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("no GPU: ")


def test_run_of_another_live_pcgbot_is_not_a_leftover(tmp_path):
    """Two sweeps on one host: the second one's start check must not kill the first's runs."""
    import os
    import subprocess
    import sys

    from pcgbot.gpu.nvml import Holder

    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        live = Holder(0, 12345, "python3", 4096.0, "sweepA/t.py/pcg/0", owner=other.pid)
        dead = Holder(0, 12346, "python3", 4096.0, "sweepA/t.py/pcg/1", owner=2 ** 22 + 7)
        mine = Holder(0, 12347, "python3", 4096.0, "sweepB/t.py/pcg/0", owner=os.getpid())
        assert live.owner_alive_elsewhere()
        assert not dead.owner_alive_elsewhere() and not mine.owner_alive_elsewhere()
    finally:
        other.kill()
        other.wait()
