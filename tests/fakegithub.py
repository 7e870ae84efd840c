"""A stateful fake GitHub REST API on loopback, for PyGithub to talk real HTTP to.

Usage::

    with FakeGitHub() as gh:                 # starts a server on 127.0.0.1:<free port>
        gh.url                               # "http://127.0.0.1:PORT/api/v3" (PyGithub base_url)
        state = gh.repo("o/r")               # creates the repo on first use; .issues, .labels, ...
        gh.fail_next(2, status=502)          # fault injection (see the methods below)
        gh.requests                          # [(method, path), ...] every request seen

It follows GitHub's API where pcgbot touches it: shapes (the required fields of the OpenAPI
description, checked by tests/test_github_fake.py), status codes (201 on create, 200 on PATCH,
204 on dispatch, 422 on validation errors), pagination with ``Link`` headers, its own address in
every ``url``, rate-limit headers on every answer, and GitHub's limits (body 65,536, status
description 140, label name 50, colour = 6 hex digits).  It is a test tool: one lock serialises
all state changes, which also makes concurrent clients see a consistent store.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Optional

PREFIX = "/api/v3"
BODY_MAX = 65536
STATUS_DESC_MAX = 140
LABEL_MAX = 50
LABEL_DESC_MAX = 100
COLOR_RE = re.compile(r"^[0-9a-fA-F]{6}$")
REACTIONS = {"+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"}
STATUS_STATES = {"error", "failure", "pending", "success"}


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class _Reply(Exception):
    """Raised by a route to answer with an error status and GitHub's error body."""

    def __init__(self, status: int, message: str, errors: Optional[list] = None,
                 headers: Optional[dict] = None) -> None:
        super().__init__(message)
        self.status, self.message, self.errors, self.headers = status, message, errors, headers or {}


@dataclass
class Fault:
    """One injected fault, consumed by the next matching request."""
    kind: str                       # "status" | "timeout" | "ratelimit" | "drop"
    status: int = 502
    seconds: float = 0.0            # timeout: how long to stall before answering
    retry_after: Optional[int] = None
    reset_in: Optional[int] = None
    method: Optional[str] = None    # only requests with this method
    path_re: Optional[str] = None   # only paths matching this regex
    after: bool = False             # "status" only: apply the change, then answer with the error
    gate: Optional[threading.Barrier] = None   # "gate": wait until all requests of the gate arrived


@dataclass
class RepoState:
    """Everything the fake keeps for one repository; tests read and seed it directly."""
    full_name: str
    id: int
    issues: dict[int, dict] = field(default_factory=dict)       # number -> issue JSON (without url fields)
    comments: dict[int, dict] = field(default_factory=dict)     # comment id -> comment JSON
    labels: dict[str, dict] = field(default_factory=dict)       # lower-case name -> label JSON
    statuses: list[dict] = field(default_factory=list)          # commit statuses, oldest first
    check_runs: dict[int, dict] = field(default_factory=dict)
    reactions: list[dict] = field(default_factory=list)         # {"comment_id", "content", "user"}
    dispatches: list[dict] = field(default_factory=list)        # {"workflow", "ref", "inputs"}
    workflows: dict[str, int] = field(default_factory=dict)     # file name -> id
    permissions: dict[str, str] = field(default_factory=dict)   # login -> admin|write|read|none

    def comments_of(self, number: int) -> list[dict]:
        return [c for c in self.comments.values() if c["_issue"] == number]

    def issue_list(self) -> list[dict]:
        return [self.issues[n] for n in sorted(self.issues)]


