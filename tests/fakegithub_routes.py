"""The endpoints of the fake GitHub server (tests/fakegithub.py), one function per route.

Each route runs under the server's lock and returns (status, json, extra headers) or raises
_Reply for GitHub's error answers (404 Not Found, 422 Validation Failed with an errors list).
"""

from __future__ import annotations

import json
import re
import time
from typing import Any, Callable

from fakegithub import (BODY_MAX, COLOR_RE, LABEL_DESC_MAX, LABEL_MAX, REACTIONS, STATUS_DESC_MAX,
                        STATUS_STATES, FakeGitHub, RepoState, _now, _Reply, paginate)


def _invalid(resource: str, fld: str, message: str, code: str = "invalid") -> _Reply:
    return _Reply(422, "Validation Failed",
                  [{"resource": resource, "code": code, "field": fld, "message": message}])


def install_routes(gh: FakeGitHub, route: Callable) -> None:
    """The endpoints pcgbot uses.  Each returns (status, json, extra headers) under gh.lock."""
    R = r"/repos/([^/]+/[^/]+)"

    def repo_of(name: str) -> RepoState:
        if name not in gh._repos:
            raise _Reply(404, "Not Found")
        return gh._repos[name]

    def issue_of(r: RepoState, num: str) -> dict:
        iss = r.issues.get(int(num))
        if iss is None:
            raise _Reply(404, "Not Found")
        return iss

    def check_body(resource: str, body: Any) -> None:
        if body is not None and not isinstance(body, str):
            raise _invalid(resource, "body", "body must be a string")
        if body is not None and len(body) > BODY_MAX:
            raise _invalid(resource, "body", f"body is too long (maximum is {BODY_MAX} characters)", "custom")

    def ensure_label(r: RepoState, name: Any, color: str = "ededed", description: Any = None) -> dict:
        if not isinstance(name, str) or not name.strip():
            raise _invalid("Label", "name", "name is missing", "missing_field")
        if len(name) > LABEL_MAX:
            raise _invalid("Label", "name", f"name is too long (maximum is {LABEL_MAX} characters)")
        if not isinstance(color, str) or not COLOR_RE.match(color):
            raise _invalid("Label", "color", "color is invalid")
        if description is not None and (not isinstance(description, str) or len(description) > LABEL_DESC_MAX):
            raise _invalid("Label", "description", f"description is too long (maximum is {LABEL_DESC_MAX} characters)")
        if name.lower() not in r.labels:
            r.labels[name.lower()] = {"id": gh.new_id(), "name": name, "color": color.lower(),
                                      "description": description}
        return r.labels[name.lower()]

    def label_names(r: RepoState, labels: Any) -> list[str]:
        if not isinstance(labels, list):
            raise _invalid("Issue", "labels", "labels must be an array")
        names = []
        for lab in labels:
            name = lab.get("name") if isinstance(lab, dict) else lab
            got = ensure_label(r, name)          # GitHub creates unknown labels on the fly
            if got["name"] not in names:
                names.append(got["name"])
        return names

    @route("GET", "/rate_limit")
    def rate_limit(body: Any, q: dict) -> tuple:
        core = {"limit": 5000, "remaining": gh.rate_remaining, "reset": int(time.time()) + 3600, "used": 1}
        return 200, {"resources": {"core": core, "search": dict(core, limit=30)}, "rate": core}, {}

    @route("GET", "/user")
    def user(body: Any, q: dict) -> tuple:
        return 200, gh.user_json(), {}

    @route("GET", R)
    def get_repo(body: Any, q: dict, name: str) -> tuple:
        return 200, gh.repo_json(repo_of(name)), {}

    @route("GET", R + "/issues")
    def list_issues(body: Any, q: dict, name: str) -> tuple:
        r = repo_of(name)
        state = q.get("state", "open")
        if state not in ("open", "closed", "all"):
            raise _invalid("Issue", "state", "state is invalid")
        want = [w.strip().lower() for w in q.get("labels", "").split(",") if w.strip()]
        items = []
        for iss in r.issue_list():
            if state != "all" and iss["state"] != state:
                continue
            have = {n.lower() for n in iss["labels"]}
            if any(w not in have for w in want):
                continue
            items.append(iss)
        key = "updated_at" if q.get("sort") == "updated" else "created_at"
        items.sort(key=lambda i: (i[key], i["number"]), reverse=q.get("direction", "desc") == "desc")
        chunk, headers = paginate(gh, f"/repos/{name}/issues", items, q)
        return 200, [gh.issue_json(r, i) for i in chunk], headers

    @route("POST", R + "/issues")
    def create_issue(body: Any, q: dict, name: str) -> tuple:
        r = repo_of(name)
        body = body or {}
        title = body.get("title")
        if not isinstance(title, str) or not title.strip():
            raise _invalid("Issue", "title", "title is missing", "missing_field")
        if len(title) > 256:
            raise _invalid("Issue", "title", "title is too long (maximum is 256 characters)")
        check_body("Issue", body.get("body"))
        labels = label_names(r, body.get("labels", []))
        number = max(r.issues, default=0) + 1
        now = _now()
        r.issues[number] = {"id": gh.new_id(), "number": number, "title": title, "body": body.get("body"),
                            "state": "open", "state_reason": None, "labels": labels, "user": gh.login,
                            "created_at": now, "updated_at": now, "closed_at": None}
        return 201, gh.issue_json(r, r.issues[number]), {}

    @route("GET", R + r"/issues/(\d+)")
    def get_issue(body: Any, q: dict, name: str, num: str) -> tuple:
        r = repo_of(name)
        return 200, gh.issue_json(r, issue_of(r, num)), {}

    @route("PATCH", R + r"/issues/(\d+)")
    def edit_issue(body: Any, q: dict, name: str, num: str) -> tuple:
        r = repo_of(name)
        iss = issue_of(r, num)
        body = body or {}
        if "title" in body and (not isinstance(body["title"], str) or not body["title"].strip()):
            raise _invalid("Issue", "title", "title is missing", "missing_field")
        if "body" in body:
            check_body("Issue", body["body"])
        if "state" in body and body["state"] not in ("open", "closed"):
            raise _invalid("Issue", "state", "state is invalid")
        reason = body.get("state_reason")
        if reason is not None and reason not in ("completed", "not_planned", "duplicate", "reopened"):
            raise _invalid("Issue", "state_reason", "state_reason is invalid")
        labels = label_names(r, body["labels"]) if "labels" in body else None
        for k in ("title", "body"):
            if k in body:
                iss[k] = body[k]
        if labels is not None:
            iss["labels"] = labels
        if body.get("state") and body["state"] != iss["state"]:
            iss["state"] = body["state"]
            iss["closed_at"] = _now() if body["state"] == "closed" else None
            iss["state_reason"] = reason or ("completed" if body["state"] == "closed" else "reopened")
        iss["updated_at"] = _now()
        return 200, gh.issue_json(r, iss), {}

    @route("GET", R + r"/issues/(\d+)/comments")
    def list_comments(body: Any, q: dict, name: str, num: str) -> tuple:
        r = repo_of(name)
        issue_of(r, num)
        items = sorted(r.comments_of(int(num)), key=lambda c: c["id"])
        chunk, headers = paginate(gh, f"/repos/{name}/issues/{num}/comments", items, q)
        return 200, [gh.comment_json(r, c) for c in chunk], headers

    @route("POST", R + r"/issues/(\d+)/comments")
    def create_comment(body: Any, q: dict, name: str, num: str) -> tuple:
        r = repo_of(name)
        iss = issue_of(r, num)
        text = (body or {}).get("body")
        if not isinstance(text, str) or not text:
            raise _invalid("IssueComment", "body", "body is missing", "missing_field")
        check_body("IssueComment", text)
        cid = gh.new_id()
        now = _now()
        r.comments[cid] = {"id": cid, "_issue": iss["number"], "body": text, "user": gh.login,
                           "created_at": now, "updated_at": now}
        iss["updated_at"] = now
        return 201, gh.comment_json(r, r.comments[cid]), {}

    @route("GET", R + r"/issues/comments/(\d+)")
    def get_comment(body: Any, q: dict, name: str, cid: str) -> tuple:
        r = repo_of(name)
        if int(cid) not in r.comments:
            raise _Reply(404, "Not Found")
        return 200, gh.comment_json(r, r.comments[int(cid)]), {}

    @route("PATCH", R + r"/issues/comments/(\d+)")
    def edit_comment(body: Any, q: dict, name: str, cid: str) -> tuple:
        r = repo_of(name)
        c = r.comments.get(int(cid))
        if c is None:
            raise _Reply(404, "Not Found")
        text = (body or {}).get("body")
        if not isinstance(text, str) or not text:
            raise _invalid("IssueComment", "body", "body is missing", "missing_field")
        check_body("IssueComment", text)
        c["body"], c["updated_at"] = text, _now()
        return 200, gh.comment_json(r, c), {}

    @route("DELETE", R + r"/issues/comments/(\d+)")
    def delete_comment(body: Any, q: dict, name: str, cid: str) -> tuple:
        r = repo_of(name)
        if r.comments.pop(int(cid), None) is None:
            raise _Reply(404, "Not Found")
        return 204, None, {}

    @route("POST", R + r"/issues/comments/(\d+)/reactions")
    def react(body: Any, q: dict, name: str, cid: str) -> tuple:
        r = repo_of(name)
        if int(cid) not in r.comments:
            raise _Reply(404, "Not Found")
        content = (body or {}).get("content")
        if content not in REACTIONS:
            raise _invalid("Reaction", "content", "content is not included in the list")
        for x in r.reactions:
            if x["comment_id"] == int(cid) and x["content"] == content and x["user"] == gh.login:
                return 200, dict(x["json"]), {}
        rid = gh.new_id()
        js = {"id": rid, "node_id": f"REA_{rid}", "user": gh.user_json(), "content": content,
              "created_at": _now()}
        r.reactions.append({"comment_id": int(cid), "content": content, "user": gh.login, "json": js})
        return 201, js, {}

    @route("GET", R + r"/issues/(\d+)/labels")
    def issue_labels(body: Any, q: dict, name: str, num: str) -> tuple:
        r = repo_of(name)
        return 200, [gh.label_json(r, r.labels[n.lower()]) for n in issue_of(r, num)["labels"]], {}

    @route("POST", R + r"/issues/(\d+)/labels")
    def add_labels(body: Any, q: dict, name: str, num: str) -> tuple:
        r = repo_of(name)
        iss = issue_of(r, num)
        names = body.get("labels") if isinstance(body, dict) else body
        for n in label_names(r, names):
            if n.lower() not in {x.lower() for x in iss["labels"]}:
                iss["labels"].append(n)
        iss["updated_at"] = _now()
        return 200, [gh.label_json(r, r.labels[n.lower()]) for n in iss["labels"]], {}

    @route("GET", R + "/labels")
    def list_labels(body: Any, q: dict, name: str) -> tuple:
        r = repo_of(name)
        items = sorted(r.labels.values(), key=lambda lab: lab["id"])
        chunk, headers = paginate(gh, f"/repos/{name}/labels", items, q)
        return 200, [gh.label_json(r, lab) for lab in chunk], headers

    @route("POST", R + "/labels")
    def create_label(body: Any, q: dict, name: str) -> tuple:
        r = repo_of(name)
        body = body or {}
        if str(body.get("name", "")).lower() in r.labels:
            raise _invalid("Label", "name", "already_exists", "already_exists")
        lab = ensure_label(r, body.get("name"), body.get("color", "ededed"), body.get("description"))
        return 201, gh.label_json(r, lab), {}

    @route("GET", R + r"/labels/(.+)")
    def get_label(body: Any, q: dict, name: str, lname: str) -> tuple:
        r = repo_of(name)
        if lname.lower() not in r.labels:
            raise _Reply(404, "Not Found")
        return 200, gh.label_json(r, r.labels[lname.lower()]), {}

    def commit_sha(sha: str) -> str:
        if not re.fullmatch(r"[0-9a-f]{7,40}", sha):
            raise _Reply(422, f"No commit found for SHA: {sha}")
        return sha

    @route("GET", R + r"/commits/([^/]+)")
    def get_commit(body: Any, q: dict, name: str, sha: str) -> tuple:
        r = repo_of(name)
        sha = commit_sha(sha)
        login = (r.commits.get(sha) or {}).get("author")
        url = f"{gh.url}/repos/{r.full_name}/commits/{sha}"
        return 200, {"sha": sha, "node_id": f"C_{sha}", "url": url,
                     "html_url": f"{gh.root}/{r.full_name}/commit/{sha}", "comments_url": url + "/comments",
                     "commit": {"message": "", "url": url, "comment_count": 0,
                                "author": None, "committer": None, "tree": {"sha": sha, "url": url}},
                     "author": gh.user_json(login) if login else None, "committer": None, "parents": []}, {}

    @route("GET", R + "/pages")
    def get_pages(body: Any, q: dict, name: str) -> tuple:
        r = repo_of(name)
        if r.pages is None:
            raise _Reply(404, "Not Found")
        return 200, {"url": f"{gh.url}/repos/{r.full_name}/pages", "status": "built", "cname": None,
                     "custom_404": False, "public": True, "html_url": r.pages,
                     "build_type": "workflow", "https_enforced": True}, {}

    @route("POST", R + r"/statuses/([^/]+)")
    def create_status(body: Any, q: dict, name: str, sha: str) -> tuple:
        r = repo_of(name)
        sha = commit_sha(sha)
        body = body or {}
        if body.get("state") not in STATUS_STATES:
            raise _invalid("Status", "state", "state is not included in the list")
        desc = body.get("description")
        if desc is not None and len(desc) > STATUS_DESC_MAX:
            raise _invalid("Status", "description",
                           f"description is too long (maximum is {STATUS_DESC_MAX} characters)", "custom")
        s = {"id": gh.new_id(), "sha": sha, "state": body["state"], "description": desc,
             "target_url": body.get("target_url"), "context": body.get("context") or "default",
             "created_at": _now()}
        r.statuses.append(s)
        return 201, gh.status_json(r, s), {}

    def statuses_for(name: str, sha: str, q: dict) -> tuple:
        r = repo_of(name)
        items = [s for s in reversed(r.statuses) if s["sha"] == commit_sha(sha)]   # newest first
        chunk, headers = paginate(gh, f"/repos/{name}/commits/{sha}/statuses", items, q)
        return 200, [gh.status_json(r, s) for s in chunk], headers

    route("GET", R + r"/statuses/([^/]+)")(lambda b, q, n, s: statuses_for(n, s, q))
    route("GET", R + r"/commits/([^/]+)/statuses")(lambda b, q, n, s: statuses_for(n, s, q))

    @route("GET", R + r"/commits/([^/]+)/status")
    def combined(body: Any, q: dict, name: str, sha: str) -> tuple:
        r = repo_of(name)
        latest: dict[str, dict] = {}
        for s in r.statuses:
            if s["sha"] == commit_sha(sha):
                latest[s["context"]] = s
        states = [s["state"] for s in latest.values()]
        state = ("failure" if any(x in ("failure", "error") for x in states) else
                 "pending" if (not states or "pending" in states) else "success")
        return 200, {"state": state, "sha": sha, "total_count": len(latest),
                     "statuses": [gh.status_json(r, s) for s in latest.values()],
                     "repository": gh.repo_json(r), "commit_url": f"{gh.url}/repos/{name}/commits/{sha}",
                     "url": f"{gh.url}/repos/{name}/commits/{sha}/status"}, {}

    def check_output(body: dict) -> None:
        out = body.get("output")
        if out is None:
            return
        if not isinstance(out, dict) or not out.get("title") or not out.get("summary"):
            raise _invalid("CheckRun", "output", "output needs title and summary", "missing_field")
        for k in ("summary", "text"):
            if len(out.get(k) or "") > 65535:
                raise _invalid("CheckRun", "output", f"output.{k} is too long (maximum is 65535 characters)")

    @route("POST", R + "/check-runs")
    def create_check_run(body: Any, q: dict, name: str) -> tuple:
        r = repo_of(name)
        body = body or {}
        if not body.get("name") or not body.get("head_sha"):
            raise _invalid("CheckRun", "name", "name and head_sha are required", "missing_field")
        commit_sha(body["head_sha"])
        if body.get("status") == "completed" and not body.get("conclusion"):
            raise _invalid("CheckRun", "conclusion", "conclusion is required when status is completed")
        check_output(body)
        cid = gh.new_id()
        run = dict(body, id=cid, created_at=_now())
        if body.get("conclusion"):
            run["status"] = "completed"
            run.setdefault("completed_at", _now())
        r.check_runs[cid] = run
        return 201, gh.check_run_json(r, run), {}

    @route("PATCH", R + r"/check-runs/(\d+)")
    def edit_check_run(body: Any, q: dict, name: str, cid: str) -> tuple:
        r = repo_of(name)
        run = r.check_runs.get(int(cid))
        if run is None:
            raise _Reply(404, "Not Found")
        check_output(body or {})
        run.update(body or {})
        if run.get("conclusion"):
            run["status"] = "completed"
        return 200, gh.check_run_json(r, run), {}

    @route("GET", R + r"/commits/([^/]+)/check-runs")
    def list_check_runs(body: Any, q: dict, name: str, sha: str) -> tuple:
        r = repo_of(name)
        runs = [c for c in r.check_runs.values() if c["head_sha"] == commit_sha(sha)
                and (not q.get("check_name") or c["name"] == q["check_name"])]
        chunk, headers = paginate(gh, f"/repos/{name}/commits/{sha}/check-runs", runs, q)
        return 200, {"total_count": len(runs), "check_runs": [gh.check_run_json(r, c) for c in chunk]}, headers

    def workflow_of(r: RepoState, wf: str) -> int:
        if wf not in r.workflows and not (wf.isdigit() and int(wf) in r.workflows.values()):
            raise _Reply(404, "Not Found")
        return r.workflows.get(wf) or int(wf)

    @route("GET", R + r"/actions/workflows/([^/]+)")
    def get_workflow(body: Any, q: dict, name: str, wf: str) -> tuple:
        r = repo_of(name)
        wid = workflow_of(r, wf)
        fname = next(k for k, v in r.workflows.items() if v == wid)
        return 200, {"id": wid, "node_id": f"W_{wid}", "name": fname, "path": f".github/workflows/{fname}",
                     "state": "active", "created_at": _now(), "updated_at": _now(),
                     "url": f"{gh.url}/repos/{name}/actions/workflows/{wid}",
                     "html_url": f"{gh.root}/{name}/actions/workflows/{fname}",
                     "badge_url": f"{gh.root}/{name}/workflows/{fname}/badge.svg"}, {}

    @route("POST", R + r"/actions/workflows/([^/]+)/dispatches")
    def dispatch(body: Any, q: dict, name: str, wf: str) -> tuple:
        r = repo_of(name)
        wid = workflow_of(r, wf)
        body = body or {}
        if not isinstance(body.get("ref"), str) or not body["ref"]:
            raise _invalid("Workflow", "ref", "ref is missing", "missing_field")
        inputs = body.get("inputs") or {}
        if not isinstance(inputs, dict) or len(inputs) > 25 or \
                any(not isinstance(v, (str, bool, int, float)) for v in inputs.values()):
            raise _invalid("Workflow", "inputs", "inputs are invalid")
        fname = next(k for k, v in r.workflows.items() if v == wid)
        declared = r.workflow_inputs.get(fname)
        extra = sorted(set(inputs) - declared) if declared is not None else []
        if extra:
            raise _Reply(422, "Unexpected inputs provided: " + json.dumps(extra))
        r.dispatches.append({"workflow": fname, "ref": body["ref"], "inputs": inputs})
        return 204, None, {}

    @route("GET", R + r"/collaborators/([^/]+)/permission")
    def permission(body: Any, q: dict, name: str, login: str) -> tuple:
        r = repo_of(name)
        perm = r.permissions.get(login, "none")
        return 200, {"permission": perm, "role_name": perm, "user": gh.user_json(login)}, {}

    @route("GET", "/search/issues")
    def search(body: Any, q: dict) -> tuple:
        # Present because GitHub has it; pcgbot must not use it (tests assert it is never called).
        return 200, {"total_count": 0, "incomplete_results": False, "items": []}, {}


    from fakegithub_commits import install_commit_routes   # commits -> pulls, commit comments
    install_commit_routes(gh, route, repo_of, check_body)
