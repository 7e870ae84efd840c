"""Commit statuses and check runs, on the fake server and in a dry-run folder."""

from __future__ import annotations

import json

import pytest

from fakegithub import FakeGitHub, make_analysis, make_signature, remote
from pcgbot.errors import UsageError
from pcgbot.github.dryrun import FolderBackend
from pcgbot.github.status import describe, post_status

PR_HEAD = "9f" * 20


@pytest.fixture
def gh():
    with FakeGitHub() as g:
        yield g


def seed_like() -> dict:
    a = make_analysis([make_signature(), make_signature(fp="bbbbccccdddd", tests=("t/test_b.py",))])
    a["totals"] = {"tests": 181, "passed": 143, "failed": 38, "regressions": 2, "fixed": 0, "flaky": 0, "infra": 0}
    return a


def test_description_is_the_seed_line_and_fits():
    state, desc = describe(seed_like())
    assert (state, desc) == ("failure", "143/181 passed · 2 new regressions")
    a = seed_like()
    a["totals"] = {"tests": 10 ** 60, "passed": 10 ** 60, "regressions": 0, "fixed": 10 ** 30, "flaky": 10 ** 30,
                   "infra": 10 ** 30}
    a["sweep"]["complete"] = False
    state, desc = describe(a)
    assert state == "error" and len(desc) <= 140
    a["totals"] = {"tests": 3, "passed": 3, "regressions": 0}
    a["sweep"]["complete"] = True
    assert describe(a) == ("success", "3/3 passed · 0 new regressions")


def test_status_on_pr_head_with_target_url_and_idempotent(gh):
    b = remote(gh)
    res = post_status(b, seed_like(), PR_HEAD)
    assert res.posted and res.context == "pcg/1-gpu"
    (s,) = gh.repo("o/r").statuses
    assert s["sha"] == PR_HEAD and s["state"] == "failure" and s["context"] == "pcg/1-gpu"
    assert s["description"] == "143/181 passed · 2 new regressions"
    assert s["target_url"] == "https://github.com/o/r/actions/runs/sweep-1"
    assert not post_status(b, seed_like(), PR_HEAD).posted
    assert len(gh.repo("o/r").statuses) == 1
    post_status(b, seed_like(), PR_HEAD, context="pcg/2-gpu")
    assert len(gh.repo("o/r").statuses) == 2


def test_check_run_carries_markdown_summary_and_updates_in_place(gh):
    b = remote(gh)
    assert post_status(b, seed_like(), PR_HEAD, check_run=True).posted
    (run,) = gh.repo("o/r").check_runs.values()
    assert run["conclusion"] == "failure" and run["name"] == "pcg/1-gpu"
    assert "| Tests | Passed |" in run["output"]["summary"] and "test_a" in run["output"]["summary"]
    assert not post_status(b, seed_like(), PR_HEAD, check_run=True).posted
    fixed = make_analysis([], healthy=("registered/x/test_a.py",))
    post_status(b, fixed, PR_HEAD, check_run=True)
    (run,) = gh.repo("o/r").check_runs.values()
    assert run["conclusion"] == "success"


def test_bad_sha_and_context_are_usage_errors(gh):
    b = remote(gh)
    with pytest.raises(UsageError, match="--sha"):
        post_status(b, seed_like(), "$(rm -rf ~)")
    with pytest.raises(UsageError, match="--context"):
        post_status(b, seed_like(), PR_HEAD, context="x" * 200)


def test_fake_enforces_status_description_limit(gh):
    b = remote(gh)
    from pcgbot.github.client import GitHubError
    with pytest.raises(GitHubError, match="422"):
        b.caller.call("raw", lambda: b.repo.get_commit(PR_HEAD).create_status(state="success", description="x" * 141))


def test_dry_run_status_files(tmp_path):
    b = FolderBackend(tmp_path / "out")
    post_status(b, seed_like(), PR_HEAD)
    post_status(b, seed_like(), PR_HEAD)
    post_status(b, seed_like(), PR_HEAD, check_run=True)
    items = json.loads((tmp_path / "out" / "statuses" / f"{PR_HEAD}.json").read_text())
    assert len(items) == 1 and items[0]["description"] == "143/181 passed · 2 new regressions"
    (md,) = (tmp_path / "out" / "checks").glob("*.md")
    assert "143/181 passed" in md.read_text()


def test_a_missing_baseline_never_reads_as_success(tmp_path):
    """No baseline (a branch's first sweep, or --baseline none): "0 new regressions" would be a
    guess, so the status is pending (a check run neutral) and says so."""
    a = make_analysis([], baseline=None)
    state, desc = describe(a)
    assert state == "pending" and desc.startswith("no baseline") and "regressions unknown" in desc
    b = FolderBackend(tmp_path / "dry")
    assert post_status(b, a, "c" * 40, context="pcg/1-gpu").state == "pending"
    post_status(b, a, "c" * 40, context="pcg/1-gpu-check", check_run=True)
    written = "".join(p.read_text() for p in (tmp_path / "dry").rglob("*") if p.is_file())
    assert '"neutral"' in written or "neutral" in written
    # with a baseline and no regression it is a success
    assert describe(make_analysis([]))[0] == "success"
