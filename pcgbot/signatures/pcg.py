"""PCG evidence in a log: did piecewise CUDA graphs really run?

SGLang turns PCG off by itself for some models and features whatever the mode asks, and says so
only in its log, so every run record's ``pcg_active`` comes from here.
"""

from __future__ import annotations

import os
from typing import Optional


# Lines only a piecewise-CUDA-graph prefill prints (SGLANG_FACTS.md, "Log lines"):
_PCG_ON = (b"Compiling num tokens", b"backend=tc_piecewise")
# Printed server args that say the test opted out:
_PCG_OFF = (b"disable_piecewise_cuda_graph=True", b"cuda_graph_backend_prefill='disabled'",
            b"enable_piecewise_cuda_graph=False", b"cuda_graph_backend_prefill='breakable'")


def detect_pcg(log_path: str | os.PathLike) -> Optional[bool]:
    """True if the log proves PCG ran, False if it shows PCG off, None if it says neither.

    Streams the file in 1 MiB chunks (logs can be 100 MB); a marker split across a chunk
    boundary is caught by keeping the tail of the previous chunk.
    """
    off = False
    tail = b""
    try:
        with open(log_path, "rb") as f:
            while True:
                chunk = f.read(1 << 20)
                if not chunk:
                    break
                buf = tail + chunk
                if any(m in buf for m in _PCG_ON):
                    return True
                if not off and any(m in buf for m in _PCG_OFF):
                    off = True
                tail = buf[-64:]
    except OSError:
        return None
    return False if off else None
