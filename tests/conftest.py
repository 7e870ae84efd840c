"""Shared fixtures.  The autouse fixture isolates every test from the user's environment:
its own results store, no GitHub/HF credentials, no Actions variables leaking in."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _isolate(tmp_path_factory, monkeypatch):
    store = tmp_path_factory.mktemp("store") / "pcgbot.db"
    monkeypatch.setenv("PCGBOT_STORE", str(store))
    for k in list(os.environ):
        if k.startswith(("GITHUB_", "PCGBOT_SERVER_ARGS", "PCGBOT_RUN_ID", "PCGBOT_SWEEP_ID")) \
                or k in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "RUNNER_TEMP"):
            monkeypatch.delenv(k, raising=False)
    yield


@pytest.fixture
def root() -> Path:
    return ROOT


def run_cli(*args: str, cwd=None, env=None, timeout=120) -> subprocess.CompletedProcess:
    """Run the real console entry point in a subprocess (as a user would)."""
    e = dict(os.environ)
    if env:
        e.update(env)
    return subprocess.run([sys.executable, "-m", "pcgbot", *args], cwd=cwd, env=e,
                          capture_output=True, text=True, timeout=timeout)


def write_plan(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
