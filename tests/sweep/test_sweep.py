"""Sweeps: every (test, mode, attempt) exactly once, even across SIGKILL + --resume."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import run_cli
from pcgbot.plan.schema import TestSpec, load_plan, parse_plan
from pcgbot.procs import find_marked
from pcgbot.results.store import Store
from pcgbot.sweep.sweep import order_tests, read_runs, run_sweep, shard_tests
from pcgbot.results.sweepdir import merge_dirs


def make_suite(tmp: Path, n_tests=4, sleep=0.3, repeats=3) -> Path:
    repo = tmp / "repo"
    (repo / "t").mkdir(parents=True)
    for i in range(n_tests):
        (repo / "t" / f"test_{i}.py").write_text(
            "import os, sys, time\n"
            f"time.sleep({sleep})\n"
            "print('Compiling num tokens (num_tokens=8)')\n"
            f"sys.exit(1 if {i} == 3 and os.environ['PCGBOT_RUN_ID'].endswith('/1') else 0)\n")
    plan = tmp / "plan.yaml"
    tests = "\n".join(f"  - {{path: test_{i}.py, est_time: {i + 1}}}" for i in range(n_tests))
    plan.write_text(f"name: kill\nrepo: {repo}\nworkdir: t\ncommand: '{{python}} {{path}}'\n"
                    f"timeout: 30\nrepeats: {repeats}\n"
                    "modes: {pcg: {server_args: {cuda_graph_backend_prefill: tc_piecewise}}}\n"
                    f"tests:\n{tests}\n")
    return plan


def _lines(out: Path) -> list[dict]:
    return [json.loads(l) for l in (out / "runs.jsonl").read_text().splitlines() if l.strip()]


def test_sweep_records_every_run(tmp_path):
    plan = load_plan(make_suite(tmp_path, sleep=0.05))
    out = run_sweep(plan, tmp_path / "out", slots=3)
    recs = read_runs(out)
    assert len(recs) == 12
    assert {(r.test, r.attempt) for r in recs} == {(f"test_{i}.py", a) for i in range(4) for a in range(3)}
    fails = [r for r in recs if r.outcome == "fail"]
    assert [(r.test, r.attempt) for r in fails] == [("test_3.py", 1)]
    assert all(r.pcg_active is True for r in recs)
    assert all((out / r.log).exists() for r in recs)
    meta = json.loads((out / "sweep.json").read_text())
    assert meta["complete"] and meta["mode"] == "pcg"


@pytest.mark.parametrize("kill_after", [0.15, 0.7, 1.4])
def test_sigkill_then_resume_exactly_once(tmp_path, kill_after):
    plan = make_suite(tmp_path, sleep=0.4)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "pcgbot", "sweep", str(plan), "--out", str(out), "--slots", "2",
           "--cpu", "-q"]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(kill_after)
    p.send_signal(signal.SIGKILL)
    p.wait()
    before = len(_lines(out)) if (out / "runs.jsonl").exists() else 0
    assert before < 12
    r = subprocess.run(cmd + ["--resume"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = _lines(out)
    keys = [(d["test"], d["mode"], d["attempt"]) for d in lines]
    assert len(keys) == 12 and len(set(keys)) == 12          # exactly once, no duplicates
    meta = json.loads((out / "sweep.json").read_text())
    assert meta["complete"]
    assert find_marked("PCGBOT_SWEEP_ID", meta["sweep_id"], prefix=True) == []   # no orphans


def test_resume_requires_flag(tmp_path):
    plan = make_suite(tmp_path, n_tests=1, sleep=0.0, repeats=1)
    out = tmp_path / "o"
    assert run_cli("sweep", str(plan), "--out", str(out), "--cpu", "-q").returncode == 0
    r = run_cli("sweep", str(plan), "--out", str(out), "--cpu", "-q")
    assert r.returncode == 2 and "--resume" in r.stderr and "Traceback" not in r.stderr


def test_longest_first_and_balanced_shards():
    tests = [TestSpec(path=f"t{i}.py", est_time=float(e)) for i, e in enumerate([5, 50, 20, 40, 10, 30])]
    assert [t.est_time for t in order_tests(tests, {})] == [50, 40, 30, 20, 10, 5]
    # history beats est_time
    assert order_tests(tests, {"t0.py": 100})[0].path == "t0.py"
    shards = [shard_tests(tests, (i, 3), {}) for i in (1, 2, 3)]
    assert sorted(t.path for s in shards for t in s) == sorted(t.path for t in tests)
    loads = [sum(t.est_time for t in s) for s in shards]
    assert max(loads) - min(loads) <= 10


def test_shards_merge_into_one_sweep(tmp_path):
    plan_f = make_suite(tmp_path, sleep=0.0, repeats=2)
    plan = load_plan(plan_f)
    a = run_sweep(plan, tmp_path / "s1", shard=(1, 2), slots=2, sweep_id="S")
    b = run_sweep(plan, tmp_path / "s2", shard=(2, 2), slots=2, sweep_id="S")
    ta = {r.test for r in read_runs(a)}
    tb = {r.test for r in read_runs(b)}
    assert ta and tb and not ta & tb
    r = run_cli("merge", str(a), str(b), "-o", str(tmp_path / "m"))
    assert r.returncode == 0, r.stderr
    merged = read_runs(tmp_path / "m")
    assert len(merged) == 8
    meta = json.loads((tmp_path / "m/sweep.json").read_text())
    assert meta["sweep_id"] == "S" and meta["complete"] and meta["shard"] is None
    assert all((tmp_path / "m" / r.log).exists() for r in merged)
    # merging the same shard twice is refused, naming both places
    with pytest.raises(Exception) as e:
        merge_dirs([a, a], tmp_path / "m2")
    assert "also in" in str(e.value)


def test_store_import_idempotent_and_durations(tmp_path):
    plan = load_plan(make_suite(tmp_path, sleep=0.0, repeats=2))
    out = run_sweep(plan, tmp_path / "o", slots=2)
    st = Store(tmp_path / "s.db")
    sid = st.import_sweep(out)
    st.import_sweep(out)
    assert len(st.runs(sid)) == 8
    assert len(st.sweeps(plan="kill")) == 1
    assert set(st.durations("kill")) == {f"test_{i}.py" for i in range(4)}


def test_rerun_failed_only(tmp_path):
    plan = make_suite(tmp_path, sleep=0.0, repeats=2)
    out = tmp_path / "o"
    assert run_cli("sweep", str(plan), "--out", str(out), "--cpu", "-q").returncode == 0
    r = run_cli("rerun", str(out), "--failed", "--repeats", "2", "-q")
    assert r.returncode == 0, r.stderr
    rer = read_runs(out / "rerun-1")
    assert {x.test for x in rer} == {"test_3.py"} and len(rer) == 2


def test_run_one_streams_log(tmp_path):
    plan = make_suite(tmp_path, sleep=0.0, repeats=1)
    r = run_cli("run-one", str(plan), "test_2", "--out", str(tmp_path / "m"))
    assert r.returncode == 0, r.stderr
    assert "Compiling num tokens" in r.stdout       # streamed to the terminal
    assert "PASS test_2.py" in r.stderr
    assert run_cli("run-one", str(plan), "test_2", "--out", str(tmp_path / "m")).returncode == 0
    assert [x.attempt for x in read_runs(tmp_path / "m")] == [0, 1]


def test_test_needing_more_gpus_than_host_is_skip(tmp_path):
    from pcgbot.sweep.slots import CpuPool

    class TwoGpus(CpuPool):
        is_gpu = False

        def capacity(self):
            return 2

    text = make_suite(tmp_path, n_tests=1, sleep=0.0, repeats=2).read_text().replace(
        "{path: test_0.py, est_time: 1}", "{path: test_0.py, est_time: 1, gpus: 4}")
    plan = parse_plan(text, "p.yaml")
    out = run_sweep(plan, tmp_path / "o", pool=TwoGpus(2))
    recs = read_runs(out)
    assert [r.outcome for r in recs] == ["skip", "skip"]
    assert "needs 4 GPUs, host has 2" in recs[0].reason


def test_plan_pythonpath_puts_the_checkouts_code_first(tmp_path):
    # An installed copy of the package elsewhere must not shadow the checkout under test.
    repo = tmp_path / "repo"
    (repo / "python" / "engine").mkdir(parents=True)
    (repo / "python" / "engine" / "__init__.py").write_text("WHERE = 'checkout'\n")
    other = tmp_path / "installed" / "engine"
    other.mkdir(parents=True)
    (other / "__init__.py").write_text("WHERE = 'stale install'\n")
    (repo / "test_where.py").write_text("import engine, sys\nprint('engine from', engine.WHERE)\n"
                                        "sys.exit(engine.WHERE != 'checkout')\n")
    plan = parse_plan(f"name: pp\nrepo: {repo}\ncommand: '{{python}} {{path}}'\nrepeats: 1\n"
                      "pythonpath: [python]\ntests: [test_where.py]\n", "pp.yaml")
    import os as _os
    old = _os.environ.get("PYTHONPATH")
    _os.environ["PYTHONPATH"] = str(other.parent)
    try:
        out = run_sweep(plan, tmp_path / "o")
    finally:
        if old is None:
            _os.environ.pop("PYTHONPATH")
        else:
            _os.environ["PYTHONPATH"] = old
    recs = read_runs(out)
    assert recs[0].outcome == "pass", (out / recs[0].log).read_text()


def test_merge_of_some_shards_is_incomplete(tmp_path):
    plan = load_plan(make_suite(tmp_path, sleep=0.0, repeats=1))
    a = run_sweep(plan, tmp_path / "s1", shard=(1, 2), sweep_id="S")
    r = run_cli("merge", str(a), "-o", str(tmp_path / "m"))
    assert r.returncode == 0 and "shard(s) 2/2 missing" in r.stderr
    assert json.loads((tmp_path / "m/sweep.json").read_text())["complete"] is False


def test_shards_split_the_same_way_whatever_the_store_holds(tmp_path):
    tests = [TestSpec(path=f"t{i}.py", est_time=float(e)) for i, e in enumerate([5, 50, 20, 40])]
    # history is only for ordering inside a shard; the split itself uses est_time
    plan = parse_plan("name: x\ntests: [a.py]\n", "x.yaml")
    plan.tests = tests
    (tmp_path / "repo").mkdir()
    for t in tests:
        (tmp_path / "repo" / t.path).write_text("")
    plan.repo = str(tmp_path / "repo")
    plan.command = "{python} {path}"
    plan.repeats = 1
    a = run_sweep(plan, tmp_path / "a", shard=(1, 2), history={"t0.py": 999})
    b = run_sweep(plan, tmp_path / "b", shard=(2, 2), history={})
    ta, tb = {r.test for r in read_runs(a)}, {r.test for r in read_runs(b)}
    assert ta | tb == {t.path for t in tests} and not ta & tb


def test_second_sweep_in_same_folder_is_refused_while_first_runs(tmp_path):
    plan = make_suite(tmp_path, n_tests=2, sleep=1.5, repeats=1)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "pcgbot", "sweep", str(plan), "--out", str(out), "--cpu", "-q"]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if (out / ".lock").exists() and (out / ".lock").read_text():
                break
            time.sleep(0.05)
        r = subprocess.run(cmd + ["--resume"], capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and "another pcgbot sweep" in r.stderr
    finally:
        p.wait(timeout=60)
    assert p.returncode == 0
    lines = _lines(out)
    assert len(lines) == 2 and all(d["outcome"] == "pass" for d in lines)


def test_sigterm_kills_runs_records_none_of_them_and_resume_finishes(tmp_path):
    plan = make_suite(tmp_path, n_tests=2, sleep=30, repeats=1)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "pcgbot", "sweep", str(plan), "--out", str(out), "--cpu",
           "--slots", "2", "-q"]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    meta_file = out / "sweep.json"
    for _ in range(100):
        if meta_file.exists() and find_marked(
                "PCGBOT_SWEEP_ID", json.loads(meta_file.read_text())["sweep_id"], prefix=True):
            break
        time.sleep(0.1)
    sid = json.loads(meta_file.read_text())["sweep_id"]
    t0 = time.monotonic()
    p.send_signal(signal.SIGTERM)
    err = p.communicate(timeout=30)[1]
    assert time.monotonic() - t0 < 15
    assert p.returncode == 143 and "interrupted by SIGTERM" in err and "Traceback" not in err
    assert not (out / "runs.jsonl").exists() or _lines(out) == []   # killed runs not recorded
    assert find_marked("PCGBOT_SWEEP_ID", sid, prefix=True) == []


def test_missing_test_file_is_skip_not_fail(tmp_path):
    plan_f = make_suite(tmp_path, n_tests=1, sleep=0.0, repeats=1)
    text = plan_f.read_text().replace("tests:\n", "tests:\n  - {path: test_gone.py}\n")
    plan = parse_plan(text, "p.yaml")
    recs = {r.test: r for r in read_runs(run_sweep(plan, tmp_path / "o"))}
    assert recs["test_gone.py"].outcome == "skip"
    assert "not in this checkout" in recs["test_gone.py"].reason
    assert recs["test_0.py"].outcome == "pass"


def test_resume_refuses_a_moved_checkout(tmp_path):
    plan_f = make_suite(tmp_path, n_tests=1, sleep=0.0, repeats=1)
    repo = tmp_path / "repo"
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run(git + ["commit", "-q", "--allow-empty", "-m", "1"], cwd=repo, check=True)
    out = tmp_path / "o"
    run_sweep(load_plan(plan_f), out)
    subprocess.run(git + ["commit", "-q", "--allow-empty", "-m", "2"], cwd=repo, check=True)
    r = run_cli("sweep", str(plan_f), "--out", str(out), "--resume", "--cpu")
    assert r.returncode == 2 and "commit: the sweep is of" in r.stderr
