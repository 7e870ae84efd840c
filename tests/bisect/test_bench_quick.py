"""bench/bench_bisect.py --quick (the CI mode) runs both families and checks the targets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_bench_runs_both_families_and_reports_the_ends():
    p = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_bisect.py"), "--quick",
                        "--procs", "1", "--targets"], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    rows = [line.split() for line in p.stdout.splitlines()
            if line.startswith(("sweeps ", "none ")) and " setup " not in line]
    cells = {(r[0], r[3], r[4]): r for r in rows}
    # every method in both families; the ends column counts pcgbot's end runs without sweeps
    assert {(f, m) for f, _, m in cells} == {(f, m) for f in ("sweeps", "none")
                                             for m in ("pcgbot", "oracle", "plain", "syzbot")}
    none_det = cells["none", "1.0->0.0", "pcgbot"]
    assert float(none_det[5]) == 100.0 and float(none_det[10]) >= 1.0     # acc, ends
    assert float(cells["none", "1.0->0.0", "syzbot"][10]) == 10.0         # its reproduction
    assert float(cells["sweeps", "1.0->0.0", "syzbot"][10]) == 0.0        # the sweep did it
    assert "targets (issue 19" in p.stdout and "within oracle + 4" in p.stdout


def test_bad_bench_arguments_are_one_line():
    p = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_bisect.py"), "--methods",
                        "nosuch"], capture_output=True, text=True)
    assert p.returncode == 2 and "unknown method or family nosuch" in p.stderr
    assert "Traceback" not in p.stderr
