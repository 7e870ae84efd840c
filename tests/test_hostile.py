"""Hostile input and host faults, end to end through the real CLI (issue: nothing leaks, nothing
lies, nothing is left running).  Each case is what a GPU runner, an artifact, a bundle or a plan
from a pull request could hand pcgbot."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import run_cli
from pcgbot.results.sweepdir import log_name

SECRET = "root:x:0:0:hunter2-secret-line"

FAILING = ("import sys\n"
           "print('Traceback (most recent call last):')\n"
           "print('  File \"engine.py\", line 3, in run')\n"
           "print('RuntimeError: \\x1b]8;;http://evil.example/\\x07click\\x1b]8;;\\x07 boom\\x01')\n"
           "sys.exit(1)\n")


def make_plan(tmp: Path, tests: dict[str, str], extra: str = "", modes: str = "") -> Path:
    repo = tmp / "repo"
    for rel, body in tests.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(body)
    lines = ["name: hostile", f"repo: {repo}", "repeats: 1", "timeout: 60",
             "command: '{python} {path}'"]
    if modes:
        lines.append(modes)
    lines.append("tests:")
    lines += [f"  - {{path: {json.dumps(t)}, gpus: 0}}" for t in tests]
    p = tmp / "plan.yaml"
    p.write_text("\n".join(lines) + "\n" + extra)
    return p


def one_line_error(r, *needles: str) -> None:
    assert r.returncode != 0, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    assert r.stderr.strip(), "no error message"
    for n in needles:
        assert n in r.stderr, (n, r.stderr)


@pytest.fixture
def failed_sweep(tmp_path):
    plan = make_plan(tmp_path, {"test_bad.py": FAILING})
    out = tmp_path / "sweep"
    r = run_cli("sweep", str(plan), "--out", str(out), "--no-adaptive")
    assert r.returncode in (0, 1), r.stderr
    return plan, out


def test_a_record_whose_log_points_outside_is_refused(failed_sweep, tmp_path):
    plan, out = failed_sweep
    runs = out / "runs.jsonl"
    for bad in ("/etc/passwd", "../../../../etc/passwd"):
        rec = json.loads(runs.read_text().splitlines()[0])
        rec["log"] = bad
        runs.write_text(json.dumps(rec) + "\n" + json.dumps(rec | {"attempt": 5}) + "\n")
        r = run_cli("analyze", str(out), "--baseline", "none")
        one_line_error(r, "runs.jsonl:1", "log")


def test_a_log_symlinked_outside_is_never_published(failed_sweep, tmp_path):
    plan, out = failed_sweep
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET + "\nRuntimeError: " + SECRET + "\n")
    rec = json.loads((out / "runs.jsonl").read_text().splitlines()[0])
    log = out / rec["log"]
    log.unlink()
    log.symlink_to(secret)
    r = run_cli("analyze", str(out), "--baseline", "none")
    assert r.returncode in (0, 1), r.stderr
    dry = tmp_path / "dry"
    r = run_cli("github", "sync", str(out), "--dry-run", str(dry), "--repo", "o/r")
    assert r.returncode == 0, r.stderr
    published = "".join(p.read_text() for p in dry.rglob("*") if p.is_file())
    published += (out / "analysis.json").read_text()
    assert "hunter2" not in published


def test_control_sequences_from_a_log_never_reach_the_terminal_or_an_issue(failed_sweep, tmp_path):
    plan, out = failed_sweep
    rec = json.loads((out / "runs.jsonl").read_text().splitlines()[0])
    for args in (["signature", str(out / rec["log"])], ["analyze", str(out), "--baseline", "none"],
                 ["report", str(out)]):
        r = run_cli(*args)
        assert r.returncode in (0, 1), (args, r.stderr)
        for bad in ("\x1b]", "\x07", "\x01"):
            assert bad not in r.stdout + r.stderr, (args, bad)
    # analysis.json is what issues are written from
    body = json.dumps(json.loads((out / "analysis.json").read_text()), ensure_ascii=False)
    assert "boom" in body and "\x1b" not in body and "\x01" not in body and "\x07" not in body


@pytest.mark.parametrize("mode", ["x/../../../../tmp/ESCAPED", "a.b", "../up", "sp ace"])
def test_a_mode_name_cannot_become_a_path(tmp_path, mode):
    plan = make_plan(tmp_path, {"test_a.py": "pass\n"},
                     modes=f"modes:\n  {json.dumps(mode)}: {{env: {{A: '1'}}}}")
    r = run_cli("plan", "validate", str(plan))
    one_line_error(r, "plan.yaml:", "mode name")
    r = run_cli("sweep", str(plan), "--out", str(tmp_path / "s"))
    one_line_error(r, "mode name")
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("path", ["../../outside/evil.py", "/abs/evil.py", "a/../../evil.py"])
def test_a_test_path_cannot_leave_the_workdir(tmp_path, path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "evil.py").write_text(f"open({str(tmp_path / 'RAN')!r}, 'w')\n")
    plan = make_plan(tmp_path, {"test_ok.py": "pass\n"})
    plan.write_text(plan.read_text() + f"  - {{path: {json.dumps(path)}, gpus: 0}}\n")
    r = run_cli("sweep", str(plan), "--out", str(tmp_path / "s"))
    one_line_error(r, "path", "inside the workdir")
    assert not (tmp_path / "RAN").exists()


def test_log_names_never_collide():
    names = {log_name(t, "pcg", 0) for t in
             ("sub/test_c.py", "sub__test_c.py", "test_a.py", "a", "a.py", "x y.py", "x_y.py")}
    assert len(names) == 7
    assert all(not n.startswith("logs/..") and "/" not in n[len("logs/"):] for n in names)


def test_dot_slash_is_the_same_test(tmp_path):
    plan = make_plan(tmp_path, {"test_a.py": "pass\n"})
    plan.write_text(plan.read_text() + "  - {path: ./test_a.py, gpus: 0}\n")
    r = run_cli("plan", "validate", str(plan))
    one_line_error(r, "duplicate test")


def test_import_sglang_quotes_what_it_finds(tmp_path):
    reg = tmp_path / "sg" / "test" / "registered" / "x"
    reg.mkdir(parents=True)
    (reg / "test_evil.py").write_text(
        'register_cuda_ci(est_time=30, suite="x, tags: [pwned], timeout: 0.5")\n')
    (reg / "test_gpus, gpus: 4.py").write_text('register_cuda_ci(est_time=20, suite="stage-a")\n')
    out = tmp_path / "plan.yaml"
    r = run_cli("plan", "import-sglang", str(tmp_path / "sg"), "-o", str(out))
    assert r.returncode == 0, r.stderr
    from pcgbot.plan import load_plan
    plan = load_plan(out)
    by = {t.path: t for t in plan.tests}
    evil = by["registered/x/test_evil.py"]
    assert evil.suite == "x, tags: [pwned], timeout: 0.5" and evil.tags == [] and evil.timeout is None
    assert by["registered/x/test_gpus, gpus: 4.py"].gpus != 4


def test_import_sglang_non_numeric_est_time_is_one_line(tmp_path):
    reg = tmp_path / "sg" / "test" / "registered"
    reg.mkdir(parents=True)
    (reg / "test_x.py").write_text('\nregister_cuda_ci(est_time="soon", suite="s")\n')
    r = run_cli("plan", "import-sglang", str(tmp_path / "sg"))
    one_line_error(r, "test_x.py:2", "est_time")


@pytest.mark.parametrize("extra,needle", [
    ("timeout: .nan\n", "timeout"), ("timeout: .inf\n", "timeout"), ("repeats: 1000000000\n", "repeats")])
def test_numbers_that_mean_nothing_are_refused(tmp_path, extra, needle):
    plan = make_plan(tmp_path, {"test_a.py": "pass\n"})
    text = plan.read_text().replace("repeats: 1\n", "").replace("timeout: 60\n", "")
    plan.write_text(text.replace("tests:", extra + "tests:"))
    one_line_error(run_cli("plan", "validate", str(plan)), needle)


def test_est_time_nan_is_refused(tmp_path):
    plan = make_plan(tmp_path, {"test_a.py": "pass\n"})
    plan.write_text(plan.read_text().replace("gpus: 0}", "gpus: 0, est_time: .nan}"))
    one_line_error(run_cli("plan", "cost", str(plan), "--gpus", "1"), "est_time")


@pytest.mark.parametrize("args,needle", [
    (["--timeout", "nan"], "--timeout"), (["--timeout", "inf"], "--timeout"),
    (["--repeats", "1000000000"], "--repeats"), (["--shard", "1/300000000"], "--shard")])
def test_cli_numbers_that_mean_nothing_are_refused(tmp_path, args, needle):
    plan = make_plan(tmp_path, {"test_a.py": "pass\n"})
    r = run_cli("sweep", str(plan), "--out", str(tmp_path / "s"), *args, timeout=30)
    assert r.returncode == 2 and "Traceback" not in r.stderr and needle in r.stderr, r.stderr
    assert not (tmp_path / "s" / "runs.jsonl").exists()


def test_an_empty_plan_never_becomes_a_baseline(tmp_path):
    p = tmp_path / "empty.yaml"
    p.write_text(f"name: e\nrepo: {tmp_path}\ntests: []\n")
    one_line_error(run_cli("sweep", str(p), "--out", str(tmp_path / "s")), "at least one test")


def test_resume_keeps_the_sweeps_repeats(tmp_path):
    plan = make_plan(tmp_path, {"test_a.py": "pass\n", "test_b.py": "pass\n"})
    plan.write_text(plan.read_text().replace("repeats: 1", "repeats: 10"))
    out = tmp_path / "s"
    assert run_cli("sweep", str(plan), "--out", str(out), "--repeats", "2",
                   "--no-adaptive").returncode == 0
    lines = (out / "runs.jsonl").read_text().splitlines()
    (out / "runs.jsonl").write_text("\n".join(lines[:1]) + "\n")   # as if killed after one run
    meta = json.loads((out / "sweep.json").read_text())
    meta["complete"] = False
    (out / "sweep.json").write_text(json.dumps(meta))
    r = run_cli("sweep", str(plan), "--out", str(out), "--resume", "--no-adaptive")
    assert r.returncode == 0, r.stderr
    assert len((out / "runs.jsonl").read_text().splitlines()) == 4
    r = run_cli("sweep", str(plan), "--out", str(out), "--resume", "--repeats", "5")
    one_line_error(r, "--repeats 2")


def test_resume_refuses_records_without_their_sweep_json(tmp_path):
    plan = make_plan(tmp_path, {"test_a.py": "pass\n"})
    out = tmp_path / "s"
    assert run_cli("sweep", str(plan), "--out", str(out), "--no-adaptive").returncode == 0
    (out / "sweep.json").unlink()
    before = (out / "runs.jsonl").read_text()
    one_line_error(run_cli("sweep", str(plan), "--out", str(out), "--resume"), "sweep.json")
    assert (out / "runs.jsonl").read_text() == before and not (out / "sweep.json").exists()


@pytest.mark.parametrize("content", ["null", "[1,2]", '{"test": 5, "attempt": 0, "mode": "pcg", '
                                     '"outcome": "pass"}', '{"test": "t", "attempt": "0", '
                                     '"mode": "pcg", "outcome": "pass"}', '{"test": "t"}'])
def test_wrong_records_are_one_line(failed_sweep, content):
    plan, out = failed_sweep
    (out / "runs.jsonl").write_text(content + "\n" + content + "\n")
    for args in (["analyze", str(out), "--baseline", "none"], ["report", str(out)],
                 ["import", str(out)]):
        one_line_error(run_cli(*args), "runs.jsonl:1")


FILL = ("import os, sys\n"
        "p = os.path.join(os.environ['SCRATCH'], 'fill')\n"
        "try:\n"
        "    with open(p, 'wb') as f:\n"
        "        while True:\n"
        "            f.write(b'x' * 65536); f.flush()\n"
        "except OSError as e:\n"
        "    print('OSError:', e)\n"
        "sys.exit(1)\n")


@pytest.fixture
def small_disk(tmp_path):
    """A real 4 MiB tmpfs: a full disk is a real ENOSPC."""
    import subprocess
    d = tmp_path / "disk"
    d.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs",
                                            str(d)], capture_output=True).returncode != 0:
        pytest.skip("needs root to mount a tmpfs")
    yield d
    subprocess.run(["umount", "-l", str(d)], capture_output=True)


def test_a_full_disk_is_infra_never_a_failure(tmp_path, small_disk):
    scratch = small_disk / "scratch"
    scratch.mkdir()
    plan = make_plan(tmp_path, {"test_first.py": "pass\n", "test_fill.py": FILL},
                     modes=f"modes:\n  default: {{env: {{SCRATCH: {json.dumps(str(scratch))}}}}}")
    # the passing test runs first (longest first), so runs.jsonl already has a page to append to
    plan.write_text(plan.read_text().replace("{path: \"test_first.py\", gpus: 0}",
                                             "{path: \"test_first.py\", gpus: 0, est_time: 99}"))
    out = small_disk / "sweep"
    r = run_cli("sweep", str(plan), "--out", str(out), "--no-adaptive", "--slots", "1")
    assert "Traceback" not in r.stderr, r.stderr
    recs = {json.loads(ln)["test"]: json.loads(ln) for ln in (out / "runs.jsonl").read_text().splitlines()}
    assert recs["test_first.py"]["outcome"] == "pass"
    assert recs["test_fill.py"]["outcome"] == "infra", recs["test_fill.py"]
    assert "host fault" in recs["test_fill.py"]["reason"]
    assert not list(out.glob("*.tmp"))


def test_a_run_that_cannot_be_recorded_stops_the_sweep_cleanly(tmp_path, small_disk):
    plan = make_plan(tmp_path, {"test_a.py": "pass\n", "test_b.py": "pass\n"})
    out = small_disk / "sweep"
    out.mkdir()
    (out / "logs").mkdir()
    with open(small_disk / "ballast", "wb") as f:   # leave no room for runs.jsonl's first page
        try:
            while True:
                f.write(b"x" * 65536)
                f.flush()
        except OSError:
            pass
    r = run_cli("sweep", str(plan), "--out", str(out), "--no-adaptive", "--slots", "1")
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr
    assert "No space left" in r.stderr or "cannot" in r.stderr, r.stderr
    assert len([ln for ln in r.stderr.splitlines() if "error" in ln]) == 1, r.stderr
    runs = out / "runs.jsonl"
    assert not runs.exists() or runs.read_text() == ""
    assert not list(out.glob("*.tmp"))
    # room again: --resume runs both tests, each once
    (small_disk / "ballast").unlink()
    r = run_cli("sweep", str(plan), "--out", str(out), "--resume", "--no-adaptive")
    assert r.returncode == 0, r.stderr
    assert sorted(json.loads(ln)["test"] for ln in runs.read_text().splitlines()) == \
        ["test_a.py", "test_b.py"]


def test_run_one_of_a_test_missing_from_the_checkout(tmp_path):
    plan = make_plan(tmp_path, {"test_a.py": "pass\n"})
    plan.write_text(plan.read_text() + "  - {path: test_gone.py, gpus: 0}\n")
    out = tmp_path / "one"
    one_line_error(run_cli("run-one", str(plan), "test_gone.py", "--out", str(out)),
                   "not in this checkout")
    assert not (out / "runs.jsonl").exists()


def test_a_missing_repo_is_not_a_missing_git(tmp_path):
    p = tmp_path / "p.yaml"
    p.write_text(f"name: p\nrepo: {tmp_path / 'nope'}\ntests:\n  - {{path: t.py, gpus: 0}}\n")
    r = run_cli("bisect", "t.py", "--plan", str(p), "--good", "a", "--bad", "b")
    one_line_error(r, "nope")
    assert "git is not installed" not in r.stderr


def test_a_bad_shard_in_sweep_json_fails_merge_and_leaves_nothing(failed_sweep, tmp_path):
    plan, out = failed_sweep
    meta = json.loads((out / "sweep.json").read_text())
    meta["shard"] = "x/y"
    (out / "sweep.json").write_text(json.dumps(meta))
    dest = tmp_path / "merged"
    one_line_error(run_cli("merge", str(out), "--out", str(dest)), "shard")
    assert not dest.exists()
    assert not [p for p in tmp_path.iterdir() if ".merging-" in p.name]


def test_a_merge_that_fails_half_way_leaves_nothing(failed_sweep, tmp_path):
    plan, out = failed_sweep
    twin = tmp_path / "twin"
    import shutil
    shutil.copytree(out, twin)       # the same runs twice: the merge must refuse the second copy
    dest = tmp_path / "merged"
    one_line_error(run_cli("merge", str(out), str(twin), "--out", str(dest)), "also in")
    assert not dest.exists()
    assert not [p for p in tmp_path.iterdir() if ".merging-" in p.name]


def test_report_of_a_sweep_without_sweep_json_is_refused(failed_sweep, tmp_path):
    plan, out = failed_sweep
    import shutil
    shutil.copytree(out, out / "differential-nopcg")
    (out / "sweep.json").unlink()
    one_line_error(run_cli("report", str(out)), "runs.jsonl without sweep.json")


def test_a_corrupt_store_is_one_line(failed_sweep, tmp_path):
    plan, out = failed_sweep
    bad = tmp_path / "bad.db"
    bad.write_text("this is not a database\n" * 100)
    one_line_error(run_cli("import", str(out), env={"PCGBOT_STORE": str(bad)}), "bad.db")


def test_report_to_a_missing_folder_is_one_line(failed_sweep, tmp_path):
    plan, out = failed_sweep
    target = tmp_path / "file"
    target.write_text("")
    one_line_error(run_cli("report", str(out), "-o", str(target / "x.md")), "x.md")


@pytest.mark.parametrize("sig,code", [("SIGTERM", 143), ("SIGINT", 130)])
def test_run_one_killed_by_a_signal_leaves_no_process_and_records_nothing(tmp_path, sig, code):
    import signal
    import subprocess
    import sys
    import time

    from pcgbot.procs import find_marked
    # the test starts a setsid daemon too: it must die with the run
    body = ("import os, subprocess, sys, time\n"
            "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'],"
            " start_new_session=True)\n"
            "print('started', flush=True)\n"
            "time.sleep(120)\n")
    plan = make_plan(tmp_path, {"test_slow.py": body})
    out = tmp_path / "one"
    p = subprocess.Popen([sys.executable, "-m", "pcgbot", "run-one", str(plan), "test_slow.py",
                          "--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         text=True)
    sid = None
    for _ in range(200):
        if (out / "sweep.json").exists():
            sid = json.loads((out / "sweep.json").read_text())["sweep_id"]
            if len(find_marked("PCGBOT_SWEEP_ID", sid)) >= 2:
                break
        time.sleep(0.05)
    assert sid is not None
    p.send_signal(getattr(signal, sig))
    err = p.communicate(timeout=30)[1]
    assert p.returncode == code, err
    assert "Traceback" not in err and "interrupted" in err
    assert find_marked("PCGBOT_SWEEP_ID", sid) == []
    assert not (out / "runs.jsonl").exists() or (out / "runs.jsonl").read_text() == ""


def _repo_of(repo: Path, name: str, bodies: list[str]):
    """A real git repository with one commit per body of the test file ``name``; returns its
    git runner and the commits' shas, oldest first."""
    import subprocess
    repo.mkdir()
    env = dict(os.environ, GIT_AUTHOR_NAME="a", GIT_AUTHOR_EMAIL="a@x", GIT_COMMITTER_NAME="a",
               GIT_COMMITTER_EMAIL="a@x")

    def git(*a):
        return subprocess.run(["git", *a], cwd=repo, env=env, check=True, capture_output=True,
                              text=True).stdout.strip()
    git("init", "-q", "-b", "main")
    shas = []
    for i, body in enumerate(bodies):
        (repo / name).write_text(body)
        git("add", "-A")
        git("commit", "-q", "-m", str(i))
        shas.append(git("rev-parse", "HEAD"))
    return git, shas


