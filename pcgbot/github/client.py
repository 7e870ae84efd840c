"""Connecting to GitHub: configuration, the PyGithub client, and the one retry chokepoint.

Every GitHub call in pcgbot goes through ``Caller.call`` so that faults are handled once:
5xx answers and connection errors are retried with exponential backoff, rate limits are waited
out (``Retry-After`` for secondary limits, ``X-RateLimit-Reset`` for the primary one) up to a
bound, and whatever is left becomes one redacted ``GitHubError`` line.  PyGithub's own urllib3
retry is turned off (``retry=None``): it retried a 502 eleven times in 0.1 s and then raised
``requests.exceptions.RetryError``, which is neither paced nor a ``GithubException``.
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Callable, Mapping, Optional, TypeVar

# PyGithub is imported where a call needs it: the dry-run backend and the demo import this
# module's errors and config on hosts without it (a bare GPU host).
if TYPE_CHECKING:
    from github import Github, GithubException

from ..errors import PcgbotError, UsageError
from ..signatures.secrets import redact

T = TypeVar("T")

DEFAULT_API_URL = "https://api.github.com"
DEFAULT_SERVER_URL = "https://github.com"


class GitHubError(PcgbotError):
    """A GitHub call failed for good (after retries, or a 4xx that retrying cannot fix)."""

    def __init__(self, message: str, status: Optional[int] = None) -> None:
        super().__init__(redact(message))
        self.status = status


@dataclass(frozen=True)
class GitHubConfig:
    """Where and how to talk to GitHub.  Built from the Actions environment, then flags."""
    token: Optional[str] = None
    repo: Optional[str] = None            # "owner/name"
    api_url: str = DEFAULT_API_URL
    server_url: str = DEFAULT_SERVER_URL
    sha: Optional[str] = None
    run_id: Optional[str] = None
    throttle: bool = True                 # PyGithub's write pacing; off only in tests
    timeout: float = 15.0                 # seconds per HTTP request
    retries: int = 5                      # retries of a 5xx / connection error
    backoff: float = 1.0                  # first backoff delay in seconds, doubled each time
    max_wait: float = 300.0               # longest rate-limit wait we accept, in seconds

    def run_url(self) -> Optional[str]:
        if self.repo and self.run_id:
            return f"{self.server_url.rstrip('/')}/{self.repo}/actions/runs/{self.run_id}"
        return None

    def __repr__(self) -> str:  # never show the token, even in a traceback
        return f"GitHubConfig(repo={self.repo!r}, api_url={self.api_url!r}, token={'set' if self.token else None})"


def _float_env(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise UsageError(f"${name}: {name}: not a number: {raw!r}") from None


def config_from_env(env: Optional[Mapping[str, str]] = None, **flags: object) -> GitHubConfig:
    """GitHub Actions conventions (GITHUB_TOKEN, GITHUB_REPOSITORY, GITHUB_API_URL, GITHUB_SERVER_URL,
    GITHUB_SHA, GITHUB_RUN_ID) overridden by flags whose value is not None.  PCGBOT_GITHUB_* env vars
    tune timeouts and retries; PCGBOT_GITHUB_NO_THROTTLE=1 turns pacing off (tests only)."""
    env = os.environ if env is None else env
    cfg = GitHubConfig(
        token=env.get("GITHUB_TOKEN") or env.get("GH_TOKEN") or None,
        repo=env.get("GITHUB_REPOSITORY") or None,
        api_url=env.get("GITHUB_API_URL") or DEFAULT_API_URL,
        server_url=env.get("GITHUB_SERVER_URL") or DEFAULT_SERVER_URL,
        sha=env.get("GITHUB_SHA") or None,
        run_id=env.get("GITHUB_RUN_ID") or None,
        throttle=env.get("PCGBOT_GITHUB_NO_THROTTLE", "") not in ("1", "true", "yes"),
        timeout=_float_env(env, "PCGBOT_GITHUB_TIMEOUT", 15.0),
        retries=int(_float_env(env, "PCGBOT_GITHUB_RETRIES", 5)),
        backoff=_float_env(env, "PCGBOT_GITHUB_BACKOFF", 1.0),
        max_wait=_float_env(env, "PCGBOT_GITHUB_MAX_WAIT", 300.0),
    )
    cfg = replace(cfg, **{k: v for k, v in flags.items() if v is not None})
    if cfg.repo is not None and (cfg.repo.count("/") != 1 or not all(cfg.repo.split("/"))):
        raise UsageError(f"--repo: repo: expected owner/name, got {cfg.repo!r}")
    return cfg


def connect(cfg: GitHubConfig) -> Github:
    """A PyGithub client with our retry policy (none inside PyGithub) and lazy objects, so that a
    PR head SHA or an issue number costs no extra GET before the write."""
    from github import Auth, Github

    if not cfg.token:
        raise UsageError("GITHUB_TOKEN: token: not set (use --dry-run OUTDIR to write files instead)")
    pacing = {} if cfg.throttle else {"seconds_between_requests": None, "seconds_between_writes": None}
    # PyGithub insists on an int timeout; one second is the floor.
    return Github(auth=Auth.Token(cfg.token), base_url=cfg.api_url.rstrip("/"), timeout=max(int(cfg.timeout), 1),
                  retry=None, lazy=True, per_page=100, **pacing)


def _header(headers: Optional[Mapping[str, str]], name: str) -> Optional[str]:
    for k, v in (headers or {}).items():
        if k.lower() == name.lower():
            return v
    return None


def rate_limit_wait(status: Optional[int], headers: Optional[Mapping[str, str]], message: str,
                    now: Optional[float] = None) -> Optional[float]:
    """Seconds to wait if this answer is a rate limit, else None.  GitHub signals the primary
    limit with 403/429 + X-RateLimit-Remaining: 0 (+ Reset, epoch seconds) and secondary limits
    with 403/429 + Retry-After or a "secondary rate limit" message."""
    if status not in (403, 429):
        return None
    now = time.time() if now is None else now
    retry_after = _header(headers, "Retry-After")
    if retry_after is not None:
        try:
            return max(float(retry_after), 0.0)
        except ValueError:
            return 60.0
    if _header(headers, "X-RateLimit-Remaining") == "0":
        reset = _header(headers, "X-RateLimit-Reset")
        try:
            return max(float(reset) - now, 0.0) + 1.0 if reset is not None else 60.0
        except ValueError:
            return 60.0
    low = message.lower()
    if status == 429 or "rate limit" in low:
        return 60.0   # GitHub: without headers, wait at least a minute
    return None


def _message(e: GithubException) -> str:
    data = e.data if isinstance(e.data, dict) else {}
    msg = str(data.get("message") or e.data or "")
    errors = data.get("errors")
    if isinstance(errors, list) and errors:
        details = "; ".join(str(x.get("message") or x.get("code") or x) if isinstance(x, dict) else str(x)
                            for x in errors)
        msg = f"{msg} ({details})"
    return msg


class Caller:
    """Runs one GitHub operation with retries; `sleep` is injectable so tests need not wait."""

    def __init__(self, cfg: GitHubConfig, sleep: Callable[[float], None] = time.sleep,
                 log: Optional[Callable[[str], None]] = None) -> None:
        self.cfg = cfg
        self.sleep = sleep
        self.log = log or (lambda s: None)
        self.retried = 0      # how many retries this caller made (reported by the CLI)
        self.waited = 0.0     # seconds spent waiting on rate limits and backoff

    def _pause(self, what: str, seconds: float, why: str) -> None:
        self.retried += 1
        self.waited += seconds
        self.log(f"github: {what}: {why}; retrying in {seconds:.1f} s")
        self.sleep(seconds)

    def call(self, what: str, fn: Callable[[], T]) -> T:
        """`what` names the operation for messages ("create issue", "list issues sig:abc")."""
        import requests
        from github import GithubException

        attempt = 0
        while True:
            try:
                return fn()
            except GithubException as e:
                msg = _message(e)
                wait = rate_limit_wait(e.status, e.headers, msg)
                if wait is not None:
                    if wait > self.cfg.max_wait:
                        raise GitHubError(f"GitHub {what}: rate limited ({e.status}); reset in {wait:.0f} s "
                                          f"exceeds the {self.cfg.max_wait:.0f} s we wait", e.status) from None
                    if attempt >= self.cfg.retries + 3:   # rate limits get a few more tries than faults
                        raise GitHubError(f"GitHub {what}: still rate limited after {attempt} waits", e.status) from None
                    attempt += 1
                    self._pause(what, wait + random.uniform(0, 0.1), f"rate limited ({e.status})")
                    continue
                if e.status is not None and e.status >= 500 and attempt < self.cfg.retries:
                    attempt += 1
                    self._pause(what, self._backoff(attempt), f"HTTP {e.status}")
                    continue
                raise GitHubError(f"GitHub {what}: HTTP {e.status}: {msg}", e.status) from None
            except (TypeError, KeyError, ValueError, AttributeError) as e:
                # PyGithub could not read the answer as the API's JSON: a login page, a proxy's
                # error page or another server at that URL answered (often with 200).
                raise GitHubError(f"GitHub {what}: {self.cfg.api_url} did not answer like the "
                                  f"GitHub API (check --api-url; {type(e).__name__}: "
                                  f"{_short(str(e), 80)})") from None
            except requests.exceptions.RequestException as e:
                if attempt < self.cfg.retries:
                    attempt += 1
                    self._pause(what, self._backoff(attempt), type(e).__name__)
                    continue
                raise GitHubError(f"GitHub {what}: {type(e).__name__} after {attempt} retries: "
                                  f"{_short(str(e))}") from None

    def _backoff(self, attempt: int) -> float:
        # Full jitter keeps two concurrent bots from retrying in lockstep.
        base = self.cfg.backoff * (2 ** (attempt - 1))
        return min(base, 60.0) * random.uniform(0.5, 1.0)


def _short(text: str, n: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"
