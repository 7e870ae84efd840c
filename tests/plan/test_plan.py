"""Plan loading and validation: every error is one FILE:LINE: key: problem line, exit 2."""

from __future__ import annotations

import pytest

from conftest import ROOT, run_cli
from pcgbot.errors import UsageError
from pcgbot.plan.schema import load_plan, parse_plan

GOOD = """\
name: demo
repo: .
workdir: test
command: "python3 {path} -f"
timeout: 1200
repeats: 10
setup: "pip install -e python"
modes:
  pcg:   {env: {A: "1"}, server_args: {cuda_graph_backend_prefill: tc_piecewise}}
  nopcg: {env: {}, server_args: {cuda_graph_backend_prefill: disabled}}
default_mode: pcg
tests:
  - {path: registered/models/test_embedding_models.py, gpus: 1, suite: s1, est_time: 300}
  - {path: registered/lora/test_lora_tp.py, gpus: 2, suite: s2, est_time: 100}
  - {path: registered/unit/test_cpu_only.py, gpus: 0}
"""


def test_good_plan_loads_with_defaults():
    p = parse_plan(GOOD, "good.yaml")
    assert p.name == "demo" and p.timeout == 1200 and p.repeats == 10
    assert p.modes["pcg"].server_args == {"cuda_graph_backend_prefill": "tc_piecewise"}
    assert [t.gpus for t in p.tests] == [1, 2, 0]
    assert p.tests[2].est_time == 60.0
    assert p.find_test("test_embedding_models").path.endswith("test_embedding_models.py")
    assert p.find_test("lora/test_lora_tp.py").gpus == 2


def test_ambiguous_short_name_lists_candidates():
    text = GOOD + "  - {path: other/test_lora_tp.py}\n"
    p = parse_plan(text, "x.yaml")
    with pytest.raises(UsageError) as e:
        p.find_test("test_lora_tp")
    assert "ambiguous" in str(e.value)
    assert "registered/lora/test_lora_tp.py" in str(e.value) and "other/test_lora_tp.py" in str(e.value)


@pytest.mark.parametrize("mutation, expected", [
    (lambda t: t.replace("repeats: 10", "repeats: [10"), "bad.yaml:"),
    (lambda t: t.replace("repeats: 10", "repeats: 10\ncolour: red"), "bad.yaml:7: colour: unknown key"),
    (lambda t: t.replace("timeout: 1200", "timeout: fast"), "bad.yaml:5: timeout: must be a number"),
    (lambda t: t.replace("timeout: 1200", "timeout: -5"), "bad.yaml:5: timeout: must be > 0"),
    (lambda t: t.replace("{path: registered/unit/test_cpu_only.py, gpus: 0}", "{gpus: 0}"),
     "bad.yaml:15: tests[2].path: missing"),
    (lambda t: t.replace("registered/unit/test_cpu_only.py", "registered/lora/test_lora_tp.py"),
     "bad.yaml:15: tests[2].path: duplicate test"),
    (lambda t: t.replace("gpus: 2", "gpus: two"), "bad.yaml:14: tests[1].gpus: must be an integer"),
    (lambda t: t.replace("default_mode: pcg", "default_mode: turbo"), "bad.yaml:11: default_mode:"),
    (lambda t: t.replace("est_time: 100", "est_time: 100, colour: 1"), "bad.yaml:14: tests[1].colour: unknown key"),
])
def test_malformed_plan_one_clear_line(tmp_path, mutation, expected):
    f = tmp_path / "bad.yaml"
    f.write_text(mutation(GOOD))
    with pytest.raises(UsageError) as e:
        load_plan(f)
    msg = str(e.value)
    assert str(f).replace(str(tmp_path) + "/", "") in msg
    line = msg.splitlines()[0].replace(str(tmp_path) + "/", "")
    assert line.startswith(expected), line


