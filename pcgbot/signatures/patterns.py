"""Known failure patterns: load, validate and merge ``pcgbot/signatures/patterns.yaml`` (+ user files).

Rules are data so users can add the failures of their own engine without code.  Validation names
``FILE:LINE: key: what is wrong`` for every mistake, like the plan loader, because a bad regex
found at 3 a.m. in CI should point at its line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional, Union

import yaml

from ..errors import UsageError

BUILTIN = Path(__file__).with_name("patterns.yaml")
CATEGORIES = ("pcg-bug", "not-pcg", "infra", "unknown")
ROLES = ("root", "cascade", "banner", "ignore")
_ID = re.compile(r"^[a-z0-9][a-z0-9\-]*$")


@dataclass
class Rule:
    id: str
    regex: re.Pattern[str]
    title: str = "{type}: {msg}[ in {where}]"
    category: str = "unknown"
    role: str = "root"
    priority: str = "normal"               # "high": hard crash evidence, beats earlier unknowns;
                                           # "low": named only when the log shows nothing better
    frames: Optional[re.Pattern[str]] = None   # condition on the event's frames
    fingerprint_frames: int = 3
    fingerprint_message: bool = True       # False: the rule id alone names the bug (same cause,
                                           # many wordings: "Killed", "exit code -9", ...)
    trigger: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    origin: str = ""                       # "pytest": only lines pytest printed (FAILED, E ...)
    key_groups: list[str] = field(default_factory=list)  # named groups hashed instead of the
                                           # whole message (the collective of a watchdog hang)
    phase: bool = False                    # True: the phase it happened in (load, capture,
                                           # prefill, decode) is part of the fingerprint
    reason: str = ""
    source: str = ""                       # FILE:LINE where the rule was defined


@dataclass
class RuleSet:
    rules: list[Rule]
    active: list[str]
    inactive: list[str]
    weak_active: list[str]
    sources: list[str]

    def by_id(self, rule_id: str) -> Optional[Rule]:
        return next((r for r in self.rules if r.id == rule_id), None)


def _compile(pattern: Any, where: str, key: str) -> re.Pattern[str]:
    if not isinstance(pattern, str) or not pattern:
        raise UsageError(f"{where}: {key}: must be a non-empty string")
    try:
        return re.compile(pattern)
    except re.error as e:
        raise UsageError(f"{where}: {key}: bad regex: {e}") from None


def _line_of(node: yaml.Node, key: str) -> int:
    """1-based line of ``key`` inside a mapping node (or the node itself)."""
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if k.value == key:
                return v.start_mark.line + 1
    return node.start_mark.line + 1


def _parse_rule(raw: Any, node: yaml.Node, path: str) -> Rule:
    at = f"{path}:{node.start_mark.line + 1}"
    if not isinstance(raw, dict):
        raise UsageError(f"{at}: rules: each rule must be a mapping")
    known = {"id", "regex", "title", "category", "role", "priority", "frames",
             "fingerprint_frames", "fingerprint_message", "trigger", "labels", "reason",
             "origin", "key_groups", "phase"}
    for k in raw:
        if k not in known:
            raise UsageError(f"{path}:{_line_of(node, k)}: {k}: unknown rule key "
                             f"(known: {', '.join(sorted(known))})")
    rid = raw.get("id")
    if not isinstance(rid, str) or not _ID.match(rid):
        raise UsageError(f"{path}:{_line_of(node, 'id')}: id: must be a lowercase slug, got {rid!r}")

    def at_key(k: str) -> str:
        return f"{path}:{_line_of(node, k)}"

    rule = Rule(id=rid, regex=_compile(raw.get("regex"), at_key("regex"), "regex"), source=at)
    if "title" in raw:
        if not isinstance(raw["title"], str):
            raise UsageError(f"{at_key('title')}: title: must be a string")
        rule.title = raw["title"]
    for key, allowed in (("category", CATEGORIES), ("role", ROLES), ("priority", ("normal", "high", "low")),
                         ("origin", ("", "pytest"))):
        if key in raw:
            if raw[key] not in allowed:
                raise UsageError(f"{at_key(key)}: {key}: must be one of {', '.join(allowed)}, "
                                 f"got {raw[key]!r}")
            setattr(rule, key, raw[key])
    if "frames" in raw:
        rule.frames = _compile(raw["frames"], at_key("frames"), "frames")
    if "fingerprint_frames" in raw:
        n = raw["fingerprint_frames"]
        if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= 10:
            raise UsageError(f"{at_key('fingerprint_frames')}: fingerprint_frames: must be 0..10")
        rule.fingerprint_frames = n
    if "fingerprint_message" in raw:
        if not isinstance(raw["fingerprint_message"], bool):
            raise UsageError(f"{at_key('fingerprint_message')}: fingerprint_message: must be "
                             f"true or false")
        rule.fingerprint_message = raw["fingerprint_message"]
    if "phase" in raw:
        if not isinstance(raw["phase"], bool):
            raise UsageError(f"{at_key('phase')}: phase: must be true or false, got {raw['phase']!r}")
        rule.phase = raw["phase"]
    for key in ("trigger", "labels", "key_groups"):
        if key in raw:
            v = raw[key]
            if isinstance(v, str):
                v = [v]
            if not isinstance(v, list) or not all(isinstance(x, str) and x for x in v):
                raise UsageError(f"{at_key(key)}: {key}: must be a string or a list of strings")
            setattr(rule, key, v)
    if "reason" in raw:
        rule.reason = str(raw["reason"])
    for g in rule.key_groups:
        if g not in rule.regex.groupindex:
            raise UsageError(f"{at_key('key_groups')}: key_groups: {g!r} is not a named group "
                             f"of regex")
    return rule


def _load_file(path: Union[str, Path]) -> tuple[list[Rule], dict[str, list[str]]]:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise UsageError(f"{p}: cannot read patterns file: {e.strerror}") from None
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise UsageError(f"{p}:{line}: yaml: {getattr(e, 'problem', None) or e}") from None
    if data is None:
        return [], {}
    if not isinstance(data, dict) or not isinstance(node, yaml.MappingNode):
        raise UsageError(f"{p}:1: patterns file must be a mapping with 'rules' (and 'pcg_markers')")
    for k in data:
        if k not in ("rules", "pcg_markers"):
            raise UsageError(f"{p}:{_line_of(node, k)}: {k}: unknown key (rules, pcg_markers)")
    nodes = dict((k.value, v) for k, v in node.value)
    rules: list[Rule] = []
    seen: dict[str, str] = {}
    raw_rules = data.get("rules") or []
    if not isinstance(raw_rules, list):
        raise UsageError(f"{p}:{_line_of(node, 'rules')}: rules: must be a list")
    for raw, rnode in zip(raw_rules, nodes["rules"].value if raw_rules else []):
        rule = _parse_rule(raw, rnode, str(p))
        if rule.id in seen:
            raise UsageError(f"{rule.source}: id: duplicate rule id {rule.id!r} "
                             f"(first at {seen[rule.id]})")
        seen[rule.id] = rule.source
        rules.append(rule)
    markers: dict[str, list[str]] = {}
    raw_m = data.get("pcg_markers") or {}
    if not isinstance(raw_m, dict):
        raise UsageError(f"{p}:{_line_of(node, 'pcg_markers')}: pcg_markers: must be a mapping")
    for k, v in raw_m.items():
        if k not in ("active", "inactive", "weak_active"):
            raise UsageError(f"{p}:{_line_of(nodes['pcg_markers'], k)}: pcg_markers.{k}: unknown "
                             f"key (active, inactive, weak_active)")
        if not isinstance(v, list) or not all(isinstance(x, str) and x for x in v):
            raise UsageError(f"{p}:{_line_of(nodes['pcg_markers'], k)}: pcg_markers.{k}: must be "
                             f"a list of strings")
        markers[k] = v
    return rules, markers


def load_rules(extra: Iterable[Union[str, Path]] = (), *, builtin: bool = True) -> RuleSet:
    """Built-in rules, then each ``extra`` file: same id replaces in place, new ids go first
    (a user's specific rule must win over a generic built-in one that also matches)."""
    rules: list[Rule] = []
    markers: dict[str, list[str]] = {"active": [], "inactive": [], "weak_active": []}
    sources: list[str] = []
    files = ([BUILTIN] if builtin else []) + [Path(x) for x in extra]
    for f in files:
        new, m = _load_file(f)
        sources.append(str(f))
        prepend: list[Rule] = []
        for r in new:
            idx = next((i for i, old in enumerate(rules) if old.id == r.id), None)
            if idx is None:
                prepend.append(r)
            else:
                rules[idx] = r
        rules = prepend + rules if f != BUILTIN else rules + prepend
        for k, v in m.items():
            markers[k] += [x for x in v if x not in markers[k]]
    return RuleSet(rules, markers["active"], markers["inactive"], markers["weak_active"], sources)


_DEFAULT: Optional[RuleSet] = None


def default_rules() -> RuleSet:
    """The built-in rule set, parsed once per process (the sweep calls us for every failed run)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = load_rules()
    return _DEFAULT
