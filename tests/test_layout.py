"""The package's layout keeps the pipeline's order: one subpackage per stage, imports only point
down the flow, no import cycles between modules, and a small top level.

Imports are read with ``ast`` from the source, so imports inside functions and under
``TYPE_CHECKING`` count like any other.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "pcgbot"

# Bottom up.  A module may import its own stage and any stage listed before it.
STAGES = ["base", "plan", "signatures", "results", "gpu", "sweep", "analysis", "bisect", "fleet",
          "github", "report", "demo", "cli"]
# Top-level modules: the shared vocabulary every stage may use (stage "base").
TOP_LEVEL = {"__init__", "__main__", "errors", "fsutil", "gitutil", "model", "procs"}
MAX_TOP_LEVEL = 8


def modules() -> dict[str, Path]:
    out = {}
    for p in sorted(PKG.rglob("*.py")):
        parts = list(p.relative_to(PKG).with_suffix("").parts)
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        out[".".join(["pcgbot", *parts])] = p
    return out


def _resolve(name: str, path: Path, node: ast.ImportFrom) -> list[str]:
    """Absolute module names one ``from ... import`` statement loads."""
    pkg = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    if node.level:
        base = pkg[: len(pkg) - (node.level - 1)]
        mod = ".".join(base + ([node.module] if node.module else []))
    else:
        mod = node.module or ""
    # ``from pkg import sub`` loads pkg.sub when sub is a module.
    return [mod] + [f"{mod}.{a.name}" for a in node.names]


def imports() -> dict[str, set[str]]:
    mods = modules()
    edges: dict[str, set[str]] = {}
    for name, path in mods.items():
        tree = ast.parse(path.read_text(), str(path))
        found: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                found.update(_resolve(name, path, node))
        edges[name] = {m for m in found if m in mods and m != name and m != "pcgbot"}
    return edges


def stage_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 2 and parts[1] in TOP_LEVEL:
        return "base"
    return parts[1]


def test_top_level_is_small():
    top = sorted(p.stem for p in PKG.glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL, top
    assert set(top) <= TOP_LEVEL, set(top) - TOP_LEVEL


def test_every_subpackage_is_a_known_stage():
    subs = {p.parent.name for p in PKG.glob("*/__init__.py")}
    assert subs <= set(STAGES), subs - set(STAGES)


def test_imports_point_down_the_flow():
    wrong = []
    for mod, targets in imports().items():
        if mod == "pcgbot.__main__":
            continue                      # the entry point: it starts the CLI
        here = STAGES.index(stage_of(mod))
        for t in sorted(targets):
            there = STAGES.index(stage_of(t))
            if there > here:
                wrong.append(f"{mod} ({STAGES[here]}) imports {t} ({STAGES[there]})")
    assert not wrong, "\n".join(wrong)


def test_no_import_cycles_between_modules():
    edges = imports()
    # A package's __init__ re-exports its modules, and a module may import a sibling through
    # the package; neither is a cycle between modules.  Drop module -> own-package edges.
    def own_package(mod: str, t: str) -> bool:
        return mod.startswith(t + ".")
    graph = {m: {t for t in ts if not own_package(m, t)} for m, ts in edges.items()}
    cycles = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in sorted(graph.get(m, ())):
            if state.get(t) == 1:
                cycles.append(" -> ".join(stack[stack.index(t):] + [t]))
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    assert not cycles, "\n".join(cycles)


def test_only_cli_imports_cli():
    wrong = [f"{m} imports {t}" for m, ts in imports().items() for t in ts
             if stage_of(t) == "cli" and stage_of(m) != "cli" and m != "pcgbot.__main__"]
    assert not wrong, wrong


@pytest.mark.parametrize("init", sorted(PKG.glob("*/__init__.py")), ids=lambda p: p.parent.name)
def test_each_stage_says_what_it_does_and_exports(init: Path):
    tree = ast.parse(init.read_text())
    doc = ast.get_docstring(tree)
    assert doc and len(doc.split()) >= 8, f"{init}: no docstring that says what the stage does"
    exported = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "__all__"
                                                for t in node.targets):
            exported = {ast.literal_eval(e) for e in node.value.elts}
    if init.parent.name in ("cli",):
        return
    assert exported, f"{init}: no __all__"
    for name in exported:
        assert name in doc, f"{init}: exports {name} but its docstring does not name it"
