"""Faults: 5xx, dropped connections, timeouts, rate limits, failure part-way through a sync."""

from __future__ import annotations

import pytest
import requests

from fakegithub import TEST_TOKEN, FakeGitHub, make_analysis, make_signature, remote
from pcgbot.github.client import Caller, GitHubConfig, GitHubError, rate_limit_wait
from pcgbot.github.render import IssueState
from pcgbot.github.sync import sync


@pytest.fixture
def gh():
    with FakeGitHub() as g:
        yield g


class Sleeps(list):
    def __call__(self, s: float) -> None:
        self.append(s)


def backend_with_sleeps(gh, **cfg):
    b = remote(gh, **cfg)
    sleeps = Sleeps()
    b.caller = Caller(b.cfg, sleep=sleeps)
    return b, sleeps


def live_issues(gh):
    return [i for i in gh.repo("o/r").issue_list() if not IssueState.load(i["body"]).superseded_by]


def test_5xx_on_listing_is_retried_with_growing_backoff(gh):
    b, sleeps = backend_with_sleeps(gh, backoff=1.0)
    gh.fail_next(3, status=502, method="GET")
    assert b.list_issues(["pcgbot"]) == []
    assert len(sleeps) == 3 and sleeps[0] <= 1.0 and sleeps[2] >= 2.0   # 1, 2, 4 s with jitter in [0.5, 1]


def test_lost_answer_to_create_still_ends_with_one_issue(gh):
    """GitHub created the issue but the 502 hid it: the retry files a second one, which sync closes."""
    b = remote(gh)
    gh.fail_next(1, status=502, method="POST", path_re=r"/issues$", after=True)
    sync(b, make_analysis([make_signature()]))
    assert len(gh.repo("o/r").issues) == 2
    assert [i["number"] for i in live_issues(gh)] == [1]
    assert gh.repo("o/r").issues[2]["state"] == "closed"


def test_lost_answer_to_comment_does_not_double_it(gh):
    b = remote(gh)
    sync(b, make_analysis([make_signature()]))
    gh.fail_next(1, status=502, method="POST", path_re=r"/comments$", after=True)
    sync(b, make_analysis([make_signature(tests=("registered/x/test_a.py", "t/test_new.py"))], sweep="s2"))
    assert len(gh.repo("o/r").comments_of(1)) == 1


def test_dropped_connection_and_read_timeout_are_retried(gh):
    b = remote(gh, timeout=1.0)
    gh.drop_next(1, method="GET")
    gh.timeout_next(1, seconds=1.6, method="POST")
    res = sync(b, make_analysis([make_signature()]))
    assert res.created and len(live_issues(gh)) == 1
    assert b.caller.retried >= 2


def test_secondary_rate_limit_waits_retry_after(gh):
    b, sleeps = backend_with_sleeps(gh)
    gh.rate_limit_next(1, status=403, retry_after=3)
    gh.rate_limit_next(1, status=429, retry_after=1)
    assert b.list_issues(["pcgbot"]) == []
    assert [round(s) for s in sleeps] == [3, 1]


def test_primary_rate_limit_waits_until_reset(gh):
    b, sleeps = backend_with_sleeps(gh, max_wait=30)
    gh.rate_limit_next(1, status=403, reset_in=4)
    b.list_issues(["pcgbot"])
    assert len(sleeps) == 1 and 3.0 <= sleeps[0] <= 6.5


def test_rate_limit_past_the_bound_is_one_clear_error(gh):
    b, sleeps = backend_with_sleeps(gh, max_wait=60)
    gh.rate_limit_next(1, status=403, reset_in=3600)
    with pytest.raises(GitHubError) as ei:
        b.list_issues(["pcgbot"])
    msg = str(ei.value)
    assert "rate limited" in msg and "60 s" in msg and "\n" not in msg
    assert sleeps == []


def test_persistent_5xx_gives_up_with_one_line(gh):
    b, sleeps = backend_with_sleeps(gh, retries=2)
    gh.fail_next(10, status=503)
    with pytest.raises(GitHubError) as ei:
        b.list_issues(["pcgbot"])
    assert "HTTP 503" in str(ei.value) and len(sleeps) == 2


def test_4xx_is_not_retried(gh):
    b, sleeps = backend_with_sleeps(gh)
    with pytest.raises(GitHubError) as ei:
        b.edit_issue(42, body="x")
    assert "HTTP 404" in str(ei.value) and sleeps == []


def test_failure_mid_sync_is_completed_by_the_next_sync(gh):
    b = remote(gh, retries=1)
    sync(b, make_analysis([make_signature()]))
    a2 = make_analysis([make_signature(tests=("registered/x/test_a.py", "t/test_new.py"))], sweep="s2")
    gh.fail_next(5, status=500, method="PATCH")         # the comment goes out, the body edit fails
    with pytest.raises(GitHubError):
        sync(b, a2)
    assert len(gh.repo("o/r").comments_of(1)) == 1
    assert "test_new" not in gh.repo("o/r").issues[1]["body"]
    gh._faults.clear()
    res = sync(b, a2)
    assert res.updated == [1] and res.commented == []
    assert len(gh.repo("o/r").comments_of(1)) == 1 and "test_new" in gh.repo("o/r").issues[1]["body"]


