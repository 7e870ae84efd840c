"""Issue sync against the fake GitHub server: PyGithub speaks real HTTP on loopback."""

from __future__ import annotations

import threading

import pytest

from fakegithub import TEST_TOKEN, FakeGitHub, make_analysis, make_signature, remote
from pcgbot.github.render import BODY_BUDGET, IssueState
from pcgbot.github.sync import sync

FP = "a1b2c3d4e5f6"


@pytest.fixture
def gh():
    with FakeGitHub() as g:
        yield g


def writes(gh: FakeGitHub, since: int = 0) -> list:
    return [r for r in gh.requests[since:] if r[0] in ("POST", "PATCH", "PUT", "DELETE")]


def live(gh: FakeGitHub, fp: str = FP) -> list[dict]:
    out = []
    for i in gh.repo("o/r").issue_list():
        st = IssueState.load(i["body"] or "")
        if st and st.fp == fp and not st.superseded_by:
            out.append(i)
    return out


def test_files_one_issue_with_labels_marker_and_evidence(gh):
    b = remote(gh)
    sig = make_signature(tests=("registered/x/test_a.py", "registered/y/test_b.py"),
                         excerpt=[f"export GITHUB_TOKEN={TEST_TOKEN}", "hf_" + "a" * 34, "RuntimeError: boom"])
    res = sync(b, make_analysis([sig]))
    assert res.created == [1]
    repo = gh.repo("o/r")
    issue = repo.issues[1]
    assert issue["title"].startswith("[pcgbot] CUDA error: illegal memory access")
    assert "test_a" in issue["title"] and "test_b" in issue["title"]
    assert set(issue["labels"]) == {"pcgbot", "pcg-regression", f"sig:{FP}", "pcg-bug", "1-gpu"}
    assert all(len(lab["color"]) == 6 for lab in repo.labels.values())
    body = issue["body"]
    assert f"<!-- pcgbot:sig={FP} -->" in body
    assert "10/10 (100%)" in body and "0/10 (0%)" in body
    assert "pcgbot run-one plans/sglang-1gpu.yaml" in body
    assert "https://github.com/o/r/actions/runs/sweep-1" in body
    assert "fails with PCG, passes with PCG disabled" in body
    assert TEST_TOKEN not in body and "hf_aaaa" not in body and "[REDACTED]" in body
    assert not any(p.startswith("/api/v3/search") for _, p in gh.requests), "never search"
    assert repo.comments == {}, "a new issue needs no comment"


def test_second_sync_on_same_data_writes_nothing(gh):
    b = remote(gh)
    a = make_analysis([make_signature()])
    sync(b, a)
    n = len(gh.requests)
    res = sync(b, a)
    assert writes(gh, n) == []
    assert res.lines() == ["no changes"]


def test_new_test_hit_edits_body_and_comments_once(gh):
    b = remote(gh)
    sync(b, make_analysis([make_signature()]))
    a2 = make_analysis([make_signature(tests=("registered/x/test_a.py", "registered/z/test_c.py"))], sweep="sweep-2")
    res = sync(b, a2)
    assert res.updated == [1] and res.commented == [1]
    comments = gh.repo("o/r").comments_of(1)
    assert len(comments) == 1 and "New test hit: `registered/z/test_c.py`" in comments[0]["body"]
    assert "test_c" in gh.repo("o/r").issues[1]["title"]
    n = len(gh.requests)
    sync(b, a2)
    assert writes(gh, n) == []


def test_pass_rate_wobble_updates_body_without_comment(gh):
    b = remote(gh)
    sync(b, make_analysis([make_signature(current=(2, 10))]))
    res = sync(b, make_analysis([make_signature(current=(4, 10))], sweep="sweep-2"))
    assert res.updated == [1] and res.commented == []
    assert "4/10 (40%)" in gh.repo("o/r").issues[1]["body"]


def test_culprit_found_is_announced(gh):
    b = remote(gh)
    sync(b, make_analysis([make_signature()]))
    culprit = {"status": "found", "sha": "deadbeef" * 5, "subject": "Enable fused MoE", "author": "a@b",
               "confidence": 0.97, "range": ["1" * 40, "2" * 40],
               "evidence": [{"sha": "deadbeef" * 5, "passed": 0, "runs": 10}]}
    sync(b, make_analysis([make_signature(culprit=culprit)], sweep="sweep-2"))
    c = gh.repo("o/r").comments_of(1)
    assert len(c) == 1 and "Culprit found: `deadbeefdead` Enable fused MoE (confidence 97%)" in c[0]["body"]
    assert "confidence **P = 0.970**" in gh.repo("o/r").issues[1]["body"]


