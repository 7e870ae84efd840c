"""Random records, sweep.json contents, plans and GitHub events thrown at the readers and the CLI.

Whatever comes in, pcgbot answers with exit code 0, 1 or 2 and at most one error line, never a
traceback, and touches no file outside the temporary folder it was given.  The CLI runs
in-process (``pcgbot.cli.main``), so an exception that escapes it fails the example.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from pcgbot.cli import main

ROOT = Path(__file__).resolve().parents[1]

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])

# JSON values of every shape, with strings that look like paths, commands and escapes.
nasty_text = st.sampled_from([
    "/etc/passwd", "../../../../etc/passwd", "x/../../../../tmp/ESCAPED", "a\x00b", "\x1b]8;;x\x07",
    "$(touch /tmp/pcgbot-fuzz-pwned)", "`id`", "test_a.py", "pass", "fail", "pcg", "1/2", "x/y",
    "", " ", "nan", "inf", "-1", "9" * 30, "é", "@everyone", "/pcgbot rerun", "`` ` ``",
])
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20), nasty_text)
json_values = st.recursive(scalars, lambda kids: st.one_of(
    st.lists(kids, max_size=4), st.dictionaries(st.one_of(st.text(max_size=8), nasty_text), kids,
                                                max_size=5)), max_leaves=12)
RECORD_KEYS = ["test", "attempt", "mode", "outcome", "exit_code", "duration_s", "commit", "log",
               "started_at", "gpus", "pcg_active", "run_id", "plan", "suite", "gpus_needed",
               "reason", "signature", "leaked_mib", "host"]
VALID = {"test": "t.py", "attempt": 0, "mode": "pcg", "outcome": "fail", "exit_code": 1,
         "duration_s": 1.0, "commit": "a" * 40, "log": "logs/t.log",
         "started_at": "2026-01-01T00:00:00+00:00", "gpus": [], "pcg_active": True}
# mostly-valid records reach past the reader into diff, signatures, triage and reports
mutated = st.builds(lambda k, v, a: {**VALID, k: v, "attempt": a},
                    st.sampled_from(RECORD_KEYS), st.one_of(json_values, nasty_text),
                    st.integers(0, 3))
records = st.one_of(json_values, mutated, st.fixed_dictionaries({}, optional={
    k: st.one_of(json_values, nasty_text) for k in RECORD_KEYS}))
META_KEYS = ["sweep_id", "plan", "plan_file", "mode", "commit", "branch", "started_at",
             "finished_at", "complete", "repeats", "host", "shard", "tests", "repo"]
VALID_META = {"sweep_id": "p:pcg:abc:1", "plan": "p", "mode": "pcg", "commit": "a" * 40,
              "complete": True, "repeats": 1, "tests": ["t.py"], "shard": None}
metas = st.one_of(json_values, st.builds(lambda k, v: {**VALID_META, k: v},
                                         st.sampled_from(META_KEYS), st.one_of(json_values, nasty_text)),
                  st.fixed_dictionaries({}, optional={
    k: st.one_of(json_values, nasty_text) for k in META_KEYS}))
PLAN_KEYS = ["name", "repo", "workdir", "command", "timeout", "repeats", "max_repeats", "setup",
             "modes", "default_mode", "tests", "smoke", "pythonpath", "unlikely_culprits"]
plans = st.fixed_dictionaries({}, optional={k: json_values for k in PLAN_KEYS})


def _snapshot() -> set[str]:
    """What pcgbot could plausibly write by mistake outside its folder: the checkout's tree and
    the top of /tmp."""
    tree = subprocess.run(["git", "status", "--porcelain", "--ignored"], cwd=ROOT,
                          capture_output=True, text=True).stdout
    return set(tree.splitlines()) | {f"/tmp/{n}" for n in os.listdir("/tmp")
                                     if not n.startswith(("pytest-", "tmp"))}


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    before = _snapshot()
    yield tmp_path
    after = _snapshot()
    new = {p for p in after - before if "pcgbot" in p or not p.startswith("/tmp/")}
    assert not new, f"written outside the sandbox: {sorted(new)}"
    assert not Path("/tmp/pcgbot-fuzz-pwned").exists()


def _cli(capsys, *argv: str) -> int:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    assert rc in (0, 1, 2), (argv, rc, err)
    assert "Traceback" not in err, err
    assert len([ln for ln in err.splitlines() if ln.startswith("pcgbot: error")]) <= 1, err
    return rc


def _dump(v) -> str:
    return json.dumps(v, allow_nan=True)


@SETTINGS
@given(lines=st.lists(records, min_size=1, max_size=4), meta=metas)
def test_sweep_dirs_from_anywhere(sandbox, capsys, lines, meta):
    d = sandbox / "sweep"
    d.mkdir(exist_ok=True)
    (d / "logs").mkdir(exist_ok=True)
    (d / "logs" / "t.log").write_text("RuntimeError: boom\n")
    (d / "runs.jsonl").write_text("\n".join(_dump(x) for x in lines) + "\n")
    (d / "sweep.json").write_text(_dump(meta))
    for argv in (["analyze", str(d), "--baseline", "none"], ["report", str(d)],
                 ["report", str(d), "--format", "junit"], ["import", str(d)],
                 ["merge", str(d), "--out", str(sandbox / "m")],
                 ["diff", str(d), "--baseline", str(d)]):
        _cli(capsys, *argv)
        if (sandbox / "m").exists():
            import shutil
            shutil.rmtree(sandbox / "m")


@SETTINGS
@given(plan=plans)
def test_plans_from_a_pull_request(sandbox, capsys, plan):
    p = sandbox / "plan.yaml"
    p.write_text(yaml.safe_dump(plan, allow_unicode=True))
    _cli(capsys, "plan", "validate", str(p))
    _cli(capsys, "plan", "list", str(p))
    _cli(capsys, "plan", "cost", str(p), "--gpus", "1")
    # a valid plan may even run: its tests are whatever the random repo holds (nothing)
    _cli(capsys, "sweep", str(p), "--out", str(sandbox / "s"), "--repeats", "1", "--timeout", "5")


@SETTINGS
@given(event=json_values, body=st.one_of(st.text(max_size=40), nasty_text))
def test_github_events(sandbox, capsys, event, body):
    ev = sandbox / "event.json"
    if isinstance(event, dict):
        event = dict(event)
        event.setdefault("comment", {"body": "/pcgbot " + body, "user": {"login": "x"}, "id": 1})
        event.setdefault("issue", {"number": 1, "labels": []})
    ev.write_text(_dump(event))
    _cli(capsys, "github", "command", "--event", str(ev), "--repo", "o/r",
         "--dry-run", str(sandbox / "dry"))
