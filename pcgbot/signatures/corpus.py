"""The golden corpus and its measures: does a fingerprint scheme hold on real logs?

The corpus (``tests/data/signatures/*.log``) is real failure logs copied verbatim from public
issue trackers, each behind syzkaller-style header lines: TITLE/RULE/CATEGORY (what pcgbot
answered when a reviewer accepted it), SOURCE, FAMILY, GROUP (logs of one bug share it),
GROUP_SOURCE (the outside source that says they are one bug) and SPLIT (tune | heldout).
``families.yaml`` says which rules or titles name each family and which families are coarse on
purpose.  GROUP_KIND says how a group's logs differ (machines, runs, tests, models, ranks; or
"parts" of one paste, which count for nothing) and ROUND in which collection round a log came.  ``measure`` computes the figures of issue 16's table for any fingerprint function, so
scheme v1 and scheme v2 are judged by the same code on the same logs.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import yaml

from ..errors import UsageError

HEADER_ORDER = ("TITLE", "RULE", "CATEGORY", "SOURCE", "FAMILY", "FAMILY_NOTE", "GROUP",
                "GROUP_SOURCE", "GROUP_KIND", "ROUND", "SPLIT")

# Families of logs that do not show their error line: an excerpt cut before it, or none at all.
# A same-bug pair with such a log can only be joined when both were cut at the same frame.
CUT_FAMILIES = ("truncated-traceback", "no-error-shown")

# What makes the logs of one group different sightings of one bug (GROUP_KIND's first word).
# "parts" are pieces of one paste of one run: neither a same-bug pair nor a different-bug pair.
GROUP_KINDS = ("machines", "runs", "tests", "models", "ranks", "parts")


@dataclass
class Case:
    path: Path
    headers: dict[str, str]
    body: str

    @property
    def family(self) -> str:
        return self.headers.get("FAMILY", "")

    @property
    def group(self) -> str:
        return self.headers.get("GROUP", self.path.stem)

    @property
    def split(self) -> str:
        return self.headers.get("SPLIT", "tune")

    @property
    def kind(self) -> str:
        return (self.headers.get("GROUP_KIND", "").split() or [""])[0]

    @property
    def round(self) -> int:
        return int(self.headers.get("ROUND", "1"))


@dataclass
class Answer:
    """What a scheme says about one log (the fields the measures need)."""
    fingerprint: str
    title: str
    rule: Optional[str]
    category: str


@dataclass
class Family:
    name: str
    rules: list[str] = field(default_factory=list)
    title: Optional[re.Pattern[str]] = None
    category: Optional[str] = None
    coarse: bool = False

    def named_by(self, a: Answer) -> bool:
        return bool((a.rule and a.rule in self.rules)
                    or (self.title is not None and self.title.search(a.title))
                    or (self.category is not None and a.category == self.category))


def read_case(path: Path) -> Case:
    text = path.read_text(encoding="utf-8")
    head, sep, body = text.partition("\n\n")
    if not sep:
        raise UsageError(f"{path}: headers must end with a blank line")
    headers: dict[str, str] = {}
    for line in head.splitlines():
        key, _, value = line.partition(":")
        headers[key.strip()] = value.strip()
    return Case(path, headers, body)


def split_by_rule(cases: list[Case]) -> dict[str, str]:
    """Each log's split, drawn by rule, never by hand (docs/signatures.md, "the split").

    Round 1's held-out third was measured once, reported, and then tuned on: all of round 1 is
    ``tune`` now.  From round 2 on, a round's groups of 2+ logs are sorted by the SHA-1 of their
    name and every second one, the first included, is ``heldout``; a single log is ``heldout``
    when that SHA-1 is even."""
    h = lambda g: hashlib.sha1(g.encode()).hexdigest()
    out: dict[str, str] = {}
    for rnd in sorted({c.round for c in cases}):
        mine = [c for c in cases if c.round == rnd]
        sizes: dict[str, int] = {}
        for c in mine:
            sizes[c.group] = sizes.get(c.group, 0) + 1
        multi = sorted((g for g in sizes if sizes[g] > 1), key=h)
        held = {g for i, g in enumerate(multi) if i % 2 == 0}
        held |= {g for g in sizes if sizes[g] == 1 and int(h(g), 16) % 2 == 0}
        for c in mine:
            out[c.path.name] = "heldout" if rnd > 1 and c.group in held else "tune"
    return out


def write_case(case: Case) -> None:
    keys = [k for k in HEADER_ORDER if k in case.headers] + \
        [k for k in case.headers if k not in HEADER_ORDER]
    head = "\n".join(f"{k}: {case.headers[k]}" for k in keys)
    case.path.write_text(head + "\n\n" + case.body, encoding="utf-8")


def load_cases(corpus: Path) -> list[Case]:
    return [read_case(p) for p in sorted(corpus.glob("*.log"))]


def load_families(path: Path) -> dict[str, Family]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    out: dict[str, Family] = {}
    for name, spec in (data.get("families") or {}).items():
        spec = spec or {}
        out[name] = Family(name, list(spec.get("rules") or []),
                           re.compile(spec["title"]) if spec.get("title") else None,
                           spec.get("category"), bool(spec.get("coarse")))
    return out


# --- perturbation: the same log as another machine / run would print it -----------------------
# Each row changes what differs between two runs of one bug and must not change the fingerprint.
_PERTURB: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (re.compile(r"(?i)(pid[=: ]\s*)(\d+)"), lambda m: f"{m.group(1)}{int(m.group(2)) + 7919}"),
    (re.compile(r"0x[0-9a-fA-F]{6,}"), lambda m: "0x" + format(int(m.group(0), 16) ^ 0x5A5A5A, "x")),
    (re.compile(r"\b(\d\d):(\d\d):(\d\d)"), lambda m: f"{(int(m.group(1)) + 3) % 24:02d}:{m.group(2)}:{m.group(3)}"),
    (re.compile(r"(, line )(\d+)"), lambda m: f"{m.group(1)}{int(m.group(2)) + 13}"),
    (re.compile(r"/(?:home|root|usr/local|opt|workspace|data)/[\w.\-]+/"), lambda m: "/srv/ci-runner-7/"),
]
NOISE = [
    "node-3:4242:4242 [0] NCCL INFO Channel 00/02 :    0   1\n",
    "[W1205 10:00:00.000000000 ProcessGroupNCCL.cpp:1000] Warning: no error here, retrying\n",
]


def perturb(body: str) -> str:
    """The same failure from another run: new PIDs, addresses, times, line numbers, checkout
    paths, and benign noise lines between the log's own lines."""
    for pat, fn in _PERTURB:
        body = pat.sub(fn, body)
    out: list[str] = []
    for i, line in enumerate(body.splitlines(keepends=True)):
        if i % 3 == 0 and not line.startswith((" ", "\t")):
            out.append(NOISE[i % len(NOISE)])   # only between top-level lines: never inside a frame
        out.append(line)
    return "".join(out)


