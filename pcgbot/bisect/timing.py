"""What a probe costs on the runner: setup and run durations, and their ratio for the search.

A run at a commit whose setup (installing the engine at that commit) is not the installed one
pays the setup too.  The search weighs that with ``SearchConfig.setup_cost`` in units of one
run; here it becomes the measured ratio median(setup seconds) / median(run seconds): from this
bisection's state first, then from earlier bisections in the store (table ``bisect_timings``),
with the test's ``est_time`` from the plan standing in for runs until one is measured.  Until a
setup has been timed anywhere the ratio stays at the search's default (1 run).
"""

from __future__ import annotations

import sqlite3
import statistics
from dataclasses import dataclass
from typing import Any, Optional

SETUP, RUN = "setup", "run"
# A ratio outside these bounds is a measurement glitch (a cached setup, a hung run), not a
# cost model: clamp it so one odd setup cannot make the search refuse every other commit.
MIN_RATIO, MAX_RATIO = 0.0, 50.0


@dataclass
class Timing:
    setup_s: Optional[float]      # median setup seconds (None: never measured)
    run_s: float                  # median run seconds (the plan's est_time until measured)
    source: str                   # where the figures come from, for state.json

    @property
    def ratio(self) -> Optional[float]:
        """Setup cost in runs, or None when no setup has been timed."""
        if self.setup_s is None or self.run_s <= 0:
            return None
        return min(MAX_RATIO, max(MIN_RATIO, self.setup_s / self.run_s))


def _median(xs: list[float]) -> Optional[float]:
    return statistics.median(xs) if xs else None


def stored(store: Any, plan: str, test: str, kind: str) -> list[float]:
    """Durations of earlier bisections' setups (any test of the plan: the setup is the plan's)
    or runs (this test) from the store; [] without a store."""
    if store is None:
        return []
    q = "SELECT duration_s FROM bisect_timings WHERE plan = ? AND kind = ?"
    args: list[Any] = [plan, kind]
    if kind == RUN:
        q += " AND test = ?"
        args.append(test)
    try:
        return [float(r[0]) for r in store.conn.execute(q, args)]
    except sqlite3.Error:     # an older store without the table: nothing measured yet
        return []


def record(store: Any, plan: str, test: str, kind: str, sha: str, attempt: int,
           duration_s: Optional[float], state: str) -> None:
    """Keep one setup or run duration in the store for later bisections (no store: no-op)."""
    if store is None or duration_s is None:
        return
    try:
        with store.conn:
            store.conn.execute(
                "INSERT OR REPLACE INTO bisect_timings (plan, test, kind, sha, attempt,"
                " duration_s, state) VALUES (?,?,?,?,?,?,?)",
                (plan, test, kind, sha, attempt, float(duration_s), state))
    except sqlite3.Error:     # only a hint for the next bisection: never worth failing over
        pass


def measure(data: dict[str, Any], store: Any, plan: str, test: str,
            est_time: float) -> Timing:
    """Setup and run durations of this bisection (``data`` = state.json), else the store's,
    else the plan's est_time for runs."""
    setups = [s["duration_s"] for s in data["setups"].values()
              if s.get("ok") and s.get("duration_s") is not None]
    runs = [p["duration_s"] for p in data["probes"] if p.get("duration_s")]
    where = []
    setup_s = _median(setups)
    if setup_s is not None:
        where.append(f"{len(setups)} setups here")
    else:
        setup_s = _median(stored(store, plan, test, SETUP))
        if setup_s is not None:
            where.append("setups from the store")
    run_s = _median(runs)
    if run_s is not None:
        where.append(f"{len(runs)} runs here")
    else:
        run_s = _median(stored(store, plan, test, RUN))
        if run_s is not None:
            where.append("runs from the store")
        else:
            run_s = est_time
            where.append("runs: the plan's est_time")
    return Timing(setup_s, run_s, ", ".join(where))
