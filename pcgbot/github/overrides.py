"""Human decisions taken through ``/pcgbot`` commands, kept in the store.

The issue body's state block is the primary record (it travels with the issue); this table is
the second one, so that a decision survives even if the body edit after a command failed, and so
that reports can list them.  ``sync`` applies both.
"""

from __future__ import annotations

import json
import time
from typing import Any, Optional

_SCHEMA = """
CREATE TABLE IF NOT EXISTS github_overrides (
  repo TEXT NOT NULL, fp TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
  actor TEXT, at TEXT, PRIMARY KEY (repo, fp, key));
CREATE TABLE IF NOT EXISTS github_commands (
  repo TEXT NOT NULL, comment_id INTEGER NOT NULL, issue INTEGER, actor TEXT, command TEXT,
  outcome TEXT, at TEXT, PRIMARY KEY (repo, comment_id));
"""

KEYS = ("ignored", "not_pcg", "redirect", "fixed_by")


def _conn(store: Any) -> Any:
    conn = store.conn
    conn.executescript(_SCHEMA)
    return conn


def record(store: Any, repo: str, fp: str, key: str, value: Any, actor: str) -> None:
    assert key in KEYS, key
    conn = _conn(store)
    with conn:
        conn.execute("INSERT OR REPLACE INTO github_overrides VALUES (?,?,?,?,?,?)",
                     (repo, fp, key, json.dumps(value), actor,
                      time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())))


def overrides(store: Any, repo: str) -> dict[str, dict[str, Any]]:
    """fp -> {key: value} for one repository."""
    out: dict[str, dict[str, Any]] = {}
    for fp, key, value in _conn(store).execute(
            "SELECT fp, key, value FROM github_overrides WHERE repo = ?", (repo,)):
        out.setdefault(fp, {})[key] = json.loads(value)
    return out


def seen_command(store: Any, repo: str, comment_id: int) -> Optional[str]:
    row = _conn(store).execute("SELECT outcome FROM github_commands WHERE repo = ? AND comment_id = ?",
                               (repo, comment_id)).fetchone()
    return row[0] if row else None


def log_command(store: Any, repo: str, comment_id: int, issue: Optional[int], actor: str,
                command: str, outcome: str) -> None:
    conn = _conn(store)
    with conn:
        conn.execute("INSERT OR REPLACE INTO github_commands VALUES (?,?,?,?,?,?,?)",
                     (repo, comment_id, issue, actor, command, outcome,
                      time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())))