def test_every_error_reported_at_once():
    text = GOOD.replace("timeout: 1200", "timeout: -1").replace("gpus: 2", "gpus: -2")
    with pytest.raises(UsageError) as e:
        parse_plan(text, "p.yaml")
    lines = str(e.value).splitlines()
    assert len(lines) == 2 and lines[0].startswith("p.yaml:5: timeout") and \
        lines[1].startswith("p.yaml:14: tests[1].gpus")


def test_cli_validate_exit_2_no_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("timeout: 1200", "timeout: -1"))
    r = run_cli("plan", "validate", str(bad), str(ROOT / "plans/sglang-1gpu.yaml"))
    assert r.returncode == 2
    assert f"{bad}:5: timeout: must be > 0" in r.stderr
    assert "Traceback" not in r.stderr + r.stdout


def test_cli_sweep_on_bad_yaml_is_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ntests: [\n")
    r = run_cli("sweep", str(bad), "--out", str(tmp_path / "o"))
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "bad.yaml:" in r.stderr and "yaml" in r.stderr
    assert "Traceback" not in r.stderr


def test_shipped_plans_are_valid_and_sized():
    sizes = {}
    for n in (1, 2, 4):
        p = load_plan(ROOT / f"plans/sglang-{n}gpu.yaml")
        assert all(t.gpus == n for t in p.tests)
        assert set(p.modes) == {"pcg", "nopcg"}
        sizes[n] = (len(p.tests), sum(t.est_time for t in p.tests))
    # the 1-GPU per-commit suites: 367 files, about 7.7 hours per repeat
    assert sizes[1][0] == 367 and 7.6 * 3600 < sizes[1][1] < 7.8 * 3600


def test_plan_list_and_select(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text(GOOD)
    r = run_cli("plan", "list", str(f), "--tests", "*lora*")
    assert r.returncode == 0, r.stderr
    assert "test_lora_tp.py" in r.stdout and "test_embedding_models" not in r.stdout


@pytest.mark.parametrize("text, expected", [
    ("name: x\ntimeout: !!int abc\ntests: [a.py]\n", "p.yaml:2: timeout: bad value"),
    ("name: x\ntests:\n  - {path: a.py, gpus: !!int abc}\n", "p.yaml:3: tests[0].gpus: bad value"),
    ("name: x\n? [x]\n: 1\ntests: [a.py]\n", "p.yaml:2: plan: keys must be plain names"),
    ("name: x\ncommand: 'python3 {path} {nope}'\ntests: [a.py]\n",
     "p.yaml:2: command: unknown placeholder 'nope'"),
    ("name: x\ncommand: 'python3 {path} \"open'\ntests: [a.py]\n",
     "p.yaml:2: command: cannot be split"),
    ("name: x\nsetup_key: [1]\ntests: [a.py]\n", "p.yaml:2: setup_key: must be a list"),
    ("name: x\nunlikely_culprits: [docs/*, 3]\ntests: [a.py]\n",
     "p.yaml:2: unlikely_culprits: must be a list of path globs"),
    ("name: x\nunlikely_culprits: [./docs/*]\ntests: [a.py]\n",
     "p.yaml:2: unlikely_culprits: './docs/*' never matches"),
    ("name: x\nunlikely_culprits: [docs/]\ntests: [a.py]\n",
     "p.yaml:2: unlikely_culprits: 'docs/' never matches"),
    ("name: x\nmodes:\n  pcg: {env: !!int zz}\ntests: [a.py]\n", "p.yaml:3: modes.pcg.env: bad value"),
])
def test_hostile_yaml_is_one_line_not_a_traceback(text, expected):
    with pytest.raises(UsageError) as e:
        parse_plan(text, "p.yaml")
    assert str(e.value).splitlines()[0].startswith(expected), str(e.value)


def test_non_utf8_plan(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_bytes(b"name: x\ntests: [a\xff.py]\n")
    with pytest.raises(UsageError) as e:
        load_plan(f)
    assert str(e.value).endswith("p.yaml:2: plan: not UTF-8 text (byte 17)")
