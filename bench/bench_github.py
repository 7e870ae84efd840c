"""GitHub sync cost: requests and wall time per sync, against the loopback fake server.

    python bench/bench_github.py [--sigs 10,50,200] [--fault-rate 0.05]

For N signatures it times: the first sync (files N issues), a second sync on the same data
(must write nothing), a sync with new evidence for every signature (N comments + N edits), and
the same first sync with a fraction of requests answering 502 (retried).  Requests are counted
by the fake; the numbers size a real run against GitHub's limits (GITHUB_TOKEN: 1,000 requests/h
per repo; content creation 80/min, which PyGithub's 1 s write pacing respects in production).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fakegithub import FakeGitHub, make_analysis, make_signature, remote  # noqa: E402
from pcgbot.github.sync import sync  # noqa: E402


def sigs(n: int, extra_test: bool = False) -> list[dict]:
    out = []
    for i in range(n):
        tests = (f"registered/t/test_{i}.py",) + ((f"registered/t/test_{i}_b.py",) if extra_test else ())
        out.append(make_signature(fp=f"{i:012x}", tests=tests))
    return out


def measure(gh: FakeGitHub, b, analysis: dict) -> tuple[int, int, float]:
    n0 = len(gh.requests)
    t = time.perf_counter()
    sync(b, analysis)
    dt = time.perf_counter() - t
    reqs = gh.requests[n0:]
    return len(reqs), sum(1 for m, _ in reqs if m != "GET"), dt


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sigs", default="10,50,200")
    ap.add_argument("--fault-rate", type=float, default=0.05)
    args = ap.parse_args()
    print(f"{'sigs':>5} {'phase':<22} {'requests':>9} {'writes':>7} {'wall s':>8} {'ms/req':>7}")
    for n in [int(x) for x in args.sigs.split(",")]:
        with FakeGitHub() as gh:
            b = remote(gh)
            first = make_analysis(sigs(n))
            rows = [("first (file all)", measure(gh, b, first)),
                    ("again, same data", measure(gh, b, first)),
                    ("new test hit, all", measure(gh, b, make_analysis(sigs(n, True), sweep="s2")))]
        with FakeGitHub() as gh:
            b = remote(gh, backoff=0.001)
            gh.set_fault_rate(args.fault_rate, status=502, seed=1)
            rows.append((f"first, {args.fault_rate:.0%} 502s", measure(gh, b, make_analysis(sigs(n)))))
            gh.set_fault_rate(0.0)
            total = len([i for i in gh.repo("o/r").issue_list() if i["state"] == "open"])
            assert total == n, (total, n)
        for name, (reqs, w, dt) in rows:
            print(f"{n:>5} {name:<22} {reqs:>9} {w:>7} {dt:>8.3f} {1000 * dt / max(reqs, 1):>7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
