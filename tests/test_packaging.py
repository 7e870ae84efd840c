"""What ships: a wheel built from the tracked files runs ``pcgbot demo`` from a fresh venv, and
every bench script starts as shipped.

The wheel test builds from a copy of ``git ls-files`` (nothing is written into the checkout), so a
file left out of the package data, or never committed, fails here and not on a user's machine.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"


def _tracked_copy(dst: Path) -> Path:
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
                           ).stdout.decode().split("\0")
    for f in filter(None, files):
        src = ROOT / f
        if src.is_file():
            (dst / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / f)
    return dst


def _dependency_dirs() -> list[str]:
    """Where this interpreter finds pcgbot's dependencies (the venv under test, or the user's)."""
    dirs = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"],
            *site.getsitepackages()}
    if site.ENABLE_USER_SITE:
        dirs.add(site.getusersitepackages())
    return sorted(d for d in dirs if os.path.isdir(d))


@pytest.mark.slow
def test_wheel_installs_in_a_fresh_venv_and_runs_the_demo(tmp_path):
    src = _tracked_copy(tmp_path / "src")
    dist = tmp_path / "dist"
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                        "--no-index", "-q", "-w", str(dist), str(src)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    wheel = next(dist.glob("pcgbot-*.whl"))

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False, system_site_packages=False).create(env_dir)
    py = env_dir / "bin" / "python"
    purelib = subprocess.run([py, "-c", "import sysconfig;print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    # The wheel goes into the fresh venv itself; its dependencies are borrowed from this
    # interpreter by a .pth path (such a path's own .pth files, e.g. an editable pcgbot's, are not
    # run, and the venv's site-packages comes first).
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q",
                        "--target", purelib, str(wheel)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    Path(purelib, "zz_pcgbot_test_deps.pth").write_text("\n".join(_dependency_dirs()) + "\n")

    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    where = subprocess.run([py, "-c", "import pcgbot;print(pcgbot.__file__)"], cwd=work, env=env,
                           capture_output=True, text=True, timeout=60)
    assert where.stdout.strip().startswith(purelib), where.stdout + where.stderr
    demo = subprocess.run([py, "-m", "pcgbot", "demo", "--dir", str(work / "demo")], cwd=work,
                          env=env, capture_output=True, text=True, timeout=600)
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    assert "regression" in demo.stdout
    assert (work / "demo").is_dir()


# Each bench as shipped: --help for those with options, the smallest configuration otherwise.
BENCHES = {
    "bench_adaptive.py": ["--help"],
    "bench_bisect.py": ["--help"],
    "bench_cost.py": ["--help"],
    # a tiny real run: one trial, a 2.9-day stream (581 commits at 200/day), 1-2 runners
    "bench_fleet.py": ["--trials", "1", "--runners", "8", "--max-runners", "2", "--target", "48",
                       "--per-day", "200"],
    "bench_github.py": ["--help"],
    "bench_gpu.py": ["--help"],
    "bench_report.py": ["--help"],
    "bench_runner.py": ["--help"],
    "bench_signatures.py": ["--help"],
    "bench_site.py": ["--help"],
    "bisect_gpu_repo.py": ["--help"],
}


def test_every_bench_script_is_listed():
    assert {p.name for p in BENCH.glob("*.py")} == set(BENCHES)


@pytest.mark.parametrize("script", sorted(BENCHES))
def test_bench_script_starts(script):
    r = subprocess.run([sys.executable, str(BENCH / script), *BENCHES[script]], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    assert r.stdout.strip()


@pytest.mark.parametrize("script", sorted(p.name for p in BENCH.glob("*.sh")))
def test_bench_shell_script_parses(script):
    r = subprocess.run(["bash", "-n", str(BENCH / script)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
