"""Failure signatures: one log -> fingerprint, title, rule, category, PCG evidence, excerpt.

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

from ..errors import UsageError
from .scan import Event, ScanResult, match_rule
from .stream import scan_log
from .normalize import Frame, clean_for_title, normalize
from .patterns import RuleSet, default_rules, load_rules
from .phase import PHASES, phase_of_frames
from .secrets import redact, redact_lines

MAX_EXCERPT = 30          # lines per excerpt: enough for a traceback, short enough for an issue
MAX_EXCERPT_LINE = 400    # characters per excerpt line
MAX_ALT = 4
SCHEME = 2                # fingerprint scheme of this module; v1 is frozen in signatures/v1
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
    scheme: int = SCHEME              # which fingerprint function produced `fingerprint`
    key: list[str] = field(default_factory=list)          # what was hashed (for --explain)
    root_line: str = ""               # the log line the root error was read from

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        del d["key"], d["root_line"]  # explain data: printed by --explain, never stored
        return d


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
    # "{type}: {msg}" of a bare exception reads "StopIteration in a.f", not "StopIteration: in"
    out = re.sub(r": \{(\w+)\}(?!\{)", lambda m: m.group(0) if values.get(m.group(1)) else "", out)
    out = _FIELD.sub(lambda m: values.get(m.group(1), ""), out)
    return re.sub(r"\s+", " ", out).strip(" :")


def _phase(ev: Event, frames: list[Frame]) -> str:
    """Where in the engine's life it failed: the frames' word first, else the log's."""
    return phase_of_frames(frames) or ev.phase


def _values(ev: Event, frames: list[Frame], groups: dict[str, str]) -> dict[str, str]:
    w = _where(frames)
    msg = ev.msg if ev.exc_type else ev.banner_groups.get("err") or ev.text
    typ = ev.exc_type or "error"
    if ev.exc_type:                   # a title names the innermost cause, not its wrappers
        typ, msg = innermost(ev.exc_type, msg)
    vals = {"type": typ, "msg": clean_for_title(msg, 90),
            "where": w.short if w else "", "test": re.sub(r"\[.*", "", ev.test),
            "phase": PHASES.get(_phase(ev, frames), "")}
    for k, v in groups.items():
        vals[k] = clean_for_title(v, 90)
    return vals


def _title_of(ev: Event, frames: list[Frame]) -> str:
    if ev.rule is not None and ev.groups.get("cause") and ev.rule.id in _NCCL_RULES:
        return render_title("NCCL error: {cause}[ in {where}]", _values(ev, frames, ev.groups))
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
            if nxt.frames and not (nxt.rule and nxt.rule.id == "truncated-traceback"):
                ev.borrowed = nxt             # a cut stack's innermost frame is not the site
                break


# Exceptions that only carry another one: the fingerprint comes from the innermost cause, so one
# bug re-raised by a worker, a compiler wrapper or Ray keeps one fingerprint.
_WRAPPED = re.compile(r"^(?:[\w.]+\.)?(?P<type>[A-Z]\w*(?:Error|Exception|Unsupported))"
                      r"(?:\((?P<inner>\w+)\))?: (?P<msg>.*)$")
# Engines' own wrapper sentences around a re-raised error ("Capture cuda graph failed: X").
_PHRASE = re.compile(r"^(?:Capture cuda graph failed|Piecewise CUDA Graph failed with error|"
                     r"Worker failed with error|Error in model execution|Exception in \w+|"
                     r"backend='\w+' raised)[:,]? *'?")
_WRAPPERS = {"RuntimeError", "DistBackendError", "InternalTorchDynamoError", "InductorError",
             "BackendCompilerFailed", "TorchRuntimeError", "RayTaskError", "Exception",
             "AcceleratorError", "ChildFailedError", "LoweringException"}


def innermost(exc_type: str, msg: str) -> tuple[str, str]:
    """``InductorError: RuntimeError: CUDA error: x`` -> (``RuntimeError``, ``CUDA error: x``)."""
    t = exc_type.rsplit(".", 1)[-1]
    m0 = re.match(r"^(\w+)\((\w+)\)$", t)            # RayTaskError(ValueError)
    if m0:
        t = m0.group(2)
    for _ in range(4):
        if t not in _WRAPPERS:
            break
        stripped = _PHRASE.sub("", msg, count=1)
        m = _WRAPPED.match(stripped)
        if not m:
            msg = stripped           # "Worker failed with error 'CUDA error: x" -> "CUDA error: x"
            break
        t, msg = m.group("inner") or m.group("type"), m.group("msg")
    return t, _TRAILER.sub("", msg)


