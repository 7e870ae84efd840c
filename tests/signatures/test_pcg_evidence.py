"""One list of PCG evidence: a run record's pcg_active (detect_pcg) and a signature's
(the log scanner) come from patterns.yaml's pcg_markers and agree on every log."""

from __future__ import annotations

from pathlib import Path

import pytest

from pcgbot.signatures import default_rules, detect_pcg, signature_of_log
from pcgbot.signatures.pcg import verdict

FAIL = "Traceback (most recent call last):\n  File \"x.py\", line 1, in <module>\nValueError: boom\n"
LOGS = {
    "active": ("Capture target prefill CUDA graph begin. backend=tc_piecewise, num_tokens=[8]\n",
               True),
    "compiling": ("Compiling num tokens (num_tokens=8): 100%|##########|\n", True),
    "old-era": ("Capture piecewise CUDA graph begin. avail mem=70 GB\n", True),
    # the runtime gate for EAGLE targets: detect_pcg said None here before the lists were one
    "eagle-gate": ("Disable prefill CUDA graph for EAGLE target on tc_piecewise to avoid "
                   "FP4/MoE decode-replay corruption (#28386).\n", False),
    "not-lm": ("Disable prefill CUDA graph because the model is not a language model\n", False),
    # the scanner did not know this one before
    "breakable": ("server_args=ServerArgs(cuda_graph_backend_prefill='breakable')\n", False),
    "disabled": ("server_args=ServerArgs(cuda_graph_backend_prefill='disabled')\n", False),
    "weak": ("Capturing num tokens (num_tokens=8 avail_mem=70 GB)\n", True),
    "weak-but-off": ("Capturing num tokens (num_tokens=8)\nDisable prefill CUDA graph because "
                     "cuda_graph_config resolved prefill.backend='disabled'\n", False),
    "active-beats-off": ("cuda_graph_backend_prefill='disabled'\nCompiling num tokens\n", True),
    "silent": ("INFO server started\n", None),
}


@pytest.mark.parametrize("name", sorted(LOGS))
@pytest.mark.parametrize("failing", [False, True])
def test_run_record_and_signature_agree(tmp_path: Path, name: str, failing: bool):
    text, want = LOGS[name]
    log = tmp_path / "x.log"
    log.write_text("INFO start\n" + text + (FAIL if failing else "INFO done\n"))
    assert detect_pcg(log) is want
    assert signature_of_log(log).pcg_active is want


def test_every_marker_is_read_from_patterns_yaml(tmp_path: Path):
    rs = default_rules()
    for kind, want in (("active", True), ("inactive", False), ("weak_active", True)):
        for marker in getattr(rs, kind):
            log = tmp_path / "m.log"
            log.write_text(f"x {marker} y\n")
            assert detect_pcg(log) is want, marker
            assert signature_of_log(log).pcg_active is want, marker


def test_marker_across_a_chunk_boundary(tmp_path: Path):
    log = tmp_path / "big.log"
    pad = (1 << 20) - 10
    log.write_bytes(b"a" * pad + b"Disable prefill CUDA graph for EAGLE target\n")
    assert detect_pcg(log) is False
    assert verdict(False, False, False) is None and verdict(False, True, True) is False
