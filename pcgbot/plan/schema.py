"""Plans: which tests to run, how, how often, and in which modes.

A plan is a YAML file (see ``plans/``).  Loading validates every key and reports *all* errors at
once as ``FILE:LINE: key: what is wrong``, because a person fixing a plan wants the whole list,
not one error per attempt.
"""

from __future__ import annotations

import fnmatch
import math
import os
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml

from ..errors import UsageError
from ..model import safe_relpath, short_name

DEFAULT_COMMAND = "python3 {path} -f"


@dataclass
class Mode:
    name: str
    env: dict[str, str] = field(default_factory=dict)
    server_args: dict[str, Any] = field(default_factory=dict)


@dataclass
class TestSpec:
    __test__ = False   # not a pytest class, despite the name

    path: str
    gpus: int = 1
    suite: str = ""
    est_time: float = 60.0
    tags: list[str] = field(default_factory=list)
    timeout: Optional[float] = None      # per-test override of the plan timeout
    # False keeps the test out of the PCG-inert rule: it always gets its full repeats (for a test
    # whose PCG status is expected to flip, or one a maintainer wants watched closely)
    pcg_inert: bool = True

    @property
    def name(self) -> str:
        return short_name(self.path)


@dataclass
class InertRule:
    """When a test counts as PCG-inert (SGLang auto-disabled PCG in every recent run).

    Defaults, and why: ``sweeps: 3`` -- one sweep with PCG off can be a model download that fell
    back to another architecture or a one-day regression in the auto-disable code; three sweeps
    in a row (three days of nightly sweeps) is a stable condition.  ``min_runs: 3`` -- at least
    three runs that gave a verdict with known ``pcg_active`` (a sentinel-only window of three
    sweeps still qualifies, so an inert test stays inert on one run per sweep); it must not
    exceed ``sweeps`` for that reason.  ``modes``: only sweeps of modes that ask for PCG may
    decide (a nopcg mode has PCG off by design); empty means the plan's default mode.
    """

    enabled: bool = True
    sweeps: int = 3
    min_runs: int = 3
    modes: list[str] = field(default_factory=list)


@dataclass
class Plan:
    name: str
    source: str                          # file the plan came from ("" if built in code)
    repo: str = "."
    workdir: str = "."
    command: str = DEFAULT_COMMAND
    timeout: float = 1200.0
    repeats: int = 10
    max_repeats: Optional[int] = None    # cap for adaptive repeats (default 2 x repeats)
    setup: Optional[str] = None
    setup_key: list[str] = field(default_factory=list)  # files whose content keys the setup cache
    modes: dict[str, Mode] = field(default_factory=dict)
    default_mode: str = "pcg"
    timeout_is_failure: bool = False
    smoke: list[str] = field(default_factory=list)      # tests for the PR smoke check
    # folders of the checkout put on PYTHONPATH (after the shim): the code under test is always
    # the checkout's, even where an editable install points at another worktree (bisect)
    pythonpath: list[str] = field(default_factory=list)
    # path globs (fnmatch, from the repo root) of files that cannot break a test, e.g. docs: a
    # commit that changes only such files is an unlikely culprit (a lower bisection prior)
    unlikely_culprits: list[str] = field(default_factory=list)
    tests: list[TestSpec] = field(default_factory=list)
    description: str = ""
    pcg_inert: "InertRule" = field(default_factory=lambda: InertRule())

    # -- lookups ---------------------------------------------------------------------------
    def repo_path(self, base: Optional[str] = None) -> Path:
        """The checkout under test; relative ``repo`` is relative to the plan file's folder's
        parent when the plan lives in ``plans/``, else to the current directory."""
        p = Path(self.repo)
        if p.is_absolute():
            return p
        return (Path(base) if base else Path.cwd()) / p

    def mode(self, name: Optional[str]) -> Mode:
        name = name or self.default_mode
        if name not in self.modes:
            raise UsageError(f"{self.source or self.name}: modes: no mode {name!r} "
                             f"(plan has: {', '.join(sorted(self.modes)) or 'none'})")
        return self.modes[name]

    def find_test(self, query: str) -> TestSpec:
        """A test by path, path suffix or short name; an ambiguous name lists the candidates."""
        q = query[:-3] if query.endswith(".py") else query
        exact = [t for t in self.tests if t.path == query or t.path[:-3] == q]
        if len(exact) == 1:
            return exact[0]
        cands = exact or [t for t in self.tests
                          if t.name == short_name(q) or t.path[:-3].endswith("/" + q)]
        if len(cands) == 1:
            return cands[0]
        if not cands:
            raise UsageError(f"{self.source or self.name}: no test matches {query!r}")
        raise UsageError(f"{self.source or self.name}: test name {query!r} is ambiguous: "
                         + ", ".join(t.path for t in cands))

    def select(self, pattern: Optional[str]) -> list[TestSpec]:
        """Tests whose path or short name match a glob (comma-separated globs allowed)."""
        if not pattern:
            return list(self.tests)
        pats = [p.strip() for p in pattern.split(",") if p.strip()]
        out = [t for t in self.tests
               if any(fnmatch.fnmatch(t.path, p) or fnmatch.fnmatch(t.name, p)
                      or p in (t.path, t.name) for p in pats)]
        if not out:
            raise UsageError(f"{self.source or self.name}: --tests {pattern!r} matches no test")
        return out


