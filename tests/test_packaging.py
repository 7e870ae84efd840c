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


# Each CPU bench as shipped, in a tiny real configuration, and what its output must show;
# bench_bisect.py and bench_signatures.py are only started (their owners size them).
# "{tmp}" is a fresh folder.
BENCHES = {
    "bench_adaptive.py": (["--trials", "20"], ["adaptive (defaults), pooled baseline",
                                               "exact operating characteristic"]),
    "bench_bisect.py": (["--help"], ["usage"]),
    "bench_cost.py": ([], ["sglang-1gpu", "sglang-4gpu"]),
    # a tiny real run: one trial, a 2.9-day stream (581 commits at 200/day), 1-2 runners
    "bench_fleet.py": (["--trials", "1", "--runners", "8", "--max-runners", "2", "--target", "48",
                        "--per-day", "200"],
                       ["## 1. GPU-h per sweep", "EAGLE-family runtime gate",
                        "## 3. Time from bad commit to filed culprit",
                        "smallest runner count with a median time-to-culprit <= 48 h"]),
    "bench_github.py": (["--sigs", "3"], ["first (file all)", "again, same data"]),
    "bench_gpu.py": (["select", "0.01"], ["8 GPU, NVSwitch (all linked)", "us/acquire"]),
    "bench_report.py": (["--sizes", "20x2", "--reps", "1"], ["best of 1", "html KiB"]),
    "bench_runner.py": (["--runs", "5", "--tests", "12", "--repeats", "2", "--scale", "0.0002"],
                        ["overhead per run", "schedule (pcgbot's Scheduler", "sweep (run_sweep",
                         "projected at the plan's durations"]),
    "bench_signatures.py": (["--help"], ["usage"]),
    "bench_site.py": (["--tests", "60", "--commits", "6", "--repeat", "1"],
                      ["build_site:", "sizes: overview"]),
    "bisect_gpu_repo.py": (["{tmp}/repo", "--commits", "4", "--culprit", "2"],
                           ["culprit=", "plan="]),
}
# The GPU benches, where there is no GPU: they say so and exit 0 without measuring.
GPU_BENCHES = {
    "bench_gpu.py": ["sweep", "{tmp}/out"],
    "bench_gpu_device.sh": ["{tmp}/out"],
    "bench_bisect_gpu.sh": ["{tmp}/out"],
}


def _have_gpu() -> bool:
    exe = shutil.which("nvidia-smi")
    return bool(exe) and subprocess.run([exe, "-L"], capture_output=True).returncode == 0


def _argv(script: str, args: list[str], tmp: Path) -> list[str]:
    run = ["bash"] if script.endswith(".sh") else [sys.executable]
    return run + [str(BENCH / script)] + [a.replace("{tmp}", str(tmp)) for a in args]


def test_every_bench_script_is_listed():
    assert {p.name for p in BENCH.glob("*.py")} == set(BENCHES)
    assert {p.name for p in BENCH.glob("*.sh")} <= set(GPU_BENCHES)


@pytest.mark.parametrize("script", sorted(BENCHES))
def test_bench_runs_a_tiny_configuration(script, tmp_path):
    args, expect = BENCHES[script]
    r = subprocess.run(_argv(script, args, tmp_path), cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    missing = [e for e in expect if e not in r.stdout]
    assert not missing, (missing, r.stdout[-2000:])


@pytest.mark.parametrize("script", sorted(GPU_BENCHES))
def test_gpu_bench_says_it_needs_a_gpu_and_exits_cleanly(script, tmp_path):
    if _have_gpu():
        pytest.skip("a GPU is here: the bench would really run (run it by hand)")
    r = subprocess.run(_argv(script, GPU_BENCHES[script], tmp_path), cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "needs an NVIDIA GPU" in r.stdout and "nothing measured" in r.stdout, r.stdout
    assert not (tmp_path / "out").exists()      # nothing half-measured left behind


@pytest.mark.parametrize("script", sorted(p.name for p in BENCH.glob("*.sh")))
def test_bench_shell_script_parses(script):
    r = subprocess.run(["bash", "-n", str(BENCH / script)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
