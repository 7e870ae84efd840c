"""Sweep -> store -> analyze (diff + signatures + triage) and adaptive repeats, on real runs."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from conftest import run_cli
from pcgbot.analysis.pipeline import analyze
from pcgbot.plan.schema import load_plan
from pcgbot.sweep.pools import SweepPolicy, adaptive_setup
from pcgbot.results.store import Store
from pcgbot.sweep.sweep import read_runs, run_sweep

# Both broken tests hit the same engine bug (same function, same error): one signature.
ENGINE = ("def all_reduce(x):\n"
          "    raise RuntimeError('CUDA error: an illegal memory access was encountered')\n")
BROKEN = ("import engine\n"
          "print('Compiling num tokens (num_tokens=4)')\n"
          "engine.all_reduce(1)\n")


def make_repo(tmp: Path) -> Path:
    repo = tmp / "repo"
    (repo / "t").mkdir(parents=True)
    for name in ("test_ok", "test_breaks", "test_other"):
        (repo / "t" / f"{name}.py").write_text("print('Compiling num tokens (num_tokens=4)')\n")
    (repo / "t" / "engine.py").write_text(ENGINE)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "1",
                    "--allow-empty"], cwd=repo, check=True)
    subprocess.run(["git", "add", "."], cwd=repo, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "2"],
                   cwd=repo, check=True)
    plan = tmp / "plan.yaml"
    plan.write_text(f"name: pipe\nrepo: {repo}\nworkdir: t\ncommand: '{{python}} {{path}}'\n"
                    "timeout: 30\nrepeats: 4\n"
                    "modes:\n  pcg: {server_args: {cuda_graph_backend_prefill: tc_piecewise}}\n"
                    "  nopcg: {server_args: {cuda_graph_backend_prefill: disabled}}\n"
                    "tests: [test_ok.py, test_breaks.py, test_other.py]\n")
    return plan


def commit_all(repo: Path, msg: str) -> None:
    subprocess.run(["git", "add", "."], cwd=repo, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", msg],
                   cwd=repo, check=True)


def test_analyze_groups_regression_by_signature(tmp_path):
    plan_f = make_repo(tmp_path)
    plan = load_plan(plan_f)
    repo = tmp_path / "repo"
    store = Store(tmp_path / "s.db")
    base = run_sweep(plan, tmp_path / "base", slots=2)
    store.import_sweep(base)
    (repo / "t" / "engine.py").write_text(ENGINE)
    (repo / "t" / "test_breaks.py").write_text(BROKEN)
    (repo / "t" / "test_other.py").write_text(BROKEN)   # same bug hits a second test
    commit_all(repo, "3 break")
    head = run_sweep(plan, tmp_path / "head", slots=2)
    data = analyze(head, baseline="auto", store=store, plan=plan)
    assert data["baseline"]["commit"] != data["sweep"]["commit"]
    verdicts = {t["test"]: t["verdict"] for t in data["tests"]}
    assert verdicts == {"test_ok.py": "unchanged", "test_breaks.py": "regression",
                        "test_other.py": "regression"}
    assert len(data["signatures"]) == 1
    sig = data["signatures"][0]
    assert {t["test"] for t in sig["tests"]} == {"test_breaks.py", "test_other.py"}
    assert "illegal memory access" in sig["title"]
    assert sig["reproduce"].startswith("pcgbot run-one ") and "--mode pcg" in sig["reproduce"]
    assert data["healthy_tests"] == ["test_ok.py"]
    assert data["totals"]["regressions"] == 2
    on_disk = json.loads((head / "analysis.json").read_text())
    assert on_disk["signatures"][0]["fingerprint"] == sig["fingerprint"]


def test_analyze_differential_marks_pcg_specific(tmp_path):
    plan_f = make_repo(tmp_path)
    plan = load_plan(plan_f)
    repo = tmp_path / "repo"
    (repo / "t" / "test_breaks.py").write_text(
        "import os, json\n"
        "if 'tc_piecewise' in os.environ.get('PCGBOT_SERVER_ARGS', ''):\n"
        "    print('Compiling num tokens (num_tokens=4)')\n"
        "    raise RuntimeError('CUDA error: an illegal memory access was encountered')\n")
    commit_all(repo, "3 pcg-only break")
    head = run_sweep(plan, tmp_path / "head", slots=2, repeats=2)
    data = analyze(head, baseline=None, plan=plan, differential=True, store=Store(tmp_path / "s.db"))
    sig = data["signatures"][0]
    assert sig["pcg_specific"] is True and sig["category"] == "pcg-bug"
    cats = {t["test"]: t["category"] for t in data["tests"]}
    assert cats["test_breaks.py"] == "pcg-bug"


def test_analyze_cli_attaches_culprit(tmp_path):
    plan_f = make_repo(tmp_path)
    plan = load_plan(plan_f)
    repo = tmp_path / "repo"
    base = run_sweep(plan, tmp_path / "base", slots=2, repeats=2)
    (repo / "t" / "test_breaks.py").write_text(BROKEN)
    commit_all(repo, "3 break")
    head = run_sweep(plan, tmp_path / "head", slots=2, repeats=2)
    culprit = tmp_path / "bisect.json"
    culprit.write_text(json.dumps({"test": "test_breaks.py", "status": "found", "sha": "abc123",
                                   "subject": "3 break", "author": "t", "confidence": 0.99,
                                   "evidence": []}))
    r = run_cli("analyze", str(head), "--baseline", str(base), "--culprit", str(culprit))
    assert r.returncode == 0, r.stderr
    assert "regression" in r.stdout and "illegal memory access" in r.stdout
    data = json.loads((head / "analysis.json").read_text())
    assert data["signatures"][0]["culprit"]["sha"] == "abc123"


def test_adaptive_sweep_spends_fewer_runs_and_still_catches_the_break(tmp_path):
    plan_f = make_repo(tmp_path)
    plan = load_plan(plan_f)
    repo = tmp_path / "repo"
    store_path = str(tmp_path / "s.db")
    store = Store(store_path)
    base = run_sweep(plan, tmp_path / "base", slots=2, repeats=10)
    store.import_sweep(base)
    (repo / "t" / "test_breaks.py").write_text(BROKEN)
    commit_all(repo, "3 break")
    policy, counts = adaptive_setup(None, plan, "pcg", None, store_path, 10)
    assert isinstance(policy, SweepPolicy) and counts["test_ok.py"] == (10, 10)
    head = run_sweep(plan, tmp_path / "head", slots=2, repeats=10, adaptive=policy,
                     baseline=counts)
    runs = read_runs(head)
    per = {t: sum(1 for r in runs if r.test == t) for t in ("test_ok.py", "test_breaks.py")}
    assert per["test_ok.py"] < 10 and per["test_breaks.py"] < 10, per
    data = analyze(head, baseline="auto", store=store, plan=plan)
    verdicts = {t["test"]: t["verdict"] for t in data["tests"]}
    assert verdicts["test_breaks.py"] == "regression" and verdicts["test_ok.py"] == "unchanged"


def test_no_baseline_means_fixed_repeats(tmp_path):
    plan = load_plan(make_repo(tmp_path))
    assert adaptive_setup(None, plan, "pcg", None, str(tmp_path / "empty.db"), 4) == (None, None)


def test_partial_sweep_never_becomes_the_baseline(tmp_path):
    plan_f = make_repo(tmp_path)
    plan = load_plan(plan_f)
    repo = tmp_path / "repo"
    store = Store(tmp_path / "s.db")
    full = run_sweep(plan, tmp_path / "full", slots=2, repeats=4)
    store.import_sweep(full)
    commit_all(repo, "3 docs") if (repo / "t" / "note.txt").write_text("x") else None
    part = run_sweep(plan, tmp_path / "part", repeats=4, tests=[plan.find_test("test_ok")])
    store.import_sweep(part)
    (repo / "t" / "test_breaks.py").write_text(BROKEN)
    commit_all(repo, "4 break")
    head = run_sweep(plan, tmp_path / "head", slots=2, repeats=4)
    data = analyze(head, baseline="auto", store=store, plan=plan)
    assert data["baseline"]["sweep_id"] == json.loads((full / "sweep.json").read_text())["sweep_id"]
    assert {t["test"]: t["verdict"] for t in data["tests"]}["test_breaks.py"] == "regression"


def test_pr_sweep_is_compared_with_its_target_branch(tmp_path, monkeypatch):
    plan_f = make_repo(tmp_path)
    plan = load_plan(plan_f)
    repo = tmp_path / "repo"
    store = Store(tmp_path / "s.db")
    store.import_sweep(run_sweep(plan, tmp_path / "main", slots=2, repeats=4))
    (repo / "t" / "test_breaks.py").write_text(BROKEN)
    commit_all(repo, "3 pr")
    monkeypatch.setenv("GITHUB_REF_NAME", "12/merge")
    monkeypatch.setenv("GITHUB_HEAD_REF", "feature")
    monkeypatch.setenv("GITHUB_BASE_REF", "main")
    head = run_sweep(plan, tmp_path / "pr", slots=2, repeats=4)
    meta = json.loads((head / "sweep.json").read_text())
    assert meta["branch"] == "feature" and meta["base_branch"] == "main"
    data = analyze(head, baseline="auto", store=store, plan=plan)
    assert data["baseline"] is not None
    assert {t["test"]: t["verdict"] for t in data["tests"]}["test_breaks.py"] == "regression"


def test_culprit_with_several_signatures_attaches_to_each_of_them():
    from pcgbot.analysis.pipeline import attach_culprit
    groups = [{"fingerprint": fp, "tests": [{"test": "t.py"}], "culprit": None, "fix": None}
              for fp in ("aaa", "bbb", "ccc")]
    groups[2]["culprit"] = {"sha": "old"}      # another bug's culprit stays where it is
    assert attach_culprit(groups, {"test": "t.py", "signature": "bbb,aaa", "sha": "c1"})
    assert [g["culprit"]["sha"] for g in groups] == ["c1", "c1", "old"]
    assert not attach_culprit(groups, {"test": "u.py", "signature": "aaa", "sha": "c2"})


def test_bisect_targets_one_per_signature_biggest_first_capped():
    from pcgbot.analysis.pipeline import bisect_targets

    def t(test, sig, cur, cat="pcg-bug", verdict="regression"):
        return {"test": test, "signature": sig, "baseline": [10, 10], "current": [cur, 10],
                "category": cat, "verdict": verdict}
    a = {"tests": [t("a1.py", "aaa", 6), t("a2.py", "aaa", 0), t("a3.py", "aaa", 3),
                   t("b.py", "bbb", 5), t("c.py", None, 7), t("d.py", "ddd", 0, cat="infra"),
                   t("e.py", "eee", 10, verdict="unchanged")]}
    targets, skipped = bisect_targets(a, limit=8)
    # one per signature, the steepest drop of the group, biggest group first
    assert targets == [{"test": "a2.py", "signature": "aaa", "tests": 3},
                       {"test": "b.py", "signature": "bbb", "tests": 1}]
    assert any(x.startswith("c.py: no failure signature") for x in skipped)
    assert "d.py: infra (the host, not a commit)" in skipped
    assert "a1.py: same signature as a2.py, bisected once" in skipped
    targets, skipped = bisect_targets(a, limit=1)
    assert [x["test"] for x in targets] == ["a2.py"]
    assert "b.py: over the limit of 1 bisections per sweep" in skipped
    assert not any("a1.py: over" in s for s in skipped)
    # a mode broken for every test: still at most `limit` dispatches
    many = {"tests": [t(f"t{i}.py", f"s{i % 40}", 0) for i in range(367)]}
    assert len(bisect_targets(many, limit=8)[0]) == 8