# ----------------------------------------------------------------------------------------------
# Loading and validation
# ----------------------------------------------------------------------------------------------

_TOP_KEYS = {"name", "repo", "workdir", "command", "timeout", "repeats", "max_repeats", "setup",
             "setup_key", "modes", "default_mode", "timeout_is_failure", "tests", "smoke",
             "description", "pythonpath", "unlikely_culprits", "pcg_inert"}
_TEST_KEYS = {"path", "gpus", "suite", "est_time", "tags", "timeout", "pcg_inert"}
_INERT_KEYS = {"enabled", "sweeps", "min_runs", "modes"}
_MODE_KEYS = {"env", "server_args", "description"}
_INVALID = object()   # a value already reported; type checks below must not report it again


class _Errors:
    def __init__(self, source: str):
        self.source = source
        self.items: list[str] = []

    def add(self, node: Optional[yaml.Node], key: str, msg: str) -> None:
        line = node.start_mark.line + 1 if node is not None else 1
        self.items.append(f"{self.source}:{line}: {key}: {msg}")


class _BadValue(Exception):
    pass


def _py(node: yaml.Node) -> Any:
    """Plain Python value of a composed node (tags resolved by the safe loader)."""
    try:
        return yaml.safe_load(yaml.serialize(node))
    except Exception as e:   # e.g. `!!int abc`: the constructor's ValueError, not a YAMLError
        raise _BadValue(str(e).splitlines()[0] if str(e) else type(e).__name__) from None


def _mapping(node: yaml.Node) -> list[tuple[yaml.ScalarNode, yaml.Node]]:
    if not isinstance(node, yaml.MappingNode):
        return []
    # complex keys (`? [x]: 1`) cannot name anything in a plan: they are reported, not hashed
    return [(k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode)]


def _complex_keys(node: yaml.Node, errs: "_Errors", where: str) -> None:
    if isinstance(node, yaml.MappingNode):
        for k, _ in node.value:
            if not isinstance(k, yaml.ScalarNode):
                errs.add(k, where or "plan", "keys must be plain names")


def _strings(kind: str):
    return lambda v: None if all(isinstance(x, str) and x for x in v) else \
        f"must be a list of {kind}"


def _path_globs(v: list) -> Optional[str]:
    """Globs matched against git's paths (relative to the root, no "./", folders as "docs/*")."""
    if not all(isinstance(x, str) and x for x in v):
        return "must be a list of path globs"
    bad = [x for x in v if x.startswith(("./", "/")) or x.endswith("/")]
    return (f"{bad[0]!r} never matches: globs are relative to the repository root, a folder is "
            "'docs/*'") if bad else None


