"""Big logs are streamed: bounded memory, same answer from the grep fast path and the pure
Python fallback, tracebacks cut by a read block, giant lines."""

from __future__ import annotations

import os
import stat
import tracemalloc
from pathlib import Path

import pytest

from pcgbot.signatures import scan as logscan
from pcgbot.signatures import stream as logstream
from pcgbot.signatures.signature import signature_of_log

ERROR = """[2026-01-29 12:00:00 TP0] Scheduler hit an exception: Traceback (most recent call last):
  File "/w/python/sglang/srt/managers/scheduler.py", line 2900, in run_scheduler_process
    scheduler.event_loop_overlap()
  File "/w/python/sglang/srt/distributed/device_communicators/pynccl.py", line 130, in outplace_all_reduce
    self.nccl.ncclAllReduce(
RuntimeError: CUDA error: an illegal memory access was encountered
Killed
"""

NOISE = ("[2026-01-29 10:00:00 TP0] Decode batch. #running-req: 3, #token: 4411, token usage: 0.02, "
         "cuda graph: True, gen throughput (token/s): 1234.56, #queue-req: 0,\n"
         'INFO:     127.0.0.1:45678 - "POST /generate HTTP/1.1" 200 OK\n'
         "Capturing batches (bs=4 avail_mem=70.19 GB):  10%|#    | 4/36\r"
         "Capturing batches (bs=8 avail_mem=70.10 GB):  20%|##   | 8/36\n")


@pytest.fixture(params=["grep", "python"])
def path_kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "python":
        monkeypatch.setenv("PCGBOT_NO_GREP", "1")
    elif logstream._grep() is None:
        pytest.skip("no grep on this machine")
    return request.param


def big_log(path: Path, mb: int) -> Path:
    block = NOISE * 2000
    with path.open("w") as f:
        f.write("server_args=ServerArgs(cuda_graph_backend_prefill='tc_piecewise')\n")
        written = 0
        while written < mb * 1_000_000:
            f.write(block)
            written += len(block)
        f.write(ERROR)
        f.write(NOISE * 10)
    return path


def test_large_log_is_streamed_with_flat_memory(tmp_path: Path, path_kind: str) -> None:
    small = big_log(tmp_path / "small.log", 2)
    large = big_log(tmp_path / "large.log", 24 if path_kind == "grep" else 12)
    peaks = []
    sigs = []
    for p in (small, large):
        tracemalloc.start()
        sigs.append(signature_of_log(p))
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert sigs[0].fingerprint == sigs[1].fingerprint
    # (the noise's capture progress bars are no phase line: they repeat, a phase line does not)
    assert sigs[1].title == "CUDA error: illegal memory access in pynccl.outplace_all_reduce"
    assert sigs[1].pcg_active is None      # asking for tc_piecewise does not prove it ran
    # Flat: the 6-12x larger log must not need more than a few MiB more.
    assert peaks[1] < 8 * 2**20, peaks
    assert peaks[1] < peaks[0] + 4 * 2**20, peaks


def test_traceback_cut_by_block_boundary(tmp_path: Path, path_kind: str) -> None:
    head = "x" * (logscan.CHUNK - 120) + "\n"          # the traceback starts just before 1 MiB
    p = tmp_path / "cut.log"
    p.write_text(head + ERROR)
    sig = signature_of_log(p)
    assert sig.title == "CUDA error: illegal memory access in pynccl.outplace_all_reduce"


def test_giant_line_does_not_blow_memory(tmp_path: Path, path_kind: str) -> None:
    p = tmp_path / "giant.log"
    with p.open("w") as f:
        f.write("tqdm " + "#" * 9_000_000 + " Error in the middle " + "#" * 100 + "\n")
        f.write(ERROR)
    tracemalloc.start()
    sig = signature_of_log(p)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert sig.rule == "cuda-illegal-address"
    assert peak < 16 * 2**20


def test_broken_grep_falls_back_to_python(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "grep"
    fake.write_text("#!/bin/sh\necho 'garbage without offset'\nexit 2\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setattr(logstream, "_grep", lambda: str(fake))
    p = tmp_path / "a.log"
    p.write_text(NOISE * 3 + ERROR)
    assert signature_of_log(p).rule == "cuda-illegal-address"


def test_both_paths_agree_on_the_golden_corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if logstream._grep() is None:
        pytest.skip("no grep on this machine")
    corpus = sorted((Path(__file__).resolve().parents[1] / "data" / "signatures").glob("*.log"))
    for f in corpus:
        body = f.read_text().partition("\n\n")[2]
        raw = tmp_path / f.name
        raw.write_text(body)
        monkeypatch.delenv("PCGBOT_NO_GREP", raising=False)
        a = signature_of_log(raw)
        monkeypatch.setenv("PCGBOT_NO_GREP", "1")
        b = signature_of_log(raw)
        assert (a.fingerprint, a.title) == (b.fingerprint, b.title), f.name
    assert os.environ.get("PCGBOT_NO_GREP") == "1"


def test_carriage_return_only_progress_log_keeps_grep_memory_flat(tmp_path):
    """tqdm writes '\\r' only: without tr in front, grep holds the whole log as one line."""
    import subprocess
    import sys

    log = tmp_path / "tqdm.log"
    bar = b"Capturing batches (bs=4 avail_mem=70.1 GB):  45%|####5     | 9/20 [00:01<00:02]\r"
    with open(log, "wb") as f:
        for _ in range(70):
            f.write(bar * 10000)              # ~60 MB without a single newline
        f.write(b"\nTraceback (most recent call last):\n"
                b'  File "/x/sglang/srt/a.py", line 3, in f\n'
                b"RuntimeError: CUDA error: out of memory\n")
    code = ("import resource, sys; from pcgbot.signatures.signature import signature_of_log;"
            "s = signature_of_log(sys.argv[1]); print(s.title);"
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code, str(log)], capture_output=True, text=True,
                         check=True).stdout.split("\n")
    assert "out of memory" in out[0]
    assert int(out[1]) < 40 * 1024      # KiB: the grep/tr children never held the 60 MB line
