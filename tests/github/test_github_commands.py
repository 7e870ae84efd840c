"""`/pcgbot` commands: GitHub-shaped issue_comment events against the fake server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fakegithub import FakeGitHub, _now, cli_env, make_analysis, make_signature, remote
from pcgbot.github import overrides as ov
from pcgbot.github.commands import HELP, handle_event, parse
from pcgbot.github.render import IssueState
from pcgbot.github.sync import sync
from pcgbot.plan.schema import load_plan
from pcgbot.results.store import Store

ROOT = Path(__file__).resolve().parents[2]
FP = "a1b2c3d4e5f6"
BASE = "1" * 40
HEAD = "c0ffee" * 6 + "abcd"


@pytest.fixture
def gh():
    with FakeGitHub() as g:
        r = g.repo("o/r")
        r.workflows.update({"pcgbot-bisect.yml": 11, "pcgbot-sweep.yml": 12})
        yield g


@pytest.fixture
def filed(gh):
    """A repo where sync filed issue #1 for FP (two tests, 2 GPUs) from a sweep at HEAD."""
    b = remote(gh)
    sig = make_signature(tests=("registered/x/test_a.py", "registered/y/test_b.py"), gpus=2)
    sync(b, make_analysis([sig], baseline={"commit": BASE}))
    return b


def event(gh, body: str, login: str = "alice", assoc: str = "MEMBER", number: int = 1,
          action: str = "created", user_type: str = "User") -> dict:
    """Post the comment on the fake (so reactions have a target) and return the webhook payload."""
    repo = gh.repo("o/r")
    cid = gh.new_id()
    repo.comments[cid] = {"id": cid, "_issue": number, "body": body, "user": login, "created_at": _now(),
                          "updated_at": _now(), "author_association": assoc}
    issue = gh.issue_json(repo, repo.issues[number])
    comment = gh.comment_json(repo, repo.comments[cid])
    comment["user"]["type"] = user_type
    return {"action": action, "issue": issue, "comment": comment,
            "repository": dict(gh.repo_json(repo), default_branch="main"), "sender": comment["user"]}


def bot_replies(gh, number: int = 1) -> list[str]:
    return [c["body"] for c in gh.repo("o/r").comments_of(number) if c["user"] == gh.login]


def test_parse_takes_the_first_command_line():
    assert parse("thanks!\n  /pcgbot bisect test_a --good abc1234\nmore") == ["bisect", "test_a", "--good", "abc1234"]
    assert parse("/pcgbotx rerun") is None and parse("see /pcgbot rerun") is None
    assert parse("/pcgbot") == []


def test_help_and_unknown_command_get_the_help_text(gh, filed):
    out = handle_event(filed, event(gh, "/pcgbot help", assoc="NONE"))
    assert out.status == "help" and HELP in bot_replies(gh)[0]
    handle_event(filed, event(gh, "/pcgbot frobnicate"))
    assert "I don't know `frobnicate`" in bot_replies(gh)[1] and HELP in bot_replies(gh)[1]
    # a hostile word cannot leave the code span (and so cannot @mention anyone)
    handle_event(filed, event(gh, "/pcgbot x`@everyone`y"))
    reply = bot_replies(gh)[2]
    assert "I don't know `xeveryoney`" in reply and "@everyone" not in reply
    handle_event(filed, event(gh, "/pcgbot ``"))
    assert "I don't know that command" in bot_replies(gh)[3]


def test_rerun_dispatches_the_sweep_workflow_and_reacts(gh, filed):
    out = handle_event(filed, event(gh, "/pcgbot rerun test_b"))
    assert out.status == "done"
    assert gh.repo("o/r").dispatches == [{"workflow": "pcgbot-sweep.yml", "ref": "main",
                                          "inputs": {"tests": "registered/y/test_b.py"}}]
    assert [x["content"] for x in gh.repo("o/r").reactions] == ["rocket"]
    assert bot_replies(gh) == []


def test_rerun_without_a_test_reruns_every_test_of_the_issue(gh, filed):
    assert handle_event(filed, event(gh, "/pcgbot rerun")).status == "done"
    assert gh.repo("o/r").dispatches[0]["inputs"] == {
        "tests": "registered/x/test_a.py,registered/y/test_b.py"}


def test_bisect_defaults_from_the_issue_and_explicit_ends(gh, filed):
    handle_event(filed, event(gh, "/pcgbot bisect"))
    handle_event(filed, event(gh, "/pcgbot bisect test_a --good abcdef1 --bad=ABCDEF2"))
    d = gh.repo("o/r").dispatches
    # the issue is one failure signature: the bisection counts that one
    assert d[0] == {"workflow": "pcgbot-bisect.yml", "ref": "main",
                    "inputs": {"test": "registered/x/test_a.py", "good": BASE, "bad": HEAD,
                               "signature": "a1b2c3d4e5f6", "config": "2-gpu"}}
    assert d[1]["inputs"] == {"test": "registered/x/test_a.py", "good": "abcdef1", "bad": "abcdef2",
                              "signature": "a1b2c3d4e5f6", "config": "2-gpu"}


