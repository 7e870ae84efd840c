"""Minimal git queries the sweep needs (commit, branch) without failing outside a repo."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Optional


def try_git(args: list[str], cwd: str | Path) -> Optional[str]:
    """``git args`` output stripped, or None when cwd is not a repository / git fails."""
    try:
        out = subprocess.run(["git", *args], cwd=str(cwd), capture_output=True, text=True,
                             timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None
