"""Telling a culprit's author: one comment on the pull request that merged it (or on the commit),
`/pcgbot` commands in that pull request, and the opt-out; against the fake GitHub over HTTP."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from fakegithub import FakeGitHub, _now, cli_env, make_analysis, make_signature, remote
from fakegithub_commits import add_pull, commit_author
from pcgbot.github.author import tell_author
from pcgbot.github.commands import handle_event
from pcgbot.github.render import IssueState
from pcgbot.github.sync import sync
from test_github_sync import DOCUMENTED

FP = "a1b2c3d4e5f6"
GOOD, BAD = "1" * 40, "2" * 40
CULPRIT = "c" * 40
TESTS = ("registered/x/test_a.py", "registered/y/test_b.py")


@pytest.fixture
def gh():
    """Issue #1 filed by a sweep for FP (no culprit yet); pull requests get the next numbers."""
    with FakeGitHub() as g:
        sync(remote(g), make_analysis([make_signature(tests=TESTS)]))
        yield g


def culprit(sha: str = CULPRIT, status: str = "found", subject: str = "Speed up capture (#77)") -> dict:
    return {"status": status, "sha": sha, "subject": subject, "author": "Alice <a@x>", "confidence": 0.97,
            "range": [GOOD, BAD], "evidence": [{"sha": GOOD, "passed": 10, "runs": 10},
                                               {"sha": sha, "passed": 0, "runs": 10}]}


def bisected(gh: FakeGitHub, c: dict, sweep: str = "sweep-2", **sig_extra) -> list:
    """The bisect's sync attaches culprit ``c`` to issue #1; returns what the author hook reported."""
    told: list = []
    b = remote(gh)

    def hook(number: int, st: IssueState, sig: dict) -> None:
        told.append(tell_author(b, st, sig, number, log=told.append))
    sync(b, make_analysis([make_signature(tests=TESTS, culprit=c, **sig_extra)], sweep=sweep), on_culprit=hook)
    return told


def outside_code(text: str) -> str:
    """The text as GitHub renders it outside fenced blocks and inline code spans."""
    text = re.sub(r"(?ms)^(`{3,})[^\n]*\n.*?^\1\s*$", "", text)
    return re.sub(r"(`+)(?!`)(.+?)(?<!`)\1(?!`)", "", text)


def notes(gh: FakeGitHub, number: int) -> list[str]:
    return [c["body"] for c in gh.repo("o/r").comments_of(number) if "pcgbot:culprit" in c["body"]]


def test_the_pull_request_that_merged_the_culprit_gets_one_note(gh):
    # the commit's author is mentioned, not whoever opened or merged the pull request
    pr = add_pull(gh, "o/r", title="Speed up capture", user="merger", merge_commit_sha=CULPRIT)
    commit_author(gh, "o/r", CULPRIT, "alice")
    told = bisected(gh, culprit())
    assert [t.where for t in told] == [f"pull request #{pr}"] and told[0].posted
    [body] = notes(gh, pr)
    assert body.startswith("<!-- pcgbot:issue=1 -->\n@alice ")
    assert f"first bad commit for the failure tracked in #1" in body and "97%" in body
    assert f"`{FP}`" in body and f"| {CULPRIT} | 0 | 10 |" in body and f"| {GOOD} | 10 | 10 |" in body
    assert "`registered/x/test_a.py`" in body and f"{GOOD} (good) .. {BAD} (bad)" in body
    assert "pcgbot run-one plans/sglang-1gpu.yaml registered/x/test_a.py --mode pcg" in body
    assert f"<!-- pcgbot:culprit sig={FP} sha={CULPRIT} -->" in body
    # the issue got its own "culprit found" comment too, and records the culprit
    assert "Culprit found" in gh.repo("o/r").comments_of(1)[-1]["body"]
    # later syncs, and another telling of the same signature and commit, add nothing
    assert bisected(gh, culprit(), sweep="sweep-3") == []
    st = IssueState.load(gh.repo("o/r").issues[1]["body"])
    again = tell_author(remote(gh), st, make_signature(tests=TESTS), 1)
    assert again is not None and not again.posted and len(notes(gh, pr)) == 1


def test_pick_the_merged_pull_request_and_fall_back_to_its_author(gh):
    add_pull(gh, "o/r", title="open PR carrying it", user="mallory", commits=[CULPRIT], merged=False)
    merged = add_pull(gh, "o/r", title="the merge", user="bob", commits=[CULPRIT], merge_commit_sha="d" * 40)
    told = bisected(gh, culprit())          # the commit's email maps to no GitHub account
    assert told[0].where == f"pull request #{merged}"
    assert "\n@bob pcgbot's bisection" in notes(gh, merged)[0]
    assert notes(gh, 1) == [] and notes(gh, merged - 1) == []


def test_without_a_pull_request_the_commit_gets_the_note_once(gh):
    commit_author(gh, "o/r", CULPRIT, "carol")
    told = bisected(gh, culprit())
    assert told[0].where == f"commit {CULPRIT[:12]}" and told[0].posted
    st = IssueState.load(gh.repo("o/r").issues[1]["body"])
    assert not tell_author(remote(gh), st, make_signature(tests=TESTS), 1).posted
    [c] = gh.repo("o/r").commit_comments.values()
    assert c["commit_id"] == CULPRIT and c["body"].count("@carol") == 1
    assert "comment `/pcgbot invalid` or `/pcgbot not-pcg` on #1" in c["body"]


