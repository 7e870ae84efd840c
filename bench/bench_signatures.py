"""Benchmark: how fingerprints hold on real logs, and throughput and memory on large ones.

Part 1 (the golden corpus, tests/data/signatures): for scheme v1 (frozen) and scheme v2 (current),
on the tune split and on the held-out split, every measure of issue 16's table: family named,
"no error found" on a log that shows an error, same-bug pairs joined, different-bug pairs merged
(coarse infra families excluded, see families.yaml), fingerprint unchanged under new PIDs,
addresses, times, line numbers, paths and interleaved noise.

Part 2: generates logs of 10 MB and 100 MB (server decode-batch lines, uvicorn access lines, tqdm
capture bars with carriage returns, NCCL_DEBUG=INFO chatter on one line in ten, warnings, retries
that say "error", a handled traceback early on) with one real failure near the end, then
measures, per size:
  * wall time of signature_of_log (median of 3 runs; target < 2 s for 100 MB),
  * peak Python allocations (tracemalloc) during the call,
  * peak RSS of a fresh child process that only fingerprints (ru_maxrss), minus its baseline.
Flat memory from 10 MB to 100 MB shows the log is streamed, not loaded.

    python bench/bench_signatures.py [--sizes 10,100] [--dir /tmp] [--corpus-only | --perf-only]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from pcgbot.signatures.corpus import Answer, load_cases, load_families, measure as corpus_measure
from pcgbot.signatures.schemes import signer
from pcgbot.signatures.signature import SCHEME

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "data" / "signatures"

ERROR = """[2026-01-29 12:00:00 TP0] Scheduler hit an exception: Traceback (most recent call last):
  File "/sgl-workspace/sglang/python/sglang/srt/managers/scheduler.py", line 2900, in run_scheduler_process
    scheduler.event_loop_overlap()
  File "/sgl-workspace/sglang/python/sglang/srt/managers/scheduler.py", line 1010, in event_loop_overlap
    batch_result = self.run_batch(batch)
  File "/sgl-workspace/sglang/python/sglang/srt/model_executor/model_runner.py", line 2100, in forward_extend
    return self.piecewise_cuda_graph_runner.replay(forward_batch)
  File "/sgl-workspace/sglang/python/sglang/srt/distributed/device_communicators/pynccl.py", line 130, in outplace_all_reduce
    self.nccl.ncclAllReduce(
RuntimeError: CUDA error: an illegal memory access was encountered
CUDA kernel errors might be asynchronously reported at some other API call, so the stacktrace below might be incorrect.
Killed
"""

HANDLED = """Exception ignored in: <function BaseEventLoop.__del__ at 0x7f3a2b1c9d30>
Traceback (most recent call last):
  File "/usr/lib/python3.10/asyncio/base_events.py", line 688, in __del__
ValueError: I/O operation on closed pipe
"""


def noise_line(rng: random.Random, i: int) -> str:
    r = rng.random()
    ts = f"2026-01-29 10:{(i // 60) % 60:02d}:{i % 60:02d}"
    if i % 10 == 0:                   # NCCL_DEBUG=INFO: one line in ten
        return (f"node-{i % 8}:{4000 + i % 97}:{4100 + i % 89} [{i % 8}] NCCL INFO Channel "
                f"{i % 32:02d}/32 : {i % 8}[{i % 8}] -> {(i + 1) % 8}[{(i + 1) % 8}] via P2P/CUMEM\n")
    if r < 0.02:                      # benign "error" words: a retried request, a zero error rate
        return (f"[{ts}] WARNING: request {i} failed with a transient error (HTTP 503), "
                f"retrying (attempt {1 + i % 3}/3); error_rate=0.00\n")
    if r < 0.45:
        return (f"[{ts} TP0] Decode batch. #running-req: {rng.randint(1, 64)}, #token: {i % 90000}, "
                f"token usage: 0.{rng.randint(0, 99):02d}, cuda graph: True, gen throughput "
                f"(token/s): {rng.uniform(50, 3000):.2f}, #queue-req: 0,\n")
    if r < 0.75:
        return f'INFO:     127.0.0.1:{rng.randint(30000, 60000)} - "POST /generate HTTP/1.1" 200 OK\n'
    if r < 0.90:
        bars = "".join(f"\rCapturing batches (bs={b} avail_mem=70.{b:02d} GB): {p}%|#    | {b}/36 "
                       f"[00:0{b % 10}<00:10, 3.1it/s]" for b, p in ((4, 10), (8, 20), (16, 40)))
        return bars + "\n"
    if r < 0.97:
        return (f"[{ts} TP0] Prefill batch. #new-seq: 1, #new-token: {rng.randint(1, 8192)}, "
                f"#cached-token: {rng.randint(0, 4096)}, token usage: 0.01, #running-req: 0\n")
    return ("/usr/local/lib/python3.10/dist-packages/torch/utils/_pytree.py:185: "
            "FutureWarning: `torch.utils._pytree._register_pytree_node` is deprecated.\n")


def make_log(path: Path, mb: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    target = mb * 1_000_000
    with path.open("w") as f:
        f.write("server_args=ServerArgs(model_path='meta-llama/Llama-3.1-8B-Instruct', "
                "cuda_graph_backend_prefill='tc_piecewise')\n")
        f.write("Compiling num tokens (num_tokens=4096): 100%|##########| 52/52 [00:40<00:00]\n")
        f.write(HANDLED)
        i = 0
        buf: list[str] = []
        written = 0
        while written < target - 5000:
            line = noise_line(rng, i)
            buf.append(line)
            written += len(line)
            i += 1
            if len(buf) >= 10000:
                f.write("".join(buf))
                buf.clear()
        f.write("".join(buf))
        f.write(ERROR)
        for j in range(20):
            f.write(noise_line(rng, i + j))


def child_rss(path: Path, env: dict[str, str], scheme: int) -> tuple[float, float]:
    """Peak RSS (MiB) of a fresh interpreter: after imports, and after fingerprinting."""
    code = ("import resource,sys;from pcgbot.signatures.schemes import signer;"
            f"f=signer({scheme});a=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss;"
            "s=f(sys.argv[1]);"
            "b=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss;print(a,b)")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True,
                         check=True, env=env).stdout.split()
    return int(out[0]) / 1024, int(out[1]) / 1024


def _cpu() -> float:
    """CPU seconds of this process and its finished children (grep, tr): unlike wall time, a
    busy shared machine does not inflate it."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def measure(path: Path, reps: int, scheme: int) -> tuple[float, float, float, object]:
    signature_of_log = signer(scheme)
    times, cpus = [], []
    sig = None
    for _ in range(reps):
        t, c = time.perf_counter(), _cpu()
        sig = signature_of_log(path)
        times.append(time.perf_counter() - t)
        cpus.append(_cpu() - c)
    tracemalloc.start()
    signature_of_log(path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return statistics.median(times), statistics.median(cpus), peak, sig


def corpus_table(show_misses: bool = False, by_round: bool = False) -> None:
    """Part 1: every measure, per scheme and split.  ``show_misses`` lists what went wrong on
    the tune split only: the held-out split's misses are never printed (it is only measured)."""
    cases = load_cases(CORPUS)
    fams = load_families(CORPUS / "families.yaml")
    coarse = sorted(f for f, x in fams.items() if x.coarse)
    print(f"golden corpus: {len(cases)} logs in {CORPUS}")
    print(f"coarse on purpose (pairs inside them are not counted as merges): {', '.join(coarse)}")
    cols = ("logs", "same-bug groups", "family named %", "no error found on an error log",
            "same-bug pairs", "same-bug pairs joined %", "both show the error", "different-bug pairs",
            "different-bug pairs merged %", "look-alike pairs", "invariant %")
    print("scheme  split    " + " | ".join(cols))
    misses: list[str] = []
    for scheme in (1, 2):
        fn = signer(scheme)

        def answer(p: Path, fn=fn) -> Answer:
            s = fn(p)
            return Answer(s.fingerprint, s.title, s.rule, s.category)
        for split in ("tune", "heldout"):
            m = corpus_measure(cases, fams, answer, split)
            row = m.row()
            print(f"v{scheme}      {split:8} " + " | ".join(str(row[c]) for c in cols))
            if show_misses and split == "tune" and scheme == SCHEME:
                misses.extend(m.misses)
    if by_round:
        print(f"\nv{SCHEME} by collection round (ROUND header), each split of each round:")
        for rnd in sorted({c.round for c in cases}):
            for split in ("tune", "heldout"):
                part = [c for c in cases if c.round == rnd and c.split == split]
                if part:
                    row = corpus_measure(part, fams, answer, split).row()
                    print(f"round {rnd} {split:8} " + " | ".join(str(row[c]) for c in cols))
    if show_misses:
        print(f"\nv{SCHEME} misses on the tune split ({len(misses)}):")
        for x in misses:
            print("  " + x)


def adversarial_rules() -> None:
    """Each rule's regex on 4 KiB lines built to make a backtracking regex quadratic (one word,
    one token of dots or slashes, a rule's literal followed by a long tail): a hostile log can
    hold many such lines, so no rule may take long on one.  Prints the slowest rules."""
    from pcgbot.signatures.normalize import clean_for_title, normalize, strip_prefix
    from pcgbot.signatures.patterns import default_rules
    tails = ["a " * 2000, "x" * 4000, "a." * 2000, "a/" * 2000, "a-" * 2000, "a(" * 2000,
             "'" + "a." * 2000]
    tails += [" " * 4000 + "x", "1" * 4000 + " x"]
    lines = tails + [head + t for head in ("CUDA error: ", "Assertion failed: ", "KeyError: ",
                                           "NCCL WARN ", "Traceback ") for t in tails[:3]]
    lines += [head * (4000 // len(head)) + "abc(" for head in ("CUDA error: ", "undefined symbol: ",
                                                               "Assertion failed: ", "NCCL WARN ")]
    rows = []
    for rule in default_rules().rules:
        t0 = time.perf_counter()
        for line in lines:
            rule.regex.search(line)
        rows.append((time.perf_counter() - t0, rule.id))
    t0 = time.perf_counter()
    for line in lines:
        normalize(line), strip_prefix(line), clean_for_title(line, 90)
    rows.append((time.perf_counter() - t0, "normalize+strip_prefix+title"))
    rows.sort(reverse=True)
    print(f"adversarial 4 KiB lines ({len(lines)} per rule, {len(rows)} rules): slowest "
          + ", ".join(f"{rid} {dt * 1000:.1f} ms" for dt, rid in rows[:3]))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10,100")
    ap.add_argument("--dir", default=tempfile.gettempdir())
    ap.add_argument("--no-fallback", action="store_true", help="skip the pure-Python path rows")
    part = ap.add_mutually_exclusive_group()
    part.add_argument("--corpus-only", action="store_true", help="only part 1 (the corpus)")
    part.add_argument("--perf-only", action="store_true", help="only part 2 (large logs)")
    ap.add_argument("--by-round", action="store_true",
                    help="also print scheme v2's measures per collection round and split")
    ap.add_argument("--misses", action="store_true",
                    help="list scheme v2's misses on the tune split (never the held-out one's)")
    ap.add_argument("--scheme", type=int, choices=range(1, SCHEME + 1), default=SCHEME,
                    help="fingerprint scheme of part 2 (1: the frozen v1, for comparison)")
    args = ap.parse_args()
    if not args.perf_only:
        corpus_table(args.misses, args.by_round)
        print()
    if args.corpus_only:
        return 0
    adversarial_rules()
    rows = []
    paths = [("grep", 3)] + ([] if args.no_fallback else [("python", 1)])
    for mb in [int(x) for x in args.sizes.split(",")]:
        path = Path(args.dir) / f"pcgbot_bench_v2_{mb}mb.log"
        if not path.exists() or path.stat().st_size < mb * 990_000:
            make_log(path, mb)
        size = path.stat().st_size
        for kind, reps in paths:
            env = dict(os.environ)
            if kind == "python":
                os.environ["PCGBOT_NO_GREP"] = env["PCGBOT_NO_GREP"] = "1"
            try:
                med, cpu, peak, sig = measure(path, reps, args.scheme)
            finally:
                os.environ.pop("PCGBOT_NO_GREP", None)
            rss0, rss1 = child_rss(path, env, args.scheme)
            rows.append((mb, kind, size / 1e6, med, cpu, size / 1e6 / med, peak / 2**20, rss0, rss1,
                         sig))
    print(f"{'log':>6} {'path':>7} {'MB':>7} {'median s':>9} {'cpu s':>6} {'MB/s':>7} "
          f"{'tracemalloc peak MiB':>21} {'RSS base MiB':>13} {'RSS peak MiB':>13}")
    for mb, kind, size, med, cpu, rate, peak, rss0, rss1, _ in rows:
        print(f"{mb:>4}MB {kind:>7} {size:>7.1f} {med:>9.3f} {cpu:>6.2f} {rate:>7.1f} {peak:>21.2f} "
              f"{rss0:>13.1f} {rss1:>13.1f}")
    sig = rows[-1][-1]
    print(f"\nscheme v{args.scheme}; signature of the largest log:")
    print(json.dumps({k: v for k, v in sig.to_dict().items() if k != "excerpt"}, indent=1))
    print(f"cpu: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; "
          f"python {sys.version.split()[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
