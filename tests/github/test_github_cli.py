"""`pcgbot github sync|status` as a user runs them: real processes, env configuration, dry runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fakegithub import TEST_TOKEN, FakeGitHub, cli_env, make_analysis, make_signature
from pcgbot.github.render import IssueState


def pcgbot(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    e = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    e.update(env or {})
    return subprocess.run([sys.executable, "-c", "from pcgbot.cli.main import entry; entry()", *args],
                          env=e, cwd=cwd, capture_output=True, text=True, timeout=120)


def sweep_dir(tmp_path: Path, analysis: dict, name: str = "sweep") -> Path:
    d = tmp_path / name
    d.mkdir()
    (d / "analysis.json").write_text(json.dumps(analysis, indent=1))
    return d


def test_sync_and_status_from_actions_env(tmp_path):
    d = sweep_dir(tmp_path, make_analysis([make_signature(excerpt=[f"token is {TEST_TOKEN}"])], run_url=None))
    with FakeGitHub() as gh:
        env = dict(cli_env(gh), GITHUB_RUN_ID="4242", GITHUB_SHA="ab" * 20)
        r = pcgbot("github", "sync", str(d), env=env)
        assert r.returncode == 0, r.stderr
        assert "created: #1" in r.stdout
        issue = gh.repo("o/r").issues[1]
        assert f"{gh.root}/o/r/actions/runs/4242" in issue["body"]     # run link from GITHUB_RUN_ID
        r = pcgbot("github", "sync", str(d), "--json", env=env)
        assert r.returncode == 0 and json.loads(r.stdout)["created"] == []
        r = pcgbot("github", "status", str(d), env=env)
        assert r.returncode == 0, r.stderr
        (s,) = gh.repo("o/r").statuses
        assert s["sha"] == "ab" * 20 and s["target_url"] == f"{gh.root}/o/r/actions/runs/4242"
        assert TEST_TOKEN not in r.stdout + r.stderr


def test_two_processes_at_once_make_one_issue(tmp_path):
    d = sweep_dir(tmp_path, make_analysis([make_signature(), make_signature(fp="0123456789ab")]))
    with FakeGitHub() as gh:
        gh.gate_next(2, method="GET", path_re=r"/issues$")   # both list before either files
        env = cli_env(gh)
        e = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
        e.update(env)
        procs = [subprocess.Popen([sys.executable, "-c", "from pcgbot.cli.main import entry; entry()",
                                   "github", "sync", str(d)], env=e, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
        outs = [p.communicate(timeout=120) for p in procs]
        assert all(p.returncode == 0 for p in procs), outs
        issues = gh.repo("o/r").issue_list()
        for fp in ("a1b2c3d4e5f6", "0123456789ab"):
            mine = [i for i in issues if IssueState.load(i["body"]).fp == fp]
            assert len(mine) == 1 and mine[0]["state"] == "open"   # one issue, never a duplicate
        assert len(issues) == 2     # both listed an empty repo; the sig: label let one file each


def test_dry_run_folder_is_idempotent_and_matches(tmp_path):
    a = make_analysis([make_signature()])
    d = sweep_dir(tmp_path, a)
    out = tmp_path / "out"
    r = pcgbot("github", "sync", str(d), "--dry-run", str(out))
    assert r.returncode == 0, r.stderr
    files = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file() and p.name != ".lock")
    snapshot = {p: (out / p).read_text() for p in files}
    assert Path("issues/0001.json") in files and Path("issues/0001.md") in files
    issue = json.loads((out / "issues/0001.json").read_text())
    assert "sig:a1b2c3d4e5f6" in issue["labels"] and "<!-- pcgbot:sig=a1b2c3d4e5f6 -->" in issue["body"]
    r = pcgbot("github", "sync", str(d), "--dry-run", str(out))
    assert r.returncode == 0 and "no changes" in r.stdout
    assert {p: (out / p).read_text() for p in files} == snapshot
    # new evidence produces a comment file, as on GitHub
    d2 = sweep_dir(tmp_path, make_analysis([make_signature(tests=("registered/x/test_a.py", "t/test_n.py"))],
                                           sweep="s2"), "sweep2")
    assert pcgbot("github", "sync", str(d2), "--dry-run", str(out)).returncode == 0
    (c,) = (out / "comments").glob("0001-*.md")
    assert "New test hit" in c.read_text()


def test_without_token_is_one_line_and_writes_nothing(tmp_path):
    """No silent dry run: 'created #1' into a folder must never look like a filed issue."""
    d = sweep_dir(tmp_path, make_analysis([make_signature()]))
    ev = tmp_path / "event.json"
    ev.write_text(json.dumps({"comment": {"body": "/pcgbot help", "user": {"login": "x"}, "id": 1},
                              "issue": {"number": 1, "labels": []}}))
    for args in (["sync", str(d)], ["status", str(d), "--sha", "a" * 40],
                 ["command", "--event", str(ev)]):
        r = pcgbot("github", *args, "--repo", "o/r")
        assert r.returncode == 2, (args, r.stderr)
        assert "Traceback" not in r.stderr and "no GITHUB_TOKEN" in r.stderr
        assert "[REDACTED]" not in r.stderr and "--dry-run" in r.stderr
    assert not (d / "github-dryrun").exists()
    assert not list(tmp_path.rglob("0001.md"))


@pytest.mark.parametrize("content,needle", [
    ("{not json", "analysis.json:1: analysis: invalid JSON"),
    (json.dumps({"sweep": {}, "totals": {}}), "signatures: missing"),
    (json.dumps({"sweep": {}, "totals": {}, "signatures": [{"fingerprint": "$(rm -rf ~)", "tests": []}]}),
     "signatures[0].fingerprint"),
])
def test_bad_analysis_is_one_line_exit_2(tmp_path, content, needle):
    d = tmp_path / "s"
    d.mkdir()
    (d / "analysis.json").write_text(content)
    r = pcgbot("github", "sync", str(d), "--dry-run", str(tmp_path / "o"))
    assert r.returncode == 2 and needle in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.stderr


def test_github_error_is_one_redacted_line(tmp_path):
    d = sweep_dir(tmp_path, make_analysis([make_signature()]))
    with FakeGitHub() as gh:
        env = dict(cli_env(gh), PCGBOT_GITHUB_RETRIES="1")
        gh.fail_next(10, status=502)
        r = pcgbot("github", "sync", str(d), env=env)
        assert r.returncode == 1 and "HTTP 502" in r.stderr and "Traceback" not in r.stderr
        assert TEST_TOKEN not in r.stderr
        r = pcgbot("github", "sync", str(d), "--repo", "bad", env=env)
        assert r.returncode == 2 and "owner/name" in r.stderr


def test_token_without_repo_is_a_usage_error(tmp_path):
    d = sweep_dir(tmp_path, make_analysis([make_signature()]))
    r = pcgbot("github", "sync", str(d), env={"GITHUB_TOKEN": TEST_TOKEN})
    assert r.returncode == 2 and "GITHUB_REPOSITORY: repo: not set" in r.stderr
    assert TEST_TOKEN not in r.stderr + r.stdout


def test_dry_run_needs_no_pygithub(tmp_path):
    # A bare GPU host may lack PyGithub: the dry run (and so the demo) must not import it.
    d = sweep_dir(tmp_path, make_analysis([make_signature()]))
    code = ("import runpy, sys\n"
            "class NoPyGithub:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name == 'github' or name.startswith('github.'):\n"
            "            raise ImportError('PyGithub is not installed here')\n"
            "sys.meta_path.insert(0, NoPyGithub())\n"
            f"sys.argv = ['pcgbot', 'github', 'sync', {str(d)!r}, '--dry-run', {str(tmp_path / 'o')!r}]\n"
            "runpy.run_module('pcgbot', run_name='__main__')\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "o" / "issues" / "0001.json").exists()
