"""Cost estimates: exact numbers on small plans, the CLI, and the real 1-GPU SGLang plan."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from pcgbot.cli.main import cli
from pcgbot.results.cost import ADAPTIVE_FACTOR, estimate
from pcgbot.errors import UsageError
from pcgbot.plan.schema import parse_plan

REPO = Path(__file__).resolve().parents[2]
TSV = Path("/work/shared/data/sglang_suites.tsv")


def _plan(tests: list[tuple[str, int, float]], repeats: int = 10, timeout: int = 1200):
    body = "\n".join(f"  - {{path: {p}, gpus: {g}, est_time: {e}}}" for p, g, e in tests)
    return parse_plan(f"name: t\nrepeats: {repeats}\ntimeout: {timeout}\ntests:\n{body}\n",
                      "t.yaml")


def test_gpu_hours_and_wall_one_runner():
    plan = _plan([("a.py", 1, 3600), ("b.py", 1, 1800), ("c.py", 2, 900)], repeats=2,
                 timeout=7200)
    est = estimate(plan, gpus=2)
    # GPU-seconds per repeat: 3600 + 1800 + 2*900 = 7200 -> 2 GPU-h per repeat, 4 at 2 repeats.
    assert est.gpu_hours_per_repeat == pytest.approx(2.0)
    assert est.gpu_hours == pytest.approx(4.0)
    assert est.runs == 6
    # The 2-GPU test needs both GPUs; the lower bound is 4 GPU-h / 2 GPUs = 2 h and a list
    # schedule on 2 GPUs reaches it (a,a on one GPU; b,b + c,c on the other side by side).
    assert est.wall_lower_bound_hours == pytest.approx(2.0)
    assert est.wall_hours >= est.wall_lower_bound_hours
    assert est.wall_hours <= 2.5


def test_more_runners_cut_wall_not_gpu_hours():
    plan = _plan([(f"t{i}.py", 1, 600 + 60 * i) for i in range(40)])
    one = estimate(plan, gpus=1, runners=1)
    four = estimate(plan, gpus=1, runners=4)
    assert one.gpu_hours == pytest.approx(four.gpu_hours)
    assert one.wall_hours == pytest.approx(one.gpu_hours)        # a single GPU runs serially
    assert four.wall_hours < one.wall_hours / 3.5
    assert four.wall_hours >= four.wall_lower_bound_hours - 1e-9
    assert len(four.per_runner_hours) == 4


def test_timeout_caps_duration_and_too_big_tests_are_listed():
    plan = _plan([("slow.py", 1, 5000), ("big.py", 4, 100)], repeats=1, timeout=1200)
    est = estimate(plan, gpus=2)
    assert est.gpu_hours == pytest.approx(1200 / 3600)
    assert est.too_big == ["big.py"]
    assert est.tests == 1


def test_adaptive_runs_stable_tests_a_third_and_flaky_in_full():
    plan = _plan([("s.py", 1, 360), ("f.py", 1, 360)], repeats=10)
    est = estimate(plan, gpus=1, adaptive=True, flaky={"f.py"})
    stable = math.ceil(10 / ADAPTIVE_FACTOR)
    assert est.runs == stable + 10
    assert est.gpu_hours == pytest.approx((stable + 10) * 0.1)
    assert est.flaky_tests == 1
    assert any("adaptive" in a for a in est.assumptions)


def test_history_durations_override_est_time():
    plan = _plan([("a.py", 1, 100), ("b.py", 1, 100)], repeats=1, timeout=7200)
    est = estimate(plan, gpus=1, durations={"a.py": 3600})
    assert est.gpu_hours == pytest.approx((3600 + 100) / 3600)
    assert (est.durations_from_store, est.durations_from_plan) == (1, 1)


@pytest.mark.parametrize("kw", [{"gpus": 0}, {"gpus": 1, "runners": 0},
                                {"gpus": 1, "repeats": 0}])
def test_bad_pool_is_a_usage_error(kw):
    with pytest.raises(UsageError):
        estimate(_plan([("a.py", 1, 1)]), **kw)


def test_cli_text_and_json(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)     # no .pcgbot/ here: the estimate must not create a store
    monkeypatch.delenv("PCGBOT_STORE", raising=False)
    p = tmp_path / "p.yaml"
    p.write_text("name: demo\nrepeats: 10\ntests:\n"
                 "  - {path: a.py, gpus: 1, est_time: 1080}\n"
                 "  - {path: b.py, gpus: 1, est_time: 1080}\n")
    r = CliRunner().invoke(cli, ["plan", "cost", str(p), "--gpus", "1", "--runners", "2",
                                 "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["gpu_hours"] == pytest.approx(6.0)
    assert d["wall_hours"] == pytest.approx(3.0)
    assert "no store" in d["source"]
    r = CliRunner().invoke(cli, ["plan", "cost", str(p), "--gpus", "1", "--adaptive"])
    assert r.exit_code == 0, r.output
    assert "GPU-hours per repeat" in r.output and "adaptive" in r.output
    assert not (tmp_path / ".pcgbot").exists()


def test_cli_missing_store_is_one_line_error(tmp_path):
    from pcgbot.cli.main import main
    p = tmp_path / "p.yaml"
    p.write_text("name: demo\ntests: [a.py]\n")
    assert main(["plan", "cost", str(p), "--gpus", "1", "--store", str(tmp_path / "no.db")]) == 2


def _sglang_1gpu_plan():
    """The lead's plans/sglang-1gpu.yaml when it exists, else the same 367 rows from the TSV."""
    from pcgbot.plan.schema import load_plan
    if (REPO / "plans" / "sglang-1gpu.yaml").is_file():
        return load_plan(REPO / "plans" / "sglang-1gpu.yaml")
    if not TSV.is_file():
        pytest.skip("neither plans/sglang-1gpu.yaml nor the SGLang suite TSV is present")
    rows = [r for r in csv.DictReader(TSV.open(), delimiter="\t")
            if r["backend"] == "cuda" and r["gpus"] == "1" and not r["disabled"]
            and r["nightly"] == "false" and r["suite"].startswith("base-")]
    return _plan([(r["path"], 1, float(r["est_time_s"])) for r in rows])