class FakeGitHub:
    """The server and its state.  Thread-safe; use as a context manager."""

    def __init__(self, login: str = "pcgbot[bot]") -> None:
        self.login = login
        self.lock = threading.RLock()
        self._repos: dict[str, RepoState] = {}
        self._faults: list[Fault] = []
        self._next_id = 1000
        self.requests: list[tuple[str, str]] = []
        self.rate_remaining = 5000
        self._server: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None

    # --- lifecycle ------------------------------------------------------------------------------
    def __enter__(self) -> "FakeGitHub":
        handler = _make_handler(self)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    @property
    def root(self) -> str:
        assert self._server is not None, "use FakeGitHub() as a context manager"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def url(self) -> str:
        return self.root + PREFIX

    # --- state ----------------------------------------------------------------------------------
    def repo(self, full_name: str) -> RepoState:
        with self.lock:
            if full_name not in self._repos:
                self._repos[full_name] = RepoState(full_name, self.new_id())
            return self._repos[full_name]

    def new_id(self) -> int:
        with self.lock:
            self._next_id += 1
            return self._next_id

    # --- fault injection ------------------------------------------------------------------------
    def fail_next(self, n: int = 1, status: int = 502, method: Optional[str] = None,
                  path_re: Optional[str] = None, after: bool = False) -> None:
        """The next n matching requests answer `status`; with after=True the change is applied
        first (a write that succeeded but whose answer was lost)."""
        with self.lock:
            self._faults += [Fault("status", status=status, method=method, path_re=path_re,
                                   after=after) for _ in range(n)]

    def timeout_next(self, n: int = 1, seconds: float = 2.0, method: Optional[str] = None,
                     path_re: Optional[str] = None) -> None:
        """The next n matching requests stall `seconds` before answering (client read timeout)."""
        with self.lock:
            self._faults += [Fault("timeout", seconds=seconds, method=method, path_re=path_re)
                             for _ in range(n)]

    def rate_limit_next(self, n: int = 1, status: int = 403, retry_after: Optional[int] = None,
                        reset_in: Optional[int] = None, method: Optional[str] = None,
                        path_re: Optional[str] = None) -> None:
        """The next n matching requests are refused as rate-limited: primary (403 with
        X-RateLimit-Remaining: 0 and a reset time) or secondary (403/429 with Retry-After)."""
        with self.lock:
            self._faults += [Fault("ratelimit", status=status, retry_after=retry_after,
                                   reset_in=reset_in, method=method, path_re=path_re)
                             for _ in range(n)]

    def gate_next(self, n: int = 2, method: Optional[str] = None, path_re: Optional[str] = None,
                  timeout: float = 20.0) -> None:
        """Hold the next n matching requests until all n have arrived, then answer them together:
        makes races between concurrent clients happen on purpose (e.g. two bots both listing an
        empty repository before either creates)."""
        barrier = threading.Barrier(n, timeout=timeout)
        with self.lock:
            self._faults += [Fault("gate", gate=barrier, method=method, path_re=path_re) for _ in range(n)]

    def drop_next(self, n: int = 1, method: Optional[str] = None, path_re: Optional[str] = None) -> None:
        """Close the connection without answering (a connection error for the client)."""
        with self.lock:
            self._faults += [Fault("drop", method=method, path_re=path_re) for _ in range(n)]

    def pending_faults(self) -> int:
        with self.lock:
            return len(self._faults)

    def _take_fault(self, method: str, path: str) -> Optional[Fault]:
        with self.lock:
            for i, f in enumerate(self._faults):
                if f.method and f.method != method:
                    continue
                if f.path_re and not re.search(f.path_re, path):
                    continue
                return self._faults.pop(i)
        return None

    # --- JSON shapes (the address of this server in every url) -----------------------------------
    def user_json(self, login: Optional[str] = None) -> dict:
        login = login or self.login
        return {"login": login, "id": abs(hash(login)) % 10_000_000, "node_id": f"U_{login}",
                "avatar_url": f"{self.root}/avatars/{login}", "gravatar_id": "",
                "url": f"{self.url}/users/{login}", "html_url": f"{self.root}/{login}",
                "type": "Bot" if login.endswith("[bot]") else "User", "site_admin": False,
                **{k: f"{self.url}/users/{login}/{k[:-4]}" for k in (
                    "events_url", "followers_url", "following_url", "gists_url", "organizations_url",
                    "received_events_url", "repos_url", "starred_url", "subscriptions_url")}}

    def repo_json(self, r: RepoState) -> dict:
        owner = r.full_name.split("/")[0]
        return {"id": r.id, "node_id": f"R_{r.id}", "name": r.full_name.split("/")[1],
                "full_name": r.full_name, "private": False, "owner": self.user_json(owner),
                "html_url": f"{self.root}/{r.full_name}", "url": f"{self.url}/repos/{r.full_name}",
                "description": None, "fork": False, "default_branch": "main",
                "has_issues": True, "archived": False, "disabled": False}

    def label_json(self, r: RepoState, lab: dict) -> dict:
        q = urllib.parse.quote(lab["name"], safe="")
        return {"id": lab["id"], "node_id": f"LA_{lab['id']}", "url": f"{self.url}/repos/{r.full_name}/labels/{q}",
                "name": lab["name"], "description": lab.get("description"), "color": lab["color"],
                "default": False}

    def issue_json(self, r: RepoState, iss: dict) -> dict:
        base = f"{self.url}/repos/{r.full_name}/issues/{iss['number']}"
        out = {"id": iss["id"], "node_id": f"I_{iss['id']}", "url": base,
               "repository_url": f"{self.url}/repos/{r.full_name}", "labels_url": base + "/labels{/name}",
               "comments_url": base + "/comments", "events_url": base + "/events",
               "html_url": f"{self.root}/{r.full_name}/issues/{iss['number']}", "number": iss["number"],
               "state": iss["state"], "state_reason": iss.get("state_reason"), "title": iss["title"],
               "body": iss.get("body"), "user": self.user_json(iss.get("user")),
               "labels": [self.label_json(r, r.labels[n.lower()]) for n in iss["labels"]],
               "assignee": None, "assignees": [], "milestone": None, "locked": False,
               "active_lock_reason": None, "comments": len(r.comments_of(iss["number"])),
               "created_at": iss["created_at"], "updated_at": iss["updated_at"],
               "closed_at": iss.get("closed_at"), "author_association": "NONE"}
        if iss.get("pull_request"):
            out["pull_request"] = {"url": f"{self.url}/repos/{r.full_name}/pulls/{iss['number']}",
                                   "html_url": f"{self.root}/{r.full_name}/pull/{iss['number']}",
                                   "diff_url": None, "patch_url": None}
        return out

    def comment_json(self, r: RepoState, c: dict) -> dict:
        return {"id": c["id"], "node_id": f"IC_{c['id']}",
                "url": f"{self.url}/repos/{r.full_name}/issues/comments/{c['id']}",
                "html_url": f"{self.root}/{r.full_name}/issues/{c['_issue']}#issuecomment-{c['id']}",
                "issue_url": f"{self.url}/repos/{r.full_name}/issues/{c['_issue']}",
                "body": c["body"], "user": self.user_json(c.get("user")),
                "created_at": c["created_at"], "updated_at": c["updated_at"],
                "author_association": c.get("author_association", "NONE")}

    def status_json(self, r: RepoState, s: dict) -> dict:
        return {"url": f"{self.url}/repos/{r.full_name}/statuses/{s['sha']}", "avatar_url": None,
                "id": s["id"], "node_id": f"SC_{s['id']}", "state": s["state"],
                "description": s.get("description"), "target_url": s.get("target_url"),
                "context": s["context"], "created_at": s["created_at"], "updated_at": s["created_at"],
                "creator": self.user_json()}

    def check_run_json(self, r: RepoState, c: dict) -> dict:
        out = c.get("output") or {}
        url = f"{self.url}/repos/{r.full_name}/check-runs/{c['id']}"
        return {"id": c["id"], "node_id": f"CR_{c['id']}", "head_sha": c["head_sha"], "name": c["name"],
                "external_id": c.get("external_id"), "url": url,
                "html_url": f"{self.root}/{r.full_name}/runs/{c['id']}", "details_url": c.get("details_url"),
                "status": c.get("status", "queued"), "conclusion": c.get("conclusion"),
                "started_at": c.get("started_at", c["created_at"]), "completed_at": c.get("completed_at"),
                "output": {"title": out.get("title"), "summary": out.get("summary"),
                           "text": out.get("text"), "annotations_count": 0,
                           "annotations_url": url + "/annotations"},
                "check_suite": {"id": 1}, "app": None, "pull_requests": []}


