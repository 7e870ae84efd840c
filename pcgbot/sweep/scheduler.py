"""Which run starts next: longest-first order, balanced shards, adaptive repeats."""

from __future__ import annotations

from typing import Optional

from ..model import FAIL, PASS, TIMEOUT, RunRecord
from ..plan.schema import TestSpec


def order_tests(tests: list[TestSpec], history: dict[str, float]) -> list[TestSpec]:
    """Longest first; ties by path so the order is deterministic."""
    return sorted(tests, key=lambda t: (-history.get(t.path, t.est_time), t.path))


def shard_tests(tests: list[TestSpec], shard: tuple[int, int], history: dict[str, float],
                ) -> list[TestSpec]:
    """Greedy LPT partition of tests into N balanced bins by estimated time; bin I (1-based)."""
    i, n = shard
    bins: list[list[TestSpec]] = [[] for _ in range(n)]
    load = [0.0] * n
    for t in order_tests(tests, history):
        j = min(range(n), key=lambda b: (load[b], b))
        bins[j].append(t)
        load[j] += history.get(t.path, t.est_time)
    return bins[i - 1]


class Scheduler:
    """Which (test, attempt) may start next.

    Fixed repeats: every missing attempt is ready at once, longest test first.  Adaptive: a test
    starts with ``min_runs`` attempts and gets more only while ``adaptive.decide`` says the
    verdict is still open (up to ``max_runs``).

    Sentinels (PCG-inert tests, ``pcgbot.results.inert``): one attempt only, unless that run
    shows PCG active -- then the test is no longer inert and gets the rest of its first runs in
    this same sweep, so a change in SGLang's auto-disable logic is tested at full strength at once.
    """

    def __init__(self, plan, tests, mode, reps, done, adaptive, baseline, history,
                 sentinels=frozenset()):
        self.adaptive = adaptive
        self.baseline = baseline
        self.timeout_fails = plan.timeout_is_failure
        self.mode = mode
        self.order = order_tests(tests, history)
        self.results: dict[str, list[str]] = {t.path: [] for t in tests}
        self.pending: dict[str, list[int]] = {}
        self.inflight: dict[str, int] = {t.path: 0 for t in tests}
        self.stopped: set[str] = set()
        self.cap = reps if adaptive is None else max(reps, adaptive.max_runs)
        first = reps if adaptive is None else adaptive.min_runs
        self._first = first
        self.sentinels: set[str] = set()
        for t in tests:
            if t.path in sentinels:
                r0 = done.get((t.path, mode, 0))
                # a resumed sweep whose sentinel already saw PCG runs the test in full
                if r0 is None or r0.pcg_active is not True:
                    self.sentinels.add(t.path)
        self.woken: list[str] = []     # sentinels whose run showed PCG active, in order
        for t in tests:
            for a in range(self.cap):
                r = done.get((t.path, mode, a))
                if r is not None:
                    self.results[t.path].append(r.outcome)
            n0 = 1 if t.path in self.sentinels else first
            self.pending[t.path] = [a for a in range(n0) if (t.path, mode, a) not in done]
        self._next = {t.path: (reps if adaptive is None else adaptive.min_runs) for t in tests}
        self._done_keys = done

    def total_planned(self) -> int:
        return sum(len(v) for v in self.pending.values()) + sum(
            1 for k in self._done_keys if k[1] == self.mode)

    def ready(self):
        """(test, attempt) pairs that may start, longest test first; the caller takes them."""
        for t in self.order:
            pend = self.pending.get(t.path)
            while pend:
                before = len(pend)
                yield t, pend[0]
                if len(pend) == before:    # not taken: the pool is full for this test
                    break

    def take(self, t, a) -> None:
        self.pending[t.path].remove(a)
        self.inflight[t.path] += 1

    def pop_all(self, t) -> list[int]:
        out = self.pending.get(t.path, [])
        self.pending[t.path] = []
        return out

    def finish(self, t, rec: Optional[RunRecord]) -> None:
        self.inflight[t.path] -= 1
        if rec is None:
            return
        self.results[t.path].append(rec.outcome)
        if t.path in self.sentinels:
            if rec.pcg_active is not True:
                return                 # still inert: the one run is all this sweep spends
            self.sentinels.discard(t.path)
            self.woken.append(t.path)
            self.pending[t.path].extend(a for a in range(1, self._first)
                                        if (t.path, self.mode, a) not in self._done_keys)
            if self.pending[t.path]:
                return
        if self.adaptive is None or self.pending[t.path] or self.inflight[t.path]:
            return
        outs = self.results[t.path]
        nxt = self._next[t.path]
        while nxt < self.cap and (t.path, self.mode, nxt) in self._done_keys:
            nxt += 1
        if nxt >= self.cap:
            return
        k = outs.count(PASS)
        n = k + outs.count(FAIL) + (outs.count(TIMEOUT) if self.timeout_fails else 0)
        decision = self.adaptive.decide(self.baseline.get(t.path), k, n, len(outs))
        if decision.action == "continue":
            self.pending[t.path].append(nxt)
            self._next[t.path] = nxt + 1
