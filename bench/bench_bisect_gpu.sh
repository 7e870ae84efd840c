#!/usr/bin/env bash
# Real-GPU bisection (docs/bisect.md, "On GPUs"): the toy CUDA-graph engine of
# bench/bisect_gpu_repo.py, bisected with CUDA graphs forced on, probes on the GPU pool.
#   1. sanity: the good and the bad commit once each with CUDA graphs on and off
#   2. deterministic bug (every run fails after the culprit): one probe per GPU (auto slots),
#      then again with --slots 1 for the wall-clock comparison
#   3. a bug with two faces (after the culprit a run fails either with PyTorch's "accessing
#      tensor output of CUDAGraphs that has been overwritten" error or with a wrong value): auto
#      slots; both fingerprints must count as the regression
#   4. a flaky regression (really random, ~40% of runs fail after the culprit): 10-run sweeps of
#      both ends into a store, then the bisection seeded by them
# Usage: bash bench/bench_bisect_gpu.sh OUT   (repository root, on a host with 1+ GPUs)
#        STEPS="sanity det faces rate serial" (default: all) picks steps; FACES_COMMITS (8),
#        FACES_RATE (0.3), FACES_MAX_RUNS (60), RATE_COMMITS (8), RATE_RATE (0.12),
#        RATE_MAX_RUNS (150).
# Evidence of a run on 2 H200s: docs/evidence/bisect-gpu/ (docs/bisect.md, "On GPUs").
set -u
OUT=${1:?OUT folder}
if ! nvidia-smi -L >/dev/null 2>&1; then
    echo "bench_bisect_gpu.sh: needs an NVIDIA GPU (nvidia-smi -L fails or is missing); nothing measured. Run it on a GPU host."
    exit 0
fi
W=/tmp/pcgbot-bench-bisect-gpu
rm -rf "$W"; mkdir -p "$OUT" "$W"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
# The CLI's GitHub commands need PyGithub, which a bare GPU host may lack: call the command.
sweep() { python3 -c 'import sys;from pcgbot.cli.core import sweep_cmd as c;sys.exit(c.main(sys.argv[1:],prog_name="pcgbot sweep",standalone_mode=False))' "$@"; }
bisect() { python3 -c 'import sys;from pcgbot.cli.bisect import bisect_cmd as c;sys.exit(c.main(sys.argv[1:],prog_name="pcgbot bisect",standalone_mode=False))' "$@"; }
T0=$(date +%s)
nvidia-smi -L
python3 bench/bisect_gpu_repo.py "$W/det" --commits 16 --culprit 11 --repeat-rate 1.0 | tee "$W/det.txt"
python3 bench/bisect_gpu_repo.py "$W/faces" --commits "${FACES_COMMITS:-8}" --culprit 5 --repeat-rate "${FACES_RATE:-0.3}" | tee "$W/faces.txt"
val() { sed -n "s/.*$2=\([^ ]*\).*/\1/p" "$W/$1.txt"; }

STEPS=" ${STEPS:-sanity det faces rate serial} "
has() { [[ "$STEPS" == *" $1 "* ]]; }
has sanity && echo "== sanity: one run per (commit, mode)"
has sanity && for c in good bad; do
  for m in 1 0; do
    git -C "$W/det" worktree add -q --detach "$W/san-$c-$m" "$(val det $c)"
    s=$(date +%s.%N)
    (cd "$W/san-$c-$m" && ENGINE_CUDA_GRAPH=$m timeout 300 python3 test_engine.py > "$OUT/sanity-$c-cg$m.log" 2>&1)
    echo "$c commit, ENGINE_CUDA_GRAPH=$m: exit $? in $(python3 -c "import time;print(round(time.time()-$s,1))") s; $(tail -1 "$OUT/sanity-$c-cg$m.log" | cut -c1-200)"
  done
done

run_bisect() {  # name repo-kind extra-args...
  local name=$1 kind=$2; shift 2
  local s; s=$(date +%s.%N)
  bisect test_engine.py --plan "$W/$kind.yaml" --good "$(val "$kind" good)" --bad "$(val "$kind" bad)" \
    --state-dir "$W/state-$name" --store "${STORE:-$W/none.db}" --out "$OUT/$name.json" "$@" \
    > "$OUT/$name.txt" 2> "$OUT/$name.progress"
  echo "$name: exit $? in $(python3 -c "import time;print(round(time.time()-$s,1))") s (true culprit $(val "$kind" culprit | cut -c1-10))"
  cat "$OUT/$name.txt"
  cp "$W"/state-"$name"/*/state.json "$OUT/$name.state.json" 2>/dev/null
}
if has det; then
  echo "== deterministic, auto slots"
  run_bisect det-auto det
fi
if has faces; then
  echo "== two-faced bug, auto slots"
  run_bisect two-faced faces --max-runs "${FACES_MAX_RUNS:-60}"
fi
if has rate; then
  # A flaky regression with real randomness (requests drawn from the OS): the graph engine
  # (seconds per run), 10-run sweeps of the good and the bad commit into a store, and the
  # bisection seeded by them, as the bisect workflow runs it after a sweep raised the alarm.
  echo "== flaky regression: sweeps at both ends, bisection seeded by them"
  python3 bench/bisect_gpu_repo.py "$W/rate" --engine graph --fresh-draws --commits "${RATE_COMMITS:-8}" \
    --culprit 4 --repeat-rate "${RATE_RATE:-0.12}" | tee "$W/rate.txt"
  for c in good bad; do
    git -C "$W/rate" worktree add -q --detach "$W/rate-$c" "$(val rate "$c")"
    s=$(date +%s.%N)
    sweep "$W/rate.yaml" --repo "$W/rate-$c" --out "$W/sweep-rate-$c" --repeats 10 --no-adaptive \
      --store "$W/rate.db" -q > "$OUT/sweep-rate-$c.txt" 2>&1
    echo "sweep of the $c commit: exit $? in $(python3 -c "import time;print(round(time.time()-$s,1))") s; $(tail -1 "$OUT/sweep-rate-$c.txt")"
  done
  STORE="$W/rate.db" run_bisect rate-seeded rate --max-runs "${RATE_MAX_RUNS:-150}"
fi
if has serial; then
  echo "== deterministic, --slots 1"
  run_bisect det-serial det --slots 1
fi
python3 - "$OUT" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
for f in sorted(out.glob("*.state.json")):
    s = json.loads(f.read_text())
    pr = s["probes"]
    outs, gpus = {}, {}
    for p in pr:
        outs[p["outcome"]] = outs.get(p["outcome"], 0) + 1
        g = ",".join(map(str, p.get("gpus") or [])) or "-"
        gpus[g] = gpus.get(g, 0) + 1
    busy = sum(p.get("duration_s") or 0 for p in pr)
    from datetime import datetime
    t = [(datetime.fromisoformat(p["started_at"]).timestamp(), p.get("duration_s") or 0)
         for p in pr if p.get("started_at")]
    span = max(a + d for a, d in t) - min(a for a, _ in t) if t else 0.0
    print(f"{f.stem}: {len(pr)} runs, outcomes {outs}, runs per GPU {gpus}, run time {busy:.0f} s in {span:.0f} s of wall clock, "
          f"pool {s.get('gpu_pool', {}).get('gpus')}, quarantined {s.get('gpu_pool', {}).get('quarantined')}")
PY
echo "total $(( $(date +%s) - T0 )) s"