def test_found_by_marker_not_by_title_and_prs_ignored(gh):
    repo = gh.repo("o/r")
    b = remote(gh)
    sync(b, make_analysis([make_signature()]))
    title = repo.issues[1]["title"]
    # Same title without a marker (a human's issue), and a PR carrying the labels and marker.
    repo.issues[2] = dict(repo.issues[1], number=2, id=99, body="I saw this too", labels=["pcgbot", f"sig:{FP}"])
    repo.issues[3] = dict(repo.issues[1], number=3, id=98, pull_request=True)
    repo.issues[1]["title"] = "renamed by a human"
    res = sync(b, make_analysis([make_signature(current=(1, 10))], sweep="s2"))
    assert res.created == [] and res.updated == [1]
    assert repo.issues[1]["title"] == title      # the bot's title is restored
    assert repo.issues[2]["body"] == "I saw this too"


def test_human_labels_survive_updates(gh):
    b = remote(gh)
    sync(b, make_analysis([make_signature()]))
    gh.repo("o/r").issues[1]["labels"].append("pcgbot")     # harmless duplicate
    gh.repo("o/r").labels["high-priority"] = {"id": 5, "name": "high-priority", "color": "ff0000", "description": None}
    gh.repo("o/r").issues[1]["labels"] = ["pcgbot", "pcg-regression", f"sig:{FP}", "pcg-bug", "1-gpu", "high-priority"]
    sync(b, make_analysis([make_signature(category="not-pcg", pcg_specific=False)], sweep="s2"))
    labels = gh.repo("o/r").issues[1]["labels"]
    assert "high-priority" in labels and "not-pcg" in labels and "pcg-bug" not in labels


def test_close_when_healthy_reopen_and_stop_autoclose(gh):
    b = remote(gh)
    repo = gh.repo("o/r")
    sync(b, make_analysis([make_signature()]))
    fix = {"status": "found", "sha": "f1f1f1f1" * 5, "subject": "Fix gather index", "confidence": 0.9}
    healthy = make_analysis([make_signature(verdict="fixed", current=(10, 10), fix=fix)], sweep="s2",
                            healthy=("registered/x/test_a.py",))
    res = sync(b, healthy)
    assert res.closed == [1] and repo.issues[1]["state"] == "closed"
    last = repo.comments_of(1)[-1]["body"]
    assert "healthy again" in last and "f1f1f1f1f1f1" in last and "10/10" in last
    n = len(gh.requests)
    sync(b, healthy)
    assert writes(gh, n) == []
    for k, sweep in enumerate(("s3", "s5")):
        res = sync(b, make_analysis([make_signature()], sweep=sweep))
        assert res.reopened == [1] and repo.issues[1]["state"] == "open"
        sync(b, make_analysis([], sweep=f"{sweep}h", healthy=("registered/x/test_a.py",)))
    # after the second reopen the bot says it stops auto-closing, and keeps the issue open
    assert repo.issues[1]["state"] == "open"
    bodies = [c["body"] for c in repo.comments_of(1)]
    assert any("no longer close it automatically" in x for x in bodies)
    assert any("auto-close is off" in x for x in bodies)
    assert IssueState.load(repo.issues[1]["body"]).reopens == 2


def test_close_after_needs_consecutive_healthy_sweeps(gh):
    b = remote(gh)
    sync(b, make_analysis([make_signature()]))
    h = ("registered/x/test_a.py",)
    assert sync(b, make_analysis([], sweep="h1", healthy=h), close_after=2).closed == []
    assert sync(b, make_analysis([], sweep="h1", healthy=h), close_after=2).closed == []   # same sweep again
    assert sync(b, make_analysis([], sweep="h2", healthy=h), close_after=2).closed == [1]


def test_still_failing_without_issue_is_not_filed(gh):
    b = remote(gh)
    res = sync(b, make_analysis([make_signature(verdict="still-failing", baseline=(0, 10))]))
    assert res.created == [] and gh.repo("o/r").issues == {}


def test_body_capped_below_github_limit(gh):
    b = remote(gh)
    tests = tuple(f"registered/many/test_{i:05d}_{'x' * 60}.py" for i in range(3000))
    sig = make_signature(tests=tests, excerpt=["E" * 3000] * 400)
    sync(b, make_analysis([sig]))
    body = gh.repo("o/r").issues[1]["body"]
    assert len(body) <= BODY_BUDGET and IssueState.load(body).fp == FP
    assert len(IssueState.load(body).tests) == 100       # bounded memory, table says how many more


