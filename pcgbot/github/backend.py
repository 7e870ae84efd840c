"""The seam between pcgbot's GitHub logic and where its writes land.

``sync``, ``status`` and ``commands`` speak to a ``Backend``: ``RemoteBackend`` (PyGithub over
HTTP, every call through ``Caller``) or ``dryrun.FolderBackend`` (Markdown/JSON files).  Both run
the same logic, so a dry run files exactly the issues, comments and statuses a real run would.
Redaction happens here, at the last step before anything leaves: every title, body, comment,
status description and check-run summary goes through ``pcgbot.redact.redact``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from ..errors import UsageError
from ..signatures.secrets import redact
from .client import Caller, GitHubConfig, GitHubError, connect

BODY_LIMIT = 65536          # GitHub's issue/comment body limit, characters
CHECK_TEXT_LIMIT = 65535    # check-run output.summary / output.text
STATUS_DESC_LIMIT = 140


@dataclass
class Issue:
    number: int
    title: str
    body: str
    state: str                          # open | closed
    labels: list[str] = field(default_factory=list)
    state_reason: Optional[str] = None
    url: Optional[str] = None           # html_url
    created_at: Optional[str] = None    # ISO 8601 (the per-day cap counts issues by it)


@dataclass
class Comment:
    id: int
    body: str
    user: str = ""
    association: str = "NONE"


class Backend(ABC):
    """What sync/status/commands need from GitHub.  Subclasses implement the ``_``-less methods;
    ``clean`` is applied by callers-facing wrappers in each subclass."""

    name = "backend"

    @staticmethod
    def clean(text: Optional[str], limit: int = BODY_LIMIT) -> Optional[str]:
        if text is None:
            return None
        text = redact(text)
        return text if len(text) <= limit else text[: limit - 2] + "…\n"

    # issues
    @abstractmethod
    def list_issues(self, labels: list[str], state: str = "all") -> list[Issue]: ...
    @abstractmethod
    def get_issue(self, number: int) -> Issue: ...
    @abstractmethod
    def create_issue(self, title: str, body: str, labels: list[str]) -> Issue: ...
    @abstractmethod
    def edit_issue(self, number: int, *, title: Optional[str] = None, body: Optional[str] = None,
                   state: Optional[str] = None, state_reason: Optional[str] = None,
                   labels: Optional[list[str]] = None) -> None: ...
    @abstractmethod
    def list_comments(self, number: int) -> list[Comment]: ...
    @abstractmethod
    def add_comment(self, number: int, body: str) -> Comment: ...
    @abstractmethod
    def delete_comment(self, number: int, comment_id: int) -> None: ...
    @abstractmethod
    def ensure_labels(self, specs: dict[str, tuple[str, str]]) -> list[str]: ...
    @abstractmethod
    def claim_label(self, name: str, color: str, description: str) -> bool:
        """Create label ``name``; True if this call created it, False if it already existed.
        GitHub creates a label once (422 already_exists after), so it serves as a lock."""
    # statuses and checks
    @abstractmethod
    def latest_status(self, sha: str, context: str) -> Optional[dict]: ...
    @abstractmethod
    def create_status(self, sha: str, state: str, description: str, target_url: Optional[str],
                      context: str) -> None: ...
    @abstractmethod
    def upsert_check_run(self, sha: str, name: str, conclusion: str, title: str, summary: str,
                         details_url: Optional[str]) -> bool: ...
    # bot commands
    @abstractmethod
    def react(self, number: int, comment_id: int, content: str) -> None: ...
    @abstractmethod
    def dispatch(self, workflow: str, ref: str, inputs: dict[str, str]) -> None: ...
    @abstractmethod
    def permission(self, login: str) -> str: ...
    # telling a culprit's author (author.py)
    @abstractmethod
    def commit_pulls(self, sha: str) -> list[dict]:
        """Pull requests that contain commit ``sha`` (``GET /commits/SHA/pulls``), each as
        ``{number, state, merged_at, merge_commit_sha, user}``."""
    @abstractmethod
    def commit_author(self, sha: str) -> Optional[str]:
        """The GitHub login of the commit's author, None when its email maps to no account."""
    @abstractmethod
    def list_commit_comments(self, sha: str) -> list[Comment]: ...
    @abstractmethod
    def add_commit_comment(self, sha: str, body: str) -> Comment: ...


def _raw(obj: Any) -> dict:
    """The JSON GitHub answered.  Reading PyGithub attributes that the answer lacks (an issue's
    `pull_request`, say) makes a lazy object fetch itself: one hidden GET per item, outside the
    retry loop.  The raw dict never does."""
    raw = getattr(obj, "_rawData", None)
    return raw if isinstance(raw, dict) else {}


def _issue(i: Any) -> Issue:
    d = _raw(i)
    return Issue(number=int(d["number"]), title=d.get("title") or "", body=d.get("body") or "",
                 state=d.get("state") or "open",
                 labels=[lab["name"] if isinstance(lab, dict) else str(lab) for lab in d.get("labels") or []],
                 state_reason=d.get("state_reason"), url=d.get("html_url"), created_at=d.get("created_at"))