# vLLM's "Worker failed with error 'X', please check the stack trace above for the root cause":
# the inner error without the sentence around it.
_TRAILER = re.compile(r"'?,? please check the stack trace above for the root cause\.?$")


def _inner_text(ev: Event) -> str:
    """The event's line as its innermost cause reads (what a rule's fingerprint hashes)."""
    if not ev.exc_type:
        return ev.text
    t, msg = innermost(ev.exc_type, ev.msg)
    return f"{t}: {msg}" if msg else t


# NCCL errors are keyed by NCCL's own diagnosis when the log shows it (scan.nccl_cause), so
# "DistBackendError: NCCL error in: ...", "ncclUnhandledCudaError: ..." and the NCCL WARN line
# of one failure are one bug; the WARN's "host:pid:tid [dev] file.cc:N" place is dropped.
_NCCL_RULES = {"nccl-error"}
_NCCL_PLACE = re.compile(r"^.*?\bNCCL WARN\s+|^[\w.\-]+:\d+:\d+ \[\d+\] [\w./]+:\d+ ")


def _nccl_cause(scan: ScanResult, root: Event) -> str:
    """NCCL's diagnosis of the root error: the "Last error:" line that follows it (its own
    message continues there), else the last failing NCCL WARN printed before it, else the first
    after it.  A rank that only saw its peer go away ("remote peer", "remote process exited")
    names a symptom: any other diagnosis wins, whatever rank printed first."""
    def pick(cands: list[tuple[int, str]], after_first: bool) -> str:
        real = [c for c in cands if not _NCCL_SYMPTOM.search(c[1])] or cands
        before = [w for off, w in real if off <= root.offset]
        after = [w for off, w in real if off > root.offset]
        if after_first:
            return after[0] if after else (before[-1] if before else "")
        return before[-1] if before else (after[0] if after else "")
    cause = pick(scan.nccl_causes, True) or pick(scan.nccl_warns, False)
    return _ADDRESS.sub("ADDR", cause)


# A peer's disappearance as NCCL reports it on the surviving rank, and the addresses in it.
_NCCL_SYMPTOM = re.compile(r"(?i)remote peer|remote process exit|connection closed|"
                           r"socket (?:closed|shut)")
_ADDRESS = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}(?:<\d+>|:\d+)?|\b[\w.\-]+<\d+>")


def _key_value(v: str) -> str:
    """A key group as hashed: a whole number (a collective's size, an exit code) names the
    place, so it is kept; anything else is normalised like a message."""
    return v if v.lstrip("-").isdigit() else normalize(v)


def _fingerprint(ev: Event, frames: list[Frame]) -> tuple[str, list[str]]:
    rule = ev.rule
    inner = _inner_text(ev)
    if rule is not None and rule.role == "root" and inner != ev.text \
            and not rule.regex.search(inner):
        rule = None                   # the rule named the wrapper (InductorError: X), not X
    if rule is not None:
        parts = [f"rule:{rule.id}"]
        if rule.id in _NCCL_RULES and ev.groups.get("cause"):
            parts.append(f"cause={normalize(_NCCL_PLACE.sub('', ev.groups['cause']))}")
        elif rule.key_groups:
            parts += [f"{g}={_key_value(ev.groups.get(g) or '')}" for g in rule.key_groups]
        elif rule.fingerprint_message:
            parts.append(normalize(inner))
        parts += _fp_frames(frames, rule.fingerprint_frames)
        phase = _phase(ev, frames) if rule.phase else ""
        if phase:
            parts.append(f"phase={phase}")
        if rule.id == "truncated-traceback" and not frames:
            parts.append(normalize(ev.text))  # a stack cut before its first frame: the line above
    else:
        # Unknown (or banner-tagged) error: its innermost type + message + where.
        t, msg = innermost(ev.exc_type, ev.msg) if ev.exc_type else ("line", ev.text)
        parts = [f"exc:{t}", normalize(msg)]
        if ev.detail and ev.exc_type:
            parts.append(normalize(ev.detail[0]))
        parts += _fp_frames(frames, 3)
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()[:12], parts


