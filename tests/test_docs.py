"""The docs run as written.

* Every ```console block of README.md and docs/*.md is a session: each ``$ command`` runs (bash,
  in a fresh folder, one after the other, ``export`` lines carried over), and what it prints on
  stdout must match the lines shown under it.  Volatile parts are masked on both sides (times,
  ports, temp paths); in a shown line ``...`` stands for any text, and a line that is only
  ``...`` for any number of lines.  ``PCGBOT_UPDATE_DOCS=1`` rewrites the shown output from the
  program's (review the diff, as with a golden file).
* Every relative link in the docs resolves to a file of the repository, and none points outside.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

_MASKS = [
    (re.compile(r"\b\d+(\.\d+)? ?s\b"), "<secs>"),                  # 12.6 s, 0.4s
    (re.compile(r"\bport \d+"), "port <n>"),
    (re.compile(r"/tmp/[\w./-]+"), "<tmp>"),
    (re.compile(r"\d{4}-\d\d-\d\dT[\d:.]+(\+00:00|Z)?"), "<time>"),
    (re.compile(r"\d{8}T\d{6}-[0-9a-f]{6}"), "<stamp>"),          # the time part of a sweep id
]


def mask(line: str) -> str:
    for pat, rep in _MASKS:
        line = pat.sub(rep, line)
    return line.rstrip()


@dataclass
class Command:
    line: int                   # 1-based line of the ``$`` in the file
    cmd: str
    shown: list[str] = field(default_factory=list)


def sessions(path: Path) -> list[list[Command]]:
    out: list[list[Command]] = []
    block: list[Command] | None = None
    for i, raw in enumerate(path.read_text().splitlines(), 1):
        if block is None:
            if raw.strip() == "```console":
                block = []
            continue
        if raw.strip() == "```":
            out.append(block)
            block = None
        elif raw.startswith("$ "):
            block.append(Command(i, raw[2:]))
        elif block:
            block[-1].shown.append(raw)
    return [b for b in out if b]


def matches(shown: list[str], got: list[str]) -> bool:
    """``shown`` (with ``...`` wildcards) against ``got``, both masked."""
    def line_ok(s: str, g: str) -> bool:
        parts = [re.escape(p) for p in mask(s).split("...")]
        return re.fullmatch(".*".join(parts), mask(g)) is not None

    def rec(i: int, j: int) -> bool:
        if i == len(shown):
            return j == len(got)
        if shown[i].strip() == "...":
            return any(rec(i + 1, k) for k in range(j, len(got) + 1))
        return j < len(got) and line_ok(shown[i], got[j]) and rec(i + 1, j + 1)
    shown = [s for s in shown if s.strip() or False] if not any(s.strip() for s in shown) else shown
    while shown and not shown[-1].strip():
        shown = shown[:-1]
    got = list(got)
    while got and not got[-1].strip():
        got = got[:-1]
    return rec(0, 0)


def _run(cmd: str, cwd: Path, env: dict[str, str]) -> tuple[int, list[str], str]:
    if cmd.startswith("export "):
        k, _, v = cmd[len("export "):].partition("=")
        env[k.strip()] = shlex.split(v)[0] if v.strip() else ""
        return 0, [], ""
    bindir = str(Path(sys.executable).parent)   # the pcgbot of this interpreter
    p = subprocess.run(["bash", "-c", cmd], cwd=cwd, capture_output=True, text=True,
                       env={**env, "PATH": bindir + os.pathsep + env.get("PATH", "")},
                       timeout=600)
    # paths under the session's folder read as the docs write them: relative
    return p.returncode, p.stdout.replace(f"{cwd}/", "").splitlines(), p.stderr


def _sessions_of_all_docs() -> list[tuple[Path, list[Command]]]:
    return [(p, s) for p in DOCS for s in sessions(p)]


@pytest.mark.slow
def test_every_console_session_runs_as_shown(tmp_path):
    if not _sessions_of_all_docs():
        pytest.skip("no console sessions in the docs")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "PCGBOT_"))}
    env["HOME"] = str(tmp_path)
    update = bool(os.environ.get("PCGBOT_UPDATE_DOCS"))
    wrong = []
    rewrites: dict[Path, dict[int, list[str]]] = {}
    for path, block in _sessions_of_all_docs():
        for c in block:
            rc, out, err = _run(c.cmd, tmp_path, env)
            where = f"{path.relative_to(ROOT)}:{c.line}: $ {c.cmd}"
            if rc not in (0, 1):
                wrong.append(f"{where}\n  exit {rc}: {err.strip()[-800:]}")
                continue
            if update:
                rewrites.setdefault(path, {})[c.line] = out
            elif not matches(c.shown, out):
                wrong.append(f"{where}\n  shown:\n    " + "\n    ".join(c.shown)
                             + "\n  got:\n    " + "\n    ".join(out))
    if update:
        for path, outs in rewrites.items():
            _rewrite(path, outs)
    assert not wrong, "\n\n".join(wrong)


def _rewrite(path: Path, outs: dict[int, list[str]]) -> None:
    lines = path.read_text().splitlines()
    new: list[str] = []
    i = 0
    while i < len(lines):
        new.append(lines[i])
        if (i + 1) in outs:
            out = outs[i + 1]
            new.extend(out)
            i += 1
            while i < len(lines) and not lines[i].startswith("$ ") and lines[i].strip() != "```":
                i += 1              # drop the old shown output
            if i < len(lines) and lines[i].startswith("$ ") and out:
                new.append("")      # a blank line between a command's output and the next
            continue
        i += 1
    path.write_text("\n".join(new) + "\n")


_LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_links_resolve_inside_the_repository(doc: Path):
    bad = []
    in_code = False
    for i, line in enumerate(doc.read_text().splitlines(), 1):
        if line.strip().startswith("```"):
            in_code = not in_code
        if in_code:
            continue
        for target in _LINK.findall(line):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue                         # web links and anchors
            path = target.split("#")[0]
            dest = (doc.parent / path).resolve()
            if ROOT not in dest.parents and dest != ROOT:
                bad.append(f"{doc.name}:{i}: {target} points outside the repository")
            elif not dest.exists():
                bad.append(f"{doc.name}:{i}: {target} does not exist")
    assert not bad, "\n".join(bad)


def test_docs_name_no_path_outside_the_repository():
    bad = []
    for doc in DOCS:
        for i, line in enumerate(doc.read_text().splitlines(), 1):
            # the maintainers' own folders: a brief, the seed report, a workstation path
            if re.search(r"\.\./shared|`shared/|/tmp/briefs|/work/|/home/\w+", line):
                bad.append(f"{doc.relative_to(ROOT)}:{i}: {line.strip()[:100]}")
    assert not bad, "\n".join(bad)


def test_the_session_parser_and_matcher():
    assert matches(["a 1.5 s", "...", "z"], ["a 3.0 s", "b", "c", "z"])
    assert not matches(["a", "z"], ["a", "b", "z"])
    assert matches(["found ... with probability 0.99..."], ["found abc with probability 0.993"])
    assert not matches(["3 regressions"], ["2 regressions"])
