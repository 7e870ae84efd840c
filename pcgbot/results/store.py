"""The results store: every sweep and every run, in SQLite.

Sweep directories (``sweep.json`` + ``runs.jsonl``) are the source of truth that travels as CI
artifacts; the store indexes them so diff, bisect and reports can ask about history.  Importing
is idempotent: a sweep is keyed by its ``sweep_id`` and a run by (sweep, test, mode, attempt), so
importing a directory twice (or a resumed sweep again) doubles nothing.
"""

from __future__ import annotations

import json
import os
import sqlite3
import statistics
from pathlib import Path
from typing import Any, Optional

from ..errors import PcgbotError
from ..model import RunRecord

DEFAULT_PATH = ".pcgbot/pcgbot.db"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sweeps (
  sweep_id TEXT PRIMARY KEY, dir TEXT, plan TEXT, plan_file TEXT, mode TEXT, "commit" TEXT,
  branch TEXT, started_at TEXT, finished_at TEXT, complete INTEGER, host TEXT, shard TEXT,
  meta TEXT);
CREATE TABLE IF NOT EXISTS runs (
  sweep_id TEXT NOT NULL, test TEXT NOT NULL, mode TEXT NOT NULL, attempt INTEGER NOT NULL,
  outcome TEXT NOT NULL, record TEXT NOT NULL,
  PRIMARY KEY (sweep_id, test, mode, attempt));
CREATE INDEX IF NOT EXISTS runs_test ON runs(test);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS bisect_timings (
  plan TEXT NOT NULL, test TEXT NOT NULL, kind TEXT NOT NULL, sha TEXT NOT NULL,
  attempt INTEGER NOT NULL, duration_s REAL NOT NULL, state TEXT NOT NULL,
  PRIMARY KEY (state, kind, sha, attempt));
"""


def default_store_path() -> str:
    return os.environ.get("PCGBOT_STORE") or DEFAULT_PATH


class Store:
    def __init__(self, path: Optional[str | os.PathLike] = None):
        self.path = Path(path or default_store_path())
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(str(self.path), timeout=30, check_same_thread=False)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.executescript(_SCHEMA)
        except (sqlite3.Error, OSError) as e:
            raise PcgbotError(f"{self.path}: store: cannot open ({e})") from None

    def close(self) -> None:
        self.conn.close()

    # -- import ---------------------------------------------------------------------------
    def import_sweep(self, sweep_dir: str | os.PathLike) -> str:
        from .sweepdir import read_meta, read_runs

        sweep_dir = Path(sweep_dir)
        meta = read_meta(sweep_dir)
        runs = read_runs(sweep_dir)
        sid = meta["sweep_id"]
        with self.conn:
            self.conn.execute(
                'INSERT OR REPLACE INTO sweeps (sweep_id, dir, plan, plan_file, mode, "commit",'
                " branch, started_at, finished_at, complete, host, shard, meta)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (sid, str(sweep_dir.resolve()), meta.get("plan"), meta.get("plan_file"),
                 meta.get("mode"), meta.get("commit"), meta.get("branch"), meta.get("started_at"),
                 meta.get("finished_at"), 1 if meta.get("complete") else 0, meta.get("host"),
                 meta.get("shard"), json.dumps(meta, sort_keys=True)))
            self.conn.executemany(
                "INSERT OR REPLACE INTO runs (sweep_id, test, mode, attempt, outcome, record)"
                " VALUES (?,?,?,?,?,?)",
                [(sid, r.test, r.mode, r.attempt, r.outcome, r.to_json()) for r in runs])
        return sid

    # -- queries --------------------------------------------------------------------------
    def sweeps(self, plan: Optional[str] = None, mode: Optional[str] = None,
               branch: Optional[str] = None, complete: Optional[bool] = None,
               commit: Optional[str] = None, sweep_id: Optional[str] = None,
               ) -> list[dict[str, Any]]:
        """Sweeps, newest first (by start time)."""
        q = 'SELECT sweep_id, dir, plan, plan_file, mode, "commit", branch, started_at,' \
            " finished_at, complete, host, shard, meta FROM sweeps WHERE 1=1"
        args: list[Any] = []
        for col, val in (("plan", plan), ("mode", mode), ("branch", branch),
                         ('"commit"', commit), ("sweep_id", sweep_id)):
            if val is not None:
                q += f" AND {col} = ?"
                args.append(val)
        if complete is not None:
            q += " AND complete = ?"
            args.append(1 if complete else 0)
        q += " ORDER BY started_at DESC, sweep_id DESC"
        out = []
        for row in self.conn.execute(q, args):
            d = dict(zip(("sweep_id", "dir", "plan", "plan_file", "mode", "commit", "branch",
                          "started_at", "finished_at", "complete", "host", "shard"), row[:12]))
            d["complete"] = bool(d["complete"])
            d["meta"] = json.loads(row[12]) if row[12] else {}
            out.append(d)
        return out

    def sweep(self, sweep_id: str) -> Optional[dict[str, Any]]:
        found = self.sweeps(sweep_id=sweep_id)
        return found[0] if found else None

    def runs(self, sweep_id: str) -> list[RunRecord]:
        rows = self.conn.execute(
            "SELECT record FROM runs WHERE sweep_id = ? ORDER BY test, mode, attempt", (sweep_id,))
        return [RunRecord.from_dict(json.loads(r[0])) for r in rows]

    def durations(self, plan: Optional[str] = None) -> dict[str, float]:
        """Median duration of finished (pass/fail) runs per test: the scheduler's history."""
        q = "SELECT r.test, r.record FROM runs r JOIN sweeps s USING (sweep_id)" \
            " WHERE r.outcome IN ('pass','fail')"
        args: list[Any] = []
        if plan is not None:
            q += " AND s.plan = ?"
            args.append(plan)
        acc: dict[str, list[float]] = {}
        for test, rec in self.conn.execute(q, args):
            acc.setdefault(test, []).append(float(json.loads(rec).get("duration_s") or 0.0))
        return {t: statistics.median(v) for t, v in acc.items()}

    # -- key/value ------------------------------------------------------------------------
    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def set_meta(self, key: str, value: Any) -> None:
        with self.conn:
            self.conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                              (key, json.dumps(value, sort_keys=True)))