def _comment(c: Any) -> Comment:
    d = _raw(c)
    return Comment(int(d["id"]), d.get("body") or "", (d.get("user") or {}).get("login") or "",
                   d.get("author_association") or "NONE")


class RemoteBackend(Backend):
    """GitHub over HTTP through PyGithub.  Pagination is drained inside ``Caller.call`` so a fault
    on page 3 retries the listing instead of escaping half-read."""

    name = "github"

    def __init__(self, cfg: GitHubConfig, caller: Optional[Caller] = None,
                 log: Optional[Callable[[str], None]] = None) -> None:
        if not cfg.repo:
            raise UsageError("GITHUB_REPOSITORY: repo: not set (pass --repo owner/name)")
        self.cfg = cfg
        self.gh = connect(cfg)
        self.repo = self.gh.get_repo(cfg.repo)      # lazy: no request yet
        self.caller = caller or Caller(cfg, log=log)
        self._labels: Optional[set[str]] = None

    def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        return self.caller.call(what, fn)

    def list_issues(self, labels: list[str], state: str = "all") -> list[Issue]:
        items = self._call(f"list issues labels={','.join(labels)}",
                           lambda: list(self.repo.get_issues(state=state, labels=labels)))
        # The issues endpoint also returns pull requests; pcgbot never files those.
        return [_issue(i) for i in items if not _raw(i).get("pull_request")]

    def get_issue(self, number: int) -> Issue:
        return _issue(self._call(f"get issue #{number}", lambda: self._fetch_issue(number)))

    def _fetch_issue(self, number: int) -> Any:
        i = self.repo.get_issue(number)
        i.title  # noqa: B018  (lazy object: force the GET inside the retry loop)
        return i

    def create_issue(self, title: str, body: str, labels: list[str]) -> Issue:
        t, b = self.clean(title, 256), self.clean(body)
        return _issue(self._call("create issue", lambda: self.repo.create_issue(title=t, body=b, labels=labels)))

    def edit_issue(self, number: int, *, title: Optional[str] = None, body: Optional[str] = None,
                   state: Optional[str] = None, state_reason: Optional[str] = None,
                   labels: Optional[list[str]] = None) -> None:
        kw: dict[str, Any] = {}
        if title is not None:
            kw["title"] = self.clean(title, 256)
        if body is not None:
            kw["body"] = self.clean(body)
        if state is not None:
            kw["state"] = state
        if state_reason is not None:
            kw["state_reason"] = state_reason
        if labels is not None:
            kw["labels"] = labels
        if kw:
            self._call(f"edit issue #{number}", lambda: self.repo.get_issue(number).edit(**kw))

    def list_comments(self, number: int) -> list[Comment]:
        items = self._call(f"list comments #{number}", lambda: list(self.repo.get_issue(number).get_comments()))
        return [_comment(c) for c in items]

    def add_comment(self, number: int, body: str) -> Comment:
        text = self.clean(body)
        c = self._call(f"comment on #{number}", lambda: self.repo.get_issue(number).create_comment(text))
        return _comment(c)

    def delete_comment(self, number: int, comment_id: int) -> None:
        from github import GithubException

        def go() -> None:
            try:
                self.repo.get_issue(number).get_comment(comment_id).delete()
            except GithubException as e:
                if e.status != 404:   # already gone: what we wanted
                    raise
        self._call(f"delete comment {comment_id}", go)

    def ensure_labels(self, specs: dict[str, tuple[str, str]]) -> list[str]:
        """Create the labels that do not exist yet; return the names created.  A 422
        already_exists (another bot got there first) counts as success."""
        if self._labels is None:
            got = self._call("list labels", lambda: list(self.repo.get_labels()))
            self._labels = {str(_raw(lab).get("name", "")).lower() for lab in got}
        from github import GithubException

        created = []
        for name, (color, desc) in specs.items():
            if name.lower() in self._labels:
                continue

            def make(name: str = name, color: str = color, desc: str = desc) -> None:
                try:
                    self.repo.create_label(name=name, color=color, description=desc)
                except GithubException as e:
                    if e.status != 422 or "already_exists" not in str(e.data):
                        raise
            self._call(f"create label {name}", make)
            self._labels.add(name.lower())
            created.append(name)
        return created

    def claim_label(self, name: str, color: str, description: str) -> bool:
        from github import GithubException

        won = [True]

        def make() -> None:
            try:
                self.repo.create_label(name=name, color=color, description=description)
            except GithubException as e:
                if e.status != 422 or "already_exists" not in str(e.data):
                    raise
                won[0] = False     # (also when our own first try was applied but its answer lost)
        self._call(f"claim label {name}", make)
        if self._labels is not None:
            self._labels.add(name.lower())
        return won[0]

    def latest_status(self, sha: str, context: str) -> Optional[dict]:
        # The combined status holds the latest status per context (documented endpoint:
        # GET /repos/o/r/commits/REF/status).  A commit GitHub does not know yet (422/404) has none.
        try:
            items = self._call(f"combined status {sha[:12]}",
                               lambda: _raw(self.repo.get_commit(sha).get_combined_status()).get("statuses") or [])
        except GitHubError as e:
            if e.status in (404, 422):
                return None
            raise
        for st in items:
            if isinstance(st, dict) and st.get("context") == context:
                return {k: st.get(k) for k in ("state", "description", "target_url", "context")}
        return None

    def create_status(self, sha: str, state: str, description: str, target_url: Optional[str],
                      context: str) -> None:
        desc = self.clean(description, STATUS_DESC_LIMIT) or ""
        kw: dict[str, Any] = {"state": state, "description": desc, "context": context}
        if target_url:
            kw["target_url"] = target_url
        self._call(f"status {context} on {sha[:12]}", lambda: self.repo.get_commit(sha).create_status(**kw))

    def upsert_check_run(self, sha: str, name: str, conclusion: str, title: str, summary: str,
                         details_url: Optional[str]) -> bool:
        summary_c = self.clean(summary, CHECK_TEXT_LIMIT) or ""
        output = {"title": self.clean(title, 255) or name, "summary": summary_c}
        try:
            runs = self._call(f"list check runs {sha[:12]}",
                              lambda: list(self.repo.get_commit(sha).get_check_runs(check_name=name)))
        except GitHubError as e:
            if e.status not in (404, 422):
                raise
            runs = []      # unknown commit or no listing: create one
        for run in runs:
            d = _raw(run)
            if d.get("name") == name:
                if d.get("conclusion") == conclusion and (d.get("output") or {}).get("summary") == summary_c:
                    return False
                kw: dict[str, Any] = {"status": "completed", "conclusion": conclusion, "output": output}
                if details_url:
                    kw["details_url"] = details_url
                self._call(f"update check run {name}", lambda: run.edit(**kw))
                return True
        kw = {"name": name, "head_sha": sha, "status": "completed", "conclusion": conclusion, "output": output}
        if details_url:
            kw["details_url"] = details_url
        self._call(f"create check run {name}", lambda: self.repo.create_check_run(**kw))
        return True

    def react(self, number: int, comment_id: int, content: str) -> None:
        self._call(f"react to comment {comment_id}",
                   lambda: self.repo.get_issue(number).get_comment(comment_id).create_reaction(content))

    def dispatch(self, workflow: str, ref: str, inputs: dict[str, str]) -> None:
        self._call(f"dispatch {workflow}",
                   lambda: self.repo.get_workflow(workflow).create_dispatch(ref=ref, inputs=inputs, throw=True))

    def permission(self, login: str) -> str:
        return str(self._call(f"permission of {login}", lambda: self.repo.get_collaborator_permission(login)))

    def commit_pulls(self, sha: str) -> list[dict]:
        items = self._call(f"pulls of {sha[:12]}", lambda: list(self.repo.get_commit(sha).get_pulls()))
        out = []
        for pr in items:
            d = _raw(pr)
            out.append({"number": int(d["number"]), "state": d.get("state"), "merged_at": d.get("merged_at"),
                        "merge_commit_sha": d.get("merge_commit_sha"),
                        "user": (d.get("user") or {}).get("login")})
        return out

    def commit_author(self, sha: str) -> Optional[str]:
        def get() -> dict:
            c = self.repo.get_commit(sha)
            c.commit  # noqa: B018  (lazy object: force the GET inside the retry loop)
            return _raw(c)
        d = self._call(f"commit {sha[:12]}", get)
        return (d.get("author") or {}).get("login") or None

    def list_commit_comments(self, sha: str) -> list[Comment]:
        items = self._call(f"comments of {sha[:12]}", lambda: list(self.repo.get_commit(sha).get_comments()))
        return [_comment(c) for c in items]

    def add_commit_comment(self, sha: str, body: str) -> Comment:
        text = self.clean(body) or ""
        return _comment(self._call(f"comment on {sha[:12]}", lambda: self.repo.get_commit(sha).create_comment(text)))


