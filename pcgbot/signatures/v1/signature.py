"""Scheme v1 (FROZEN: never edit; fingerprints filed under v1 must stay reproducible).

Failure signatures: one log -> fingerprint, title, rule, category, PCG evidence, excerpt.

The sweep calls ``signature_of_log`` for every failed or timed-out run to fill
``RunRecord.signature``; GitHub files one issue per fingerprint.  So the fingerprint must be equal
for the same bug across runs (PIDs, ports, addresses, timestamps, ranks normalised away) and
different for different bugs, even in one test.  Known failures are named by the rules in
``patterns.yaml``; unknown ones by exception type + normalised message + the innermost frames
of the engine's own code (syzkaller's approach, adapted to Python tracebacks).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

from ...errors import UsageError
from .scan import Event, ScanResult, match_rule
from .stream import scan_log
from .normalize import Frame, clean_for_title, normalize
from ..patterns import RuleSet, load_rules
from ..secrets import redact, redact_lines

MAX_EXCERPT = 30          # lines per excerpt: enough for a traceback, short enough for an issue
MAX_EXCERPT_LINE = 400    # characters per excerpt line
MAX_ALT = 4
ENRICH_WINDOW = 256 * 1024  # a frameless error borrows frames from a traceback this close after


@dataclass
class Signature:
    fingerprint: str                  # 12 hex chars, stable across runs of the same bug
    title: str                        # human-readable, syzbot style
    rule: Optional[str]               # id of the known pattern that matched, or None
    category: str                     # pcg-bug | not-pcg | infra | unknown
    pcg_active: Optional[bool]        # True: PCG ran; False: proven off; None: log is silent
    excerpt: list[str] = field(default_factory=list)   # evidence lines, secrets redacted
    alt_titles: list[str] = field(default_factory=list)  # titles of the other errors in the log
    labels: list[str] = field(default_factory=list)      # extra labels from the rule

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _where(frames: list[Frame]) -> Optional[Frame]:
    """Innermost engine frame; else innermost frame of anything."""
    for f in reversed(frames):
        if f.engine:
            return f
    return frames[-1] if frames else None


def _fp_frames(frames: list[Frame], n: int) -> list[str]:
    if n <= 0:
        return []
    eng = [f.key for f in frames if f.engine]
    pool = eng if eng else [f.key for f in frames]
    return pool[-n:]


_OPTIONAL = re.compile(r"\[([^\[\]]*)\]")
_FIELD = re.compile(r"\{(\w+)\}")


def render_title(template: str, values: dict[str, str]) -> str:
    """Fill ``{name}`` fields; a ``[...]`` segment disappears when a field inside is empty."""
    def opt(m: re.Match[str]) -> str:
        names = _FIELD.findall(m.group(1))
        if any(not values.get(n) for n in names):
            return ""
        return m.group(1)

    out = _OPTIONAL.sub(opt, template)
    out = _FIELD.sub(lambda m: values.get(m.group(1), ""), out)
    return re.sub(r"\s+", " ", out).strip(" :")


def _values(ev: Event, frames: list[Frame], groups: dict[str, str]) -> dict[str, str]:
    w = _where(frames)
    msg = ev.msg if ev.exc_type else ev.banner_groups.get("err") or ev.text
    vals = {"type": ev.exc_type or "error", "msg": clean_for_title(msg, 90),
            "where": w.short if w else ""}
    for k, v in groups.items():
        vals[k] = clean_for_title(v, 90)
    return vals


def _title_of(ev: Event, frames: list[Frame]) -> str:
    if ev.rule is not None:
        return render_title(ev.rule.title, _values(ev, frames, ev.groups))
    if ev.banner is not None:
        return render_title(ev.banner.title, _values(ev, frames, {**ev.groups, **ev.banner_groups}))
    return render_title("{type}: {msg}[ in {where}]", _values(ev, frames, {}))


def _frames_of(ev: Event) -> list[Frame]:
    return ev.frames or (ev.borrowed.frames if ev.borrowed else [])


def _enrich(events: list[Event]) -> None:
    """A kernel assert or an NCCL line has no traceback of its own; the traceback printed right
    after it (when the stream synchronised) says where in the engine it happened."""
    for i, ev in enumerate(events):
        if ev.frames:
            continue
        for nxt in events[i + 1:]:
            if nxt.offset - ev.offset > ENRICH_WINDOW:
                break
            if nxt.frames:
                ev.borrowed = nxt
                break


def _fingerprint(ev: Event, frames: list[Frame]) -> str:
    rule = ev.rule
    if rule is not None:
        parts = [f"rule:{rule.id}"]
        if rule.fingerprint_message:
            parts.append(normalize(ev.text))
        parts += _fp_frames(frames, rule.fingerprint_frames)
    else:
        # Unknown (or banner-tagged) error: its type + message + where, as the issue asks.
        parts = [f"exc:{ev.exc_type or 'line'}", normalize(ev.msg if ev.exc_type else ev.text)]
        if ev.detail and ev.exc_type:
            parts.append(normalize(ev.detail[0]))
        parts += _fp_frames(frames, 3)
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()[:12]


def _excerpt(root: Event, banner_line: Optional[str]) -> list[str]:
    lines = list(root.lines)
    if root.borrowed is not None:
        lines += ["..."] + root.borrowed.lines
    if banner_line:
        lines.append(banner_line)
    if len(lines) > MAX_EXCERPT:
        lines = lines[:4] + ["..."] + lines[-(MAX_EXCERPT - 5):]
    lines = [x if len(x) <= MAX_EXCERPT_LINE else x[:MAX_EXCERPT_LINE] + " ..." for x in lines]
    return redact_lines(lines)


def pick_root(events: list[Event]) -> Optional[Event]:
    """The root error: the first hard-crash event; else the first real error; else the first
    cascade line (a run that was only ever "Killed" is still named)."""
    if not events:
        return None
    return min(events, key=lambda e: (e.rank, e.offset))


def signature_from_scan(scan: ScanResult, ruleset: RuleSet) -> Signature:
    events = scan.events
    _enrich(events)
    # Second pass: rules that depend on frames (e.g. IMA *in PCG capture*) now see borrowed ones.
    for ev in events:
        if ev.borrowed is None:
            continue
        hit = match_rule(ev, ruleset.rules, frames_known=True)
        if hit.rule is not None and hit.rule.frames is not None and hit.rule.role == "root":
            ev.rule, ev.groups = hit.rule, hit.groups
            if hit.rule.priority == "high":
                ev.rank = min(ev.rank, 0)
    root = pick_root(events)
    if root is None:
        excerpt = redact_lines(scan.tail[-10:])
        return Signature(
            fingerprint=hashlib.sha1(b"no-error-found").hexdigest()[:12],
            title="no error found in log", rule=None, category="unknown",
            pcg_active=scan.pcg_active, excerpt=excerpt)
    frames = _frames_of(root)
    title = _title_of(root, frames)
    rule = root.rule
    rule_id = rule.id if rule else (root.banner.id if root.banner else None)
    category = rule.category if rule else "unknown"
    if root.banner is not None and category == "unknown":
        category = root.banner.category   # PCG's own banner says this error broke it
    if category == "pcg-bug" and scan.pcg_active is False:
        category = "not-pcg"          # the log proves PCG was off: it cannot be a PCG bug
    alt: list[str] = []
    if root.banner is not None and rule is not None:
        alt.append(render_title(root.banner.title, _values(root, frames, root.banner_groups)))
    for ev in events:
        if ev is root or ev is root.borrowed:
            continue
        t = _title_of(ev, _frames_of(ev))
        if t != title and t not in alt:
            alt.append(t)
        if len(alt) >= MAX_ALT:
            break
    labels = list(rule.labels) if rule else []
    banner_line = root.banner_line or None
    # Titles quote the exception message, which can carry a secret: they travel further than
    # excerpts (issue titles, analysis.json on the data branch), so they are redacted here, on
    # the host whose environment knows the secret values.
    return Signature(
        fingerprint=_fingerprint(root, frames), title=redact(title), rule=rule_id,
        category=category, pcg_active=scan.pcg_active, excerpt=_excerpt(root, banner_line),
        alt_titles=[redact(a) for a in alt], labels=labels)


_V1_RULES: Optional[RuleSet] = None
V1_PATTERNS = Path(__file__).with_name("patterns.yaml")


def v1_rules() -> RuleSet:
    """The rule set as it was when v1 was frozen (its own copy of patterns.yaml)."""
    global _V1_RULES
    if _V1_RULES is None:
        _V1_RULES = load_rules([V1_PATTERNS], builtin=False)
    return _V1_RULES


def signature_of_log(path: Union[str, Path]) -> Signature:
    """Scheme-v1 signature of one log file, exactly as pcgbot computed it before scheme v2."""
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"{p}: no such log file")
    ruleset = v1_rules()
    return signature_from_scan(scan_log(p, ruleset), ruleset)
