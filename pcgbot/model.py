"""Records that flow between the parts: one test run, and the closed set of its outcomes.

A run record is what ``runs.jsonl`` holds (one JSON object per line) and what the store keeps.
Everything downstream (diff, triage, bisect, GitHub, report) reads these fields, so they are
documented here once.
"""

from __future__ import annotations

import dataclasses
import json
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
    def from_dict(cls, d: dict[str, Any]) -> "RunRecord":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.test, self.mode, self.attempt)


def short_name(path: str) -> str:
    """``registered/models/test_embedding_models.py`` -> ``test_embedding_models``."""
    base = path.rsplit("/", 1)[-1]
    return base[:-3] if base.endswith(".py") else base
