"""A real git repository to bisect, in the style of syzkaller's bisect tests.

Commit subjects are integers ("0", "1", ...).  Every commit carries ``behaviour.json`` (this
commit's pass probability, the chance of an unrelated crash) and one test script that obeys it.
The script draws from an RNG keyed by (seed, commit number, attempt), so a flaky history gives
the same outcomes on every run of the test suite.  ``build.txt`` is the plan's setup key: it
reads ``ok`` except at unbuildable commits, where the plan's setup (``grep -qx ok build.txt``)
fails.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Callable, Optional

import pytest

from pcgbot.plan.schema import Plan, load_plan

TEST_PATH = "tests/test_embedding_models.py"

TEST_SCRIPT = '''\
import json, os, random, sys
from pathlib import Path

root = Path(__file__).resolve().parents[1]
b = json.loads((root / "behaviour.json").read_text())
attempt = int(os.environ.get("PCGBOT_RUN_ID", "run/0").rsplit("/", 1)[-1])
rng = random.Random(f"{b['seed']}/{b['version']}/{attempt}")
crash, fail = rng.random(), rng.random()


def allocate_workspace():
    raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")


def check_embedding(dim):
    assert dim == 1536, f"embedding dim {dim} != 1536"


if crash < b["crash"]:
    allocate_workspace()
check_embedding(1536 if fail < b["p"] else 128)
print("OK")
'''


def _git(repo: Path, *args: str) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="Ada Dev", GIT_AUTHOR_EMAIL="ada@example.com",
               GIT_COMMITTER_NAME="Ada Dev", GIT_COMMITTER_EMAIL="ada@example.com",
               GIT_AUTHOR_DATE="2026-07-01T00:00:00Z", GIT_COMMITTER_DATE="2026-07-01T00:00:00Z")
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


def make_repo(path: Path, n: int, rate: Callable[[int], float], *, seed: int = 1,
              broken: set[int] = frozenset(), crash: Optional[Callable[[int], float]] = None,
              docs_only: set[int] = frozenset()) -> list[str]:
    """Commits 0..n; commit i passes with probability rate(i).  Returns their shas.
    A ``docs_only`` commit changes docs/notes.md alone (it behaves like its parent)."""
    path.mkdir(parents=True, exist_ok=True)
    _git(path, "init", "-q", "-b", "main")
    (path / "tests").mkdir(exist_ok=True)
    (path / "docs").mkdir(exist_ok=True)
    (path / TEST_PATH).write_text(TEST_SCRIPT)
    shas = []
    for i in range(n + 1):
        if i in docs_only:
            (path / "docs" / "notes.md").write_text(f"notes of commit {i}\n")
        else:
            beh = {"version": i, "seed": seed, "p": rate(i), "crash": crash(i) if crash else 0.0}
            (path / "behaviour.json").write_text(json.dumps(beh) + "\n")
            (path / "build.txt").write_text("ok\n" if i not in broken else f"syntax error {i}\n")
        _git(path, "add", "-A")
        _git(path, "commit", "-q", "-m", str(i))
        shas.append(_git(path, "rev-parse", "HEAD"))
    return shas


def make_plan(tmp: Path, repo: Path, *, repeats: int = 3, extra: str = "") -> Plan:
    p = tmp / "toy.yaml"
    p.write_text(f"""\
{extra}name: toy
repo: {repo}
command: "{{python}} {{path}}"
timeout: 60
repeats: {repeats}
setup: "grep -qx ok build.txt"
setup_key: [build.txt]
modes: {{pcg: {{}}}}
tests:
  - {{path: {TEST_PATH}, gpus: 0}}
""")
    return load_plan(p)


def step(c: int, before: float = 1.0, after: float = 0.0) -> Callable[[int], float]:
    """Pass rate ``before`` up to commit c-1, ``after`` from the culprit c on."""
    return lambda i: before if i < c else after


def toy_signature(tmp: Path, crash: bool) -> str:
    """Fingerprint (pcgbot.signatures.signature) of the toy's embedding failure, or of its unrelated
    out-of-memory crash, from a real run of the script."""
    from pcgbot.signatures.signature import signature_of_log
    d = tmp / ("sig-oom" if crash else "sig-emb")
    (d / "tests").mkdir(parents=True, exist_ok=True)
    (d / TEST_PATH).write_text(TEST_SCRIPT)
    (d / "behaviour.json").write_text(json.dumps(
        {"version": 0, "seed": 0, "p": 0.0, "crash": 1.0 if crash else 0.0}))
    p = subprocess.run(["python3", TEST_PATH], cwd=d, capture_output=True, text=True)
    (d / "run.log").write_text(p.stdout + p.stderr)
    return signature_of_log(d / "run.log").fingerprint


def bisect_toy(tmp: Path, shas: list[str], good: int, bad: int, **kw):
    """``bisect_test`` of the toy test over shas[good]..shas[bad] (no store unless given)."""
    from pcgbot.bisect.engine import bisect_test
    plan = make_plan(tmp, tmp / "repo")
    kw.setdefault("store", tmp / "no-store.db")
    return bisect_test(plan, "test_embedding_models", good=shas[good], bad=shas[bad],
                       state_dir=tmp / "state", **kw)


def two_faced(tmp: Path, n: int, c: int) -> list[str]:
    """From commit c on, every run fails: half with the embedding assertion, half with an
    out-of-memory crash -- one regression with two signatures."""
    return make_repo(tmp / "repo", n, step(c), seed=8,   # 2 of 4 runs at 10 crash
                     crash=lambda i: 0.5 if i >= c else 0.0)


def untouched(repo: Path, head: str) -> None:
    """The user's checkout is as it was: clean, at ``head``, no probe worktree left."""
    assert subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True,
                          text=True).stdout == ""
    assert subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True,
                          text=True).stdout.strip() == head
    wts = subprocess.run(["git", "worktree", "list"], cwd=repo, capture_output=True, text=True)
    assert len(wts.stdout.splitlines()) == 1, wts.stdout   # probe worktrees cleaned up


@pytest.fixture(scope="session")
def sigs(tmp_path_factory) -> dict[str, str]:
    """Real fingerprints of the toy's two failures (the regression, an unrelated OOM); a test
    module uses it by importing it."""
    t = tmp_path_factory.mktemp("sigs")
    return {"emb": toy_signature(t, False), "oom": toy_signature(t, True)}
