"""The published dashboard at scale: build time, page sizes and browser load time of the site for
TESTS tests x COMMITS commits (the issue's bar: 600 x 60 loads in under 1 s).

The history is synthetic (sweep folders written through pcgbot's own sweepdir API and imported
into a real SQLite store; about 3% of tests flaky, one regression in the middle); the site is
built by ``pcgbot.report.site.build_site``, exactly as ``pcgbot site`` builds it.  Load time is
measured in headless Chromium (when installed) as the page's own ``performance.now()`` at its
``load`` event: HTML parsed, styles applied and the filter script run, without browser start-up.
Each figure is the median of --repeat loads.

    python bench/bench_site.py                      # 600 x 60
    python bench/bench_site.py --tests 60 --commits 6 --repeat 1   # CI's tiny configuration
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pcgbot.model import RunRecord  # noqa: E402
from pcgbot.report.site import build_site  # noqa: E402
from pcgbot.results.store import Store  # noqa: E402
from pcgbot.results.sweepdir import RUNS, write_meta  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def make_history(root: Path, tests: int, commits: int, runs: int, seed: int = 1) -> Store:
    rng = random.Random(seed)
    store = Store(root / "store.db")
    names = [f"registered/suite{i % 12}/test_case_{i:04d}.py" for i in range(tests)]
    flaky = set(rng.sample(names, max(1, tests * 3 // 100)))
    broken_from = commits // 2
    for c in range(commits):
        sha = f"{c:040x}"
        d = root / f"s{c}"
        d.mkdir()
        started = f"2026-07-{1 + c // 24:02d}T{c % 24:02d}:00:00+00:00"
        write_meta(d, {"sweep_id": f"big:pcg:{c}", "plan": "big", "mode": "pcg", "commit": sha,
                       "branch": "main", "started_at": started, "finished_at": started,
                       "complete": True, "repeats": runs, "host": "bench", "shard": None,
                       "tests": names})
        lines = []      # runs.jsonl in one write (RunWriter fsyncs each line, as a sweep must)
        for i, t in enumerate(names):
            for a in range(runs):
                bad = (t in flaky and rng.random() < 0.3) or (i == 7 and c >= broken_from)
                lines.append(RunRecord(test=t, attempt=a, mode="pcg", outcome="fail" if bad else "pass",
                                   exit_code=1 if bad else 0, duration_s=60.0, commit=sha, log=None,
                                   started_at=started, plan="big", suite=f"stage-{i % 5}",
                                   gpus_needed=1 + (i % 3 == 0),
                                   signature=f"{i % 50:012x}" if bad else None).to_json())
        (d / RUNS).write_text("\n".join(lines) + "\n")
        store.import_sweep(d)
    return store


def load_ms(page: Path, profile: Path) -> float:
    probe = page.with_name(page.stem + ".probe.html")
    text = page.read_text().replace(
        "</body>", "<script>addEventListener('load',function(){document.body.setAttribute("
                   "'data-loaded-ms',performance.now().toFixed(1))})</script></body>")
    probe.write_text(text)
    r = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                        "--no-first-run", f"--user-data-dir={profile}", "--dump-dom",
                        probe.as_uri()], capture_output=True, text=True, timeout=120)
    probe.unlink()
    import re
    m = re.search(r'data-loaded-ms="([\d.]+)"', r.stdout)
    if not m:
        raise SystemExit(f"no load time from chromium: {r.stderr[-500:]}")
    return float(m.group(1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tests", type=int, default=600)
    ap.add_argument("--commits", type=int, default=60)
    ap.add_argument("--runs", type=int, default=3, help="runs per test per sweep")
    ap.add_argument("--repeat", type=int, default=5, help="browser loads per page (median)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        store = make_history(root, args.tests, args.commits, args.runs)
        t1 = time.perf_counter()
        res = build_site(store, root / "site", last=args.commits)
        t2 = time.perf_counter()
        site = root / "site"
        overview = site / res["configs"][0]["page"]
        test_page = next((site / "tests").glob("*.html"))
        print(f"history: {args.tests} tests x {args.commits} commits x {args.runs} runs "
              f"(synthetic, imported in {t1 - t0:.1f} s)")
        print(f"build_site: {t2 - t1:.2f} s for {res['tests']} test pages and "
              f"{res['signatures']} signature pages")
        total = sum(p.stat().st_size for p in site.rglob("*") if p.is_file())
        print(f"sizes: overview {overview.stat().st_size / 1e6:.2f} MB, a test page "
              f"{test_page.stat().st_size / 1e3:.1f} kB, whole site {total / 1e6:.1f} MB")
        if not CHROMIUM:
            print("browser load: chromium not installed (apt-get install chromium); skipped")
            return
        for name, page in (("overview", overview), ("test page", test_page)):
            ms = [load_ms(page, root / f"prof-{name}-{i}") for i in range(args.repeat)]
            print(f"browser load ({name}): median {statistics.median(ms):.0f} ms "
                  f"(min {min(ms):.0f}, max {max(ms):.0f}, {args.repeat} loads, headless "
                  f"Chromium, to the load event)")


if __name__ == "__main__":
    main()
