"""The one chokepoint for git subprocess calls that must succeed.

Every call goes through ``git()`` so that a failure always reads the same way: the command, the
repository and git's own message, as one PcgbotError line (the CLI prints it without a
traceback).  ``try_git`` is the same call for best-effort queries that may fail quietly.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import subprocess
from pathlib import Path
from typing import Optional, Sequence

from .errors import PcgbotError, UsageError


class GitError(PcgbotError):
    """A git command failed; the message names the command, the repo and git's stderr."""

    def __init__(self, args: Sequence[str], cwd: str | os.PathLike, code: int, err: str):
        self.args_ = list(args)
        self.code = code
        last = " / ".join(line.strip() for line in err.strip().splitlines()[-2:]) or "no output"
        super().__init__(f"git {' '.join(args)} (in {cwd}) failed with exit {code}: {last}")


def git(args: Sequence[str], cwd: str | os.PathLike, *, timeout: float = 300.0,
        strip: bool = True) -> str:
    """Run ``git args`` in ``cwd`` and return stdout; raise GitError on a non-zero exit."""
    env = dict(os.environ)
    env.setdefault("GIT_TERMINAL_PROMPT", "0")   # never hang on a credential prompt
    try:
        p = subprocess.run(["git", *args], cwd=str(cwd), capture_output=True, text=True,
                           timeout=timeout, env=env)
    except FileNotFoundError:
        if not os.path.isdir(cwd):
            raise UsageError(f"{cwd}: repository folder does not exist") from None
        raise PcgbotError("git is not installed (needed to bisect)") from None
    except NotADirectoryError:
        raise UsageError(f"{cwd}: repository folder is not a folder") from None
    except NotADirectoryError:
        raise UsageError(f"{cwd}: repo: not a directory") from None
    except subprocess.TimeoutExpired:
        raise PcgbotError(f"git {' '.join(args)} (in {cwd}) timed out after {timeout:g}s") from None
    if p.returncode != 0:
        raise GitError(args, cwd, p.returncode, p.stderr)
    return p.stdout.strip() if strip else p.stdout


def try_git(args: Sequence[str], cwd: str | os.PathLike, timeout: float = 30.0) -> Optional[str]:
    """``git args`` output stripped, or None when cwd is not a repository / git fails (the
    sweep records commit and branch where it can, and sweeps outside git too)."""
    try:
        return git(args, cwd, timeout=timeout)
    except PcgbotError:
        return None


def toplevel(path: str | os.PathLike) -> Path:
    """The work tree root containing ``path`` (UsageError if it is not in a git repo)."""
    try:
        return Path(git(["rev-parse", "--show-toplevel"], path))
    except GitError:
        raise UsageError(f"{path}: repo: not a git repository") from None


def resolve(repo: str | os.PathLike, rev: str) -> str:
    """Full sha of a commit-ish; UsageError naming the revision if it does not exist."""
    try:
        return git(["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], repo)
    except GitError:
        raise UsageError(f"{repo}: commit {rev!r} not found") from None


def is_ancestor(repo: str | os.PathLike, a: str, b: str) -> bool:
    p = subprocess.run(["git", "merge-base", "--is-ancestor", a, b], cwd=str(repo),
                       capture_output=True, text=True)
    if p.returncode not in (0, 1):
        raise GitError(["merge-base", "--is-ancestor", a, b], repo, p.returncode, p.stderr)
    return p.returncode == 0


def first_parent_range(repo: str | os.PathLike, old: str, new: str) -> list[str]:
    """First-parent commits after ``old`` up to and including ``new``, oldest first.

    First-parent because a squash-merge main (SGLang's) is a line; on merge commits this keeps
    the search on the mainline, where every commit was tested as a whole."""
    out = git(["rev-list", "--first-parent", "--reverse", f"{old}..{new}"], repo)
    return out.split() if out else []


def changed_files(repo: str | os.PathLike, old: str, new: str) -> dict[str, list[str]]:
    """Files each first-parent commit after ``old`` up to ``new`` changed (a merge: against its
    first parent), one git call for the whole range."""
    # --no-renames: a move of code into docs/ must list the code path it removed too.
    # (--first-parent diffs a merge against its first parent from git 2.31; older git lists no
    # files for merges, which leaves them at the ordinary prior.)
    out = git(["log", "--first-parent", "--no-renames", "--name-only", "--format=%x00%H",
               f"{old}..{new}"], repo)
    files: dict[str, list[str]] = {}
    for block in out.split("\x00")[1:]:
        lines = [_unquote(x) for x in block.splitlines() if x.strip()]
        if lines:
            files[lines[0]] = lines[1:]
    return files


def _unquote(path: str) -> str:
    """Git's C-quoted form of a path with special bytes ("docs/caf\\303\\251.md") -> the path."""
    if len(path) < 2 or not (path.startswith('"') and path.endswith('"')):
        return path
    raw = codecs.escape_decode(path[1:-1].encode("utf-8", "surrogateescape"))[0]
    return raw.decode("utf-8", "surrogateescape")


def commit_info(repo: str | os.PathLike, sha: str) -> dict[str, str]:
    """sha, subject, author ("Name <email>") and ISO date of one commit."""
    out = git(["show", "-s", "--format=%H%x00%s%x00%an <%ae>%x00%cI", sha], repo)
    full, subject, author, date = (out.split("\x00") + ["", "", "", ""])[:4]
    return {"sha": full, "subject": subject, "author": author, "date": date}


def show_file(repo: str | os.PathLike, sha: str, path: str) -> Optional[bytes]:
    """Content of ``path`` at ``sha``, or None when the file does not exist there."""
    p = subprocess.run(["git", "show", f"{sha}:{path}"], cwd=str(repo), capture_output=True)
    return p.stdout if p.returncode == 0 else None


def files_key(repo: str | os.PathLike, sha: str, paths: Sequence[str]) -> str:
    """Hash of the named files at ``sha`` (missing files count as missing): a setup cache key."""
    h = hashlib.sha256()
    for path in sorted(paths):
        data = show_file(repo, sha, path)
        h.update(path.encode() + b"\0")
        h.update(b"<missing>" if data is None else hashlib.sha256(data).digest())
    return h.hexdigest()[:16]


def worktree_add(repo: str | os.PathLike, path: str | os.PathLike, sha: str) -> Path:
    """A detached work tree of ``sha`` at ``path`` (reused when already there at that sha).

    The user's checkout (its HEAD, index and files) is never touched."""
    path = Path(path)
    if path.is_dir():
        try:
            if git(["rev-parse", "HEAD"], path) == sha:
                return path
        except GitError:
            pass
        worktree_remove(repo, path)
    git(["worktree", "prune"], repo)
    path.parent.mkdir(parents=True, exist_ok=True)
    git(["worktree", "add", "--detach", "--force", str(path), sha], repo)
    return path


def worktree_remove(repo: str | os.PathLike, path: str | os.PathLike) -> None:
    try:
        git(["worktree", "remove", "--force", "--force", str(path)], repo)
    except GitError:
        pass   # not registered (any more): prune drops the stale entry
    git(["worktree", "prune"], repo)