# --- request handling -----------------------------------------------------------------------------

Route = tuple[str, re.Pattern, Callable[..., Any]]


def _make_handler(gh: FakeGitHub) -> type:
    routes: list[Route] = []

    def route(method: str, pattern: str) -> Callable:
        def deco(fn: Callable) -> Callable:
            routes.append((method, re.compile("^" + pattern + "$"), fn))
            return fn
        return deco

    _install_routes(gh, route)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        wbufsize = -1      # headers and body in one write: no 40 ms delayed-ACK stall per request

        def log_message(self, *a: Any) -> None:  # keep test output clean
            pass

        def _dispatch(self, method: str) -> None:
            parsed = urllib.parse.urlsplit(self.path)
            path = urllib.parse.unquote(parsed.path)
            query = {k: v[-1] for k, v in urllib.parse.parse_qs(parsed.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            with gh.lock:
                gh.requests.append((method, path))
            fault = gh._take_fault(method, path)
            if fault and fault.kind == "drop":
                self.close_connection = True
                self.connection.close()
                return
            if fault and fault.kind == "timeout":
                time.sleep(fault.seconds)
            if fault and fault.kind == "gate" and fault.gate is not None:
                try:
                    fault.gate.wait()
                except threading.BrokenBarrierError:
                    pass      # not everyone came: answer anyway, the test's own asserts tell
            if fault and fault.kind == "ratelimit":
                return self._ratelimited(fault)
            if fault and fault.kind == "status" and not fault.after:
                return self._send(fault.status, {"message": "Server Error"})
            if not path.startswith(PREFIX):
                return self._send(404, {"message": "Not Found"})
            sub = path[len(PREFIX):] or "/"
            if self.headers.get("Authorization", "") in ("", "token ", "Bearer "):
                return self._send(401, {"message": "Requires authentication",
                                        "documentation_url": "https://docs.github.com/rest"})
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                return self._send(400, {"message": "Problems parsing JSON"})
            for m, pat, fn in routes:
                mt = pat.match(sub)
                if m == method and mt:
                    try:
                        with gh.lock:
                            status, data, headers = fn(body, query, *mt.groups())
                    except _Reply as e:
                        err: dict = {"message": e.message,
                                     "documentation_url": "https://docs.github.com/rest"}
                        if e.errors:
                            err["errors"] = e.errors
                        return self._send(e.status, err, e.headers)
                    if fault and fault.kind == "status":   # the write happened, the answer is lost
                        return self._send(fault.status, {"message": "Server Error"})
                    return self._send(status, data, headers)
            return self._send(404, {"message": "Not Found",
                                    "documentation_url": "https://docs.github.com/rest"})

        def _ratelimited(self, f: Fault) -> None:
            headers = {}
            if f.retry_after is not None:
                headers["Retry-After"] = str(f.retry_after)
                msg = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
                self._send(f.status, {"message": msg}, headers)
            else:
                reset = int(time.time()) + (f.reset_in if f.reset_in is not None else 1)
                self._send(f.status, {"message": "API rate limit exceeded for installation."},
                           {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)})

        def _send(self, status: int, data: Any, headers: Optional[dict] = None) -> None:
            payload = b"" if data is None or status == 204 else json.dumps(data).encode()
            self.send_response(status)
            hdr = {"Content-Type": "application/json; charset=utf-8",
                   "X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": str(gh.rate_remaining),
                   "X-RateLimit-Reset": str(int(time.time()) + 3600), "X-RateLimit-Used": "1",
                   "X-RateLimit-Resource": "core", "X-GitHub-Request-Id": "FAKE"}
            hdr.update(headers or {})
            for k, v in hdr.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if payload:
                self.wfile.write(payload)

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def do_PATCH(self) -> None:
            self._dispatch("PATCH")

        def do_PUT(self) -> None:
            self._dispatch("PUT")

        def do_DELETE(self) -> None:
            self._dispatch("DELETE")

    return Handler


def paginate(gh: FakeGitHub, path: str, items: list, query: dict) -> tuple[list, dict]:
    """GitHub pagination: per_page (default 30, max 100), page (1-based), a Link header with this
    server's address."""
    try:
        per_page = min(max(int(query.get("per_page", 30)), 1), 100)
        page = max(int(query.get("page", 1)), 1)
    except ValueError:
        raise _Reply(422, "Validation Failed")
    last = max((len(items) + per_page - 1) // per_page, 1)
    chunk = items[(page - 1) * per_page: page * per_page]
    links = []

    def link(p: int, rel: str) -> str:
        q = dict(query, page=str(p), per_page=str(per_page))
        return f'<{gh.url}{path}?{urllib.parse.urlencode(q)}>; rel="{rel}"'
    if page < last:
        links += [link(page + 1, "next"), link(last, "last")]
    if page > 1:
        links += [link(1, "first"), link(page - 1, "prev")]
    return chunk, ({"Link": ", ".join(links)} if links else {})


def _invalid(resource: str, fld: str, message: str, code: str = "invalid") -> _Reply:
    return _Reply(422, "Validation Failed",
                  [{"resource": resource, "code": code, "field": fld, "message": message}])


def _install_routes(gh: FakeGitHub, route: Callable) -> None:
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
        url = f"{gh.url}/repos/{r.full_name}/commits/{sha}"
        return 200, {"sha": sha, "node_id": f"C_{sha}", "url": url,
                     "html_url": f"{gh.root}/{r.full_name}/commit/{sha}", "comments_url": url + "/comments",
                     "commit": {"message": "", "url": url, "comment_count": 0,
                                "author": None, "committer": None, "tree": {"sha": sha, "url": url}},
                     "author": None, "committer": None, "parents": []}, {}

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


# --- helpers for tests that drive pcgbot against the fake ------------------------------------------

TEST_TOKEN = "ghp_" + "T3st" * 9      # looks like a real classic token, so redaction must catch it


def remote(gh: FakeGitHub, repo: str = "o/r", **cfg: Any) -> Any:
    """A pcgbot RemoteBackend talking to this fake, tuned for tests (no pacing, short timeouts)."""
    from pcgbot.github.backend import RemoteBackend
    from pcgbot.github.client import GitHubConfig
    gh.repo(repo)
    opts = dict(token=TEST_TOKEN, repo=repo, api_url=gh.url, throttle=False, timeout=1.0, backoff=0.01,
                retries=4, max_wait=5.0)
    opts.update(cfg)
    return RemoteBackend(GitHubConfig(**opts))


def cli_env(gh: FakeGitHub, repo: str = "o/r") -> dict[str, str]:
    """Environment for running `pcgbot github ...` in a subprocess against this fake."""
    gh.repo(repo)
    return {"GITHUB_TOKEN": TEST_TOKEN, "GITHUB_REPOSITORY": repo, "GITHUB_API_URL": gh.url,
            "GITHUB_SERVER_URL": gh.root, "PCGBOT_GITHUB_NO_THROTTLE": "1", "PCGBOT_GITHUB_TIMEOUT": "2",
            "PCGBOT_GITHUB_BACKOFF": "0.01"}


def make_signature(fp: str = "a1b2c3d4e5f6", tests: tuple = ("registered/x/test_a.py",),
                   verdict: str = "regression", current: tuple = (0, 10), baseline: tuple = (10, 10),
                   **extra: Any) -> dict:
    sig = {"fingerprint": fp, "title": f"CUDA error: illegal memory access ({fp[:4]})", "rule": None,
           "category": "pcg-bug", "pcg_specific": True, "gpus": 1,
           "excerpt": ["Traceback (most recent call last):", "RuntimeError: CUDA error: illegal memory access"],
           "tests": [{"test": t, "verdict": verdict, "baseline": list(baseline), "current": list(current),
                      "statistic": "Fisher exact one-sided p=1.1e-05 (alarm p<0.01)", "log": f"logs/{t}.log"}
                     for t in tests],
           "culprit": None, "fix": None,
           "reproduce": f"pcgbot run-one plans/sglang-1gpu.yaml {tests[0]} --mode pcg"}
    sig.update(extra)
    return sig


def make_analysis(sigs: list, sweep: str = "sweep-1", commit: str = "c0ffee" * 6 + "abcd",
                  healthy: tuple = (), tests: Optional[list] = None, **extra: Any) -> dict:
    """An analysis.json document (the seam pcgbot analyze writes) built from signatures."""
    rows = tests if tests is not None else [
        {"test": t["test"], "suite": "s", "gpus": 1, "verdict": t["verdict"], "baseline": t["baseline"],
         "current": t["current"], "statistic": t["statistic"], "category": s["category"],
         "signature": s["fingerprint"], "pcg_active": True} for s in sigs for t in s["tests"]]
    rows += [{"test": t, "suite": "s", "gpus": 1, "verdict": "fixed", "baseline": [0, 10], "current": [10, 10],
              "statistic": "", "category": None, "signature": None, "pcg_active": True}
             for t in healthy if all(r["test"] != t for r in rows)]
    regs = sum(1 for r in rows if r["verdict"] == "regression")
    out = {"sweep": {"sweep_id": sweep, "plan": "sglang-1gpu", "mode": "pcg", "commit": commit,
                     "branch": "main", "complete": True},
           "baseline": None, "config": "1-gpu", "run_url": f"https://github.com/o/r/actions/runs/{sweep}",
           "totals": {"tests": 181, "passed": 181 - regs, "failed": regs, "regressions": regs, "fixed": 0,
                      "flaky": 0, "infra": 0},
           "tests": rows, "signatures": sigs, "healthy_tests": list(healthy)}
    out.update(extra)
    return out