# What a log with no error line still shows: its last meaningful lines, an exit code or signal.
_EXIT = re.compile(r"(?i)(?:exit(?:ed with)? ?code[ =:]*-?\d+|signal \d+|\bKilled\b|SIG[A-Z]+)")
# Lines that say nothing about how the run ended: access logs, progress bars, NCCL's INFO/WARN
# chatter and handled warnings (another run prints them elsewhere, or not at all).
_NOISE = re.compile(r"(?i)^(?:INFO:?\s|.*\bHTTP/1\.[01]\b|.*it/s\]?$|.*%\||.*\bNCCL (?:INFO|WARN)\b"
                    r"|\[?W\d{4} [\d:.]+ |warning:|.*\bWarning: )")


def _no_error(scan: ScanResult) -> Signature:
    """A log with no recognisable error (requirement 3): named by what it does show, so two
    silent failures in different places never share one catch-all issue."""
    lines = [x.strip() for x in scan.tail if x.strip() and not _NOISE.match(x.strip())]
    last = lines[-3:] if lines else scan.tail[-3:]
    exits = [m.group(0) for x in scan.tail for m in [_EXIT.search(x)] if m]
    parts = ["no-error"] + [normalize(x) for x in last] + [normalize(e) for e in exits[-1:]]
    fp = hashlib.sha1("\n".join(parts).encode()).hexdigest()[:12]
    shown = clean_for_title(last[-1], 80) if last else "empty log"
    title = f"no error line in log; it ends with: {shown}"
    if exits:
        title = f"no error line in log ({exits[-1]}); it ends with: {shown}"
    return Signature(fingerprint=fp, title=redact(title), rule="no-error", category="unknown",
                     pcg_active=scan.pcg_active, excerpt=redact_lines(scan.tail[-10:]),
                     key=parts, root_line="")


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


# Rules that only stand in when the log names nothing better; next to a real error they add no
# second title (a unittest header above the traceback, a FAILED line without a message).
_LAST_RESORT = {"unittest-error-header", "pytest-failure-cut", "pytest-failed", "error-line"}


def _rule_of_cause(ev: Event, ruleset: RuleSet) -> None:
    """A wrapper (``BackendCompilerFailed: ... raised: ImportError: x``) whose rule names only
    the wrapper, or no rule at all, takes the rule of its innermost cause when one knows it."""
    if not ev.exc_type:
        return
    t, msg = innermost(ev.exc_type, ev.msg)
    inner = f"{t}: {msg}" if msg else t
    if inner == ev.text or (ev.rule is not None and ev.rule.regex.search(inner)):
        return
    probe = Event(ev.offset, inner, exc_type=t, msg=msg, frames=ev.frames, origin=ev.origin)
    hit = match_rule(probe, ruleset.rules, frames_known=True)
    if hit.rule is not None and hit.rule.role == "root":
        ev.rule, ev.groups = hit.rule, hit.groups


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
    if root is None and scan.error_line is not None and ruleset.by_id("error-line") is not None:
        off, text = scan.error_line
        root = Event(off, text, lines=[text], rule=ruleset.by_id("error-line"))
    if root is None:
        return _no_error(scan)
    _rule_of_cause(root, ruleset)
    cause = _nccl_cause(scan, root) if root.rule is not None and root.rule.id in _NCCL_RULES else ""
    if cause:
        root.groups = {**root.groups, "cause": cause}
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
        if ev is root or ev is root.borrowed or (ev.rule is not None and ev.rule.id in _LAST_RESORT):
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
    fp, key = _fingerprint(root, frames)
    return Signature(
        fingerprint=fp, title=redact(title), rule=rule_id,
        category=category, pcg_active=scan.pcg_active, excerpt=_excerpt(root, banner_line),
        alt_titles=[redact(a) for a in alt], labels=labels, key=[redact(k) for k in key],
        root_line=redact(root.lines[-1] if root.exc_type and root.lines else
                         (root.lines[0] if root.lines else "")))


def signature_of_log(path: Union[str, Path], rules: Optional[RuleSet] = None) -> Signature:
    """Signature of one log file (streamed; memory does not grow with the log)."""
    ruleset = rules if rules is not None else default_rules()
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"{p}: no such log file")
    return signature_from_scan(scan_log(p, ruleset), ruleset)


def rules_with(extra: Optional[list[str]] = None) -> RuleSet:
    """Built-in rules plus user ``--patterns`` files (same id overrides, new ids go first)."""
    return load_rules(extra or []) if extra else default_rules()