def test_rerun_validates_against_the_plan(gh, filed):
    plan = load_plan(ROOT / "plans" / "gpu-smoke.yaml")
    out = handle_event(filed, event(gh, "/pcgbot rerun smoke_compile_mlp"), plan=plan)
    assert out.status == "done" and gh.repo("o/r").dispatches[0]["inputs"] == {"tests": "smoke_compile_mlp.py"}
    out = handle_event(filed, event(gh, "/pcgbot rerun test_not_there"), plan=plan)
    assert out.status == "invalid" and len(gh.repo("o/r").dispatches) == 1


@pytest.mark.parametrize("body", [
    "/pcgbot bisect $(rm -rf ~)",
    "/pcgbot bisect test_a --good $(id)",
    "/pcgbot bisect test_a; rm -rf ~",
    "/pcgbot bisect ../../etc/passwd",
    "/pcgbot bisect test_a --good abc --bad 1234567",
    "/pcgbot bisect test_a test_b",
    "/pcgbot bisect --evil",
    "/pcgbot rerun `reboot`",
    "/pcgbot fixed-by nothex!",
    "/pcgbot dup 5",
    "/pcgbot dup #1",
    "/pcgbot invalid now",
])
def test_malformed_arguments_do_nothing_but_refuse(gh, filed, body, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "canary").write_text("still here")
    before = gh.repo("o/r").issues[1]["body"]
    out = handle_event(filed, event(gh, body))
    assert out.status == "invalid"
    assert gh.repo("o/r").dispatches == [] and gh.repo("o/r").reactions == []
    assert gh.repo("o/r").issues[1]["body"] == before and gh.repo("o/r").issues[1]["state"] == "open"
    (reply,) = bot_replies(gh)
    assert reply.startswith("@alice I could not run") and "rm -rf" not in reply and "$(id)" not in reply
    assert (tmp_path / "canary").read_text() == "still here"


def test_outsiders_get_one_polite_refusal(gh, filed):
    gh.repo("o/r").permissions["eve"] = "read"
    ev = event(gh, "/pcgbot bisect $(rm -rf ~)", login="eve", assoc="CONTRIBUTOR")
    for _ in range(2):       # a re-delivered event must not reply twice
        out = handle_event(filed, ev)
        assert out.status == "refused"
    (reply,) = bot_replies(gh)
    assert "Only repository owners, members and collaborators" in reply
    assert gh.repo("o/r").dispatches == []


def test_write_permission_via_api_is_enough(gh, filed):
    gh.repo("o/r").permissions["carol"] = "write"
    out = handle_event(filed, event(gh, "/pcgbot rerun", login="carol", assoc="CONTRIBUTOR"))
    assert out.status == "done" and len(gh.repo("o/r").dispatches) == 1


def test_bots_edits_and_plain_comments_are_ignored(gh, filed):
    assert handle_event(filed, event(gh, "/pcgbot rerun", user_type="Bot")).status == "ignored"
    assert handle_event(filed, event(gh, "/pcgbot rerun", action="edited")).status == "ignored"
    assert handle_event(filed, event(gh, "great catch")).status == "ignored"
    assert gh.repo("o/r").dispatches == [] and bot_replies(gh) == []


def test_replayed_event_with_store_runs_once(gh, filed, tmp_path):
    store = Store(tmp_path / "s.db")
    ev = event(gh, "/pcgbot rerun")
    assert handle_event(filed, ev, store=store).status == "done"
    assert handle_event(filed, ev, store=store).status == "duplicate-event"
    assert len(gh.repo("o/r").dispatches) == 1


def test_fixed_by_closes_after_a_confirming_sweep(gh, filed):
    handle_event(filed, event(gh, "/pcgbot fixed-by ABCDEF1234"))
    repo = gh.repo("o/r")
    assert IssueState.load(repo.issues[1]["body"]).fixed_by == "abcdef1234"
    assert repo.issues[1]["state"] == "open"
    sync(filed, make_analysis([], sweep="s2", healthy=("registered/x/test_a.py", "registered/y/test_b.py")))
    assert repo.issues[1]["state"] == "closed"
    assert "Reported fixed by `abcdef1234`" in repo.comments_of(1)[-1]["body"]