# Inputs newer pcgbot sends that an older copy of a caller workflow may not declare yet (GitHub
# refuses a dispatch with undeclared inputs: 422 "Unexpected inputs provided").
OPTIONAL_INPUTS = ("signature",)


def dispatch_compatible(b: Backend, workflow: str, ref: str, inputs: dict[str, str],
                        warn: Callable[[str], None]) -> dict[str, str]:
    """Dispatch ``workflow``; when GitHub refuses inputs that the caller's workflow file does not
    declare and they are optional ones, dispatch again without them (and say so).  The
    reusable workflows are taken from pcgbot's main, the callers are the user's copies, so
    the two are not always of the same date.  Returns the inputs that went."""
    sent = {k: v for k, v in inputs.items() if not (k in OPTIONAL_INPUTS and v in ("", None))}
    try:
        b.dispatch(workflow, ref, sent)
        return sent
    except GitHubError as e:
        drop = [k for k in OPTIONAL_INPUTS if k in sent and k in str(e)]
        if "nexpected input" not in str(e) or not drop:
            raise
    warn(f"{workflow} does not declare the input(s) {', '.join(drop)}: dispatched without; "
         f"update it from pcgbot's docs/examples/{workflow}")
    sent = {k: v for k, v in sent.items() if k not in drop}
    b.dispatch(workflow, ref, sent)
    return sent
