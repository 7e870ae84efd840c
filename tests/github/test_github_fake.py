"""The fake GitHub server itself: shapes against GitHub's OpenAPI required fields, its own address
in urls and Link headers, pagination, GitHub's limits, fault injection."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import requests

from fakegithub import TEST_TOKEN, FakeGitHub, remote

SCHEMAS = json.loads((Path(__file__).resolve().parents[1] / "data" / "github_openapi_trimmed.json").read_text())
HDR = {"Authorization": f"token {TEST_TOKEN}", "Accept": "application/vnd.github+json"}
SHA = "ab" * 20


def check(obj: object, name: str) -> None:
    jsonschema.validate(obj, SCHEMAS[name])


@pytest.fixture
def gh():
    with FakeGitHub() as g:
        g.repo("o/r").workflows["pcgbot-bisect.yml"] = 7
        yield g


def call(gh: FakeGitHub, method: str, path: str, body: object = None, **params: str) -> requests.Response:
    r = requests.request(method, gh.url + path, headers=HDR, json=body, params=params, timeout=5)
    for h in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"):
        assert h in r.headers
    return r


def test_responses_have_openapi_required_fields(gh):
    r = call(gh, "POST", "/repos/o/r/issues", {"title": "t", "body": "b", "labels": ["pcgbot"]})
    assert r.status_code == 201
    issue = r.json()
    check(issue, "issue")
    check(issue["user"], "simple-user")
    check(issue["labels"][0], "label")
    r = call(gh, "POST", "/repos/o/r/issues/1/comments", {"body": "hi"})
    assert r.status_code == 201
    check(r.json(), "issue-comment")
    cid = r.json()["id"]
    r = call(gh, "POST", f"/repos/o/r/issues/comments/{cid}/reactions", {"content": "+1"})
    assert r.status_code == 201
    check(r.json(), "reaction")
    assert call(gh, "POST", f"/repos/o/r/issues/comments/{cid}/reactions", {"content": "+1"}).status_code == 200
    r = call(gh, "POST", "/repos/o/r/labels", {"name": "x", "color": "00ff00", "description": "d"})
    assert r.status_code == 201
    check(r.json(), "label")
    r = call(gh, "POST", "/repos/o/r/labels", {"name": "X", "color": "00ff00"})
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "already_exists"
    check(r.json(), "validation-error")
    r = call(gh, "POST", f"/repos/o/r/statuses/{SHA}", {"state": "success", "description": "d", "context": "c"})
    assert r.status_code == 201
    check(r.json(), "status")
    check(call(gh, "GET", f"/repos/o/r/commits/{SHA}/status").json(), "combined-commit-status")
    r = call(gh, "POST", "/repos/o/r/check-runs", {"name": "n", "head_sha": SHA, "status": "completed",
                                                    "conclusion": "success", "output": {"title": "t", "summary": "s"}})
    assert r.status_code == 201
    check(r.json(), "check-run")
    check(call(gh, "GET", f"/repos/o/r/commits/{SHA}/check-runs").json(), "check-runs-list")
    check(call(gh, "GET", "/repos/o/r/actions/workflows/pcgbot-bisect.yml").json(), "workflow")
    r = call(gh, "POST", "/repos/o/r/actions/workflows/pcgbot-bisect.yml/dispatches", {"ref": "main", "inputs": {"test": "x"}})
    assert r.status_code == 204 and r.content == b""
    check(call(gh, "GET", "/repos/o/r/collaborators/alice/permission").json(), "repository-collaborator-permission")
    r = call(gh, "GET", "/repos/o/r/issues/99")
    assert r.status_code == 404
    check(r.json(), "basic-error")
    assert call(gh, "GET", "/repos/o/r/pages").status_code == 404     # Pages not enabled
    gh.repo("o/r").pages = "https://o.github.io/r/"
    check(call(gh, "GET", "/repos/o/r/pages").json(), "page")


def test_own_address_in_urls_and_link_headers_and_pagination(gh):
    repo = gh.repo("o/r")
    for _ in range(75):
        call(gh, "POST", "/repos/o/r/issues", {"title": "t", "labels": ["pcgbot"]})
    r = call(gh, "GET", "/repos/o/r/issues", state="all", per_page="30")
    assert len(r.json()) == 30 and all(i["url"].startswith(gh.url) for i in r.json())
    link = r.headers["Link"]
    assert f"<{gh.url}/repos/o/r/issues?" in link and 'rel="next"' in link and 'rel="last"' in link
    b = remote(gh)
    assert len(b.list_issues(["pcgbot"], "all")) == 75 == len(repo.issues)
    assert len(b.list_issues(["pcgbot", "nope"], "all")) == 0


def test_limits_are_enforced(gh):
    def status(path, body, method="POST"):
        return call(gh, method, path, body).status_code
    assert status("/repos/o/r/issues", {"title": "t", "body": "x" * 65537}) == 422
    assert status("/repos/o/r/issues", {"title": "t", "body": "x" * 65536}) == 201
    assert status("/repos/o/r/issues/1/comments", {"body": "x" * 65537}) == 422
    assert status("/repos/o/r/issues/1", {"body": "x" * 65537}, "PATCH") == 422
    assert status("/repos/o/r/labels", {"name": "l" * 51, "color": "ffffff"}) == 422
    assert status("/repos/o/r/labels", {"name": "ok", "color": "#ffffff"}) == 422
    assert status("/repos/o/r/labels", {"name": "ok", "color": "fff"}) == 422
    assert status("/repos/o/r/labels", {"name": "ok", "color": "ffffff", "description": "d" * 101}) == 422
    assert status(f"/repos/o/r/statuses/{SHA}", {"state": "success", "description": "d" * 141}) == 422
    assert status(f"/repos/o/r/statuses/{SHA}", {"state": "great"}) == 422
    assert status("/repos/o/r/issues", {"title": "t", "labels": ["l" * 51]}) == 422
    assert requests.get(gh.url + "/repos/o/r/issues", timeout=5).status_code == 401


def test_fault_injection(gh):
    gh.fail_next(1, status=502, method="GET")
    assert call(gh, "GET", "/repos/o/r").status_code == 502
    assert call(gh, "GET", "/repos/o/r").status_code == 200
    gh.rate_limit_next(1, status=403, reset_in=10)
    r = call(gh, "GET", "/repos/o/r")
    assert r.status_code == 403 and r.headers["X-RateLimit-Remaining"] == "0"
    gh.rate_limit_next(1, status=429, retry_after=2)
    r = call(gh, "GET", "/repos/o/r")
    assert r.status_code == 429 and r.headers["Retry-After"] == "2"
    gh.timeout_next(1, seconds=1.0)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(gh.url + "/repos/o/r", headers=HDR, timeout=0.3)
    gh.drop_next(1)
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(gh.url + "/repos/o/r", headers=HDR, timeout=5)
    assert gh.pending_faults() == 0


def test_commit_pulls_and_commit_comments_match_openapi(gh):
    from fakegithub_commits import add_pull, commit_author
    n = add_pull(gh, "o/r", title="Speed up capture", user="alice", merge_commit_sha=SHA)
    commit_author(gh, "o/r", SHA, "alice")
    r = call(gh, "GET", f"/repos/o/r/commits/{SHA}")
    check(r.json(), "commit")
    assert r.json()["author"]["login"] == "alice"
    check(r.json()["author"], "simple-user")
    pulls = call(gh, "GET", f"/repos/o/r/commits/{SHA}/pulls").json()
    assert [p["number"] for p in pulls] == [n] and pulls[0]["merge_commit_sha"] == SHA
    check(pulls[0], "pull-request-simple")
    assert pulls[0]["url"].startswith(gh.url) and pulls[0]["merged_at"]
    assert call(gh, "GET", f"/repos/o/r/commits/{'cd' * 20}/pulls").json() == []
    # a pull request's conversation is its issue's comments, as on GitHub
    assert call(gh, "POST", f"/repos/o/r/issues/{n}/comments", {"body": "hi"}).status_code == 201
    r = call(gh, "POST", f"/repos/o/r/commits/{SHA}/comments", {"body": "note"})
    assert r.status_code == 201
    check(r.json(), "commit-comment")
    listed = call(gh, "GET", f"/repos/o/r/commits/{SHA}/comments").json()
    assert [c["body"] for c in listed] == ["note"]
    check(listed[0], "commit-comment")
    assert call(gh, "POST", f"/repos/o/r/commits/{SHA}/comments", {"body": "x" * 65537}).status_code == 422
    assert call(gh, "POST", f"/repos/o/r/commits/{SHA}/comments", {}).status_code == 422
    assert call(gh, "GET", "/repos/o/r/commits/zz/pulls").status_code == 422
