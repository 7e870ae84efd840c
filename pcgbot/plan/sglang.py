"""Build plans from an SGLang checkout by reading its ``register_cuda_ci(...)`` calls.

SGLang registers CI tests per file with module-level calls whose arguments are all literals
(its own collector parses them with ``ast``), so we do the same and never import test code.
Both registration forms exist: ``suite="base-b-test-1-gpu-large"`` and the newer
``stage="base-b", runner_config="1-gpu-large"`` (suite = f"{stage}-test-{runner_config}").
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

from ..errors import UsageError
from .schema import Mode, Plan, TestSpec

_GPUS = re.compile(r"(\d+)-gpu")


@dataclass
class Registration:
    path: str            # relative to test/ (the workdir of SGLang plans)
    suite: str
    est_time: float
    nightly: bool
    disabled: Optional[str]
    gpus: int


def gpus_of_suite(suite: str) -> int:
    m = _GPUS.search(suite)
    return int(m.group(1)) if m else 0


def _literal(node: ast.AST, where: str):
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise UsageError(f"{where}: register_cuda_ci: argument is not a literal") from None


def registrations_in_file(path: Path, rel: str) -> list[Registration]:
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except SyntaxError as e:   # includes undecodable source
        raise UsageError(f"{path}:{e.lineno or 1}: python: {e.msg}") from None
    out = []
    for stmt in tree.body:
        call = stmt.value if isinstance(stmt, ast.Expr) else None
        if not isinstance(call, ast.Call):
            continue
        fn = call.func
        name = fn.id if isinstance(fn, ast.Name) else fn.attr if isinstance(fn, ast.Attribute) \
            else None
        if name != "register_cuda_ci":
            continue
        where = f"{path}:{stmt.lineno}"
        params = ["est_time", "suite", "nightly", "disabled"]
        args = {params[i]: _literal(a, where) for i, a in enumerate(call.args[:4])}
        for kw in call.keywords:
            if kw.arg:
                args[kw.arg] = _literal(kw.value, where)
        suite = args.get("suite")
        if not suite and args.get("stage") and args.get("runner_config"):
            suite = f"{args['stage']}-test-{args['runner_config']}"
        if not suite:
            raise UsageError(f"{where}: register_cuda_ci: neither suite= nor stage=+runner_config=")
        if not isinstance(suite, str):
            raise UsageError(f"{where}: register_cuda_ci: suite must be a string, got {suite!r}")
        est = args.get("est_time", 60)
        if est is None:
            est = 0
        if not isinstance(est, (int, float)) or isinstance(est, bool) or not math.isfinite(est) \
                or est < 0:
            raise UsageError(f"{where}: register_cuda_ci: est_time must be a number >= 0, "
                             f"got {est!r}")
        out.append(Registration(rel, suite, float(est), bool(args.get("nightly", False)),
                                args.get("disabled"), gpus_of_suite(suite)))
    return out


def scan_checkout(checkout: str | Path) -> list[Registration]:
    root = Path(checkout) / "test" / "registered"
    if not root.is_dir():
        raise UsageError(f"{checkout}: not an SGLang checkout (no test/registered/)")
    regs = []
    for f in sorted(root.rglob("*.py")):
        if f.name in ("__init__.py", "conftest.py"):
            continue
        regs.extend(registrations_in_file(f, str(f.relative_to(Path(checkout) / "test"))))
    return regs


def sglang_modes() -> dict[str, Mode]:
    """PCG forced on / off for every era (the shim maps the field to the era's flag)."""
    env = {"SGLANG_IS_IN_CI": "true"}
    return {
        "pcg": Mode("pcg", dict(env), {"cuda_graph_backend_prefill": "tc_piecewise"}),
        "nopcg": Mode("nopcg", dict(env), {"cuda_graph_backend_prefill": "disabled"}),
    }


# Files no SGLang test runs: a commit that changes only these is an unlikely culprit of a test
# failure (a lower bisection prior, never excluded).  `*` crosses folders (fnmatch).
SGLANG_UNLIKELY = ("docs/*", "*.md", ".github/*", "benchmark/*", "examples/*", "docker/*")


def build_plan(regs: Iterable[Registration], *, name: str, suites: Optional[list[str]] = None,
               nightly: bool = False, gpus: Optional[int] = None) -> Plan:
    tests: dict[str, TestSpec] = {}
    for r in regs:
        if r.disabled:
            continue
        if suites and r.suite not in suites:
            continue
        if not suites and r.nightly != nightly:
            continue
        if gpus is not None and r.gpus != gpus:
            continue
        prev = tests.get(r.path)
        if prev is None or r.est_time > prev.est_time:
            tests[r.path] = TestSpec(path=r.path, gpus=r.gpus, suite=r.suite, est_time=r.est_time)
    if not tests:
        raise UsageError(f"plan {name}: no enabled registration matches "
                         f"(suites={suites or 'any'}, nightly={nightly}, gpus={gpus})")
    return Plan(name=name, source="", repo=".", workdir="test", command="python3 {path} -f",
                timeout=1200, repeats=10, setup="pip install -e 'python[dev]'",
                setup_key=["python/pyproject.toml"], pythonpath=["python"],
                unlikely_culprits=list(SGLANG_UNLIKELY), modes=sglang_modes(), default_mode="pcg",
                tests=sorted(tests.values(), key=lambda t: t.path),
                description=f"SGLang CUDA tests ({', '.join(suites) if suites else 'all suites'})"
                            f", imported by pcgbot plan import-sglang")
