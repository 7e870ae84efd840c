"""Golden corpus: real failure logs from public issue trackers, one file per log.

Each file in tests/data/signatures/ is a few header lines (TITLE, RULE, CATEGORY, SOURCE, FAMILY,
GROUP, GROUP_SOURCE, SPLIT), a blank line, then the raw log as it was pasted in the issue.  The test
checks that pcgbot still names each log the way a reviewer accepted.  After an intended change, rewrite the headers with

    PCGBOT_UPDATE_GOLDEN=1 python -m pytest -q tests/signatures/test_signatures_golden.py

and review the diff of tests/data/signatures/ before committing it.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

from pcgbot.signatures.corpus import load_families, read_case as _read, write_case
from pcgbot.signatures.signature import signature_of_log

CORPUS = Path(__file__).resolve().parents[1] / "data" / "signatures"
FILES = sorted(CORPUS.glob("*.log"))
FAMILIES = load_families(CORPUS / "families.yaml")
UPDATE = os.environ.get("PCGBOT_UPDATE_GOLDEN") == "1"


def read_case(path: Path) -> tuple[dict[str, str], str]:
    case = _read(path)
    return case.headers, case.body


def test_corpus_is_big_and_varied() -> None:
    assert len(FILES) >= 120
    rules = Counter(read_case(f)[0].get("RULE") for f in FILES)
    # Several logs per family, and some that no rule knows (the fingerprint still names them).
    assert sum(1 for r, n in rules.items() if r not in ("null", None) and n >= 2) >= 10
    assert rules.get("null", 0) >= 2


@pytest.mark.parametrize("path", FILES, ids=[f.stem for f in FILES])
def test_golden(path: Path, tmp_path: Path) -> None:
    headers, body = read_case(path)
    assert headers.get("SOURCE", "").startswith("https://github.com/"), "SOURCE must be the issue URL"
    raw = tmp_path / "run.log"          # the signature sees exactly the log, not our headers
    raw.write_text(body, encoding="utf-8")
    sig = signature_of_log(raw)
    got = {"TITLE": sig.title, "RULE": sig.rule or "null", "CATEGORY": sig.category}
    if UPDATE:
        case = _read(path)
        case.headers.update(got)
        write_case(case)
        return
    assert headers.get("FAMILY") in FAMILIES, "FAMILY must be declared in families.yaml"
    assert headers.get("GROUP") and headers.get("SPLIT") in ("tune", "heldout")
    assert {k: headers.get(k) for k in got} == got
    assert sig.excerpt and len(sig.excerpt) <= 30
    assert len(sig.fingerprint) == 12
