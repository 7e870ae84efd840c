"""Sweep progress on stderr: a live bar on a terminal, one line per finished run elsewhere (CI)."""

from __future__ import annotations

import sys
import time
from collections import Counter

from ..model import RunRecord, short_name


class ProgressPrinter:
    def __init__(self, stream=None, quiet: bool = False):
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.quiet = quiet
        self.counts: Counter = Counter()
        self.t0 = time.monotonic()

    def __call__(self, rec: RunRecord, done: int, total: int) -> None:
        self.counts[rec.outcome] += 1
        if self.quiet:
            return
        elapsed = time.monotonic() - self.t0
        eta = elapsed / done * (total - done) if done else 0
        tally = " ".join(f"{k}={v}" for k, v in sorted(self.counts.items()))
        if self.tty:
            width = 28
            fill = int(width * done / max(total, 1))
            bar = "#" * fill + "-" * (width - fill)
            line = (f"\r[{bar}] {done}/{total} {tally} eta {eta:,.0f}s "
                    f"{short_name(rec.test)[:30]:<30}")
            self.stream.write(line)
            if done >= total:
                self.stream.write("\n")
        else:
            extra = f" ({rec.reason})" if rec.reason else ""
            self.stream.write(f"[{done}/{total}] {rec.outcome.upper():7} {rec.test} "
                              f"{rec.mode}#{rec.attempt} {rec.duration_s:.1f}s{extra}\n")
        self.stream.flush()
