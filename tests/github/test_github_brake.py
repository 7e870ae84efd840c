"""Caps on new issues (per sync, per 24 h) with a summary issue that queues the rest, and the
pause label: against the fake GitHub over real HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fakegithub import FakeGitHub, cli_env, make_analysis, make_signature, remote
from pcgbot.github.brake import HELD_MARKER, PAUSE_LABEL, Caps, load_held
from pcgbot.github.render import IssueState, marker_of
from pcgbot.github.status import post_status
from pcgbot.github.sync import sync

SHA = "ab" * 20


@pytest.fixture
def gh():
    with FakeGitHub() as g:
        yield g


def sigs(n: int, verdict: str = "regression", start: int = 0) -> list[dict]:
    # signature i affects i+1 tests: the ones with the most tests are filed first
    return [make_signature(fp=f"fp{i:04d}aaaa", verdict=verdict,
                           tests=tuple(f"registered/t{i}/test_{j}.py" for j in range(i + 1)))
            for i in range(start, start + n)]


def filed(gh: FakeGitHub) -> dict[str, int]:
    out = {}
    for i in gh.repo("o/r").issue_list():
        st = IssueState.load(i["body"] or "")
        if st:
            out[st.fp] = i["number"]
    return out


def held_issue(gh: FakeGitHub) -> dict:
    found = [i for i in gh.repo("o/r").issue_list() if HELD_MARKER in (i["body"] or "")]
    assert len(found) == 1, found
    return found[0]


def writes(gh: FakeGitHub, since: int = 0) -> list:
    return [r for r in gh.requests[since:] if r[0] in ("POST", "PATCH", "PUT", "DELETE")]


def test_per_sweep_cap_holds_the_rest_in_one_summary_issue_filed_by_later_sweeps(gh):
    b = remote(gh)
    caps = Caps(per_sweep=3, per_day=100)
    res = sync(b, make_analysis(sigs(8)), caps=caps)
    assert len(res.created) == 3
    # the biggest signatures first (most tests affected)
    assert set(filed(gh)) == {"fp0007aaaa", "fp0006aaaa", "fp0005aaaa"}
    summary = held_issue(gh)
    held = load_held(summary["body"])
    assert sorted(held) == [f"fp{i:04d}aaaa" for i in range(5)]
    assert held["fp0004aaaa"]["config"] == "1-gpu" and held["fp0004aaaa"]["since"] == "sweep-1"
    assert "5 failure signatures held back" in summary["title"] and "pcgbot-held" in summary["labels"]
    assert sum("held back by the issue caps" in s for s in res.skipped) == 5
    # the same sweep again changes nothing (the cap's decisions are idempotent)
    n = len(gh.requests)
    again = sync(remote(gh), make_analysis(sigs(8)), caps=caps)
    assert again.created == [] and writes(gh, n) == []
    # next sweep: the held ones are "still failing" (not new against the new baseline), yet filed
    nxt = make_analysis(sigs(8, verdict="still-failing"), sweep="sweep-2")
    res2 = sync(remote(gh), nxt, caps=caps)
    assert len(res2.created) == 3 and len(filed(gh)) == 6
    assert len(load_held(held_issue(gh)["body"])) == 2
    res3 = sync(remote(gh), make_analysis(sigs(8, verdict="still-failing"), sweep="sweep-3"), caps=caps)
    assert len(res3.created) == 2 and len(filed(gh)) == 8
    done = held_issue(gh)
    assert done["state"] == "closed" and load_held(done["body"]) == {}
    comments = [c["body"] for c in gh.repo("o/r").comments_of(done["number"])]
    assert len(comments) == 1 and "Closing" in comments[0]
    # a held signature is filed once: no duplicates anywhere
    assert len(gh.repo("o/r").issues) == 9


def test_per_day_cap_counts_issues_filed_in_the_last_24_hours(gh):
    repo = gh.repo("o/r")
    sync(remote(gh), make_analysis(sigs(4)), caps=Caps(per_sweep=10, per_day=100))
    assert len(filed(gh)) == 4
    # a later sweep the same day: the day's cap of 6 leaves room for 2 of 5 new signatures
    res = sync(remote(gh), make_analysis(sigs(5, start=10), sweep="sweep-2"), caps=Caps(per_sweep=10, per_day=6))
    assert len(res.created) == 2 and len(load_held(held_issue(gh)["body"])) == 3
    # a day later the earlier issues no longer count
    old = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 25 * 3600))
    for iss in repo.issues.values():
        iss["created_at"] = old
    res = sync(remote(gh), make_analysis(sigs(5, start=10, verdict="still-failing"), sweep="sweep-3"),
               caps=Caps(per_sweep=10, per_day=6))
    assert len(res.created) == 3 and held_issue(gh)["state"] == "closed"


def test_a_held_signature_that_stops_failing_is_dropped_only_by_its_own_config(gh):
    sync(remote(gh), make_analysis(sigs(3)), caps=Caps(per_sweep=1, per_day=100))
    assert len(load_held(held_issue(gh)["body"])) == 2
    # another configuration's sweep does not see those signatures: they stay held
    other = make_analysis(sigs(1, start=20), sweep="s2", config="2-gpu")
    sync(remote(gh), other, caps=Caps(per_sweep=0, per_day=100))
    held = load_held(held_issue(gh)["body"])
    assert {"fp0000aaaa", "fp0001aaaa"} <= set(held) and held["fp0020aaaa"]["config"] == "2-gpu"
    # the 1-gpu sweep where they pass: dropped, not filed
    passing = make_analysis([], sweep="s3", healthy=("registered/t0/test_0.py",))
    sync(remote(gh), passing, caps=Caps(per_sweep=5, per_day=100))
    assert set(load_held(held_issue(gh)["body"])) == {"fp0020aaaa"}
    assert set(filed(gh)) == {"fp0002aaaa"}


def test_summary_issue_cannot_be_steered_by_hostile_titles(gh):
    evil = make_signature(fp="evil0000aa", title="`@admin` ``` <!-- pcgbot:held-state {} --> @everyone "
                                                  "<!-- pcgbot:sig=hijack0000 -->")
    sync(remote(gh), make_analysis([make_signature(fp="good0000aa"), evil]), caps=Caps(per_sweep=0, per_day=9))
    body = held_issue(gh)["body"]
    assert set(load_held(body)) == {"good0000aa", "evil0000aa"}     # the last state block is ours
    row = next(line for line in body.splitlines() if "evil0000aa" in line and "@admin" in line)
    # the title sits in one code span that its own backticks cannot end: no live @mention
    assert "```` `@admin` ``` < !-- pcgbot:held-state {} --> @everyone < !-- pcgbot:sig=hijack0000 --> ````" in row
    assert marker_of(body) is None          # a quoted marker does not make it a signature's issue


def pcgbot(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from pcgbot.cli.main import entry; entry()", *args],
                          env=env, capture_output=True, text=True, timeout=120)


def test_pause_label_stops_sync_and_neutralises_status_and_cli_caps(tmp_path: Path, gh):
    d = tmp_path / "sweep"
    d.mkdir()
    (d / "analysis.json").write_text(json.dumps(make_analysis(sigs(4))))
    env = cli_env(gh)
    repo = gh.repo("o/r")
    repo.issues[1] = {"id": 1, "number": 1, "title": "pcgbot is paused: runner pool broken", "body": "why",
                      "state": "open", "state_reason": None, "labels": [], "user": "maintainer",
                      "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"}
    repo.labels[PAUSE_LABEL] = {"id": 2, "name": PAUSE_LABEL, "color": "ededed", "description": None}
    repo.issues[1]["labels"] = [PAUSE_LABEL]
    n = len(gh.requests)
    p = pcgbot("github", "sync", str(d), env=env)
    assert p.returncode == 0, p.stderr
    assert "paused by #1" in p.stdout and writes(gh, n) == []
    p = pcgbot("github", "status", str(d), "--sha", SHA, env=env)
    assert p.returncode == 0, p.stderr
    st = repo.statuses[-1]
    assert st["state"] == "success" and st["description"].startswith("pcgbot paused (#1), not judged")
    assert "10 new regressions" in st["description"]   # 1+2+3+4 tests
    # check runs: neutral
    res = post_status(remote(gh), make_analysis(sigs(2)), SHA, check_run=True, paused=1)
    assert list(repo.check_runs.values())[-1]["conclusion"] == "neutral" and res.posted
    # unpaused (the label removed): the CLI's caps apply
    repo.issues[1]["labels"] = []
    p = pcgbot("github", "sync", str(d), "--max-new", "2", env=env)
    assert p.returncode == 0, p.stderr
    assert len(filed(gh)) == 2 and "held back by the issue caps" in p.stdout
    p = pcgbot("github", "status", str(d), "--sha", SHA, env=env)
    assert repo.statuses[-1]["state"] == "failure"
    p = pcgbot("github", "sync", str(d), "--max-new", "-1", env=env)
    assert p.returncode == 2 and "Traceback" not in p.stderr and "--max-new" in p.stderr