def test_errors_never_carry_secrets(monkeypatch):
    monkeypatch.setenv("MY_SERVICE_KEY", "s3cr3t-value-42")
    cfg = GitHubConfig(token=TEST_TOKEN, repo="o/r", retries=0)

    def boom():
        raise requests.exceptions.ConnectionError(f"failed with {TEST_TOKEN} and s3cr3t-value-42 hf_{'b' * 34}")
    with pytest.raises(GitHubError) as ei:
        Caller(cfg, sleep=lambda s: None).call("list issues", boom)
    msg = str(ei.value)
    assert TEST_TOKEN not in msg and "s3cr3t" not in msg and "hf_bbbb" not in msg
    assert TEST_TOKEN not in repr(cfg)


def test_rate_limit_wait_rules():
    now = 1000.0
    assert rate_limit_wait(500, {}, "", now) is None
    assert rate_limit_wait(403, {"Retry-After": "7"}, "", now) == 7
    assert rate_limit_wait(403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1010"}, "", now) == 11
    assert rate_limit_wait(403, {}, "Resource not accessible by integration", now) is None   # a real 403
    assert rate_limit_wait(429, {}, "", now) == 60.0


def test_comment_posted_before_a_crash_is_not_repeated_by_a_later_sweep(gh):
    b = remote(gh, retries=0)
    sync(b, make_analysis([make_signature()]))
    two = ("registered/x/test_a.py", "t/test_new.py")
    gh.fail_next(1, status=500, method="PATCH")
    with pytest.raises(GitHubError):
        sync(b, make_analysis([make_signature(tests=two)], sweep="s2"))
    gh._faults.clear()
    sync(b, make_analysis([make_signature(tests=two)], sweep="s3"))    # a later sweep, same news
    assert len(gh.repo("o/r").comments_of(1)) == 1
    # the same kind of change happening again later is news again
    sync(b, make_analysis([make_signature(tests=two, current=(5, 10))], sweep="s4"))
    sync(b, make_analysis([make_signature(tests=two, current=(0, 10))], sweep="s5"))
    sync(b, make_analysis([make_signature(tests=two, current=(5, 10))], sweep="s6"))
    assert len(gh.repo("o/r").comments_of(1)) == 4


def _steps() -> list[dict]:
    two = ("registered/x/test_a.py", "t/test_new.py")
    culprit = {"status": "found", "sha": "deadbeef" * 5, "subject": "s", "confidence": 0.9}
    other = dict(fp="0000ffff0000", tests=("registered/o/test_other.py",))
    return [make_analysis([make_signature(), make_signature(**other)]),
            make_analysis([make_signature(tests=two), make_signature(**other, culprit=culprit)], sweep="s2"),
            make_analysis([make_signature(**other, culprit=culprit)], sweep="s3", healthy=two),
            make_analysis([make_signature(tests=two), make_signature(**other, culprit=culprit)], sweep="s4")]


def _sync_until_done(b, analysis: dict) -> None:
    for _ in range(6):          # a sync that gives up is simply run again, as the next CI run would
        try:
            sync(b, analysis)
            return
        except GitHubError:
            continue
    raise AssertionError("sync never completed")


def _lifecycle(b) -> None:
    for a in _steps():
        _sync_until_done(b, a)


def _visible(gh) -> list:
    """What a human sees: live issues with state and title, and the text of every comment."""
    repo = gh.repo("o/r")
    out = []
    for i in live_issues(gh):
        out.append((IssueState.load(i["body"]).fp, i["state"], i["title"], sorted(i["labels"]),
                    [c["body"] for c in repo.comments_of(i["number"])]))
    return sorted(out)


@pytest.mark.parametrize("seed", range(4))
def test_flaky_github_ends_where_a_healthy_one_does(seed):
    """10 % of requests fail with 502, half of them after GitHub applied the write."""
    with FakeGitHub() as clean:
        _lifecycle(remote(clean))
        want = _visible(clean)
    with FakeGitHub() as flaky:
        b = remote(flaky, retries=3, backoff=0.001)
        flaky.set_fault_rate(0.10, seed=seed, after_share=0.5)
        _lifecycle(b)
        flaky.set_fault_rate(0.0)
        assert _visible(flaky) == want


@pytest.mark.parametrize("seed", range(2))
def test_three_concurrent_bots_on_a_flaky_github_converge(seed):
    """Each sweep's analysis is synced by three bots at once (say, re-run CI jobs) while 10 % of
    requests fail; after one calm sync the issues look exactly as after a single calm bot."""
    import threading
    with FakeGitHub() as clean:
        _lifecycle(remote(clean))
        want = _visible(clean)
    with FakeGitHub() as gh:
        bots = [remote(gh, retries=3, backoff=0.001) for _ in range(3)]
        gh.set_fault_rate(0.10, seed=seed, after_share=0.5)
        for step in _steps():
            threads = [threading.Thread(target=_sync_until_done, args=(b, step)) for b in bots]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
        gh.set_fault_rate(0.0)
        _sync_until_done(bots[0], _steps()[-1])     # the next calm CI run settles the last race
        assert _visible(gh) == want
