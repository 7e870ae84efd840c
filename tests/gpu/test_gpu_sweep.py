"""The real sweep (pcgbot.sweep.sweep.run_sweep) on the GPU pool, with a fake NVML of 2 GPUs.

The test processes are real; they record the CUDA_VISIBLE_DEVICES they got and when they ran,
so overlap, GPU sets, quarantine-as-infra and leak recording are checked end to end on CPU.
"""

from __future__ import annotations

import json
from pathlib import Path

from gpu_fakes import FakeNvml, reap, spawn_orphan
from pcgbot.gpu.pool import GpuPool, gpu_pool_or_none
from pcgbot.plan.schema import parse_plan
from pcgbot.sweep.sweep import read_runs, run_sweep

SCRIPT = """\
import json, os, sys, time
t0 = time.time()
time.sleep({secs})
print("SEEN " + json.dumps({{"cvd": os.environ.get("CUDA_VISIBLE_DEVICES"),
                            "t0": t0, "t1": time.time()}}))
"""

PLAN = """\
name: fakegpu
repo: {repo}
command: "{{python}} {{path}}"
timeout: 60
repeats: 1
tests:
  - {{path: one_a.py, gpus: 1, est_time: 3}}
  - {{path: one_b.py, gpus: 1, est_time: 3}}
  - {{path: two.py, gpus: 2, est_time: 1}}
  - {{path: four.py, gpus: 4, est_time: 1}}
"""


def _plan(tmp: Path):
    repo = tmp / "suite"
    repo.mkdir()
    for name, secs in (("one_a", 1.0), ("one_b", 1.0), ("two", 0.3), ("four", 0.1)):
        (repo / f"{name}.py").write_text(SCRIPT.format(secs=secs))
    return parse_plan(PLAN.format(repo=repo), str(tmp / "plan.yaml"))


def _seen(out: Path, rec) -> dict:
    for line in (out / rec.log).read_text().splitlines():
        if line.startswith("SEEN "):
            return json.loads(line[5:])
    raise AssertionError(f"{rec.test} printed nothing: {(out / rec.log).read_text()}")


def test_one_gpu_runs_overlap_two_gpu_run_is_alone_four_gpu_skipped(tmp_path) -> None:
    plan = _plan(tmp_path)
    pool = GpuPool(FakeNvml(2, ((0, 1),)), check_ports=False, leak_wait_s=0.2)
    out = run_sweep(plan, tmp_path / "sw", slots=2, pool=pool)
    runs = {r.test: r for r in read_runs(out)}
    assert runs["four.py"].outcome == "skip" and "needs 4 GPUs" in runs["four.py"].reason
    a, b, two = (_seen(out, runs[t]) for t in ("one_a.py", "one_b.py", "two.py"))
    assert {a["cvd"], b["cvd"]} == {"0", "1"}
    assert two["cvd"] in ("0,1", "1,0")
    assert a["t0"] < b["t1"] and b["t0"] < a["t1"]                  # the 1-GPU runs overlapped
    assert two["t0"] >= max(a["t1"], b["t1"]) or two["t1"] <= min(a["t0"], b["t0"])
    for t in ("one_a.py", "one_b.py", "two.py"):
        assert runs[t].outcome == "pass" and runs[t].leaked_mib == 0.0
        assert runs[t].gpus == [int(g) for g in _seen(out, runs[t])["cvd"].split(",")]


def test_foreign_holder_makes_infra_not_fail_and_the_rest_runs(tmp_path) -> None:
    plan = _plan(tmp_path)
    nv = FakeNvml(2, ((0, 1),))
    pid = spawn_orphan(None)
    try:
        nv.hold(1, pid, 6246.4)
        pool = gpu_pool_or_none(nv=nv, check_ports=False, leak_wait_s=0.2, release_wait_s=1)
        out = run_sweep(plan, tmp_path / "sw", slots=2, pool=pool)
    finally:
        reap(pid)
    runs = read_runs(out)
    by = {r.test: r for r in runs}
    held = f"GPU 1 held by pid {pid} (sleep, 6.1 GiB)"
    assert pool.quarantined() == {1: held}
    # quarantined before the first run: both 1-GPU tests run (one after the other) on GPU 0
    assert [by[t].outcome for t in ("one_a.py", "one_b.py")] == ["pass", "pass"]
    assert by["one_a.py"].gpus == by["one_b.py"].gpus == [0]
    # the 2-GPU test cannot be placed: infra with the holder named, never fail
    assert by["two.py"].outcome == "infra" and held in by["two.py"].reason
    assert not [r for r in runs if r.outcome == "fail"]


def test_dirty_gpu_found_at_run_time_is_infra_for_that_run_only(tmp_path) -> None:
    plan = _plan(tmp_path)
    nv = FakeNvml(2, ((0, 1),))
    pool = GpuPool(nv, check_ports=False, leak_wait_s=0.2, release_wait_s=1)   # no precheck
    pid = spawn_orphan(None)
    try:
        nv.hold(1, pid, 6246.4)
        out = run_sweep(plan, tmp_path / "sw", slots=2, pool=pool)
    finally:
        reap(pid)
    runs = read_runs(out)
    assert not [r for r in runs if r.outcome == "fail"]
    assert [r.gpus for r in runs if r.outcome == "pass"] == [[0]]
    assert {r.test for r in runs if r.outcome == "infra"} >= {"two.py"}
