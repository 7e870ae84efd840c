"""Commits, the pull requests that merged them, and commit comments, for the fake GitHub server.

What pcgbot needs to tell a culprit's author (pcgbot/github/author.py): ``GET /commits/SHA``
(the author's login), ``GET /commits/SHA/pulls`` (pull-request-simple items) and
``GET|POST /commits/SHA/comments`` (commit-comment).  A pull request is also an issue (its
comments are issue comments, as on GitHub), so it lives in ``RepoState.issues`` with a
``pull_request`` key.  Shapes are checked against the OpenAPI required fields by
tests/github/test_github_fake.py.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Iterable, Optional

from fakegithub import FakeGitHub, RepoState, _now, _Reply, paginate


def add_pull(gh: FakeGitHub, repo: str, *, title: str, user: str, commits: Iterable[str] = (),
             merge_commit_sha: Optional[str] = None, merged: bool = True, body: str = "") -> int:
    """A pull request by ``user`` that contains ``commits`` (and was merged as
    ``merge_commit_sha``); returns its number.  Commit authors are set with ``commit_author``."""
    r = gh.repo(repo)
    with gh.lock:
        number = max(r.issues, default=0) + 1
        now = _now()
        r.issues[number] = {"id": gh.new_id(), "number": number, "title": title, "body": body,
                            "state": "closed" if merged else "open", "state_reason": None, "labels": [],
                            "user": user, "created_at": now, "updated_at": now,
                            "closed_at": now if merged else None, "pull_request": True,
                            "merged_at": now if merged else None, "merge_commit_sha": merge_commit_sha}
        for sha in {*commits, *([merge_commit_sha] if merge_commit_sha else [])}:
            r.commits.setdefault(sha, {"author": None, "pulls": []})["pulls"].append(number)
    return number


def commit_author(gh: FakeGitHub, repo: str, sha: str, login: Optional[str]) -> None:
    r = gh.repo(repo)
    with gh.lock:
        r.commits.setdefault(sha, {"author": None, "pulls": []})["author"] = login


def pull_json(gh: FakeGitHub, r: RepoState, iss: dict) -> dict:
    n = iss["number"]
    api = f"{gh.url}/repos/{r.full_name}"
    html = f"{gh.root}/{r.full_name}/pull/{n}"
    repo = gh.repo_json(r)
    side = {"label": f"{r.full_name.split('/')[0]}:main", "ref": "main", "repo": repo,
            "sha": iss.get("merge_commit_sha") or "0" * 40, "user": gh.user_json(iss["user"])}
    links = {k: {"href": u} for k, u in (
        ("comments", f"{api}/issues/{n}/comments"), ("commits", f"{api}/pulls/{n}/commits"),
        ("statuses", f"{api}/statuses/{side['sha']}"), ("html", html), ("issue", f"{api}/issues/{n}"),
        ("review_comments", f"{api}/pulls/{n}/comments"),
        ("review_comment", f"{api}/pulls/comments{{/number}}"), ("self", f"{api}/pulls/{n}"))}
    return {"url": f"{api}/pulls/{n}", "id": iss["id"], "node_id": f"PR_{iss['id']}", "html_url": html,
            "diff_url": html + ".diff", "patch_url": html + ".patch", "issue_url": f"{api}/issues/{n}",
            "commits_url": f"{api}/pulls/{n}/commits", "review_comments_url": f"{api}/pulls/{n}/comments",
            "review_comment_url": f"{api}/pulls/comments{{/number}}", "comments_url": f"{api}/issues/{n}/comments",
            "statuses_url": f"{api}/statuses/{side['sha']}", "number": n, "state": iss["state"],
            "locked": False, "title": iss["title"], "user": gh.user_json(iss["user"]), "body": iss.get("body"),
            "labels": [gh.label_json(r, r.labels[x.lower()]) for x in iss["labels"]], "milestone": None,
            "active_lock_reason": None, "created_at": iss["created_at"], "updated_at": iss["updated_at"],
            "closed_at": iss.get("closed_at"), "merged_at": iss.get("merged_at"),
            "merge_commit_sha": iss.get("merge_commit_sha"), "assignee": None, "assignees": [],
            "requested_reviewers": [], "requested_teams": [], "head": side, "base": dict(side),
            "_links": links, "author_association": "CONTRIBUTOR", "auto_merge": None, "draft": False}


def commit_comment_json(gh: FakeGitHub, r: RepoState, c: dict) -> dict:
    return {"url": f"{gh.url}/repos/{r.full_name}/comments/{c['id']}",
            "html_url": f"{gh.root}/{r.full_name}/commit/{c['commit_id']}#commitcomment-{c['id']}",
            "id": c["id"], "node_id": f"CC_{c['id']}", "user": gh.user_json(c["user"]), "position": None,
            "line": None, "path": None, "commit_id": c["commit_id"], "body": c["body"],
            "author_association": "NONE", "created_at": c["created_at"], "updated_at": c["created_at"]}


def install_commit_routes(gh: FakeGitHub, route: Callable, repo_of: Callable[[str], RepoState],
                          check_body: Callable[[str, Any], None]) -> None:
    R = r"/repos/([^/]+/[^/]+)"

    def sha_of(sha: str) -> str:
        if not re.fullmatch(r"[0-9a-f]{7,40}", sha):
            raise _Reply(422, f"No commit found for SHA: {sha}")
        return sha

    @route("GET", R + r"/commits/([^/]+)/pulls")
    def commit_pulls(body: Any, q: dict, name: str, sha: str) -> tuple:
        r = repo_of(name)
        nums = (r.commits.get(sha_of(sha)) or {}).get("pulls") or []
        items = [r.issues[n] for n in sorted(set(nums)) if n in r.issues]
        chunk, headers = paginate(gh, f"/repos/{name}/commits/{sha}/pulls", items, q)
        return 200, [pull_json(gh, r, i) for i in chunk], headers

    @route("GET", R + r"/commits/([^/]+)/comments")
    def list_commit_comments(body: Any, q: dict, name: str, sha: str) -> tuple:
        r = repo_of(name)
        items = [c for c in r.commit_comments.values() if c["commit_id"] == sha_of(sha)]
        chunk, headers = paginate(gh, f"/repos/{name}/commits/{sha}/comments", items, q)
        return 200, [commit_comment_json(gh, r, c) for c in chunk], headers

    @route("POST", R + r"/commits/([^/]+)/comments")
    def create_commit_comment(body: Any, q: dict, name: str, sha: str) -> tuple:
        r = repo_of(name)
        text = (body or {}).get("body")
        if not isinstance(text, str) or not text:
            raise _Reply(422, "Validation Failed", [{"resource": "CommitComment", "code": "missing_field",
                                                     "field": "body"}])
        check_body("CommitComment", text)
        c = {"id": gh.new_id(), "commit_id": sha_of(sha), "body": text, "user": gh.login, "created_at": _now()}
        r.commit_comments[c["id"]] = c
        return 201, commit_comment_json(gh, r, c), {}
