"""What the scanner finds in a log: events (a parsed traceback or a matching line), the scan's
result, and how a rule is matched against an event.

Kept apart from the scanner so the signature (``signature.py``) and the stack parsing
(``stacks.py``) share these types without importing the scanner.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from .normalize import Frame
from .patterns import Rule

# The root error is the first event of the lowest rank (see signature.pick_root).
RANK_HIGH, RANK_NORMAL, RANK_WEAK, RANK_CASCADE = 0, 1, 2, 3


@dataclass
class Event:
    offset: int                       # byte offset of the event's first line in the file
    text: str                         # the line rules match: "Type: message" or the log line
    exc_type: str = ""                # exception class ("" for a plain log line)
    msg: str = ""                     # exception message, first line
    detail: list[str] = field(default_factory=list)   # message continuation lines
    frames: list[Frame] = field(default_factory=list)  # outermost first, as Python prints them
    lines: list[str] = field(default_factory=list)     # excerpt lines (raw, unredacted)
    rule: Optional[Rule] = None
    banner: Optional[Rule] = None     # a PCG banner printed right after this error
    banner_groups: dict[str, str] = field(default_factory=dict)
    banner_line: str = ""             # the banner's own log line, when printed separately
    groups: dict[str, str] = field(default_factory=dict)  # named groups of the rule's regex
    rank: int = RANK_NORMAL
    borrowed: Optional["Event"] = None  # traceback lent its frames to this frameless event
    origin: str = ""                  # "pytest" for pytest's FAILED / E lines
    test: str = ""                    # the failing test id, when the log line names it
    phase: str = ""                   # the last phase line before it (see phase.py), "" if none


@dataclass
class ScanResult:
    events: list[Event]               # in file order
    pcg_active: Optional[bool]
    tail: list[str]                   # last lines of the log (for logs with no error at all)
    size: int
    nccl_causes: list[tuple[int, str]] = field(default_factory=list)  # after "Last error:"
    nccl_warns: list[tuple[int, str]] = field(default_factory=list)  # failing NCCL WARN lines
    error_line: Optional[tuple[int, str]] = None   # last line with an error word no rule knew


@dataclass
class Match:
    rule: Optional[Rule] = None       # first matching rule that is not a banner
    groups: dict[str, str] = field(default_factory=dict)
    banner: Optional[Rule] = None     # first matching banner rule
    banner_groups: dict[str, str] = field(default_factory=dict)


def match_rule(ev: Event, rules: list[Rule], frames_known: bool) -> Match:
    """First non-banner rule and first banner rule whose regex matches the event's line (or a
    continuation line).  Rules with a ``frames`` condition only match once frames are known."""
    texts = [ev.text] + ev.detail[:4]
    keys = [f.key for f in ev.frames]
    out = Match()
    for rule in rules:
        if rule.origin and rule.origin != ev.origin:
            continue
        is_banner = rule.role == "banner"
        if (out.banner if is_banner else out.rule) is not None:
            continue
        if rule.frames is not None:
            if not frames_known or not any(rule.frames.search(k) for k in keys):
                continue
        for t in texts:
            m = rule.regex.search(t)
            if m:
                groups = {k: v for k, v in m.groupdict().items() if v is not None}
                if is_banner:
                    out.banner, out.banner_groups = rule, groups
                else:
                    out.rule, out.groups = rule, groups
                break
        if out.rule is not None and out.banner is not None:
            break
    return out