def _command_check(v: str) -> Optional[str]:
    if "{path}" not in v:
        return "must contain {path}"
    from ..procs import split_command

    try:
        split_command(v, "t.py")
    except (KeyError, IndexError) as e:
        return f"unknown placeholder {e} (known: {{path}}, {{python}})"
    except ValueError as e:
        return f"cannot be split into arguments ({e})"
    return None


def _check_dupes(pairs, errs: _Errors, where: str) -> None:
    seen: set = set()
    for k, _ in pairs:
        if k.value in seen:
            errs.add(k, f"{where}{k.value}", "duplicate key")
        seen.add(k.value)


def _num(v: Any) -> bool:
    """A finite number (YAML's .nan and .inf are numbers too, and mean nothing as a time)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


# Mode names become parts of log file names and sweep ids: one safe word each.
_MODE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
MAX_REPEATS = 10_000     # far above any real plan; keeps set-up bounded for typos like 1e9


def test_path_problem(p: str) -> Optional[str]:
    """Why a test path cannot be run (None if it can): it must stay inside the workdir."""
    if not safe_relpath(p.split("::")[0]):
        return (f"must be a relative path inside the workdir (no leading /, no .., no control "
                f"characters), got {p!r}")
    return None


def normal_test_path(p: str) -> str:
    """``./a/test_x.py`` and ``a//test_x.py`` are ``a/test_x.py``: one test, one name."""
    file, sep, rest = p.partition("::")
    return posixpath.normpath(file) + sep + rest


