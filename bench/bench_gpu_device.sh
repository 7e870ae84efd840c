#!/usr/bin/env bash
# The 2-GPU device run behind docs/gpu.md: inventory, smoke sweep serial vs parallel, a sweep
# with a foreign holder on GPU 1 and a marked leftover on GPU 0, and the gpu-marked tests.
# Usage: bash bench/bench_gpu_device.sh OUT   (run from the repository root on the GPU host)
set -u
OUT=${1:?OUT folder}
if ! nvidia-smi -L >/dev/null 2>&1; then
    echo "bench_gpu_device.sh: needs an NVIDIA GPU (nvidia-smi -L fails or is missing); nothing measured. Run it on a GPU host."
    exit 0
fi
W=/tmp/pcgbot-bench-gpu
rm -rf "$W"; mkdir -p "$OUT/ev" "$W"
# The whole CLI imports the GitHub commands (PyGithub); call the click commands directly so
# this also runs where PyGithub is missing.
gpu() { python3 -c 'import sys;from pcgbot.cli.gpu import gpu;sys.exit(gpu.main(sys.argv[1:],prog_name="pcgbot gpu",standalone_mode=False))' "$@"; }
sweep() { python3 -c 'import sys;from pcgbot.cli.core import sweep_cmd;sys.exit(sweep_cmd.main(sys.argv[1:],prog_name="pcgbot sweep",standalone_mode=False))' "$@"; }
holders() {  # wait until nvidia-smi lists $1 compute processes
    for _ in $(seq 120); do
        [ "$(nvidia-smi --query-compute-apps=pid --format=csv,noheader | grep -c .)" -ge "$1" ] && break
        sleep 1
    done; sleep 2
}
nvidia-smi topo -m
gpu; gpu --json > "$OUT/gpu_x2.json"
echo "== smoke sweep: serial (--slots 1) vs parallel (one slot per GPU)"
python3 bench/bench_gpu.py sweep "$W" | tee "$OUT/bench_sweep.txt"
echo "== sweep with a foreign holder on GPU 1 and a marked leftover on GPU 0"
CUDA_VISIBLE_DEVICES=1 python3 tests/gpu_suite/hold_memory.py 5 600 > "$W/foreign.txt" &
FP=$!
CUDA_VISIBLE_DEVICES=0 PCGBOT_RUN_ID=old-sweep/leaky.py/default/0 \
    python3 tests/gpu_suite/hold_memory.py 5 600 --orphan
holders 2
gpu
sweep plans/gpu-smoke.yaml --out "$W/sweep-dirty" --no-adaptive --store "$W/dirty.db"
python3 bench/bench_gpu.py table "$W/sweep-dirty" | tee "$OUT/dirty_sweep.txt"
gpu
kill "$FP"; wait "$FP" 2>/dev/null; sleep 2
echo "== gpu-marked tests"
PCGBOT_GPU_EVIDENCE="$OUT/ev" timeout 300 python3 -m pytest -q -m gpu tests/gpu/test_gpu_real.py \
    -p no:cacheprovider 2>&1 | tail -5
python3 bench/bench_gpu.py evidence "$OUT/ev"
tar czf "$OUT/sweeps.tgz" -C "$W" sweep-serial sweep-parallel sweep-dirty sweep_summary.json
