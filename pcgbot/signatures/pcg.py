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
"""

from __future__ import annotations

import os
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
