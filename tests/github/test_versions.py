"""pcgbot ships versions: `pcgbot --version`, one version in one place, a CHANGELOG entry for it,
and copyable callers pinned to its major (`@v1`, `pcgbot_ref: v1`), never to main."""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path

import yaml

from conftest import run_cli
from pcgbot import __version__

REPO = Path(__file__).resolve().parents[2]
MAJOR = f"v{__version__.split('.')[0]}"


def test_version_flag_and_metadata_agree() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__)
    p = run_cli("--version")
    assert p.returncode == 0 and p.stdout.strip() == f"pcgbot, version {__version__}"
    assert version("pcgbot") == __version__          # pyproject reads pcgbot.__version__


def test_changelog_has_this_version_and_says_how_tags_are_cut() -> None:
    text = (REPO / "CHANGELOG.md").read_text()
    assert re.search(rf"^## \[?{re.escape(__version__)}\]?", text, re.M), "no CHANGELOG entry"
    assert f"v{__version__}" in text and f"`{MAJOR}`" in text


def test_example_callers_pin_the_major_version() -> None:
    callers = sorted((REPO / "docs" / "examples").glob("*.yml"))
    assert callers
    seen = 0
    for path in callers:
        doc = yaml.safe_load(path.read_text())
        for jid, job in doc["jobs"].items():
            uses = job.get("uses", "")
            if "/pcgbot/" not in uses:
                continue
            seen += 1
            assert uses.endswith(f"@{MAJOR}"), f"{path.name}: jobs.{jid}: {uses}"
            assert (job.get("with") or {}).get("pcgbot_ref") == MAJOR, f"{path.name}: jobs.{jid}: pcgbot_ref"
    assert seen >= 6
