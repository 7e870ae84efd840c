"""PCG evidence in a log: did piecewise CUDA graphs really run?

SGLang turns PCG off by itself for some models and features whatever the mode asks, and says so
only in its log.  One list of evidence decides everywhere: the ``pcg_markers`` of
``patterns.yaml`` (``active``, ``inactive``, ``weak_active``; a ``RuleSet`` carries them) and one
rule, ``verdict``, over which of them a log contains.  ``detect_pcg`` (every run record's
``pcg_active``, streamed over the whole log) and the log scanner (a ``Signature``'s
``pcg_active``, ``scan.py``) both use them, so a run and its signature cannot disagree.

The rule: any active marker -> PCG ran (True); else any inactive marker -> PCG was off (False);
else a weak marker ("Capturing num tokens": PCG before June 2026, every prefill backend since)
-> True; else the log says neither (None).

``disable_reason`` names why PCG was off when a log says so (speculative decoding, multimodal,
model architecture, platform, configuration): the report's "PCG auto-disabled" section.
"""

from __future__ import annotations

import os
import re
from typing import Optional

from .patterns import RuleSet, default_rules

_CHUNK = 1 << 20


def verdict(active: bool, inactive: bool, weak: bool) -> Optional[bool]:
    """PCG status from which kinds of marker a log showed (see the module docstring)."""
    if active:
        return True
    if inactive:
        return False
    return True if weak else None


def detect_pcg(log_path: str | os.PathLike, rules: Optional[RuleSet] = None) -> Optional[bool]:
    """True if the log proves PCG ran, False if it shows PCG off, None if it says neither.

    Streams the file in 1 MiB chunks (logs can be 100 MB) and stops at the first active marker;
    a marker split across a chunk boundary is caught by keeping the tail of the previous chunk.
    """
    rs = rules or default_rules()
    active = [m.encode() for m in rs.active]
    inactive = [m.encode() for m in rs.inactive]
    weak = [m.encode() for m in rs.weak_active]
    keep = max((len(m) for m in active + inactive + weak), default=1)
    off = seen_weak = False
    tail = b""
    try:
        with open(log_path, "rb") as f:
            while True:
                chunk = f.read(_CHUNK)
                if not chunk:
                    break
                buf = tail + chunk
                if any(m in buf for m in active):
                    return True
                off = off or any(m in buf for m in inactive)
                seen_weak = seen_weak or any(m in buf for m in weak)
                tail = buf[-keep:]
    except OSError:
        return None
    return verdict(False, off, seen_weak)


# Why SGLang ran without PCG, from the lines a server log prints (SGLANG_FACTS.md, section on
# auto-disable: the tc_piecewise cascade is silent, so the printed server args and the runtime
# "Disable prefill CUDA graph ..." lines are the evidence).  First match wins, most specific first.
_REASONS: tuple[tuple[str, re.Pattern[str]], ...] = tuple((k, re.compile(p)) for k, p in (
    ("speculative decoding", r"Disable prefill CUDA graph for EAGLE|speculative_algorithm="
                             r"'(?:EAGLE3?|NEXTN|FROZEN_KV_MTP)'|is_draft_worker=True"),
    ("multimodal", r"not a language model|enable_multimodal=True|multimodal.{0,40}"
                   r"(?:disabl|not supported)|ForConditionalGeneration"),
    ("model architecture", r"is_piecewise_cuda_graph_disabled_model|does not have a 'layers' "
                           r"attribute|do not apply Standard GQA|not supported for this model"),
    ("platform", r"is_hip|ROCm|Ascend|\bNPU\b|\bXPU\b|device='(?:cpu|npu|xpu|mps)'"),
    ("configuration", r"disable_piecewise_cuda_graph=True|cuda_graph_backend_prefill="
                      r"'(?:disabled|breakable)'|enable_torch_compile=True|lora_paths=\[|"
                      r"enable_dp_attention=True|only [0-9.]+ GiB is free"),
))
_MAX_SCAN = 8 << 20      # a reason is printed at start-up; 8 MiB covers it without reading 100 MB


def disable_reason(log_path: str | os.PathLike) -> Optional[tuple[str, str]]:
    """(reason, the log line that names it) or None when the log names no reason."""
    try:
        with open(log_path, "rb") as f:
            text = f.read(_MAX_SCAN).decode("utf-8", "replace")
    except OSError:
        return None
    for line in text.splitlines():
        for reason, pat in _REASONS:
            m = pat.search(line)
            if m:
                start = max(0, m.start() - 60)
                return reason, line[start:m.end() + 60].strip()
    return None
