"""Scheme v1 is frozen: issues and stores filed under it are found again only if a log's v1
fingerprint never changes.  The pins were computed by pcgbot before scheme v2 existed."""

from __future__ import annotations

from pathlib import Path

import pytest

from pcgbot.signatures.v1 import signature_of_log as signature_v1

CORPUS = Path(__file__).resolve().parents[1] / "data" / "signatures"
PINS = dict(line.split("\t") for line in (CORPUS / "v1_fingerprints.tsv").read_text().splitlines()
            if line and not line.startswith("#"))


def test_pins_cover_the_original_corpus() -> None:
    assert len(PINS) >= 120


@pytest.mark.parametrize("name", sorted(PINS))
def test_v1_fingerprint_is_frozen(name: str, tmp_path: Path) -> None:
    body = (CORPUS / name).read_text(encoding="utf-8").partition("\n\n")[2]
    log = tmp_path / "run.log"
    log.write_text(body, encoding="utf-8")
    assert signature_v1(log).fingerprint == PINS[name]
