"""A real git history of a toy CUDA-graph engine with a real CUDA-graph bug, to bisect on GPUs.

    python3 bench/bisect_gpu_repo.py DIR [--commits 16] [--culprit 11] [--repeat-rate 1.0]

Writes a git repository in DIR and a plan next to it (DIR.yaml).  ``engine.py`` runs a small
MLP step through ``torch.compile(mode="reduce-overhead")`` (CUDA graphs) when the plan's mode
sets ENGINE_CUDA_GRAPH=1, and caches each prompt's output so that a repeated prompt is not
recomputed.  From the culprit commit on, the cache keeps the compiled step's output tensor
itself instead of a copy: in eager mode that is harmless, but under CUDA graphs the tensor is
the graph's static output buffer, which the next replay overwrites, so a prompt served from
the cache after another prompt ran gets the wrong output (or PyTorch's "accessing tensor
output of CUDAGraphs that has been overwritten" error).  Only the forced mode shows the bug,
as with SGLang's piecewise CUDA graphs.

``test_engine.py`` sends 6 requests; each one after the second repeats the prompt of two
requests back with probability ``--repeat-rate`` (drawn per run from the attempt number), so
1.0 fails every run after the culprit (1.0 -> 0.0) and a lower rate lets a run pass only when
it draws no repeat, at most (1 - rate)^4 of the time (0.24 for 0.3).  A failing run shows one
of two fingerprints: PyTorch's error or the wrong-value assertion.  Other
commits change comments, docs and the version; one changes requirements.txt, the plan's
setup key, so the setup runs again from there.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ENGINE = '''\
"""Toy inference engine: one MLP step, compiled with CUDA graphs when ENGINE_CUDA_GRAPH=1."""
import os

import torch

CUDA_GRAPH = os.environ.get("ENGINE_CUDA_GRAPH") == "1"
VERSION = "0.{version}"


class Engine:
    def __init__(self, dim: int = 512):
        g = torch.Generator(device="cuda").manual_seed(0)
        self.w = torch.randn(dim, dim, device="cuda", generator=g) / dim ** 0.5
        self.step_fn = (torch.compile(self.forward, mode="reduce-overhead") if CUDA_GRAPH
                        else self.forward)
        self.cache = {{}}     # prompt id -> output: a repeated prompt is served from here

    def forward(self, x):
        return torch.relu(x @ self.w) @ self.w.T

    def serve(self, prompt: int, x):
{serve}
'''

# --engine graph: the step captured by hand into one torch.cuda.CUDAGraph (no compile: a run
# takes seconds, so a flaky regression's many runs fit a short GPU session).  Its output is the
# graph's static buffer, which every replay overwrites; PyTorch does not check reads of it.
ENGINE_GRAPH = '''\
"""Toy inference engine: one MLP step, replayed from a CUDA graph when ENGINE_CUDA_GRAPH=1."""
import os

import torch

CUDA_GRAPH = os.environ.get("ENGINE_CUDA_GRAPH") == "1"
VERSION = "0.{version}"


class Engine:
    def __init__(self, dim: int = 512, batch: int = 16):
        g = torch.Generator(device="cuda").manual_seed(0)
        self.w = torch.randn(dim, dim, device="cuda", generator=g) / dim ** 0.5
        self.cache = {{}}     # prompt id -> output: a repeated prompt is served from here
        self.step_fn = self.forward
        if CUDA_GRAPH:
            self.static_x = torch.zeros(batch, dim, device="cuda")
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):           # warm up off the capture
                for _ in range(2):
                    self.forward(self.static_x)
            torch.cuda.current_stream().wait_stream(side)
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):
                self.static_y = self.forward(self.static_x)
            self.step_fn = self.replay

    def forward(self, x):
        return torch.relu(x @ self.w) @ self.w.T

    def replay(self, x):
        self.static_x.copy_(x)
        self.graph.replay()
        return self.static_y

    def serve(self, prompt: int, x):
{serve}
'''

SERVE_GOOD = '''\
        if prompt in self.cache:
            return self.cache[prompt]
        y = self.step_fn(x)
        self.cache[prompt] = y.clone()   # own memory: the next replay reuses the graph's buffer
        return self.cache[prompt]'''

SERVE_BUGGY = '''\
        if prompt in self.cache:
            return self.cache[prompt]
        y = self.step_fn(x)
        self.cache[prompt] = y           # skip a copy per request
        return y'''

TEST = '''\
"""Serve 6 requests; a repeated prompt must get the same output as its first request."""
import os
import random

import torch

from engine import Engine

REPEAT_RATE = {rate}
attempt = int(os.environ.get("PCGBOT_RUN_ID", "run/0").rsplit("/", 1)[-1])
rng = random.Random({seed})
eng = Engine()
g = torch.Generator(device="cuda").manual_seed(1)
prompts = [torch.randn(16, 512, device="cuda", generator=g) for _ in range(6)]
order = []
for i in range(6):
    order.append(order[i - 2] if i >= 2 and rng.random() < REPEAT_RATE else i)
for i, p in enumerate(order):
    out = eng.serve(p, prompts[p])
    ref = torch.relu(prompts[p] @ eng.w) @ eng.w.T
    torch.cuda.synchronize()
    err = (out.float() - ref.float()).abs().max().item()
    assert err < 1e-2, f"request {{i}} (prompt {{p}}): output differs from eager by {{err:.3g}}"
print("served", order, "cuda_graph", os.environ.get("ENGINE_CUDA_GRAPH"),
      "device", os.environ.get("CUDA_VISIBLE_DEVICES"))
'''

PLAN = '''\
# The toy engine of bench/bisect_gpu_repo.py: its one GPU test, with CUDA graphs forced on.
name: toy-engine
repo: {repo}
command: "{{python}} {{path}}"
timeout: 300
repeats: 4
setup: "python3 -m py_compile engine.py test_engine.py"
setup_key: [requirements.txt]
modes:
  cuda-graph: {{env: {{ENGINE_CUDA_GRAPH: "1", NCCL_NVLS_ENABLE: "0"}}}}
  eager: {{env: {{ENGINE_CUDA_GRAPH: "0"}}}}
default_mode: cuda-graph
tests:
  - {{path: test_engine.py, gpus: 1, est_time: 20}}
'''

SUBJECTS = ["engine: initial toy engine", "docs: describe the request cache",
            "engine: name the step function", "test: check every request against eager",
            "engine: scale the weights by 1/sqrt(dim)", "docs: CUDA graph mode",
            "build: pin torch in requirements.txt", "engine: comment on the cache",
            "test: six requests per run", "docs: how to run the test"]


def git(repo: Path, *args: str) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="Ada Dev", GIT_AUTHOR_EMAIL="ada@example.com",
               GIT_COMMITTER_NAME="Ada Dev", GIT_COMMITTER_EMAIL="ada@example.com")
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


def make(repo: Path, commits: int, culprit: int, rate: float, engine: str = "compile",
         fresh: bool = False) -> list[str]:
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    (repo / "requirements.txt").write_text("torch\n")
    # fresh: each run draws its requests from the OS (really flaky); else from its attempt
    (repo / "test_engine.py").write_text(TEST.format(rate=rate,
                                                     seed="None" if fresh else "attempt"))
    template = ENGINE_GRAPH if engine == "graph" else ENGINE
    shas = []
    for i in range(commits + 1):
        serve = SERVE_BUGGY if i >= culprit else SERVE_GOOD
        (repo / "engine.py").write_text(template.format(version=i, serve=serve))
        (repo / "NOTES.md").write_text(f"# toy engine\n\nrevision {i}\n")
        if i == commits // 2:
            (repo / "requirements.txt").write_text("torch>=2.1\n")
        subject = ("engine: serve repeated prompts from the cache without a copy" if i == culprit
                   else SUBJECTS[i % len(SUBJECTS)] + f" ({i})")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", subject)
        shas.append(git(repo, "rev-parse", "HEAD"))
    return shas


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--commits", type=int, default=16)
    ap.add_argument("--culprit", type=int, default=11)
    ap.add_argument("--repeat-rate", type=float, default=1.0)
    ap.add_argument("--engine", choices=("compile", "graph"), default="compile",
                    help="compile: torch.compile(mode='reduce-overhead'); graph: one "
                    "torch.cuda.CUDAGraph captured by hand (seconds per run)")
    ap.add_argument("--fresh-draws", action="store_true",
                    help="requests drawn from the OS per run (real flakiness), not the attempt")
    a = ap.parse_args()
    if not 1 <= a.culprit <= a.commits:
        print(f"--culprit: {a.culprit} is not in 1..{a.commits}", file=sys.stderr)
        return 2
    repo = Path(a.dir).resolve()
    shas = make(repo, a.commits, a.culprit, a.repeat_rate, a.engine, a.fresh_draws)
    Path(f"{repo}.yaml").write_text(PLAN.format(repo=repo))
    print(f"good={shas[0]} bad={shas[-1]} culprit={shas[a.culprit]} plan={repo}.yaml")
    return 0


if __name__ == "__main__":
    sys.exit(main())