def test_invalid_closes_and_is_never_refiled(gh, filed, tmp_path):
    store = Store(tmp_path / "s.db")
    handle_event(filed, event(gh, "/pcgbot invalid"), store=store)
    repo = gh.repo("o/r")
    assert repo.issues[1]["state"] == "closed" and repo.issues[1]["state_reason"] == "not_planned"
    again = make_analysis([make_signature(current=(0, 10))], sweep="s3")
    res = sync(filed, again)
    assert res.created == [] and res.reopened == [] and repo.issues[1]["state"] == "closed"
    # even if the issue disappears from the listing (label removed by hand), the store remembers
    repo.issues[1]["labels"] = []
    res = sync(filed, again, overrides=ov.overrides(store, "o/r"))
    assert res.created == [] and f"{FP} (marked invalid)" in res.skipped


def test_dup_sends_future_occurrences_to_the_target(gh, filed):
    repo = gh.repo("o/r")
    b = filed
    other = b.create_issue("Tracking: all illegal memory accesses", "human issue", [])
    handle_event(b, event(gh, f"/pcgbot dup #{other.number}"))
    assert repo.issues[1]["state"] == "closed" and "duplicate of #2" in bot_replies(gh)[0]
    res = sync(b, make_analysis([make_signature(tests=("registered/x/test_a.py", "t/test_new.py"))], sweep="s4"))
    assert res.created == [] and res.reopened == [] and repo.issues[1]["state"] == "closed"
    assert any("New test hit: `t/test_new.py`" in c["body"] for c in repo.comments_of(2))


def test_not_pcg_relabels_closes_and_stays_closed(gh, filed):
    handle_event(filed, event(gh, "/pcgbot not-pcg", assoc="OWNER"))
    repo = gh.repo("o/r")
    assert "not-pcg" in repo.issues[1]["labels"] and "pcg-bug" not in repo.issues[1]["labels"]
    assert repo.issues[1]["state"] == "closed"
    sync(filed, make_analysis([make_signature()], sweep="s5"))
    assert repo.issues[1]["state"] == "closed" and "pcg-bug" not in repo.issues[1]["labels"]
    assert IssueState.load(repo.issues[1]["body"]).category == "not-pcg"


def test_cli_reads_the_event_file(gh, filed, tmp_path):
    ev = tmp_path / "event.json"
    ev.write_text(json.dumps(event(gh, "/pcgbot bisect test_b --good 1234567 --bad 89abcde")))
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    env.update(cli_env(gh), GITHUB_EVENT_PATH=str(ev))
    r = subprocess.run([sys.executable, "-c", "from pcgbot.cli.main import entry; entry()", "github", "command", "--json"],
                       env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["status"] == "done"
    assert gh.repo("o/r").dispatches[0]["inputs"]["test"] == "registered/y/test_b.py"
    r = subprocess.run([sys.executable, "-c", "from pcgbot.cli.main import entry; entry()", "github", "command",
                        "--event", str(tmp_path / "missing.json")], env=env, capture_output=True, text=True)
    assert r.returncode == 2 and "missing.json:0: event: cannot read" in r.stderr


def test_bisect_dispatch_to_an_older_caller_without_the_signature_input(gh, filed, capsys):
    # The reusable workflows come from pcgbot's main; the repository's own pcgbot-bisect.yml
    # may predate the signature input, and GitHub refuses undeclared inputs with a 422.
    gh.repo("o/r").workflow_inputs["pcgbot-bisect.yml"] = {"test", "good", "bad", "config"}
    out = handle_event(filed, event(gh, "/pcgbot bisect"))
    assert out.status == "done"
    (d,) = gh.repo("o/r").dispatches
    assert d["inputs"] == {"test": "registered/x/test_a.py", "good": BASE, "bad": HEAD,
                           "config": "2-gpu"}
    assert "does not declare the input(s) signature" in capsys.readouterr().err
    # a caller that declares it gets it
    gh.repo("o/r").workflow_inputs["pcgbot-bisect.yml"] |= {"signature"}
    handle_event(filed, event(gh, "/pcgbot bisect"))
    assert gh.repo("o/r").dispatches[-1]["inputs"]["signature"] == "a1b2c3d4e5f6"


def test_bisect_of_a_test_outside_the_issue_does_not_force_its_signature(gh, filed):
    # with a plan any of its tests may be bisected from the issue; the issue's fingerprint is
    # only that of its own tests
    plan = load_plan(ROOT / "plans" / "gpu-smoke.yaml")
    out = handle_event(filed, event(gh, "/pcgbot bisect smoke_compile_mlp --good abcdef1 "
                                        "--bad abcdef2"), plan=plan)
    assert out.status == "done"
    assert gh.repo("o/r").dispatches[-1]["inputs"]["test"] == "smoke_compile_mlp.py"
    assert "signature" not in gh.repo("o/r").dispatches[-1]["inputs"]
