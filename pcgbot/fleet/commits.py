"""The commit stream a fleet simulation replays: real first-parent commit times.

From a file (one unix time per line, ``#`` comments: the shipped
``data/sglang-jax-first-parent.txt`` says where its times come from) or from a git checkout
(``git log --first-parent``).  ``rescale`` stretches the gaps by one factor so the stream has a
given mean rate: the inter-arrival pattern stays the repository's, the rate becomes the target
repository's (the shipped file is SGLang's JAX port at ~1.6 commits a day; SGLang main lands
~40 a day).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from ..errors import UsageError
from ..gitutil import try_git

DATA = Path(__file__).resolve().parent / "data"
DEFAULT_COMMITS = DATA / "sglang-jax-first-parent.txt"
DAY = 86400.0


def load_times(path: str | os.PathLike) -> list[float]:
    """Unix times from a file, sorted; a bad line is one FILE:LINE error."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"{p}:1: commits: cannot read ({getattr(e, 'strerror', None) or e})") \
            from None
    out = []
    for i, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        try:
            out.append(float(s))
        except ValueError:
            raise UsageError(f"{p}:{i}: commits: expected a unix time, got {s[:40]!r}") from None
    if len(out) < 2:
        raise UsageError(f"{p}:1: commits: need at least 2 commit times, got {len(out)}")
    return sorted(out)


def git_times(repo: str | os.PathLike, rev: str = "HEAD", since: Optional[str] = None,
              ) -> list[float]:
    """First-parent commit times of a checkout (committer date), oldest first."""
    args = ["log", "--first-parent", "--format=%ct", rev]
    if since:
        args.insert(1, f"--since={since}")
    out = try_git(args, str(repo))
    if not out:
        raise UsageError(f"{repo}: --repo: no first-parent history (is it a git checkout?)")
    times = sorted(float(x) for x in out.split())
    if len(times) < 2:
        raise UsageError(f"{repo}: --repo: need at least 2 commits, got {len(times)}")
    return times


def rate_per_day(times: list[float]) -> float:
    span = times[-1] - times[0]
    return (len(times) - 1) / (span / DAY) if span > 0 else float("inf")


def rescale(times: list[float], per_day: float) -> list[float]:
    """Times starting at 0 with every gap scaled so the mean rate is ``per_day``."""
    if per_day <= 0:
        raise UsageError(f"--commits-per-day: must be > 0, got {per_day}")
    f = rate_per_day(times) / per_day
    return [(t - times[0]) * f for t in times]
