"""Bisection of a GPU test on the sweep's GPU pool: parallel probes, hygiene, quarantine.

The pool runs on the fake NVML of ``gpu_fakes`` (real pids hold the "GPU memory"), the probes
are real processes in real worktrees of a real git repository.  On a GPU host the same path is
proven with real GPUs by ``bench/bench_bisect_gpu.sh``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bisect_repo import TEST_PATH, make_repo, step
from gpu_fakes import FakeNvml, reap, spawn_orphan
from pcgbot.bisect.engine import bisect_test
from pcgbot.sweep.pools import probe_slots
from pcgbot.errors import PcgbotError
from pcgbot.gpu.pool import GpuPool, gpu_pool_or_none
from pcgbot.plan.schema import load_plan
from pcgbot.results.sweepdir import read_runs

# Runs the toy test after printing what GPUs it was given and when it ran; the sleep makes
# probes that run at the same time overlap for sure.
WRAP = '''\
import json, os, runpy, sys, time
t0 = time.time()
time.sleep(0.4)
print("SEEN " + json.dumps({"cvd": os.environ.get("CUDA_VISIBLE_DEVICES"), "t0": t0,
                            "t1": time.time()}), flush=True)
sys.argv = [sys.argv[1]]
runpy.run_path(sys.argv[0], run_name="__main__")
'''


def _plan(tmp: Path, repo: Path):
    (tmp / "wrap.py").write_text(WRAP)
    p = tmp / "gpu-toy.yaml"
    p.write_text(f"""\
name: gpu-toy
repo: {repo}
command: "{{python}} {tmp / 'wrap.py'} {{path}}"
timeout: 60
repeats: 3
modes: {{pcg: {{}}}}
tests:
  - {{path: {TEST_PATH}, gpus: 1}}
""")
    return load_plan(p)


def _bisect(tmp: Path, pool, n: int = 12, culprit: int = 5, **kw):
    shas = make_repo(tmp / "repo", n, step(culprit))
    res = bisect_test(_plan(tmp, tmp / "repo"), "test_embedding_models", good=shas[0],
                      bad=shas[n], store=tmp / "no-store.db", state_dir=tmp / "state",
                      pool=pool, **kw)
    return shas, res, json.loads(Path(res.state).read_text())


def _runs(state_file: str) -> list:
    """Every probe run record (runs.jsonl of each probed commit), with what it printed."""
    out = []
    for d in sorted((Path(state_file).parent / "runs").iterdir()):
        for r in read_runs(d):
            seen = None
            if r.log and (d / r.log).exists():
                for line in (d / r.log).read_text().splitlines():
                    if line.startswith("SEEN "):
                        seen = json.loads(line[5:])
            out.append((r, seen))
    return out


def test_probes_fill_the_free_gpus_in_parallel(tmp_path) -> None:
    pool = GpuPool(FakeNvml(2, ((0, 1),)), check_ports=False, leak_wait_s=0.2)
    shas, res, state = _bisect(tmp_path, pool)        # --slots left to the pool: 2 GPUs, 2
    assert res.status == "found" and res.sha == shas[5]
    runs = _runs(res.state)
    assert len(runs) == res.runs
    for r, seen in runs:
        assert r.outcome in ("pass", "fail") and r.leaked_mib == 0.0
        assert seen and r.gpus == [int(seen["cvd"])]       # the pool's GPU is what it saw
    assert {tuple(r.gpus) for r, _ in runs} == {(0,), (1,)}
    spans = sorted((s["t0"], s["t1"]) for _, s in runs)
    assert any(b0 < a1 for (_, a1), (b0, _) in zip(spans, spans[1:]))   # two probes overlapped
    assert res.run_seconds > 1.3 * res.wall_seconds > 0                  # and it shows
    assert f"{res.run_seconds:.0f} s of runs in {res.wall_seconds:.0f} s" in res.render()
    assert state["gpu_pool"]["gpus"] == [0, 1] and state["gpu_pool"]["quarantined"] == {}
    # no sweep data: the first round runs the failing end, on both GPUs
    first = state["probes"][:2]
    assert {p["sha"] for p in first} == {shas[12]} and {p["gpus"][0] for p in first} == {0, 1}


def test_gpu_found_dirty_mid_bisection_is_quarantined_and_the_probe_reruns(tmp_path) -> None:
    nv = FakeNvml(2, ((0, 1),))
    pool = GpuPool(nv, check_ports=False, leak_wait_s=0.2, release_wait_s=1)   # no precheck
    pid = spawn_orphan(None)                       # a foreign process takes GPU 0
    try:
        nv.hold(0, pid, 6246.4)
        shas, res, state = _bisect(tmp_path, pool)
    finally:
        reap(pid)
    assert res.status == "found" and res.sha == shas[5]
    held = f"GPU 0 held by pid {pid} (sleep, 6.1 GiB)"
    assert pool.quarantined() == {0: held}
    assert state["gpu_pool"]["quarantined"] == {"0": held}
    runs = _runs(res.state)
    infra = [r for r, _ in runs if r.outcome == "infra"]
    assert infra and all(held in r.reason and r.gpus == [0] for r in infra)
    # the host's fault never reached the search: every probe it counted ran on GPU 1
    assert all(p["verdict"] in ("pass", "fail") for p in state["probes"])
    assert [r.gpus for r, _ in runs if r.outcome != "infra"] == [[1]] * len(state["probes"])


def test_slots_above_what_the_gpus_hold_are_lowered(tmp_path) -> None:
    pool = GpuPool(FakeNvml(2, ((0, 1),)), check_ports=False, leak_wait_s=0.2)
    said: list[str] = []
    shas, res, _ = _bisect(tmp_path, pool, n=6, culprit=3, slots=5, progress=said.append)
    assert res.status == "found" and res.sha == shas[3]
    assert any("--slots 5: 2 clean GPUs hold 2 1-GPU probes at once; running 2" in m
               for m in said)
    assert any("2 probes at a time" in m for m in said)
    runs = [m for m in said if m.startswith("run ")]
    assert runs and all(" on GPU 0;" in m or " on GPU 1;" in m for m in runs), runs


def test_no_clean_gpu_is_one_error_line(tmp_path) -> None:
    nv = FakeNvml(1)
    pid = spawn_orphan(None)
    try:
        nv.hold(0, pid, 2048.0)
        pool = gpu_pool_or_none(nv=nv, check_ports=False, release_wait_s=1)
        with pytest.raises(PcgbotError, match=r"no clean GPU for tests/test_embedding_models"
                           r"\.py \(needs 1\): GPU 0 held by pid \d+") as e:
            _bisect(tmp_path, pool, n=4, culprit=2)
        assert "\n" not in str(e.value)
    finally:
        reap(pid)


def test_slots_without_nvml_follow_the_gpus_given(tmp_path) -> None:
    spec = _plan(tmp_path, tmp_path).tests[0]          # a 1-GPU test
    said: list[str] = []
    assert probe_slots(spec, None, (0, 1, 2), None, said.append) == 3   # one per GPU given
    assert probe_slots(spec, 5, (0, 1), None, said.append) == 2          # never GPU-less slots
    assert said == ["--slots 5: --gpus 0,1 hold 2 1-GPU probes at once; running 2"]
    assert probe_slots(spec, None, (), None, said.append) == 1
    assert probe_slots(spec, 3, (), None, said.append) == 3              # no GPUs named: as asked
