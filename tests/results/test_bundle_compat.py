"""Bundles across pcgbot versions: the data branch outlives any one release.

``tests/data/bundles/pcgbot-0.1.0.tar.gz`` was written by ``pcgbot baseline export --logs`` of
pcgbot 0.1.0 (the last release before versioned bundles: no ``pcgbot_version`` in its manifest)
from one sweep of ``test/srt/test_a.py``, 3 of 4 runs passing.  It must stay readable by every
later pcgbot; a newer format must be refused with one line, not misread.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path

import pytest

from pcgbot import __version__
from pcgbot.errors import UsageError
from pcgbot.results import baseline as bl
from pcgbot.results.store import Store

OLD = Path(__file__).resolve().parents[1] / "data" / "bundles" / "pcgbot-0.1.0.tar.gz"


def _manifest(bundle: Path) -> dict:
    with tarfile.open(bundle, "r:gz") as tar:
        src = tar.extractfile(f"{bl.BUNDLE_ROOT}/MANIFEST.json")
        assert src is not None
        return json.loads(src.read())


def test_a_bundle_of_pcgbot_0_1_0_is_read(tmp_path: Path) -> None:
    assert "pcgbot_version" not in _manifest(OLD)        # the fixture really is the old format
    store = Store(tmp_path / "db.sqlite")
    assert bl.import_bundles(store, [str(OLD)], tmp_path / "sweeps") == ["sweep-0.1.0"]
    runs = store.runs("sweep-0.1.0")
    assert [r.outcome for r in sorted(runs, key=lambda r: r.attempt)] == ["pass", "pass", "fail", "pass"]
    assert store.sweep("sweep-0.1.0")["commit"] == "a" * 40
    logs = list((tmp_path / "sweeps").rglob("test_a.pcg.2.log"))
    assert logs and "CUDA graph capture failed" in logs[0].read_text()
    # ... and re-exported by this pcgbot, now stamped with the version that wrote it
    out = tmp_path / "again.tar.gz"
    assert bl.export_bundle(store, out) == ["sweep-0.1.0"]
    man = _manifest(out)
    assert man["pcgbot_version"] == __version__ and man["version"] == bl.BUNDLE_VERSION
    again = Store(tmp_path / "db2.sqlite")
    bl.import_bundles(again, [str(out)], tmp_path / "sweeps2")
    assert len(again.runs("sweep-0.1.0")) == 4


def _bundle_with_manifest(path: Path, manifest: bytes) -> Path:
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb") as gz, \
            tarfile.open(fileobj=gz, mode="w") as tar:
        for name, data in ((f"{bl.BUNDLE_ROOT}/MANIFEST.json", manifest),
                           (f"{bl.BUNDLE_ROOT}/s/sweep.json", b'{"sweep_id": "s"}'),
                           (f"{bl.BUNDLE_ROOT}/s/runs.jsonl", b"")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_a_newer_bundle_format_is_refused_with_one_line(tmp_path: Path) -> None:
    b = _bundle_with_manifest(tmp_path / "new.tar.gz", json.dumps(
        {"version": bl.BUNDLE_VERSION + 1, "pcgbot_version": "9.0.0", "sweeps": ["s"]}).encode())
    with pytest.raises(UsageError, match=r"format 2 \(written by pcgbot 9\.0\.0\) is newer.*upgrade"):
        bl.import_bundles(Store(tmp_path / "db.sqlite"), [str(b)], tmp_path / "out")
    assert not (tmp_path / "out").exists()                 # nothing unpacked


def test_a_broken_manifest_is_one_line(tmp_path: Path) -> None:
    b = _bundle_with_manifest(tmp_path / "bad.tar.gz", b"{nope")
    with pytest.raises(UsageError, match="MANIFEST.json is not JSON"):
        bl.import_bundles(Store(tmp_path / "db.sqlite"), [str(b)], tmp_path / "out")
