"""Benchmarks of pcgbot's GPU pool.  Plain script; prints tables.

  python bench/bench_gpu.py select [SECONDS]  # CPU: try_acquire cost on fake 8/16-GPU hosts
  python bench/bench_gpu.py sweep OUT         # GPU host: plans/gpu-smoke.yaml serial vs parallel
  python bench/bench_gpu.py evidence DIR      # print hygiene figures written by the gpu tests
  python bench/bench_gpu.py table SWEEP_DIR   # one line per run of a sweep
  bash bench/bench_gpu_device.sh OUT          # all of the above on a 2-GPU host (device runs)

`sweep` runs `pcgbot sweep plans/gpu-smoke.yaml` twice, with --slots 1 (one run at a time) and
with the default (one slot per GPU), and prints per run: CUDA_VISIBLE_DEVICES as recorded, when
it began and ended relative to the sweep start (from the suite's own GPU_SUITE line), its
duration, and both sweeps' wall times.  Writes OUT/sweep_summary.json.  Without an NVIDIA GPU
(no NVML) it says so and exits 0 without measuring anything.

`select` times try_acquire + release in a loop for SECONDS (default 0.5) per host and k and prints
the mean per acquire: wall clock, one pass, no seed (the fake hosts are fixed).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pcgbot.gpu.nvml import Link  # noqa: E402
from pcgbot.gpu.pool import GpuPool  # noqa: E402


class _Topo:
    """Just enough of the NVML seam for selection (no processes, no memory)."""

    def __init__(self, n: int, groups: list[list[int]]) -> None:
        self.n = n
        self.group = {g: i for i, grp in enumerate(groups) for g in grp}

    def count(self) -> int:
        return self.n

    def link(self, a: int, b: int) -> Link:
        same = self.group.get(a) == self.group.get(b)
        return Link(nvlink=18, p2p_nvlink=True, level=0) if same else Link(level=50)


def bench_select(seconds: float = 0.5) -> None:
    hosts = {"8 GPU, NVSwitch (all linked)": (8, [list(range(8))]),
             "8 GPU, NVLink pairs": (8, [[i, i + 1] for i in range(0, 8, 2)]),
             "16 GPU, 2 NVSwitch islands": (16, [list(range(8)), list(range(8, 16))])}
    print(f"{'host':32} {'k':>2} {'sets/s':>10} {'us/acquire':>11}  example")
    for name, (n, groups) in hosts.items():
        for k in (1, 2, 4, 8):
            pool = GpuPool(_Topo(n, groups), check_ports=False)
            reps, t0, ex = 0, time.perf_counter(), None
            while time.perf_counter() - t0 < seconds or reps == 0:
                s = pool.try_acquire(k)
                ex = ex or s
                pool.release(s)
                reps += 1
            dt = (time.perf_counter() - t0) / reps
            print(f"{name:32} {k:>2} {1 / dt:>10,.0f} {dt * 1e6:>11.1f}  {ex}")


# `pcgbot sweep` itself; where the whole CLI cannot load (a GPU box without PyGithub, whose
# GitHub commands import it), the same click command straight from its module.
_SWEEP_DIRECT = ("import sys; from pcgbot.cli.core import sweep_cmd; "
                 "sys.exit(sweep_cmd.main(sys.argv[1:], prog_name='pcgbot sweep'))")


def _sweep_argv() -> list[str]:
    try:
        import pcgbot.cli.main  # noqa: F401
        return [sys.executable, "-m", "pcgbot", "sweep"]
    except ImportError as e:
        print(f"note: full CLI does not import here ({e}); calling sweep_cmd directly")
        return [sys.executable, "-c", _SWEEP_DIRECT]


def _sweep(out: Path, slots: list[str], tag: str) -> dict:
    d = out / f"sweep-{tag}"
    store = out / f"store-{tag}.db"
    cmd = _sweep_argv() + ["plans/gpu-smoke.yaml", "--out", str(d), "--no-adaptive",
                           "--store", str(store), *slots]
    t0 = time.time()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.time() - t0
    print(f"$ {' '.join(cmd[1:])}  -> exit {proc.returncode}, {wall:.1f}s", flush=True)
    if proc.returncode:
        print(proc.stdout[-3000:], proc.stderr[-3000:])
    runs = [json.loads(x) for x in (d / "runs.jsonl").read_text().splitlines() if x.strip()]
    for r in runs:
        r["suite_line"] = None
        log = d / r["log"] if r.get("log") else None
        if log and log.exists():
            for line in log.read_text(errors="replace").splitlines():
                if line.startswith("GPU_SUITE "):
                    r["suite_line"] = json.loads(line[len("GPU_SUITE "):])
    return {"tag": tag, "wall_s": round(wall, 2), "exit": proc.returncode, "runs": runs,
            "t0": t0}


def no_gpu() -> str | None:
    """Why there is nothing to measure here (no NVML, or no GPU), else None."""
    from pcgbot.gpu.nvml import NvmlUnavailable, open_nvml
    try:
        n = open_nvml().count()
    except NvmlUnavailable as e:
        return str(e)
    return None if n > 0 else "NVML sees no GPU"


def bench_sweep(out: Path) -> None:
    why = no_gpu()
    if why:
        print(f"bench_gpu sweep: needs an NVIDIA GPU ({why}); nothing measured. "
              "Run it on a GPU host.")
        return
    out.mkdir(parents=True, exist_ok=True)
    serial = _sweep(out, ["--slots", "1"], "serial")
    parallel = _sweep(out, [], "parallel")
    print(f"\n{'sweep':9} {'test':28} {'outcome':7} {'CVD':5} {'begin':>7} {'end':>7} "
          f"{'dur_s':>6} {'leak_MiB':>8}")
    for s in (serial, parallel):
        for r in sorted(s["runs"], key=lambda r: (r["suite_line"] or {}).get("t_begin", 0)):
            sl = r["suite_line"] or {}
            b = sl.get("t_begin", s["t0"]) - s["t0"]
            e = sl.get("t_end", s["t0"]) - s["t0"]
            cvd = sl.get("cuda_visible_devices") or ",".join(map(str, r["gpus"]))
            print(f"{s['tag']:9} {r['test']:28} {r['outcome']:7} {cvd:5} {b:7.1f} {e:7.1f} "
                  f"{r['duration_s']:6.1f} {str(r.get('leaked_mib')):>8}")
    ratio = parallel["wall_s"] / serial["wall_s"] if serial["wall_s"] else float("nan")
    print(f"\nwall: serial {serial['wall_s']:.1f}s, parallel {parallel['wall_s']:.1f}s, "
          f"parallel/serial = {ratio:.2f}")
    (out / "sweep_summary.json").write_text(json.dumps(
        {"serial": serial, "parallel": parallel, "ratio": ratio,
         "host": os.uname().nodename}, indent=2, default=str))


def show_sweep(d: Path) -> None:
    """Every run of a sweep directory: outcome, GPUs, duration, leak, reason."""
    for line in (d / "runs.jsonl").read_text().splitlines():
        r = json.loads(line)
        print(f"{r['test']:28} {r['outcome']:6} gpus={r['gpus']!s:7} {r['duration_s']:6.1f}s "
              f"leak={r.get('leaked_mib')} {r.get('reason') or ''}")


def bench_evidence(d: Path) -> None:
    for f in sorted(d.glob("*.json")):
        data = json.loads(f.read_text())
        if f.stem == "inventory":
            for g in data["gpus"]:
                print(f"inventory: GPU {g['index']} {g['name']} {g['used_mib']:.0f}/"
                      f"{g['total_mib']:.0f} MiB, {len(g['processes'])} process(es)")
            for ln in data["links"]:
                print(f"inventory: GPU {ln['a']}<->{ln['b']} nvlink={ln['nvlink']} "
                      f"p2p_nvlink={ln['p2p_nvlink']} level={ln['level']}")
        else:
            print(f"{f.stem}: " + ", ".join(f"{k}={v}" for k, v in data.items()))


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "select"
    if what == "select":
        try:
            bench_select(float(sys.argv[2]) if len(sys.argv) > 2 else 0.5)
        except ValueError:
            sys.exit(f"bench_gpu select: SECONDS must be a number, got {sys.argv[2]!r}")
    elif what == "sweep":
        bench_sweep(Path(sys.argv[2] if len(sys.argv) > 2 else "results/bench-gpu"))
    elif what == "table":
        show_sweep(Path(sys.argv[2]))
    elif what == "evidence":
        bench_evidence(Path(sys.argv[2]))
    elif what in ("-h", "--help"):
        print(__doc__)
    else:
        sys.exit(__doc__)
