"""A Backend that writes to a folder instead of GitHub (no token, or ``--dry-run OUTDIR``).

Layout of OUTDIR (what ``pcgbot demo`` shows and CI uploads as an artifact)::

    issues/0001.json          the issue as GitHub would hold it (title, body, state, labels)
    issues/0001.md            the same, readable: title, state, labels, then the body
    comments/0001-0003.md     comment 3 on issue 1 (ids are global, like GitHub's)
    labels.json               labels created, with colours
    statuses/<sha>.json       commit statuses per context, newest last
    checks/<sha>.<name>.md    check-run summaries
    dispatches.jsonl          workflow dispatches, reactions.jsonl reactions
    commit-comments/<sha>-0001.md   the note to a culprit's author (offline: no pull request lookup)

The same sync logic runs on it, so it is idempotent the same way.  Writes are atomic (temp file +
rename) and serialised by a lock file, so two dry-run syncs at once behave like two bots.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional

from ..errors import PcgbotError
from ..fsutil import make_dir, write_text
from .backend import CHECK_TEXT_LIMIT, STATUS_DESC_LIMIT, Backend, Comment, Issue


def _atomic_write(path: Path, text: str) -> None:
    make_dir(path.parent)
    write_text(path, text)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "default"


class FolderBackend(Backend):
    name = "dry-run"

    def __init__(self, outdir: str | os.PathLike, login: str = "pcgbot[bot]") -> None:
        self.root = Path(outdir)
        self.login = login
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise PcgbotError(f"{self.root}: dry-run: cannot create folder ({e.strerror})") from None

    @contextmanager
    def _lock(self) -> Iterator[None]:
        with open(self.root / ".lock", "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    # --- issues ---------------------------------------------------------------------------------
    def _issue_path(self, number: int) -> Path:
        return self.root / "issues" / f"{number:04d}.json"

    def _read(self, number: int) -> dict:
        try:
            return json.loads(self._issue_path(number).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise PcgbotError(f"{self._issue_path(number)}: dry-run: issue #{number} does not exist") from None

    def _write(self, d: dict) -> None:
        _atomic_write(self._issue_path(d["number"]), json.dumps(d, indent=2, sort_keys=True) + "\n")
        md = (f"# #{d['number']} {d['title']}\n\nstate: {d['state']}"
              f"{' (' + d['state_reason'] + ')' if d.get('state_reason') else ''} · labels: "
              f"{', '.join(d['labels'])}\n\n---\n\n{d['body']}")
        _atomic_write(self._issue_path(d["number"]).with_suffix(".md"), md)

    def _all(self) -> list[dict]:
        out = []
        for p in sorted((self.root / "issues").glob("*.json")):
            out.append(json.loads(p.read_text(encoding="utf-8")))
        return out

    @staticmethod
    def _issue(d: dict) -> Issue:
        return Issue(d["number"], d["title"], d["body"], d["state"], list(d["labels"]), d.get("state_reason"),
                     d.get("url"), d.get("created_at"))

    def list_issues(self, labels: list[str], state: str = "all") -> list[Issue]:
        want = {x.lower() for x in labels}
        with self._lock():
            items = self._all()
        return [self._issue(d) for d in items
                if (state == "all" or d["state"] == state) and want <= {x.lower() for x in d["labels"]}]

    def get_issue(self, number: int) -> Issue:
        with self._lock():
            return self._issue(self._read(number))

    def create_issue(self, title: str, body: str, labels: list[str]) -> Issue:
        with self._lock():
            number = max((d["number"] for d in self._all()), default=0) + 1
            d = {"number": number, "title": self.clean(title, 256), "body": self.clean(body), "state": "open",
                 "state_reason": None, "labels": list(labels), "url": str(self._issue_path(number).with_suffix(".md")),
                 "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            self._write(d)
        return self._issue(d)

    def edit_issue(self, number: int, *, title: Optional[str] = None, body: Optional[str] = None,
                   state: Optional[str] = None, state_reason: Optional[str] = None,
                   labels: Optional[list[str]] = None) -> None:
        with self._lock():
            d = self._read(number)
            if title is not None:
                d["title"] = self.clean(title, 256)
            if body is not None:
                d["body"] = self.clean(body)
            if labels is not None:
                d["labels"] = list(labels)
            if state is not None and state != d["state"]:
                d["state"] = state
                d["state_reason"] = state_reason or ("completed" if state == "closed" else "reopened")
            self._write(d)

    # --- comments -------------------------------------------------------------------------------
    def _comment_files(self, number: Optional[int] = None) -> list[Path]:
        pat = f"{number:04d}-*.md" if number is not None else "*.md"
        return sorted((self.root / "comments").glob(pat))

    def list_comments(self, number: int) -> list[Comment]:
        with self._lock():
            return [Comment(int(p.stem.split("-")[1]), p.read_text(encoding="utf-8"), self.login)
                    for p in self._comment_files(number)]

    def add_comment(self, number: int, body: str) -> Comment:
        with self._lock():
            self._read(number)
            cid = max((int(p.stem.split("-")[1]) for p in self._comment_files()), default=0) + 1
            text = self.clean(body) or ""
            _atomic_write(self.root / "comments" / f"{number:04d}-{cid:04d}.md", text)
        return Comment(cid, text, self.login)

    def delete_comment(self, number: int, comment_id: int) -> None:
        with self._lock():
            (self.root / "comments" / f"{number:04d}-{comment_id:04d}.md").unlink(missing_ok=True)

    def ensure_labels(self, specs: dict[str, tuple[str, str]]) -> list[str]:
        path = self.root / "labels.json"
        with self._lock():
            have = json.loads(path.read_text()) if path.exists() else {}
            new = [n for n in specs if n not in have]
            for n in new:
                have[n] = {"color": specs[n][0], "description": specs[n][1]}
            if new:
                _atomic_write(path, json.dumps(have, indent=2, sort_keys=True) + "\n")
        return new

    def claim_label(self, name: str, color: str, description: str) -> bool:
        path = self.root / "labels.json"
        with self._lock():
            have = json.loads(path.read_text()) if path.exists() else {}
            if name in have:
                return False
            have[name] = {"color": color, "description": description}
            _atomic_write(path, json.dumps(have, indent=2, sort_keys=True) + "\n")
        return True

    # --- statuses and checks --------------------------------------------------------------------
    def _statuses(self, sha: str) -> list[dict]:
        p = self.root / "statuses" / f"{_slug(sha)}.json"
        return json.loads(p.read_text()) if p.exists() else []

    def latest_status(self, sha: str, context: str) -> Optional[dict]:
        with self._lock():
            for s in reversed(self._statuses(sha)):
                if s["context"] == context:
                    return s
        return None

    def create_status(self, sha: str, state: str, description: str, target_url: Optional[str],
                      context: str) -> None:
        with self._lock():
            items = self._statuses(sha) + [{"state": state, "description": self.clean(description, STATUS_DESC_LIMIT),
                                            "target_url": target_url, "context": context}]
            _atomic_write(self.root / "statuses" / f"{_slug(sha)}.json", json.dumps(items, indent=2) + "\n")

    def upsert_check_run(self, sha: str, name: str, conclusion: str, title: str, summary: str,
                         details_url: Optional[str]) -> bool:
        text = (f"<!-- conclusion: {conclusion} -->\n# {self.clean(title, 255)}\n\n"
                f"{self.clean(summary, CHECK_TEXT_LIMIT)}\n" + (f"\n{details_url}\n" if details_url else ""))
        path = self.root / "checks" / f"{_slug(sha)}.{_slug(name)}.md"
        with self._lock():
            if path.exists() and path.read_text(encoding="utf-8") == text:
                return False
            _atomic_write(path, text)
        return True

    # --- bot commands ---------------------------------------------------------------------------
    def _append(self, name: str, obj: dict[str, Any]) -> None:
        with self._lock(), open(self.root / name, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(obj, sort_keys=True) + "\n")

    def react(self, number: int, comment_id: int, content: str) -> None:
        self._append("reactions.jsonl", {"issue": number, "comment_id": comment_id, "content": content})

    def dispatch(self, workflow: str, ref: str, inputs: dict[str, str]) -> None:
        self._append("dispatches.jsonl", {"workflow": workflow, "ref": ref, "inputs": inputs})

    def permission(self, login: str) -> str:
        return "none"    # offline: fall back to the event's author_association

    # --- telling a culprit's author -------------------------------------------------------------
    # Offline there is no commit -> pull request lookup: the comment goes to the commit, as a file.
    def commit_pulls(self, sha: str) -> list[dict]:
        return []

    def commit_author(self, sha: str) -> Optional[str]:
        return None

    def _commit_comment_files(self, sha: str) -> list[Path]:
        return sorted((self.root / "commit-comments").glob(f"{_slug(sha)}-*.md"))

    def list_commit_comments(self, sha: str) -> list[Comment]:
        with self._lock():
            return [Comment(int(p.stem.rsplit("-", 1)[1]), p.read_text(encoding="utf-8"), self.login)
                    for p in self._commit_comment_files(sha)]

    def add_commit_comment(self, sha: str, body: str) -> Comment:
        with self._lock():
            cid = len(self._commit_comment_files(sha)) + 1
            text = self.clean(body) or ""
            _atomic_write(self.root / "commit-comments" / f"{_slug(sha)}-{cid:04d}.md", text)
        return Comment(cid, text, self.login)