@pytest.mark.parametrize("slots", ["1", "2"])
def test_bisect_killed_by_sigterm_leaves_no_process_and_no_worktree(tmp_path, slots):
    import signal
    import subprocess
    import sys
    import time

    from pcgbot.procs import OWNER_MARKER, find_marked
    repo = tmp_path / "repo"
    git, shas = _repo_of(repo, "test_slow.py", [
        "import subprocess, sys, time\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'],"
        " start_new_session=True)\n"
        f"time.sleep(120)\nsys.exit({1 if i >= 3 else 0})  # commit {i}\n" for i in range(5)])
    plan = tmp_path / "plan.yaml"
    plan.write_text(f"name: b\nrepo: {repo}\nrepeats: 2\ntimeout: 300\n"
                    "command: '{python} {path}'\ntests:\n  - {path: test_slow.py, gpus: 0}\n")
    p = subprocess.Popen([sys.executable, "-m", "pcgbot", "bisect", "test_slow.py", "--plan",
                          str(plan), "--good", shas[0], "--bad", shas[-1], "--slots", slots,
                          "--state-dir", str(tmp_path / "state")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for _ in range(300):
        if len(find_marked(OWNER_MARKER, str(p.pid))) >= 2:
            break
        time.sleep(0.1)
    assert find_marked(OWNER_MARKER, str(p.pid)), "no probe started"
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 143, err[-2000:]
    assert "Traceback" not in err and "--resume" in err, err[-2000:]
    time.sleep(0.5)
    assert find_marked(OWNER_MARKER, str(p.pid)) == []
    assert len(git("worktree", "list").splitlines()) == 1, git("worktree", "list")


def test_an_api_that_answers_with_an_html_page_is_one_line(failed_sweep, tmp_path):
    import http.server
    import threading

    class Page(http.server.BaseHTTPRequestHandler):
        def _page(self):
            body = b"<html><body>Sign in to your proxy</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        do_GET = do_POST = do_PATCH = _page

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        plan, out = failed_sweep
        assert run_cli("analyze", str(out), "--baseline", "none").returncode in (0, 1)
        url = f"http://127.0.0.1:{srv.server_address[1]}"
        env = {"GITHUB_TOKEN": "ghp_" + "x" * 36}
        ev = tmp_path / "ev.json"
        ev.write_text(json.dumps({"comment": {"body": "/pcgbot help", "user": {"login": "x"},
                                              "id": 1}, "issue": {"number": 1, "labels": []}}))
        for args in (["sync", str(out)], ["status", str(out), "--sha", "a" * 40],
                     ["command", "--event", str(ev)]):
            r = run_cli("github", *args, "--repo", "o/r", "--api-url", url, env=env, timeout=60)
            one_line_error(r, "did not answer like the GitHub API")
            assert "ghp_" not in r.stderr
    finally:
        srv.shutdown()


def test_bisect_out_to_a_missing_folder_keeps_the_answer(tmp_path):
    repo = tmp_path / "repo"
    _, shas = _repo_of(repo, "test_x.py",
                       [f"import sys\nsys.exit({1 if i >= 2 else 0})  # {i}\n" for i in range(4)])
    plan = tmp_path / "plan.yaml"
    plan.write_text(f"name: b\nrepo: {repo}\nrepeats: 2\ncommand: '{{python}} {{path}}'\n"
                    "tests:\n  - {path: test_x.py, gpus: 0}\n")
    blocker = tmp_path / "file"
    blocker.write_text("")
    r = run_cli("bisect", "test_x.py", "--plan", str(plan), "--good", shas[0], "--bad", shas[-1],
                "--state-dir", str(tmp_path / "state"), "--out", str(blocker / "r.json"))
    one_line_error(r, "r.json")
    assert shas[2][:10] in r.stdout               # the culprit is printed all the same


def test_every_record_field_is_type_checked():
    import dataclasses

    from pcgbot.model import _FIELD_TYPES, RunRecord
    assert {f.name for f in dataclasses.fields(RunRecord)} == set(_FIELD_TYPES)


@pytest.mark.parametrize("field,value", [("comment", 5), ("comment", "hi"), ("issue", 5),
                                         ("user", "alice"), ("id", "abc"), ("repository", [])])
def test_a_github_event_with_wrong_types_is_one_line(tmp_path, field, value):
    ev = {"comment": {"body": "/pcgbot help", "user": {"login": "x"}, "id": 1},
          "issue": {"number": 1, "labels": []}, "repository": {"full_name": "o/r"}}
    if field in ("user", "id"):
        ev["comment"][field] = value
    else:
        ev[field] = value
    p = tmp_path / "ev.json"
    p.write_text(json.dumps(ev))
    r = run_cli("github", "command", "--event", str(p), "--repository", "o/r",
                "--dry-run", str(tmp_path / "dry"))
    assert r.returncode == 2, r.stderr
    one_line_error(r, "event")
