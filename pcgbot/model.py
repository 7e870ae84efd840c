"""Records that flow between the parts: one test run, and the closed set of its outcomes.

A run record is what ``runs.jsonl`` holds (one JSON object per line) and what the store keeps.
Everything downstream (diff, triage, bisect, GitHub, report) reads these fields, so they are
documented here once.
"""

from __future__ import annotations

import dataclasses
import json
import math
import posixpath
from dataclasses import dataclass, field
from typing import Any, Optional

# Outcomes are a closed set.  Only PASS and FAIL are verdicts about the code under test:
# TIMEOUT and INFRA are never "fail" (unless a plan says timeouts are failures), SKIP never ran.
PASS = "pass"
FAIL = "fail"
TIMEOUT = "timeout"
INFRA = "infra"
SKIP = "skip"
OUTCOMES = (PASS, FAIL, TIMEOUT, INFRA, SKIP)


@dataclass
class RunRecord:
    test: str                      # test path as written in the plan (relative to workdir)
    attempt: int                   # 0-based repeat index; (test, mode, attempt) is unique in a sweep
    mode: str                      # plan mode name, e.g. "pcg" / "nopcg"
    outcome: str                   # one of OUTCOMES
    exit_code: Optional[int]       # process exit code; negative = killed by that signal; None if never started
    duration_s: float              # wall time of the run
    commit: Optional[str]          # full sha of the checkout under test (None outside git)
    log: Optional[str]             # log path, relative to the sweep directory
    started_at: str                # ISO-8601 UTC
    gpus: list = field(default_factory=list)   # GPU indices given via CUDA_VISIBLE_DEVICES ([] = CPU slot)
    pcg_active: Optional[bool] = None          # proven from the log; None = log says nothing either way
    run_id: str = ""               # value of PCGBOT_RUN_ID for this run
    plan: str = ""                 # plan name
    suite: str = ""                # suite of the test (from the plan)
    gpus_needed: int = 0           # the test's `gpus:` in the plan
    reason: Optional[str] = None   # why infra/skip/timeout (e.g. "GPU 1 held by pid 4242 (python3)")
    signature: Optional[str] = None  # failure fingerprint, filled by signatures for fail runs
    signature_scheme: Optional[int] = None  # fingerprint scheme of `signature` (None: written
                                   # before schemes existed, i.e. scheme 1; see signatures.schemes)
    leaked_mib: Optional[float] = None  # GPU memory still used after the run ended
    host: str = ""                 # hostname that ran it

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, d: Any) -> "RunRecord":
        """A record from its JSON object.  Records come from GPU runners, CI artifacts and
        data-branch bundles, so every field is checked: ValueError / TypeError name the field."""
        if not isinstance(d, dict):
            raise TypeError(f"expected a JSON object, got {type(d).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        missing = [k for k in _REQUIRED if k not in d]
        if missing:
            raise ValueError(f"missing field(s): {', '.join(missing)}")
        vals = {k: v for k, v in d.items() if k in names}
        for k, v in vals.items():
            _check_field(k, v)
        return cls(**vals)

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.test, self.mode, self.attempt)


_STR = (str,)
_OPT_STR = (str, type(None))
_FIELD_TYPES: dict[str, tuple] = {
    "test": _STR, "attempt": (int,), "mode": _STR, "outcome": _STR, "exit_code": (int, type(None)),
    "duration_s": (int, float), "commit": _OPT_STR, "log": _OPT_STR, "started_at": _STR,
    "gpus": (list,), "pcg_active": (bool, type(None)), "run_id": _STR, "plan": _STR, "suite": _STR,
    "gpus_needed": (int,), "reason": _OPT_STR, "signature": _OPT_STR,
    "leaked_mib": (int, float, type(None)), "host": _STR, "signature_scheme": (int, type(None)),
}
_REQUIRED = ("test", "attempt", "mode", "outcome")


def _check_field(k: str, v: Any) -> None:
    want = _FIELD_TYPES[k]     # every field has a type here (tests/test_hostile.py checks it)
    if not isinstance(v, want) or (isinstance(v, bool) and bool not in want):
        raise TypeError(f"{k}: expected {' or '.join(w.__name__ for w in want)}, "
                        f"got {type(v).__name__}")
    if isinstance(v, float) and not math.isfinite(v):
        raise ValueError(f"{k}: not a finite number ({v})")
    if k == "outcome" and v not in OUTCOMES:
        raise ValueError(f"outcome: {v!r} is not one of {', '.join(OUTCOMES)}")
    if k in ("attempt", "gpus_needed") and v < 0:
        raise ValueError(f"{k}: negative ({v})")
    if k == "gpus" and not all(isinstance(g, int) and not isinstance(g, bool) for g in v):
        raise TypeError("gpus: expected a list of GPU indices")
    if k == "log" and v is not None and not safe_relpath(v):
        raise ValueError(f"log: {v!r} is not a path inside the sweep directory")
    if k == "test" and not v:
        raise ValueError("test: empty")


def safe_relpath(p: str) -> bool:
    """A relative path that stays below its base: no absolute path, no ``..`` part, no
    backslash, NUL or control character.  (A symlink can still point out: readers resolve it
    too, see ``results.sweepdir.inside``.)"""
    if not p or p.startswith("/") or any(c in p for c in "\\\0") or \
            any(ord(c) < 32 or ord(c) == 127 for c in p):
        return False
    norm = posixpath.normpath(p)
    return norm != ".." and not norm.startswith("../") and not posixpath.isabs(norm)


def short_name(path: str) -> str:
    """``registered/models/test_embedding_models.py`` -> ``test_embedding_models``."""
    base = path.rsplit("/", 1)[-1]
    return base[:-3] if base.endswith(".py") else base
