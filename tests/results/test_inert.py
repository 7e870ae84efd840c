"""PCG-inert tests: real sweeps (processes, logs) into a real SQLite store decide which tests run
once as sentinels, a sentinel that sees PCG wakes up at once, and lost coverage is found."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_cli
from pcgbot.errors import UsageError
from pcgbot.plan.schema import load_plan, parse_plan
from pcgbot.results.inert import coverage_lost, inert_tests
from pcgbot.signatures.pcg import disable_reason
from pcgbot.results.store import Store
from pcgbot.results.sweepdir import read_meta, read_runs
from pcgbot.sweep.sweep import run_sweep

ON = "print('Capture target prefill CUDA graph begin. backend=tc_piecewise, num_tokens=[8]')\n"
SPEC_OFF = ("print(\"server_args=ServerArgs(model_path='m', speculative_algorithm='EAGLE', "
            "cuda_graph_backend_prefill='disabled')\")\n")
# test_flip.py: PCG runs while the file pcg_on exists in the repo, else SGLang "disabled" it
FLIP = ("import os\nif os.path.exists(os.path.join(os.path.dirname(__file__), '..', 'pcg_on')):\n"
        "    print('Compiling num tokens (num_tokens=8)')\nelse:\n"
        "    print(\"server_args=ServerArgs(model_path='m', enable_multimodal=True, "
        "cuda_graph_backend_prefill='disabled')\")\n")


def make_repo(tmp: Path, extra: str = "") -> Path:
    repo = tmp / "repo"
    (repo / "t").mkdir(parents=True)
    (repo / "t" / "test_on.py").write_text(ON)
    (repo / "t" / "test_spec.py").write_text(SPEC_OFF)
    (repo / "t" / "test_silent.py").write_text("print('no marker either way')\n")
    (repo / "t" / "test_flip.py").write_text(FLIP)
    plan = tmp / "plan.yaml"
    plan.write_text(f"name: inert\nrepo: {repo}\nworkdir: t\ncommand: '{{python}} {{path}}'\n"
                    "timeout: 30\nrepeats: 2\n"
                    "modes: {pcg: {server_args: {cuda_graph_backend_prefill: tc_piecewise}},"
                    " nopcg: {}}\ndefault_mode: pcg\n"
                    "pcg_inert: {sweeps: 2, min_runs: 2}\n" + extra +
                    "tests:\n  - {path: test_on.py}\n  - {path: test_spec.py}\n"
                    "  - {path: test_silent.py}\n  - {path: test_flip.py}\n")
    return plan


def sweep_into(store: Store, plan, out: Path, **kw) -> Path:
    run_sweep(plan, out, slots=4, **kw)
    store.import_sweep(out)
    return out


def test_inert_after_window_sentinel_runs_once_and_wakes(tmp_path):
    plan = load_plan(make_repo(tmp_path))
    store = Store(tmp_path / "db.sqlite")
    sweep_into(store, plan, tmp_path / "s1")
    assert inert_tests(store, plan, "pcg") == {}          # one sweep is not a window of 2
    sweep_into(store, plan, tmp_path / "s2")
    inert = inert_tests(store, plan, "pcg")
    # test_silent's log says nothing (pcg_active None): never inert; test_on ran PCG
    assert sorted(inert) == ["test_flip.py", "test_spec.py"]
    assert inert["test_spec.py"].runs == 4 and len(inert["test_spec.py"].sweeps) == 2
    assert inert["test_spec.py"].reason == "speculative decoding"
    assert "speculative_algorithm='EAGLE'" in inert["test_spec.py"].line
    assert inert["test_flip.py"].reason == "multimodal"
    assert inert_tests(store, plan, "nopcg") == {}        # the rule applies to PCG modes only

    (plan.repo_path() / "pcg_on").write_text("")          # SGLang's auto-disable logic changed
    out = sweep_into(store, plan, tmp_path / "s3", sentinels=set(inert))
    runs = read_runs(out)
    per = {t: sorted(r.attempt for r in runs if r.test == t) for t in {r.test for r in runs}}
    assert per["test_spec.py"] == [0]                     # the sentinel's one run
    assert per["test_flip.py"] == [0, 1]                  # woke up: its full repeats, same sweep
    assert per["test_on.py"] == [0, 1]
    meta = read_meta(out)
    assert meta["sentinels"] == ["test_flip.py", "test_spec.py"]
    assert meta["sentinels_woken"] == ["test_flip.py"]
    # the store now sees PCG active in test_flip's newest sweep: inert status ended
    assert sorted(inert_tests(store, plan, "pcg")) == ["test_spec.py"]
    # and one sentinel run per sweep keeps test_spec inert (min_runs <= sweeps)
    sweep_into(store, plan, tmp_path / "s4", sentinels={"test_spec.py"})
    assert sorted(inert_tests(store, plan, "pcg")) == ["test_spec.py"]


def test_coverage_lost_when_pcg_stops_running(tmp_path):
    plan = load_plan(make_repo(tmp_path))
    store = Store(tmp_path / "db.sqlite")
    (plan.repo_path() / "pcg_on").write_text("")
    sweep_into(store, plan, tmp_path / "s1")
    (plan.repo_path() / "pcg_on").unlink()
    out = sweep_into(store, plan, tmp_path / "s2")
    sid = read_meta(out)["sweep_id"]
    lost = coverage_lost(store, plan, sid)
    assert [(x.test, x.reason) for x in lost] == [("test_flip.py", "multimodal")]
    assert lost[0].was_active_in == read_meta(tmp_path / "s1")["sweep_id"]
    # test_spec was off in both sweeps: never covered, nothing lost
    first = read_meta(tmp_path / "s1")["sweep_id"]
    assert coverage_lost(store, plan, first) == []


def test_plan_key_keeps_a_test_out_and_rule_off(tmp_path):
    path = make_repo(tmp_path)
    text = path.read_text().replace("{path: test_spec.py}",
                                    "{path: test_spec.py, pcg_inert: false}")
    plan = parse_plan(text, str(path))
    store = Store(tmp_path / "db.sqlite")
    for i in (1, 2):
        sweep_into(store, plan, tmp_path / f"s{i}")
    assert sorted(inert_tests(store, plan, "pcg")) == ["test_flip.py"]
    off = parse_plan(text.replace("pcg_inert: {sweeps: 2, min_runs: 2}", "pcg_inert: false"),
                     str(path))
    assert inert_tests(store, off, "pcg") == {}


def test_plan_keys_validated_with_line(tmp_path):
    base = "name: p\ntests:\n  - {path: a.py, pcg_inert: maybe}\n"
    with pytest.raises(UsageError) as e:
        parse_plan("pcg_inert: {sweeps: 2, min_runs: 5, modes: [nope], x: 1}\n" + base, "p.yaml")
    lines = str(e.value).splitlines()
    assert any(l.startswith("p.yaml:1: pcg_inert.min_runs: must be <= sweeps (2)") for l in lines)
    assert any(l.startswith("p.yaml:1: pcg_inert.x: unknown key") for l in lines)
    assert any(l.startswith("p.yaml:1: pcg_inert.modes: 'nope' is not a mode") for l in lines)
    assert any(l.startswith("p.yaml:4: tests[0].pcg_inert: must be true or false") for l in lines)
    plan = parse_plan("name: p\ntests: [a.py]\n", "p.yaml")
    assert (plan.pcg_inert.sweeps, plan.pcg_inert.min_runs, plan.pcg_inert.enabled) == (3, 3, True)


def test_disable_reason_names_the_cause(tmp_path):
    cases = {
        "Disable prefill CUDA graph for EAGLE target on tc_piecewise": "speculative decoding",
        "Disable prefill CUDA graph because the model is not a language model": "multimodal",
        "Disable prefill CUDA graph because some layers do not apply Standard GQA":
            "model architecture",
        "server_args=ServerArgs(device='npu', cuda_graph_backend_prefill='disabled')": "platform",
        "server_args=ServerArgs(lora_paths=['a'], x=1)": "configuration",
    }
    for i, (line, want) in enumerate(cases.items()):
        log = tmp_path / f"{i}.log"
        log.write_text(f"INFO start\n{line}\nINFO done\n")
        assert disable_reason(log)[0] == want, line
    quiet = tmp_path / "q.log"
    quiet.write_text("INFO nothing here\n")
    assert disable_reason(quiet) is None
    assert disable_reason(tmp_path / "missing.log") is None


def test_cli_sweep_uses_sentinels_from_store(tmp_path):
    plan = make_repo(tmp_path)
    db = str(tmp_path / "db.sqlite")
    for i in (1, 2):
        r = run_cli("sweep", str(plan), "--out", str(tmp_path / f"s{i}"), "--store", db, "-q",
                    "--cpu", "--no-adaptive")
        assert r.returncode in (0, 1), r.stderr
    r = run_cli("sweep", str(plan), "--out", str(tmp_path / "s3"), "--store", db, "-q",
                "--cpu", "--no-adaptive")
    assert "pcg-inert: 2 test(s) run once as sentinels" in r.stderr, r.stderr
    meta = json.loads((tmp_path / "s3" / "sweep.json").read_text())
    assert meta["sentinels"] == ["test_flip.py", "test_spec.py"]
    r = run_cli("sweep", str(plan), "--out", str(tmp_path / "s4"), "--store", db, "-q",
                "--cpu", "--no-adaptive", "--no-sentinels")
    assert "sentinels" not in json.loads((tmp_path / "s4" / "sweep.json").read_text())


def test_shards_and_their_merge_count_as_one_sweep(tmp_path):
    from pcgbot.results.sweepdir import merge_dirs

    plan = load_plan(make_repo(tmp_path))
    store = Store(tmp_path / "db.sqlite")
    for i in (1, 2):
        run_sweep(plan, tmp_path / f"sh{i}", slots=2, shard=(i, 2), sweep_id="one")
        store.import_sweep(tmp_path / f"sh{i}")
    merge_dirs([tmp_path / "sh1", tmp_path / "sh2"], tmp_path / "merged")
    store.import_sweep(tmp_path / "merged")
    assert len(store.sweeps(plan="inert")) == 3
    assert inert_tests(store, plan, "pcg") == {}          # one sweep, not a window of 2
    sweep_into(store, plan, tmp_path / "s2")
    assert sorted(inert_tests(store, plan, "pcg")) == ["test_flip.py", "test_spec.py"]