def test_sglang_1gpu_plan_is_about_77_gpu_hours_at_10_repeats():
    plan = _sglang_1gpu_plan()
    est = estimate(plan, gpus=1, repeats=10)
    # SGLANG_FACTS: 367 per-commit 1-GPU files, est_time sum ~7.7 h.
    assert 300 <= est.tests <= 450
    assert 6.5 <= est.gpu_hours_per_repeat <= 9.0
    assert est.gpu_hours == pytest.approx(10 * est.gpu_hours_per_repeat)
    assert estimate(plan, gpus=1, repeats=10, adaptive=True).gpu_hours < est.gpu_hours / 2.5


def _sweep_dir(root: Path, sid: str, started: str, runs: list[tuple[str, str, float]]) -> Path:
    """A sweep folder as `pcgbot sweep` writes it (sweep.json + runs.jsonl)."""
    from pcgbot.model import RunRecord
    d = root / sid
    d.mkdir(parents=True)
    (d / "sweep.json").write_text(json.dumps({
        "sweep_id": sid, "plan": "hist", "plan_file": "p.yaml", "mode": "pcg", "commit": "c" * 40,
        "branch": "main", "started_at": started, "finished_at": started, "complete": True,
        "repeats": 2, "host": "h", "shard": None, "tests": ["a.py", "b.py"]}))
    recs = [RunRecord(test=t, attempt=i, mode="pcg", outcome=o, exit_code=0 if o == "pass" else 1,
                      duration_s=s, commit="c" * 40, log=None, started_at=started, plan="hist")
            for i, (t, o, s) in enumerate(runs)]
    (d / "runs.jsonl").write_text("".join(r.to_json() + "\n" for r in recs))
    return d


def test_store_history_gives_durations_and_flaky_tests(tmp_path, monkeypatch):
    from pcgbot.results.cost import history
    from pcgbot.results.store import Store
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "h.db"
    store = Store(db)
    store.import_sweep(_sweep_dir(tmp_path, "s1", "2026-07-01T00:00:00Z",
                                  [("a.py", "pass", 3600), ("b.py", "pass", 60)]))
    store.import_sweep(_sweep_dir(tmp_path, "s2", "2026-07-02T00:00:00Z",
                                  [("a.py", "pass", 3600), ("b.py", "fail", 60)]))
    store.close()
    p = tmp_path / "p.yaml"
    p.write_text("name: hist\nrepeats: 9\ntimeout: 7200\ntests:\n"
                 "  - {path: a.py, est_time: 10}\n  - {path: b.py, est_time: 10}\n"
                 "  - {path: c.py, est_time: 360}\n")
    from pcgbot.plan.schema import load_plan
    plan = load_plan(p)
    durations, flaky, source = history(plan, str(db))
    assert durations == {"a.py": 3600.0, "b.py": 60.0}
    assert flaky == {"b.py"}
    assert "2 test(s) with history" in source
    r = CliRunner().invoke(cli, ["plan", "cost", str(p), "--gpus", "1", "--adaptive",
                                 "--store", str(db), "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    # a: 3600 s x 3 runs (stable), b: 60 s x 9 runs (flaky), c: est_time 360 s x 3 runs
    assert d["gpu_hours"] == pytest.approx((3600 * 3 + 60 * 9 + 360 * 3) / 3600)
    assert (d["durations_from_store"], d["durations_from_plan"], d["flaky_tests"]) == (2, 1, 1)


def test_inert_tests_run_once_and_plan_key_opts_out(tmp_path):
    from pcgbot.plan.schema import parse_plan
    from pcgbot.results.cost import estimate

    plan = parse_plan("name: p\nrepeats: 9\ntests:\n  - {path: a.py, est_time: 100}\n"
                      "  - {path: b.py, est_time: 200}\n"
                      "  - {path: c.py, est_time: 400, pcg_inert: false}\n", "p.yaml")
    est = estimate(plan, gpus=1, inert={"b.py", "c.py"})
    assert est.inert_tests == 1                       # c.py is kept out by its plan key
    assert est.runs == 9 + 1 + 9
    assert est.gpu_hours == pytest.approx((100 * 9 + 200 + 400 * 9) / 3600)
    assert est.gpu_hours_without_sentinels == pytest.approx(700 * 9 / 3600)


def test_cli_assume_inert(tmp_path):
    from conftest import run_cli

    plan = tmp_path / "p.yaml"
    plan.write_text("name: p\nrepeats: 10\ntests:\n  - {path: vlm/a.py, est_time: 720}\n"
                    "  - {path: b.py, est_time: 720}\n")
    r = run_cli("plan", "cost", str(plan), "--gpus", "1", "--assume-inert", "vlm/*", "--json")
    d = json.loads(r.stdout)
    assert (d["inert_tests"], d["gpu_hours"], d["gpu_hours_without_sentinels"]) == (1, 2.2, 4.0)
    r = run_cli("plan", "cost", str(plan), "--gpus", "1", "--assume-inert", "nope/*")
    assert r.returncode != 0 and "matches no test" in r.stderr and "Traceback" not in r.stderr
