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
    # file name -> the inputs its workflow_dispatch declares (GitHub answers 422 "Unexpected
    # inputs provided" to any other); a workflow not listed here takes any input
    workflow_inputs: dict[str, set] = field(default_factory=dict)
    permissions: dict[str, str] = field(default_factory=dict)   # login -> admin|write|read|none
    commits: dict[str, dict] = field(default_factory=dict)      # sha -> {"author": login, "pulls": [n]}
    commit_comments: dict[int, dict] = field(default_factory=dict)   # see fakegithub_commits.py
    pages: Optional[str] = None     # the GitHub Pages site's html_url; None = Pages not enabled

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
        self._rate, self._rate_status, self._rng, self._after_share = 0.0, 502, None, 0.0   # set_fault_rate
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

    def set_fault_rate(self, p: float, status: int = 502, seed: int = 0, after_share: float = 0.0) -> None:
        """Besides queued faults, answer each request with `status` with probability p: a flaky
        GitHub for soak tests and benchmarks.  A share `after_share` of those faults happen after
        the write was applied (the answer is lost, the change is not)."""
        import random
        with self.lock:
            self._rate, self._rate_status, self._rng = p, status, random.Random(seed)
            self._after_share = after_share

    def pending_faults(self) -> int:
        with self.lock:
            return len(self._faults)

    def _take_fault(self, method: str, path: str) -> Optional[Fault]:
        with self.lock:
            if self._rate and self._rng.random() < self._rate:
                return Fault("status", status=self._rate_status, after=self._rng.random() < self._after_share)
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

    from fakegithub_routes import install_routes   # the endpoints, in their own module
    install_routes(gh, route)

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
