"""Reading SWEEP_DIR/analysis.json (written by ``pcgbot analyze``), the input of sync and status.

Only the fields GitHub code relies on are checked; a bad file fails with one line naming the
file, the line and the key, before anything is posted.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ..errors import UsageError

FP_RE = re.compile(r"^[A-Za-z0-9_.-]{4,64}$")
# Verdicts whose current runs may hold failures; "fixed" and "infra-only" (no pass/fail verdicts)
# never keep an issue open.
FAILING_VERDICTS = {"regression", "still-failing", "flaky", "new-test", "unchanged"}


def _line_of(text: str, needle: str) -> int:
    i = text.find(needle)
    return text.count("\n", 0, i) + 1 if i >= 0 else 1


def load_analysis(path: str | Path) -> dict[str, Any]:
    """`path` is a sweep directory or an analysis.json file."""
    p = Path(path)
    if p.is_dir():
        p = p / "analysis.json"
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise UsageError(f"{p}:0: analysis: cannot read ({e.strerror}); run `pcgbot analyze` first") from None
    try:
        data = json.loads(text)
    except ValueError as e:
        raise UsageError(f"{p}:{getattr(e, 'lineno', 1)}: analysis: invalid JSON ({getattr(e, 'msg', e)})") from None

    def bad(key: str, what: str, needle: str = "") -> UsageError:
        return UsageError(f"{p}:{_line_of(text, needle or chr(34) + key.split('.')[-1].split('[')[0] + chr(34))}: "
                          f"{key}: {what}")

    if not isinstance(data, dict):
        raise bad("analysis", "expected a JSON object", "{")
    for key, typ in (("sweep", dict), ("signatures", list), ("totals", dict)):
        if not isinstance(data.get(key), typ):
            raise bad(key, f"missing or not a {typ.__name__}")
    data.setdefault("tests", [])
    data.setdefault("healthy_tests", [])
    if not isinstance(data["healthy_tests"], list) or not isinstance(data["tests"], list):
        raise bad("healthy_tests", "expected a list")
    for i, sig in enumerate(data["signatures"]):
        where = f"signatures[{i}]"
        if not isinstance(sig, dict):
            raise bad(where, "expected an object", "signatures")
        fp = sig.get("fingerprint")
        if not isinstance(fp, str) or not FP_RE.match(fp):
            raise bad(f"{where}.fingerprint", f"expected 4-64 letters/digits, got {fp!r}",
                      f'"{fp}"' if isinstance(fp, str) else "fingerprint")
        if not isinstance(sig.get("tests"), list) or not sig["tests"]:
            raise bad(f"{where}.tests", "missing or empty", f'"{fp}"')
        for j, t in enumerate(sig["tests"]):
            if not isinstance(t, dict) or not isinstance(t.get("test"), str):
                raise bad(f"{where}.tests[{j}].test", "missing", f'"{fp}"')
            for k in ("baseline", "current"):
                v = t.get(k)
                if v is not None and not (isinstance(v, list) and len(v) == 2 and all(isinstance(x, int) for x in v)):
                    raise bad(f"{where}.tests[{j}].{k}", f"expected [passed, runs], got {v!r}", f'"{t["test"]}"')
        for k in ("culprit", "fix"):
            if sig.get(k) is not None and not isinstance(sig[k], dict):
                raise bad(f"{where}.{k}", "expected an object or null", f'"{k}"')
    return data


def sig_failing(sig: dict) -> bool:
    """Does this signature still fail in the sweep (any test not passing every run)?"""
    for t in sig["tests"]:
        cur = t.get("current")
        if t.get("verdict") == "fixed":
            continue
        if t.get("verdict") in FAILING_VERDICTS and (cur is None or cur[0] < cur[1]):
            return True
    return False


def sig_regressed(sig: dict) -> bool:
    return any(t.get("verdict") == "regression" for t in sig["tests"])
