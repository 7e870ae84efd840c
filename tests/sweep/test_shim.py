"""Mode injection: the sitecustomize shim forces a mode's ServerArgs values in every process
of a run -- in-process Engine(...) and servers launched in child and grandchild processes --
before ServerArgs' own __post_init__ runs, for each SGLang era's flag."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pcgbot.plan.schema import parse_plan
from pcgbot.sweep.sweep import mode_env

ERAS = {
    # era: (field definitions, how __post_init__ reports "PCG on")
    "2026-06": ("cuda_graph_backend_prefill: Optional[str] = None",
                "self.cuda_graph_backend_prefill == 'tc_piecewise'"),
    "2026-03": ("enforce_piecewise_cuda_graph: bool = False\n    disable_piecewise_cuda_graph: bool = False",
                "not self.disable_piecewise_cuda_graph and (self.enforce_piecewise_cuda_graph or not self.is_vlm)"),
    "2025-10": ("enable_piecewise_cuda_graph: bool = False",
                "self.enable_piecewise_cuda_graph"),
}

SERVER_ARGS = """\
from dataclasses import dataclass
from typing import Optional

@dataclass
class ServerArgs:
    model_path: str = "m"
    is_vlm: bool = False
    {fields}

    def __post_init__(self):
        # like SGLang: silent auto-disable for VLMs unless the backend was locked explicitly
        self.pcg = bool({on})
        if self.is_vlm and not getattr(self, "_locked", False):
            pass
        print("SERVERARGS pid=%d pcg=%s" % (__import__("os").getpid(), self.pcg), flush=True)
"""

# `sglang serve` stand-in: parses CLI flags into ServerArgs (as a child process would).
LAUNCH = """\
import subprocess, sys
from sglang.srt.server_args import ServerArgs
ServerArgs(model_path="served", is_vlm=True)
if len(sys.argv) > 1 and sys.argv[1] == "spawn":
    # the scheduler subprocess of the server: a grandchild of the test
    subprocess.run([sys.executable, "-m", "sglang.launch_server"], check=True)
"""

TEST = """\
import subprocess, sys
from sglang.srt.server_args import ServerArgs
ServerArgs(model_path="engine")                      # sglang.Engine(...) in-process
subprocess.run([sys.executable, "-m", "sglang.launch_server", "spawn"], check=True)
"""


def make_sglang(tmp: Path, era: str) -> Path:
    fields, on = ERAS[era]
    pkg = tmp / f"sg-{era}" / "sglang"
    (pkg / "srt").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "srt" / "__init__.py").write_text("")
    (pkg / "srt" / "server_args.py").write_text(SERVER_ARGS.format(fields=fields, on=on))
    (pkg / "launch_server.py").write_text(LAUNCH)
    (tmp / "test_x.py").write_text(TEST)
    return pkg.parent


PLAN = parse_plan("""\
name: shim
modes:
  pcg: {server_args: {cuda_graph_backend_prefill: tc_piecewise}}
  nopcg: {server_args: {cuda_graph_backend_prefill: disabled}}
tests: [test_x.py]
""", "shim.yaml")


def run_in_mode(tmp: Path, era: str, mode: str, extra_pythonpath: str = "") -> str:
    site = make_sglang(tmp, era)
    env = mode_env(PLAN, mode)
    env["PYTHONPATH"] += os.pathsep + str(site) + (os.pathsep + extra_pythonpath if extra_pythonpath else "")
    r = subprocess.run([sys.executable, str(tmp / "test_x.py")], cwd=tmp, env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout + r.stderr


@pytest.mark.parametrize("era", sorted(ERAS))
def test_pcg_forced_in_process_child_and_grandchild(tmp_path, era):
    out = run_in_mode(tmp_path, era, "pcg")
    lines = [l for l in out.splitlines() if l.startswith("SERVERARGS")]
    pids = {l.split()[1] for l in lines}
    assert len(lines) == 3 and len(pids) == 3     # test process, server child, grandchild
    assert all(l.endswith("pcg=True") for l in lines), out
    assert "[pcgbot] mode pcg applied to ServerArgs" in out


@pytest.mark.parametrize("era", sorted(ERAS))
def test_nopcg_forces_off(tmp_path, era):
    out = run_in_mode(tmp_path, era, "nopcg")
    lines = [l for l in out.splitlines() if l.startswith("SERVERARGS")]
    assert len(lines) == 3 and all(l.endswith("pcg=False") for l in lines), out


def test_without_shim_values_are_the_tests_own(tmp_path):
    site = make_sglang(tmp_path, "2026-06")
    env = dict(os.environ, PYTHONPATH=str(site))
    r = subprocess.run([sys.executable, str(tmp_path / "test_x.py")], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.stdout.count("pcg=False") == 3     # the stand-in defaults to PCG off


def test_existing_sitecustomize_still_runs(tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "sitecustomize.py").write_text("import os\nprint('OTHER-SITECUSTOMIZE', flush=True)\n")
    out = run_in_mode(tmp_path, "2026-06", "pcg", extra_pythonpath=str(other))
    assert out.count("OTHER-SITECUSTOMIZE") == 3
    assert out.count("pcg=True") == 3


def test_unknown_field_is_reported_not_fatal(tmp_path):
    site = make_sglang(tmp_path, "2026-06")
    plan = parse_plan("name: s\nmodes: {m: {server_args: {no_such_field: 1, cuda_graph_backend_prefill: tc_piecewise}}}\ntests: [a.py]\n", "s.yaml")
    env = mode_env(plan, "m")
    env["PYTHONPATH"] += os.pathsep + str(site)
    r = subprocess.run([sys.executable, str(tmp_path / "test_x.py")], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0
    assert "has no field 'no_such_field'" in r.stderr and r.stdout.count("pcg=True") == 3
