"""The demo repository (planted bugs behave as documented under real mode injection) and
``pcgbot demo`` end to end."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import run_cli
from browser import CHROMIUM, DOCS_IMAGE, chromium
from pcgbot.demo.run import leaked_port
from pcgbot.demo.repo import (EMBEDDING, PORT, RETRACT, STOP, TOKENIZER, build_demo_repo)
from pcgbot.plan.schema import load_plan
from pcgbot.sweep.sweep import run_one


def _git(repo: str, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_repo_history_is_deterministic_and_plants_culprits(tmp_path):
    a = build_demo_repo(tmp_path / "a")
    b = build_demo_repo(tmp_path / "b")
    assert a["commits"] == b["commits"]               # same shas on every machine
    assert 20 <= len(a["commits"]) <= 40
    assert _git(a["repo"], "rev-list", "--count", "HEAD") == str(len(a["commits"]))
    assert a["head"] == _git(a["repo"], "rev-parse", "HEAD")
    order = a["commits"]
    base = order.index(a["baseline"])
    for test, sha in a["culprits"].items():
        assert base < order.index(sha) < len(order) - 1, test
        assert _git(a["repo"], "show", "--stat", "--format=", sha).count("tinyengine/") == 1
    assert "piecewise" in _git(a["repo"], "log", "-1", "--format=%s", a["culprits"][EMBEDDING])
    plan = load_plan(a["plan"])
    assert str(plan.repo_path()) == a["repo"]
    assert {m: plan.mode(m).env["PCGBOT_SERVER_ARGS_MODULE"] for m in ("pcg", "nopcg")} == \
        {"pcg": "tinyengine.server_args", "nopcg": "tinyengine.server_args"}
    assert {t.path for t in plan.tests} >= {EMBEDDING, RETRACT, TOKENIZER, STOP, PORT}
    with pytest.raises(Exception, match="not empty"):
        build_demo_repo(tmp_path / "a")


def _outcomes(plan, test, mode, attempts, out, repo=None):
    spec = plan.find_test(test)
    return [run_one(plan, spec, out_dir=out, mode=mode, attempt=i, repo=repo).outcome
            for i in attempts]


def test_planted_bugs_under_real_mode_injection(tmp_path):
    info = build_demo_repo(tmp_path / "demo")
    plan = load_plan(info["plan"])
    out = tmp_path / "runs"
    # PCG-only deterministic regression: fails with PCG, passes without; PCG proven from the log
    assert _outcomes(plan, EMBEDDING, "pcg", [0, 1], out / "e") == ["fail", "fail"]
    rec = run_one(plan, plan.find_test(EMBEDDING), out_dir=out / "e2", mode="pcg")
    assert rec.pcg_active is True
    log = (out / "e2" / rec.log).read_text()
    assert "Compiling num tokens" in log and "size of tensor a (8)" in log
    assert _outcomes(plan, EMBEDDING, "nopcg", [0], out / "n") == ["pass"]
    # flaky: seeded by the attempt number -> exactly these attempts fail at head, in PCG only
    got = _outcomes(plan, RETRACT, "pcg", range(10), out / "f")
    assert [i for i, o in enumerate(got) if o == "fail"] == [1, 3, 4, 7, 8, 9]
    assert set(_outcomes(plan, RETRACT, "nopcg", [1, 3], out / "fn")) == {"pass"}
    # both modes
    assert _outcomes(plan, TOKENIZER, "nopcg", [0], out / "t") == ["fail"]
    # before the culprits (baseline checkout) all three pass; the stop-strings test fails there
    wt = tmp_path / "wt"
    _git(info["repo"], "worktree", "add", "-q", "--detach", str(wt), info["baseline"])
    for test in (EMBEDDING, RETRACT, TOKENIZER):
        assert set(_outcomes(plan, test, "pcg", [1, 3], out / "b", repo=wt)) == {"pass"}, test
    assert _outcomes(plan, STOP, "pcg", [0], out / "s", repo=wt) == ["fail"]
    # infra: the port test passes on a clean machine and fails while a leaked server holds it
    assert _outcomes(plan, PORT, "pcg", [0], out / "p") == ["pass"]
    with leaked_port(info["leak_port"]) as held:
        assert held
        assert _outcomes(plan, PORT, "pcg", [1], out / "p") == ["fail"]
    socket.create_server(("127.0.0.1", info["leak_port"])).close()   # released again


@pytest.mark.slow
def test_demo_end_to_end(tmp_path):
    t0 = time.monotonic()
    d = tmp_path / "d"
    # A relative --dir (git runs inside the demo repo, so paths must be made absolute)
    r = run_cli("demo", "--dir", "d", "--json", cwd=tmp_path, timeout=180)
    took = time.monotonic() - t0
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout)
    for f in ("report", "junit", "dashboard", "status"):
        assert Path(res["files"][f]).is_file() and Path(res["files"][f]).parent == d
    head = json.loads((d / "sweeps" / "head" / "sweep.json").read_text())
    assert head["complete"] and head["commit"] == res["head"]
    base = json.loads((d / "sweeps" / "baseline" / "sweep.json").read_text())
    assert base["commit"] == res["baseline"]
    # every planted regression is bisected to its planted commit
    assert set(res["planted"]) == {EMBEDDING, RETRACT, TOKENIZER}
    for test, sha in res["planted"].items():
        assert res["culprits"][test]["sha"] == sha, test
    analysis = json.loads((d / "sweeps" / "head" / "analysis.json").read_text())
    got = {t["test"]: (t["verdict"], t["category"]) for t in analysis["tests"]}
    assert got[EMBEDDING] == ("regression", "pcg-bug")
    assert got[RETRACT] == ("regression", "pcg-bug")
    assert got[TOKENIZER] == ("regression", "not-pcg")
    assert got[STOP][0] == "fixed" and got[PORT][1] == "infra"
    assert res["stages"]["diff"] == {"fixed": 1, "regression": 3, "still-failing": 1,
                                     "unchanged": 3}
    assert res["status"].split(": ")[1] == "failure"
    assert len(list((d / "github" / "issues").glob("*.json"))) == 3
    report = (d / "report.md").read_text()
    assert "| 2-GPU | 1 | 1 | 0 | 0 | 100.0% |" in report
    assert "nopcg 0/3" in report.split("### Category 2")[1].split("###")[0]
    assert "port conflict" in report.split("## Known Infrastructure Issues")[1]
    page = (d / "dashboard.html").read_text()
    assert page.count("<th class=probe") >= 5 and "#3</a>" in page
    print(f"demo took {took:.1f} s")   # the speed figure is bench's job, not an assert here
    if CHROMIUM:
        _browser_check(d / "dashboard.html", tmp_path)
    _walk_the_loop_by_hand(d, tmp_path)


def _walk_the_loop_by_hand(d: Path, tmp: Path) -> None:
    """README, "The loop, command by command", on the demo's data: the same verdicts."""
    head, store = d / "sweeps" / "head", str(d / "pcgbot.db")
    base = json.loads((d / "sweeps" / "baseline" / "sweep.json").read_text())
    assert base["branch"] == json.loads((head / "sweep.json").read_text())["branch"] == "main"
    r = run_cli("diff", str(head), "--baseline", "auto", "--store", store, "--json")
    assert r.returncode in (0, 1), r.stderr
    verdicts = [t["verdict"] for t in json.loads(r.stdout)["tests"]]
    assert verdicts.count("regression") == 3 and "new-test" not in verdicts, verdicts
    r = run_cli("analyze", str(head), "--store", store)
    assert r.returncode in (0, 1), r.stderr
    assert "3 regression(s)" in r.stdout and "baseline none" not in r.stdout, r.stdout
    r = run_cli("report", str(head), "--store", store)
    assert r.returncode == 0 and "regression" in r.stdout
    r = run_cli("site", str(tmp / "site"), "--store", store, "--analysis",
                str(head / "analysis.json"))
    assert r.returncode == 0, r.stderr
    assert len(list((tmp / "site" / "signatures").glob("*.html"))) >= 3


def _browser_check(page: Path, tmp: Path) -> None:
    """The real demo page in Chromium: the hash filter, and the docs' screenshot."""
    dom = chromium(["--dump-dom", page.as_uri() + "#suite=stage-b-test-small-1-gpu"],
                   tmp / "p1").stdout
    visible = re.findall(r'<tr data-suite="([^"]*)" data-gpus="\d+" data-test="([^"]*)">', dom)
    assert sorted(t for _, t in visible) == sorted([EMBEDDING, RETRACT, TOKENIZER])
    assert "3 of 8 tests shown" in dom
    shot = tmp / "dashboard.png"
    r = chromium([f"--screenshot={shot}", "--window-size=1200,900", page.as_uri()], tmp / "p2")
    assert r.returncode == 0 and shot.stat().st_size > 20_000
    if os.environ.get("PCGBOT_UPDATE_DOCS") == "1":       # refresh docs/images/dashboard.png
        DOCS_IMAGE.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, DOCS_IMAGE)