def test_concurrent_syncs_make_one_issue(gh):
    """Four bots race on the same fingerprint; the fake lets all of them list before any creates."""
    for rnd in range(3):
        fp = f"cafe{rnd:08d}"
        a = make_analysis([make_signature(fp=fp)], sweep=f"race-{rnd}")
        backends = [remote(gh) for _ in range(4)]
        barrier = threading.Barrier(4)
        errors: list = []

        def go(b):
            try:
                barrier.wait()
                sync(b, a)
            except Exception as e:     # noqa: BLE001  (reported below)
                errors.append(e)
        gh.gate_next(4, method="GET", path_re=r"/issues$")   # everyone lists an empty repo before filing
        threads = [threading.Thread(target=go, args=(b,)) for b in backends]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert errors == []
        winners = live(gh, fp)
        assert len(winners) == 1
        mine = [i for i in gh.repo("o/r").issue_list() if f"sig={fp}" in (i["body"] or "")]
        assert mine == winners                      # the sig: label claim let one bot file
        # and a later sync of either bot changes nothing
        n = len(gh.requests)
        sync(backends[0], a)
        assert writes(gh, n) == []


def test_github_normalising_line_ends_does_not_cause_edits(gh):
    b = remote(gh)
    a = make_analysis([make_signature()])
    sync(b, a)
    issue = gh.repo("o/r").issues[1]
    issue["body"] = issue["body"].replace("\n", "\r\n") + "\r\n"
    n = len(gh.requests)
    sync(b, a)
    assert writes(gh, n) == []


DOCUMENTED = [  # (method, path) of GitHub's REST API that pcgbot may call; anything else is a bug
    ("GET", r"/repos/o/r/issues"), ("POST", r"/repos/o/r/issues"), ("GET", r"/repos/o/r/issues/\d+"),
    ("PATCH", r"/repos/o/r/issues/\d+"), ("GET", r"/repos/o/r/issues/\d+/comments"),
    ("POST", r"/repos/o/r/issues/\d+/comments"), ("DELETE", r"/repos/o/r/issues/comments/\d+"),
    ("GET", r"/repos/o/r/labels"), ("POST", r"/repos/o/r/labels"),
    ("GET", r"/repos/o/r/commits/[0-9a-f]+/status"), ("POST", r"/repos/o/r/statuses/[0-9a-f]+"),
    ("GET", r"/repos/o/r/commits/[0-9a-f]+/check-runs"), ("POST", r"/repos/o/r/check-runs"),
    ("PATCH", r"/repos/o/r/check-runs/\d+"),
]


def test_a_whole_lifecycle_uses_only_documented_endpoints(gh):
    import re
    from pcgbot.github.status import post_status
    b = remote(gh)
    sync(b, make_analysis([make_signature()]))
    sync(b, make_analysis([make_signature(tests=("registered/x/test_a.py", "t/test_c.py"))], sweep="s2"))
    sync(b, make_analysis([], sweep="s3", healthy=("registered/x/test_a.py", "t/test_c.py")))
    sync(b, make_analysis([make_signature()], sweep="s4"))
    post_status(b, make_analysis([]), "ab" * 20)
    post_status(b, make_analysis([]), "ab" * 20, check_run=True)
    post_status(b, make_analysis([make_signature()]), "ab" * 20, check_run=True)
    for method, path in gh.requests:
        sub = path[len("/api/v3"):]
        assert any(m == method and re.fullmatch(p, sub) for m, p in DOCUMENTED), (method, sub)


def test_human_won_t_fix_is_not_reopened(gh):
    b = remote(gh)
    sync(b, make_analysis([make_signature()]))
    gh.repo("o/r").issues[1].update(state="closed", state_reason="not_planned")
    res = sync(b, make_analysis([make_signature(current=(1, 10))], sweep="s2"))
    assert res.reopened == [] and gh.repo("o/r").issues[1]["state"] == "closed"
    assert "1/10" in gh.repo("o/r").issues[1]["body"]


def test_a_rerun_sweep_posts_the_pass_rates_once(gh):
    """/pcgbot rerun dispatches a partial sweep: its rates are posted even when nothing changed."""
    b = remote(gh)
    sync(b, make_analysis([make_signature()]))
    rerun = make_analysis([make_signature()], sweep="rerun-7")
    rerun["sweep"]["partial"] = True
    sync(b, rerun)
    sync(b, rerun)                                          # idempotent: one comment per sweep
    posted = [c["body"] for c in gh.repo("o/r").comments_of(1) if "Re-run `rerun-7`" in c["body"]]
    assert len(posted) == 1
    assert "| `registered/x/test_a.py` | 0/10 | regression |" in posted[0]
    # a full sweep with the same rates stays quiet
    n = len(gh.repo("o/r").comments_of(1))
    sync(b, make_analysis([make_signature()], sweep="sweep-2"))
    assert len(gh.repo("o/r").comments_of(1)) == n