# --- measures ----------------------------------------------------------------------------------
@dataclass
class Measures:
    split: str
    logs: int
    groups: int                   # same-bug groups with 2+ logs
    family_named: int
    no_error_on_error: int        # "no error found" on a log that plainly shows an error
    same_pairs: int
    same_pairs_joined: int
    diff_pairs: int               # pairs of different bugs, coarse families excluded
    diff_pairs_merged: int
    lookalike_pairs: int          # different bugs of one non-coarse family (the hard ones)
    invariant: int                # logs whose fingerprint survives ``perturb``
    misses: list[str] = field(default_factory=list)   # what went wrong, for the tuner
    shown_pairs: int = 0          # same-bug pairs where both logs show their error line
    shown_pairs_joined: int = 0

    def row(self) -> dict[str, Any]:
        pct = lambda a, b: round(100.0 * a / b, 1) if b else 0.0
        return {"split": self.split, "logs": self.logs, "same-bug groups": self.groups,
                "family named %": pct(self.family_named, self.logs),
                "no error found on an error log": self.no_error_on_error,
                "same-bug pairs joined %": pct(self.same_pairs_joined, self.same_pairs),
                "same-bug pairs": f"{self.same_pairs_joined}/{self.same_pairs}",
                "both show the error": f"{self.shown_pairs_joined}/{self.shown_pairs}",
                "different-bug pairs merged %": pct(self.diff_pairs_merged, self.diff_pairs),
                "different-bug pairs": f"{self.diff_pairs_merged}/{self.diff_pairs}",
                "look-alike pairs": self.lookalike_pairs,
                "invariant %": pct(self.invariant, self.logs)}


def _answer_of(fn: Callable[[Path], Answer], body: str) -> Answer:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "run.log"           # the scheme sees exactly the log, never our headers
        p.write_text(body, encoding="utf-8")
        return fn(p)


def is_no_error(a: Answer) -> bool:
    return a.rule in (None, "no-error") and a.title.lower().startswith("no error")


def measure(cases: Iterable[Case], families: dict[str, Family], fn: Callable[[Path], Answer],
            split: str) -> Measures:
    cases = [c for c in cases if split == "all" or c.split == split]
    answers = {c.path.name: _answer_of(fn, c.body) for c in cases}
    m = Measures(split, len(cases), 0, 0, 0, 0, 0, 0, 0, 0, 0)
    for c in cases:
        a = answers[c.path.name]
        fam = families.get(c.family)
        if fam is not None and fam.named_by(a):
            m.family_named += 1
        else:
            m.misses.append(f"family {c.family}: {c.path.name} -> {a.rule} {a.title!r}")
        if c.family != "no-error-shown" and is_no_error(a):
            m.no_error_on_error += 1
        if _answer_of(fn, perturb(c.body)).fingerprint == a.fingerprint:
            m.invariant += 1
        else:
            m.misses.append(f"not invariant: {c.path.name}")
    sizes: dict[str, int] = {}
    for c in cases:
        if c.kind != "parts":
            sizes[c.group] = sizes.get(c.group, 0) + 1
    m.groups = sum(1 for n in sizes.values() if n > 1)
    for x, y in itertools.combinations(cases, 2):
        fx, fy = answers[x.path.name].fingerprint, answers[y.path.name].fingerprint
        if x.group == y.group and x.kind == "parts":
            continue                   # two pieces of one paste: not two sightings of the bug
        if x.group == y.group:
            m.same_pairs += 1
            m.same_pairs_joined += fx == fy
            if x.family not in CUT_FAMILIES and y.family not in CUT_FAMILIES:
                m.shown_pairs += 1
                m.shown_pairs_joined += fx == fy
            if fx != fy:
                m.misses.append(f"split: {x.path.name} / {y.path.name}")
            continue
        if x.family == y.family and families.get(x.family, Family(x.family)).coarse:
            continue
        m.diff_pairs += 1
        m.lookalike_pairs += x.family == y.family
        if fx == fy:
            m.diff_pairs_merged += 1
            m.misses.append(f"merged: {x.path.name} / {y.path.name}")
    return m
