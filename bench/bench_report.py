"""How long reports take at the seed's size and beyond.

Builds sweep folders like the seed's (181 tests x 10 runs over 1/2/4-GPU configs, 38 failing)
through the real sweepdir API, a store with H sweeps of history, and times each format.  The
data are seeded (random.Random(1)); each time printed is the best (minimum) of R timings of one
call, after one untimed warm-up call for the HTML page.

Run: python bench/bench_report.py [--sizes 181x1,181x40,600x10] [--reps 3]
Tiny: python bench/bench_report.py --sizes 20x2 --reps 1
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

from pcgbot.report.dashboard import dashboard_for_dir
from pcgbot.report.junit import render_junit
from pcgbot.model import RunRecord
from pcgbot.report.markdown import collect, render_markdown
from pcgbot.results.store import Store
from pcgbot.results.sweepdir import RunWriter, log_name, write_meta


def make(d: Path, commit: str, n_tests: int, rng: random.Random, i: int) -> Path:
    d.mkdir(parents=True)
    write_meta(d, {"sweep_id": f"bench:{i}", "plan": "bench", "plan_file": "", "mode": "pcg",
                   "commit": commit, "branch": "main", "complete": True, "repeats": 10,
                   "started_at": f"2026-07-{1 + i // 24:02d}T{i % 24:02d}:00:00+00:00",
                   "finished_at": None, "host": "h", "shard": None, "tests": []})
    w = RunWriter(d)
    (d / "logs").mkdir()
    recs = []
    for t in range(n_tests):
        gpus = 1 if t < n_tests * 0.86 else (2 if t < n_tests * 0.97 else 4)
        bad = t % 5 == 0 and rng.random() < 0.9
        test = f"registered/area{t % 17}/test_{t}.py"
        for a in range(10):
            oc = "fail" if bad and rng.random() < 0.8 else "pass"
            log = log_name(test, "pcg", a)
            if oc == "fail":
                (d / log).write_text("Traceback\n" * 50 + "RuntimeError: boom\n")
            recs.append(RunRecord(test=test, attempt=a, mode="pcg", outcome=oc, exit_code=0,
                                  duration_s=30.0, commit=commit, log=log, started_at="",
                                  plan="bench", suite=f"suite-{t % 4}", gpus_needed=gpus,
                                  signature="fp" if oc == "fail" else None))
    for r in recs:
        w.append(r)
    return d


def timed(fn, reps: int = 3) -> float:
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _sizes(text: str) -> list[tuple[int, int]]:
    try:
        out = [(int(a), int(b)) for a, b in (x.split("x") for x in text.split(","))]
    except ValueError:
        raise SystemExit(f"bench_report: --sizes: {text!r} is not TESTSxHISTORY[,...], "
                         "e.g. 181x1,181x40") from None
    if any(n < 1 or h < 1 for n, h in out):
        raise SystemExit(f"bench_report: --sizes: {text!r}: tests and history must be >= 1")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="181x1,181x40,600x10",
                    help="TESTSxHISTORY pairs: tests per sweep x sweeps in the store")
    ap.add_argument("--reps", type=int, default=3, help="timings per figure; the best is shown")
    a = ap.parse_args()
    rng = random.Random(1)
    print(f"best of {a.reps} timing(s) per figure; seeded data")
    print(f"{'tests':>6} {'history':>8} {'collect ms':>11} {'md ms':>7} {'junit ms':>9} "
          f"{'html ms':>8} {'html KiB':>9}")
    for n_tests, hist in _sizes(a.sizes):
        with tempfile.TemporaryDirectory() as tmp:
            store = Store(Path(tmp) / "db")
            last = None
            for i in range(hist):
                last = make(Path(tmp) / f"s{i}", f"{i:040x}", n_tests, rng, i)
                store.import_sweep(last)
            data = collect(last, store=store)
            c = timed(lambda: collect(last, store=store), a.reps)
            md = timed(lambda: render_markdown(data), a.reps)
            ju = timed(lambda: render_junit(data), a.reps)
            page = dashboard_for_dir(last, store)
            ht = timed(lambda: dashboard_for_dir(last, store), a.reps)
            print(f"{n_tests:>6} {hist:>8} {c * 1e3:>11.1f} {md * 1e3:>7.1f} {ju * 1e3:>9.1f} "
                  f"{ht * 1e3:>8.1f} {len(page) / 1024:>9.0f}")
    return 0

if __name__ == "__main__":
    sys.exit(main())