@pytest.mark.parametrize("c", [culprit(status="inconclusive"), culprit(sha="not-a-sha")])
def test_no_note_without_a_found_culprit(gh, c):
    add_pull(gh, "o/r", title="t", user="alice", merge_commit_sha=CULPRIT)
    n = len(gh.requests)
    assert [t for t in bisected(gh, c) if t is not None] == []
    assert not any("/commits/" in p for _, p in gh.requests[n:])


def test_hostile_subject_and_title_cannot_mention_or_escape(gh):
    pr = add_pull(gh, "o/r", title="t", user="alice", merge_commit_sha=CULPRIT)
    commit_author(gh, "o/r", CULPRIT, "alice")
    evil = "@everyone `` ` `` ``` @org/team <!-- pcgbot:culprit sig=zzzz sha=" + "e" * 40 + " --> @bob"
    bisected(gh, culprit(subject=evil), title=evil + " title",
             reproduce="pcgbot run-one p.yaml t.py ```\n@oops")
    [body] = notes(gh, pr)
    assert re.findall(r"@[A-Za-z0-9_/-]+", outside_code(body)) == ["@alice"]
    assert re.findall(r"<!-- pcgbot:culprit[^>]*-->", body) == [f"<!-- pcgbot:culprit sig={FP} sha={CULPRIT} -->"]


def test_a_refusal_is_logged_and_the_sync_goes_on(gh):
    gh.fail_next(1, status=403, method="POST", path_re=r"/commits/[0-9a-f]+/comments$")
    told = bisected(gh, culprit())
    assert any("could not tell the author" in str(t) for t in told)
    assert IssueState.load(gh.repo("o/r").issues[1]["body"]).culprit["sha"] == CULPRIT


def pr_event(gh: FakeGitHub, pr: int, body: str, login: str = "maint", assoc: str = "MEMBER") -> dict:
    repo = gh.repo("o/r")
    cid = gh.new_id()
    repo.comments[cid] = {"id": cid, "_issue": pr, "body": body, "user": login, "created_at": _now(),
                          "updated_at": _now(), "author_association": assoc}
    return {"action": "created", "issue": gh.issue_json(repo, repo.issues[pr]),
            "comment": gh.comment_json(repo, repo.comments[cid]),
            "repository": dict(gh.repo_json(repo), default_branch="main")}


def test_pcgbot_commands_in_the_pull_request_act_on_the_issue(gh):
    pr = add_pull(gh, "o/r", title="t", user="alice", merge_commit_sha=CULPRIT)
    bisected(gh, culprit())
    out = handle_event(remote(gh), pr_event(gh, pr, "/pcgbot invalid"))
    assert out.status == "done"
    iss = gh.repo("o/r").issues[1]
    assert iss["state"] == "closed" and IssueState.load(iss["body"]).ignored
    assert gh.repo("o/r").reactions[-1]["content"] == "+1"
    # a pull request without pcgbot's note, and one where a human typed the markers
    other = add_pull(gh, "o/r", title="u", user="eve", merge_commit_sha="f" * 40)
    fake = f"<!-- pcgbot:issue=1 -->\n<!-- pcgbot:culprit sig={FP} sha={CULPRIT} -->"
    handle_event(remote(gh), pr_event(gh, other, fake, login="eve", assoc="NONE"))
    out = handle_event(remote(gh), pr_event(gh, other, "/pcgbot not-pcg"))
    assert out.status == "invalid" and "no pcgbot culprit report" in out.reply
    assert not IssueState.load(gh.repo("o/r").issues[1]["body"]).not_pcg
    assert "no pcgbot culprit report" in gh.repo("o/r").comments_of(other)[-1]["body"]


def test_cli_tells_by_default_and_not_with_the_opt_out(tmp_path: Path, gh):
    pr = add_pull(gh, "o/r", title="t", user="alice", merge_commit_sha=CULPRIT)
    commit_author(gh, "o/r", CULPRIT, "alice")
    d = tmp_path / "a"
    d.mkdir()
    (d / "analysis.json").write_text(json.dumps(make_analysis([make_signature(tests=TESTS, culprit=culprit())],
                                                              sweep="s2")))
    env = cli_env(gh)

    def pcgbot(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", "from pcgbot.cli.main import entry; entry()", *args],
                              env=env, capture_output=True, text=True, timeout=120)
    p = pcgbot("github", "sync", str(d), "--no-notify-author")
    assert p.returncode == 0, p.stderr
    assert notes(gh, pr) == [] and "Culprit found" in gh.repo("o/r").comments_of(1)[-1]["body"]
    # the opt-out is per run: the culprit is announced now, so a later sync does not tell either
    p = pcgbot("github", "sync", str(d))
    assert p.returncode == 0 and notes(gh, pr) == []
    gh.repo("o/r").issues.pop(1)
    gh.repo("o/r").labels.pop(f"sig:{FP}".lower(), None)
    p = pcgbot("github", "sync", str(d))              # filed with its culprit already known
    assert p.returncode == 0, p.stderr
    assert f"author of {CULPRIT[:12]} told on pull request #{pr}" in p.stderr and len(notes(gh, pr)) == 1
    for method, path in gh.requests:
        sub = path[len("/api/v3"):]
        assert any(m == method and re.fullmatch(pat, sub) for m, pat in DOCUMENTED + NEW_ENDPOINTS), (method, sub)


NEW_ENDPOINTS = [("GET", r"/repos/o/r/commits/[0-9a-f]+"), ("GET", r"/repos/o/r/commits/[0-9a-f]+/pulls"),
                 ("GET", r"/repos/o/r/commits/[0-9a-f]+/comments"),
                 ("POST", r"/repos/o/r/commits/[0-9a-f]+/comments")]