def load_plan(path: str | os.PathLike) -> Plan:
    """Load and validate a plan file; raises UsageError listing every problem (one per line)."""
    path = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise UsageError(f"{path}:1: plan: cannot read file ({e.strerror})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise UsageError(f"{path}:{line}: plan: not UTF-8 text (byte {e.start})") from None
    return parse_plan(text, path)


def parse_plan(text: str, source: str = "<plan>") -> Plan:
    errs = _Errors(source)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise UsageError(f"{source}:{line}: yaml: {problem}") from None
    if not isinstance(root, yaml.MappingNode):
        raise UsageError(f"{source}:1: plan: must be a mapping with at least name and tests")

    pairs = _mapping(root)
    _complex_keys(root, errs, "")
    _check_dupes(pairs, errs, "")
    nodes = {k.value: (k, v) for k, v in pairs}
    for k, _ in pairs:
        if k.value not in _TOP_KEYS:
            errs.add(k, k.value, f"unknown key (known: {', '.join(sorted(_TOP_KEYS))})")

    def get(key, kind, check=None, default=None, required=False):
        if key not in nodes:
            if required:
                errs.add(root, key, "missing (required)")
            return default
        knode, vnode = nodes[key]
        try:
            val = _py(vnode)
        except _BadValue as e:
            errs.add(vnode, key, f"bad value ({e})")
            return default
        if not isinstance(val, kind) or (kind in ((int,), (int, float)) and isinstance(val, bool)):
            want = {str: "a string", bool: "true or false", list: "a list", dict: "a mapping"}.get(
                kind, "a number") if not isinstance(kind, tuple) else (
                "an integer" if kind == (int,) else "a number")
            errs.add(vnode, key, f"must be {want}, got {type(val).__name__} {val!r}")
            return default
        if check:
            msg = check(val)
            if msg:
                errs.add(vnode, key, msg)
                return default
        return val

    positive = lambda v: (f"must be a finite number, got {v}" if not math.isfinite(v)  # noqa: E731
                          else None if v > 0 else f"must be > 0, got {v}")
    repeats_ok = lambda v: positive(v) or (  # noqa: E731
        None if v <= MAX_REPEATS else f"must be at most {MAX_REPEATS}, got {v}")
    plan = Plan(
        name=get("name", str, required=True, default=""),
        source=source,
        repo=get("repo", str, default="."),
        workdir=get("workdir", str, default="."),
        command=get("command", str, default=DEFAULT_COMMAND, check=_command_check),
        timeout=float(get("timeout", (int, float), check=positive, default=1200.0)),
        repeats=get("repeats", (int,), check=repeats_ok, default=10),
        max_repeats=get("max_repeats", (int,), check=repeats_ok, default=None),
        setup=get("setup", str, default=None),
        setup_key=get("setup_key", list, default=[], check=_strings("file paths")),
        default_mode=get("default_mode", str, default="pcg"),
        timeout_is_failure=get("timeout_is_failure", bool, default=False),
        smoke=get("smoke", list, default=[], check=_strings("test paths")),
        pythonpath=get("pythonpath", list, default=[],
                       check=lambda v: None if all(isinstance(x, str) and x and not x.startswith("/")
                                                   for x in v)
                       else "must be a list of folders relative to repo"),
        unlikely_culprits=get("unlikely_culprits", list, default=[], check=_path_globs),
        description=get("description", str, default=""),
    )

    # modes
    if "modes" in nodes:
        mk, mv = nodes["modes"]
        if not isinstance(mv, yaml.MappingNode):
            errs.add(mv, "modes", "must be a mapping of mode name -> {env, server_args}")
        else:
            _complex_keys(mv, errs, "modes")
            for name_node, body in _mapping(mv):
                where = f"modes.{name_node.value}"
                if not _MODE_NAME.match(str(name_node.value)):
                    errs.add(name_node, where, "a mode name is one word of letters, digits, "
                             f"'_' and '-' (it names log files), got {name_node.value!r}")
                    continue
                if body.tag == "tag:yaml.org,2002:null":
                    plan.modes[name_node.value] = Mode(name_node.value)
                    continue
                if not isinstance(body, yaml.MappingNode):
                    errs.add(body, where, "must be a mapping with env and/or server_args")
                    continue
                mode = Mode(name_node.value)
                _complex_keys(body, errs, where)
                for k, v in _mapping(body):
                    if k.value not in _MODE_KEYS:
                        errs.add(k, f"{where}.{k.value}",
                                 f"unknown key (known: {', '.join(sorted(_MODE_KEYS))})")
                        continue
                    try:
                        val = _py(v)
                    except _BadValue as e:
                        errs.add(v, f"{where}.{k.value}", f"bad value ({e})")
                        continue
                    if k.value == "env":
                        if not isinstance(val, dict) or not all(
                                isinstance(x, str) and isinstance(y, (str, int, float, bool))
                                for x, y in val.items()):
                            errs.add(v, f"{where}.env", "must map names to scalar values")
                            continue
                        mode.env = {x: (("1" if y else "0") if isinstance(y, bool) else str(y))
                                    for x, y in val.items()}
                    elif k.value == "server_args":
                        if not isinstance(val, dict) or not all(isinstance(x, str) for x in val):
                            errs.add(v, f"{where}.server_args", "must map field names to values")
                            continue
                        mode.server_args = val
                plan.modes[mode.name] = mode
    if not plan.modes:
        plan.modes = {"default": Mode("default")}
    if "default_mode" not in nodes and len(plan.modes) == 1:
        plan.default_mode = next(iter(plan.modes))
    if plan.default_mode not in plan.modes:
        node = nodes.get("default_mode", (None, root))[1]
        errs.add(node, "default_mode", f"{plan.default_mode!r} is not a mode of this plan "
                                       f"({', '.join(sorted(plan.modes))})")

    # tests
    if "tests" not in nodes:
        errs.add(root, "tests", "missing (required)")
    else:
        tk, tv = nodes["tests"]
        if not isinstance(tv, yaml.SequenceNode):
            errs.add(tv, "tests", "must be a list of {path, gpus, suite, est_time}")
        else:
            seen: dict[str, int] = {}
            for i, item in enumerate(tv.value):
                where = f"tests[{i}]"
                if isinstance(item, yaml.ScalarNode):
                    item_val = {"path": item.value}
                    pairs_i = []
                elif isinstance(item, yaml.MappingNode):
                    pairs_i = _mapping(item)
                    _complex_keys(item, errs, where)
                    _check_dupes(pairs_i, errs, where + ".")
                    item_val = {}
                    for k, v in pairs_i:
                        try:
                            item_val[k.value] = _py(v)
                        except _BadValue as e:
                            errs.add(v, f"{where}.{k.value}", f"bad value ({e})")
                            item_val[k.value] = _INVALID
                    for k, _ in pairs_i:
                        if k.value not in _TEST_KEYS:
                            errs.add(k, f"{where}.{k.value}",
                                     f"unknown key (known: {', '.join(sorted(_TEST_KEYS))})")
                else:
                    errs.add(item, where, "must be a mapping with at least path")
                    continue
                bad = {k for k, v in item_val.items() if v is _INVALID}
                if "path" in bad:
                    continue
                item_val = {k: v for k, v in item_val.items() if k not in bad}
                vnodes = {k.value: v for k, v in pairs_i}
                vn = lambda key: vnodes.get(key, item)  # noqa: E731
                p = item_val.get("path")
                if p is None:
                    errs.add(item, f"{where}.path", "missing (required)")
                    continue
                if not isinstance(p, str) or not p.strip():
                    errs.add(vn("path"), f"{where}.path", f"must be a non-empty string, got {p!r}")
                    continue
                why = test_path_problem(p)
                if why:
                    errs.add(vn("path"), f"{where}.path", why)
                    continue
                p = normal_test_path(p)
                if p in seen:
                    errs.add(vn("path"), f"{where}.path",
                             f"duplicate test {p!r} (first at line {seen[p]})")
                    continue
                seen[p] = vn("path").start_mark.line + 1
                spec = TestSpec(path=p)
                g = item_val.get("gpus", 1)
                if not isinstance(g, int) or isinstance(g, bool) or g < 0:
                    errs.add(vn("gpus"), f"{where}.gpus", f"must be an integer >= 0, got {g!r}")
                else:
                    spec.gpus = g
                e = item_val.get("est_time", 60)
                if not _num(e) or e < 0:
                    errs.add(vn("est_time"), f"{where}.est_time", f"must be a number >= 0, got {e!r}")
                else:
                    spec.est_time = float(e)
                s = item_val.get("suite", "")
                if not isinstance(s, str):
                    errs.add(vn("suite"), f"{where}.suite", f"must be a string, got {s!r}")
                else:
                    spec.suite = s
                t = item_val.get("tags", [])
                if not isinstance(t, list) or not all(isinstance(x, str) for x in t):
                    errs.add(vn("tags"), f"{where}.tags", "must be a list of strings")
                else:
                    spec.tags = t
                pi = item_val.get("pcg_inert", True)
                if not isinstance(pi, bool):
                    errs.add(vn("pcg_inert"), f"{where}.pcg_inert",
                             f"must be true or false (false keeps the test out of the PCG-inert "
                             f"rule), got {pi!r}")
                else:
                    spec.pcg_inert = pi
                to = item_val.get("timeout")
                if to is not None:
                    if not _num(to) or to <= 0:
                        errs.add(vn("timeout"), f"{where}.timeout", f"must be > 0, got {to!r}")
                    else:
                        spec.timeout = float(to)
                plan.tests.append(spec)
    if "tests" in nodes and isinstance(nodes["tests"][1], yaml.SequenceNode) \
            and not nodes["tests"][1].value:
        errs.add(nodes["tests"][1], "tests", "empty: a plan needs at least one test")
    if "pcg_inert" in nodes:
        plan.pcg_inert = _inert_rule(nodes["pcg_inert"][1], errs)
    for m in plan.pcg_inert.modes:
        if m not in plan.modes:
            errs.add(nodes["pcg_inert"][1], "pcg_inert.modes",
                     f"{m!r} is not a mode of this plan ({', '.join(sorted(plan.modes))})")
    if plan.max_repeats is not None and plan.max_repeats < plan.repeats:
        errs.add(nodes["max_repeats"][1], "max_repeats", f"must be >= repeats ({plan.repeats})")
    if errs.items:
        raise UsageError("\n".join(errs.items))
    return plan


def _inert_rule(node: yaml.Node, errs: _Errors) -> InertRule:
    """``pcg_inert: false`` or a mapping of ``enabled``, ``sweeps``, ``min_runs``, ``modes``."""
    rule = InertRule()
    try:
        val = _py(node)
    except _BadValue as e:
        errs.add(node, "pcg_inert", f"bad value ({e})")
        return rule
    if isinstance(val, bool):
        rule.enabled = val
        return rule
    if not isinstance(val, dict):
        errs.add(node, "pcg_inert", f"must be true, false or a mapping of "
                                    f"{', '.join(sorted(_INERT_KEYS))}; got {val!r}")
        return rule
    sub = {k.value: v for k, v in _mapping(node)}
    for k, v in val.items():
        where = f"pcg_inert.{k}"
        at = sub.get(k, node)
        if k not in _INERT_KEYS:
            errs.add(at, where, f"unknown key (known: {', '.join(sorted(_INERT_KEYS))})")
        elif k == "enabled":
            if isinstance(v, bool):
                rule.enabled = v
            else:
                errs.add(at, where, f"must be true or false, got {v!r}")
        elif k in ("sweeps", "min_runs"):
            if isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 100:
                setattr(rule, k, v)
            else:
                errs.add(at, where, f"must be an integer from 1 to 100, got {v!r}")
        elif isinstance(v, list) and all(isinstance(x, str) and x for x in v):
            rule.modes = list(v)
        else:
            errs.add(at, where, "must be a list of mode names")
    if rule.min_runs > rule.sweeps:
        errs.add(sub.get("min_runs", node), "pcg_inert.min_runs",
                 f"must be <= sweeps ({rule.sweeps}): an inert test runs once per sweep, so a "
                 f"window of {rule.sweeps} sentinel sweeps holds only {rule.sweeps} runs")
    return rule


def validate_files(paths: list[str]) -> list[str]:
    """All error lines for several plan files (empty list = all valid)."""
    out: list[str] = []
    for p in paths:
        try:
            load_plan(p)
        except UsageError as e:
            out.extend(str(e).splitlines())
    return out


def dump_plan(plan: Plan) -> str:
    """YAML text of a plan (used by import-sglang)."""
    doc: dict[str, Any] = {"name": plan.name}
    if plan.description:
        doc["description"] = plan.description
    doc.update({"repo": plan.repo, "workdir": plan.workdir, "command": plan.command,
                "timeout": int(plan.timeout) if plan.timeout == int(plan.timeout) else plan.timeout,
                "repeats": plan.repeats})
    if plan.max_repeats:
        doc["max_repeats"] = plan.max_repeats
    if plan.setup:
        doc["setup"] = plan.setup
    if plan.setup_key:
        doc["setup_key"] = plan.setup_key
    if plan.pythonpath:
        doc["pythonpath"] = plan.pythonpath
    if plan.unlikely_culprits:
        doc["unlikely_culprits"] = plan.unlikely_culprits
    doc["modes"] = {m.name: {"env": m.env, "server_args": m.server_args} for m in plan.modes.values()}
    doc["default_mode"] = plan.default_mode
    if plan.smoke:
        doc["smoke"] = plan.smoke
    head = yaml.safe_dump(doc, sort_keys=False, width=100)
    # One test per line, written by the YAML emitter: a name with ", gpus: 4" or a suite with
    # "tags: [x]" in it stays a string (import-sglang writes names found in test files).
    tests = [{"path": t.path, "gpus": t.gpus, "suite": t.suite,
              "est_time": int(t.est_time) if t.est_time == int(t.est_time) else t.est_time}
             for t in plan.tests]
    for d, t in zip(tests, plan.tests):
        if not t.pcg_inert:
            d["pcg_inert"] = False
    lines = ["tests:"] + ["  - " + yaml.safe_dump(x, default_flow_style=True, sort_keys=False,
                                                   width=1 << 20).strip()
                          for x in tests]
    return head + "\n".join(lines) + "\n"
