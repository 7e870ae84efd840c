"""A small real git repository with known bugs at known commits, for the demo and e2e tests.

``build_demo_repo(path)`` writes ``tinyengine``, a toy "inference engine" whose ``ServerArgs``
has SGLang's ``cuda_graph_backend_prefill`` field, so pcgbot's real mode injection (the
sitecustomize shim, pointed at ``tinyengine.server_args`` by the plan's
``PCGBOT_SERVER_ARGS_MODULE``) switches it between piecewise ("PCG") and no prefill graph.  The
history (30 commits, fixed dates and authors so the shas are the same on every machine) plants:

* a deterministic PCG-only regression (``test_embedding``: wrong embedding size under PCG),
* a flaky PCG-only test whose failure rate rises from 0 to 6/10 at a known commit
  (``test_retract_decode``; the failure is seeded by the attempt number, so it is deterministic),
* a test that fails in both modes from a known commit (``test_tokenizer``, not PCG-related),
* a test fixed between baseline and head (``test_stop_strings``),
* an infrastructure failure: ``test_port_server`` binds a port (``$TINYENGINE_PORT``, default
  ``LEAK_PORT``), which the demo holds with a simulated leaked server while it sweeps; each
  built plan gets its own free port, so demos and e2e tests running side by side never collide,
* healthy tests, one of them a 2-GPU test, so reports have more than one GPU config.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
from pathlib import Path
from typing import Any, Optional

from ..errors import PcgbotError, UsageError

# The port test_port_server binds when no TINYENGINE_PORT is set (plan.yaml as is).
LEAK_PORT = 39517
PLAN_TEMPLATE = Path(__file__).resolve().with_name("plan.yaml")

EMBEDDING = "registered/models/test_embedding.py"
RETRACT = "registered/scheduler/test_retract_decode.py"
TOKENIZER = "registered/tokenizer/test_tokenizer.py"
STOP = "registered/sampling/test_stop_strings.py"
PORT = "registered/server/test_port_server.py"

_AUTHORS = ["Ada Lovelace <ada@tinyengine.dev>", "Grace Hopper <grace@tinyengine.dev>",
            "Alan Turing <alan@tinyengine.dev>", "Edsger Dijkstra <edsger@tinyengine.dev>"]

# --- files of the toy engine ----------------------------------------------------------------
_SERVER_ARGS = '''"""Server arguments (the demo's stand-in for sglang.srt.server_args)."""
from dataclasses import dataclass

PREFILL_BACKENDS = ("full", "breakable", "tc_piecewise", "disabled")


@dataclass
class ServerArgs:
    model_path: str = "tiny-llm"
    hidden_size: int = 16
    cuda_graph_backend_prefill: str = "breakable"
    cuda_graph_max_bs_prefill: int = 32
    port: int = 30000

    def __post_init__(self) -> None:
        if self.cuda_graph_backend_prefill not in PREFILL_BACKENDS:
            raise ValueError(f"unknown prefill backend {self.cuda_graph_backend_prefill!r}")
        if self.hidden_size <= 0:
            raise ValueError(f"hidden_size must be > 0, got {self.hidden_size}")
'''

_PIECEWISE = '''"""Piecewise prefill graphs: capture per token-count bucket, pad inputs to a bucket."""


def capture(max_bs: int) -> list[int]:
    buckets = [b for b in (4, 8, 16, 32, 64) if b <= max_bs]
    for n in buckets:
        print(f"Compiling num tokens (num_tokens={n})", flush=True)
    return buckets


def run_prefill(hidden: list[float], buckets: list[int]) -> list[float]:
    """Run one prefill through the captured graph of the smallest bucket that fits."""
    n = len(hidden)
    size = next((b for b in buckets if b >= n), n)
    padded = hidden + [0.0] * (size - n)
    return padded[:{SLICE}]
'''

_MODEL = '''"""A deterministic toy model: token ids -> hidden vector -> text."""
import math


def embed(tokens: list[int], hidden_size: int) -> list[float]:
    v = [float(sum((t * (i + 3)) % 97 for t in tokens)) for i in range(hidden_size)]
    norm = math.sqrt(sum(x * x for x in v)) or 1.0
    return [x / norm for x in v]


def cosine(a: list[float], b: list[float]) -> float:
    if len(a) != len(b):
        raise RuntimeError(f"The size of tensor a ({len(a)}) must match the size of tensor b "
                           f"({len(b)}) at non-singleton dimension 0")
    return sum(x * y for x, y in zip(a, b))
'''

_TOKENIZER = '''"""Whitespace tokenizer with a BOS token."""
BOS = 1


def encode(text: str) -> list[int]:
    ids = [BOS] + [2 + (sum(map(ord, w)) % 1000) for w in text.split()]
    return {ENCODE_RET}


def decode(ids: list[int], vocab: dict[int, str]) -> str:
    return " ".join(vocab[i] for i in ids if i != BOS)
'''

_SCHEDULER = '''"""Decode scheduler with retraction (requests are retracted and re-prefilled under pressure)."""
import random

# Chance that a retracted request is re-prefilled before its KV slots are released.
RETRACT_RACE = {RACE}


class Scheduler:
    def __init__(self, piecewise: bool):
        self.piecewise = piecewise

    def retract_and_reprefill(self, requests: list[int], seed: int) -> list[int]:
        rng = random.Random(seed)
        if self.piecewise and rng.random() < RETRACT_RACE:
            idx = len(requests) + 1
            raise IndexError(f"vectorized_gather_kernel: index {idx} is out of bounds for "
                             f"dimension 0 with size {len(requests)}")
        return sorted(requests)
'''

_ENGINE = '''"""The engine: builds ServerArgs, captures prefill graphs, serves requests."""
import os
import re

from . import model, piecewise, tokenizer
from .scheduler import Scheduler
from .server_args import ServerArgs


class Engine:
    def __init__(self, **kwargs):
        self.server_args = ServerArgs(**kwargs)
        print(f"server_args={self.server_args!r}", flush=True)
        backend = self.server_args.cuda_graph_backend_prefill
        self.buckets = None
        if backend == "tc_piecewise":
            print(f"Capture target prefill CUDA graph begin. backend={backend}", flush=True)
            self.buckets = piecewise.capture(self.server_args.cuda_graph_max_bs_prefill)
        self.scheduler = Scheduler(piecewise=self.buckets is not None)

    def encode(self, text: str) -> list[float]:
        hidden = model.embed(tokenizer.encode(text), self.server_args.hidden_size)
        if self.buckets is not None:
            hidden = piecewise.run_prefill(hidden, self.buckets)
        return hidden

    def generate(self, text: str, stop: str = "") -> str:
        words = text.split()[::-1]
        out = " ".join(words)
        if stop and stop in out:
            out = out[:out.index(stop){STOP_END}]
        return out


def attempt() -> int:
    """The pcgbot attempt number of this run (seeds the demo's deterministic flakiness)."""
    if os.environ.get("PCGBOT_ATTEMPT", "").isdigit():
        return int(os.environ["PCGBOT_ATTEMPT"])
    # Run ids end in the attempt: "<sweep>/<test>/<mode>/<attempt>".
    tail = re.search(r"(\\d+)$", os.environ.get("PCGBOT_RUN_ID", ""))
    return int(tail.group(1)) if tail else 0
'''

_TEST_HEAD = '''import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
from tinyengine.engine import Engine, attempt  # noqa: E402
'''

_TESTS: dict[str, str] = {
    "registered/core/test_generate.py": '''
class TestGenerate(unittest.TestCase):
    def test_reverse(self):
        self.assertEqual(Engine().generate("a b c"), "c b a")
''',
    "registered/core/test_server_args.py": '''
class TestServerArgs(unittest.TestCase):
    def test_bad_hidden_size(self):
        from tinyengine.server_args import ServerArgs
        with self.assertRaises(ValueError):
            ServerArgs(hidden_size=0)
''',
    EMBEDDING: '''
from tinyengine import model  # noqa: E402


class TestEmbedding(unittest.TestCase):
    def test_similarity(self):
        eng = Engine()
        a, b = eng.encode("the cat sat"), model.embed([1, 2, 3], eng.server_args.hidden_size)
        self.assertGreater(model.cosine(a, b), -1.01)
''',
    RETRACT: '''
class TestRetractDecode(unittest.TestCase):
    def test_retract(self):
        eng = Engine()
        self.assertEqual(eng.scheduler.retract_and_reprefill([3, 1, 2], seed=attempt()), [1, 2, 3])
''',
    TOKENIZER: '''
from tinyengine import tokenizer  # noqa: E402


class TestTokenizer(unittest.TestCase):
    def test_bos(self):
        ids = tokenizer.encode("hello world")
        self.assertEqual(ids[0], tokenizer.BOS, f"first token {ids[0]} is not BOS")
''',
    STOP: '''
class TestStopStrings(unittest.TestCase):
    def test_stop(self):
        self.assertEqual(Engine().generate("x stop y z", stop="stop"), "z y ")
''',
    PORT: '''
import socket  # noqa: E402

PORT = int(os.environ.get("TINYENGINE_PORT", "%d"))


class TestPortServer(unittest.TestCase):
    def test_serve(self):
        Engine()
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", PORT))
        except OSError as e:
            raise OSError(f"{e}: port {PORT} is held by another process (leaked server?)")
        s.close()
''' % LEAK_PORT,
    "registered/distributed/test_tp_allreduce.py": '''
class TestAllReduce(unittest.TestCase):
    def test_sum(self):
        parts = [[1.0, 2.0], [3.0, 4.0]]
        self.assertEqual([sum(c) for c in zip(*parts)], [4.0, 6.0])
''',
}


def _test_file(body: str) -> str:
    return _TEST_HEAD + body + '\n\nif __name__ == "__main__":\n    unittest.main()\n'


def _engine_files(*, slice_: str = "n", race: str = "0.02", encode_ret: str = "ids",
                  stop_end: str = "") -> dict[str, str]:
    return {
        "tinyengine/__init__.py": '"""tinyengine: a toy inference engine for the pcgbot demo."""\n',
        "tinyengine/server_args.py": _SERVER_ARGS,
        "tinyengine/piecewise.py": _PIECEWISE.replace("{SLICE}", slice_),
        "tinyengine/model.py": _MODEL,
        "tinyengine/tokenizer.py": _TOKENIZER.replace("{ENCODE_RET}", encode_ret),
        "tinyengine/scheduler.py": _SCHEDULER.replace("{RACE}", race),
        "tinyengine/engine.py": _ENGINE.replace("{STOP_END}", stop_end),
    }


def _history() -> tuple[list[tuple[str, dict[str, str]]], dict[str, int]]:
    """(subject, files changed) per commit, oldest first, and the index of each commit of
    interest ("baseline", and the culprit or fix of each planted test)."""
    state = dict(slice_="n", race="0.02", encode_ret="ids", stop_end=" + len(stop)")
    hist: list[tuple[str, dict[str, str]]] = []
    marks: dict[str, int] = {}

    def engine(mark: str, subject: str, **change: str) -> None:
        state.update(change)
        hist.append((subject, _engine_files(**state)))
        marks[mark] = len(hist) - 1

    def notes(*subjects: str) -> None:
        for subject in subjects:    # harmless commits: the ranges bisect has to search
            hist.append((subject, {f"docs/notes/{len(hist):02d}.md": f"# {subject}\n"}))

    base = _engine_files(**state)
    base.update({"test/" + p: _test_file(b) for p, b in _TESTS.items()})
    base["README.md"] = "# tinyengine\n\nA toy inference engine used by `pcgbot demo`.\n"
    hist.append(("Initial tinyengine: server args, engine, piecewise prefill, tests", base))
    notes("docs: describe prefill backends", "ci: run tests with -f",
          "model: document the embedding normalisation", "docs: add a changelog",
          "scheduler: explain retraction", "docs: server args table",
          "tests: name the CI suites", "docs: contributing guide")
    marks["baseline"] = len(hist) - 1
    engine(STOP, "Fix stop strings: do not keep the stop text in the output", stop_end="")
    notes("docs: sampling parameters", "refactor: tidy imports in engine",
          "docs: port configuration", "bench: add a prefill micro benchmark",
          "docs: release notes 0.2")
    engine(EMBEDDING, "piecewise: slice padded prefill output to the smallest bucket",
           slice_="min(n, buckets[1])")
    notes("docs: piecewise buckets", "ci: cache pip downloads", "docs: faq",
          "bench: decode throughput")
    engine(RETRACT, "scheduler: re-prefill retracted requests without waiting for KV release",
           race="0.5")
    notes("docs: scheduler tuning", "docs: retraction diagram", "ci: nightly schedule")
    engine(TOKENIZER, "tokenizer: drop the BOS token from encode()", encode_ret="ids[1:]")
    notes("docs: tokenizer notes", "docs: release notes 0.3", "bench: tokenizer speed",
          "docs: roadmap", "docs: acknowledgements")
    return hist, marks


def _git(repo: Path, *args: str, env: Optional[dict[str, str]] = None) -> str:
    base = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    # A user's global git config (hooks, signing) must not leak into the demo's history.
    base.update({"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull})
    base.update(env or {})
    p = subprocess.run(["git", "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false",
                        *args], cwd=repo, env=base, capture_output=True, text=True)
    if p.returncode != 0:
        raise PcgbotError(f"git {' '.join(args[:2])} failed in {repo}: "
                          f"{(p.stderr or p.stdout).strip().splitlines()[-1:]}")
    return p.stdout.strip()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_plan(repo: Path, out: Path, port: int = LEAK_PORT) -> Path:
    """Copy the demo plan (plan.yaml) to ``out`` with ``repo:`` set to the demo repository's path and
    ``TINYENGINE_PORT`` (the port test_port_server binds) in every mode's env."""
    try:
        text = PLAN_TEMPLATE.read_text()
    except OSError:
        raise UsageError(f"{PLAN_TEMPLATE}:1: plan: demo plan not found (pcgbot is installed "
                         "without its package data: reinstall it)") from None
    text, n = re.subn(r"(?m)^repo:.*$", f"repo: {repo.resolve()}", text, count=1)
    if n != 1:
        raise UsageError(f"{PLAN_TEMPLATE}:1: repo: the demo plan has no top-level repo key")
    text, n = re.subn(r"(?m)^(    env: \{PCGBOT_SERVER_ARGS_MODULE: tinyengine\.server_args)\}",
                      rf'\1, TINYENGINE_PORT: "{port}"}}', text)
    if n != 2:
        raise UsageError(f"{PLAN_TEMPLATE}:1: modes: expected the pcg and nopcg env lines of "
                         "the demo plan")
    out.write_text(text)
    return out


def build_demo_repo(path: str | os.PathLike) -> dict[str, Any]:
    """Create the demo repository in ``path/repo`` and its plan in ``path/demo.yaml``.

    Returns ``{"repo", "plan", "baseline", "head", "commits": [sha...], "subjects": [...],
    "culprits": {test: sha}, "fixes": {test: sha}, "tests": {role: test}, "leak_port"}``.
    """
    root = Path(path)
    repo = root / "repo"
    if repo.exists() and any(repo.iterdir()):
        raise UsageError(f"{repo}: demo: directory exists and is not empty")
    repo.mkdir(parents=True, exist_ok=True)
    _git(repo, "init", "-q")
    shas: list[str] = []
    subjects: list[str] = []
    history, marks = _history()
    for i, (subject, files) in enumerate(history):
        for rel, text in files.items():
            f = repo / rel
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(text)
        author = _AUTHORS[i % len(_AUTHORS)]
        name, email = author[:-1].split(" <")
        # Fixed dates and identities: the same history (and shas) on every machine.
        date = f"2026-07-{1 + i // 3:02d}T{9 + (i % 3) * 3:02d}:00:00+00:00"
        env = {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email, "GIT_AUTHOR_DATE": date,
               "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email,
               "GIT_COMMITTER_DATE": date}
        _git(repo, "add", "-A")
        _git(repo, "commit", "-q", "-m", subject, env=env)
        shas.append(_git(repo, "rev-parse", "HEAD"))
        subjects.append(subject)
    port = free_port()
    plan = write_plan(repo, root / "demo.yaml", port)
    return {
        "repo": str(repo.resolve()), "plan": str(plan.resolve()),
        "baseline": shas[marks["baseline"]], "head": shas[-1], "commits": shas,
        "subjects": subjects,
        "culprits": {t: shas[marks[t]] for t in (EMBEDDING, RETRACT, TOKENIZER)},
        "fixes": {STOP: shas[marks[STOP]]},
        "tests": {"pcg_regression": EMBEDDING, "flaky": RETRACT, "both_modes": TOKENIZER,
                  "fixed": STOP, "infra": PORT},
        "leak_port": port,
    }
