"""End to end on real processes and a real git repo: sweep at a good commit (fixed repeats),
break one test in the next commit, sweep again (adaptive, since a baseline now exists), and
`pcgbot diff --baseline auto` names the regression.  The adaptive sweep runs the healthy tests
3 times instead of 10."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from conftest import run_cli


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


@pytest.mark.slow
def test_sweep_break_sweep_diff(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "t").mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "t@example.com")
    git(repo, "config", "user.name", "t")
    for i in range(4):
        (repo / "t" / f"test_{i}.py").write_text("import sys\nsys.exit(0)\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "good")
    plan = tmp_path / "plan.yaml"
    tests = "\n".join(f"  - {{path: test_{i}.py}}" for i in range(4))
    plan.write_text(f"name: e2e\nrepo: {repo}\nworkdir: t\ncommand: '{{python}} {{path}}'\n"
                    "timeout: 30\nrepeats: 10\nmodes: {pcg: {}}\n"
                    f"tests:\n{tests}\n")
    env = {"PCGBOT_STORE": str(tmp_path / "store.sqlite")}
    good, bad = tmp_path / "good", tmp_path / "bad"
    r = run_cli("sweep", str(plan), "--out", str(good), "--cpu", "--slots", "4", "-q", env=env)
    assert r.returncode == 0, r.stderr
    (repo / "t" / "test_1.py").write_text("import sys\nsys.exit(1)\n")
    git(repo, "commit", "-qam", "break test_1")
    r = run_cli("sweep", str(plan), "--out", str(bad), "--cpu", "--slots", "4", "-q", env=env)
    assert r.returncode == 0, r.stderr

    runs_good = Counter(json.loads(l)["test"] for l in (good / "runs.jsonl").read_text().splitlines())
    runs_bad = Counter(json.loads(l)["test"] for l in (bad / "runs.jsonl").read_text().splitlines())
    assert set(runs_good.values()) == {10}                       # no baseline: fixed repeats
    assert runs_bad["test_0.py"] == runs_bad["test_2.py"] == 3   # adaptive: clean after 3
    assert runs_bad["test_1.py"] <= 4                            # a clear break stops early

    r = run_cli("diff", str(bad), "--json", "--fail-on-regression", env=env)
    assert r.returncode == 1, r.stderr
    data = json.loads(r.stdout)
    assert data["baseline"]["sweep_id"] == json.loads((good / "sweep.json").read_text())["sweep_id"]
    verdicts = {t["test"]: (t["verdict"], t["baseline"], t["current"]) for t in data["tests"]}
    assert verdicts["test_1.py"][0] == "regression" and verdicts["test_1.py"][1] == [10, 10]
    assert verdicts["test_1.py"][2][0] == 0
    assert {verdicts[f"test_{i}.py"][0] for i in (0, 2, 3)} == {"unchanged"}
