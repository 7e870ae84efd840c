"""Headless Chromium for the tests that look at a page (Debian's ``chromium``; skipped without it)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# tests/demo/test_demo.py refreshes it from the demo's page with PCGBOT_UPDATE_DOCS=1.
DOCS_IMAGE = Path(__file__).resolve().parents[1] / "docs" / "images" / "dashboard.png"


def chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                           "--disable-background-networking", "--disable-component-update",
                           "--no-first-run", f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=90)
