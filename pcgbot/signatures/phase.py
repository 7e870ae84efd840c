"""The phase a failure happened in: loading weights, capturing CUDA graphs, prefill or decode.

Issue 16, class 6: a coarse rule (every OOM, every illegal memory access, every watchdog hang)
merges different bugs.  Where the event has no frames of its own that say where it happened,
the phase still tells "OOM while loading" from "OOM while capturing".  Rules opt in with
``phase: true`` in patterns.yaml.

The phase comes from the event's frames when they name one (innermost first), else from the
last phase line the engine printed before the error (SGLang and vLLM log each phase's start).
"""

from __future__ import annotations

import re
from typing import Optional, Sequence

from .normalize import Frame

__all__ = ["PHASES", "phase_of_frames", "phase_before", "WINDOW"]

PHASES = ("load", "profile", "capture", "prefill", "decode")

WINDOW = 32 * 1024       # bytes before an event searched for the last phase line

# Innermost frame first: the first function that names a phase decides.
_FRAME_PHASES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"capture", re.I), "capture"),
    (re.compile(r"load_weights?|load_model"), "load"),
    (re.compile(r"profile_run|determine_available_memory|profile"), "profile"),
    (re.compile(r"forward_extend|prefill"), "prefill"),
    (re.compile(r"forward_decode|decode"), "decode"),
]

# Lines an engine prints when a phase starts (a phase) or ends ("": unknown from there on).
_LINE_PHASES = re.compile(
    r"(?P<capture>Capture (?:piecewise )?cuda graph begin|Capturing (?:CUDA graphs?|cudagraphs?|"
    r"num tokens|batches)|capturing CUDA graph)"
    r"|(?P<load>Load weight begin|Loading (?:model )?weights|Loading safetensors checkpoint)"
    r"|(?P<prefill>Prefill batch)"
    r"|(?P<decode>Decode batch)"
    r"|(?P<end>Capture (?:piecewise )?cuda graph end|Graph capturing finished|Load weight end|"
    r"Loading (?:model )?weights took|Model loading took)",
    re.I)


def phase_of_frames(frames: Sequence[Frame]) -> Optional[str]:
    """The phase the innermost phase-naming engine frame is in (None: the frames do not say)."""
    for f in reversed(frames):
        if not f.engine:
            continue
        for pat, name in _FRAME_PHASES:
            if pat.search(f.func):
                return name
    return None


def phase_before(text: str) -> str:
    """The phase of the last phase line in ``text`` (the log just before an error); "" when
    there is none or the last one ended a phase."""
    last = None
    for last in _LINE_PHASES.finditer(text):
        pass
    if last is None or last.lastgroup == "end":
        return ""
    return last.lastgroup or ""
