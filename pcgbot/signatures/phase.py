"""The phase a failure happened in: loading weights, capturing CUDA graphs, prefill or decode.

Issue 16, class 6: a coarse rule (every OOM, every illegal memory access, every watchdog hang)
merges different bugs.  Where the event has no frames of its own that say where it happened,
the phase still tells "OOM while loading" from "OOM while capturing".  Rules opt in with
``phase: true`` in patterns.yaml.

The phase comes from the event's frames when they name one (innermost first), else from the
last phase line the engine printed before the error (SGLang and vLLM log when weight loading and
CUDA graph capture start and end).
"""

from __future__ import annotations

import re
from typing import Optional, Sequence

from .normalize import Frame

__all__ = ["PHASES", "PHASE_LINES", "phase_of_frames", "phase_before"]

# Each phase and the words a title uses for it ("CUDA out of memory during CUDA graph capture").
PHASES = {"load": "weight loading", "profile": "memory profiling", "capture": "CUDA graph capture",
          "prefill": "prefill", "decode": "decode"}

# Innermost frame first: the first function that names a phase decides.
_FRAME_PHASES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"capture", re.I), "capture"),
    (re.compile(r"load_weights?|load_model"), "load"),
    (re.compile(r"profile_run|determine_available_memory|profile"), "profile"),
    (re.compile(r"forward_extend|prefill"), "prefill"),
    (re.compile(r"forward_decode|decode"), "decode"),
]

# Lines an engine prints once when a phase starts or ends.  The scanner keeps the last one as
# state (they are trigger words, so it sees every one, whatever chatter comes between).  Progress
# bars ("Capturing batches", "Loading safetensors checkpoint shards") are not here: they repeat
# hundreds of times and would all reach Python.  Prefill and decode are not here either: which of
# "Prefill batch" / "Decode batch" the scheduler logged last is timing, not the bug, so only
# frames say prefill or decode.
_STARTS = {
    "capture": ["Capture cuda graph begin", "Capture piecewise cuda graph begin",
                "Capture piecewise CUDA graph begin", "Capturing cudagraphs for decoding"],
    "load": ["Load weight begin", "Starting to load model"],
}
_ENDS = ["Capture cuda graph end", "Capture piecewise cuda graph end",
         "Capture piecewise CUDA graph end", "Graph capturing finished", "Load weight end",
         "Loading weights took", "Loading model weights took", "Model loading took"]
PHASE_LINES = [w for ws in _STARTS.values() for w in ws] + _ENDS


def phase_of_frames(frames: Sequence[Frame]) -> Optional[str]:
    """The phase the innermost phase-naming engine frame is in (None: the frames do not say)."""
    for f in reversed(frames):
        if not f.engine:
            continue
        for pat, name in _FRAME_PHASES:
            if pat.search(f.func):
                return name
    return None


def phase_before(line: str) -> Optional[str]:
    """The phase a log line starts ("" when it ends one), or None when it is no phase line."""
    for end in _ENDS:
        if end in line:
            return ""
    for name, words in _STARTS.items():
        if any(w in line for w in words):
            return name
    return None
