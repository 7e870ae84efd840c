"""Streaming log scanner: a log file -> a bounded list of error events + PCG markers.

Logs reach 100 MB (a server logging every decode batch for 20 minutes), so the file is read in
1 MiB blocks and never held whole.  A C-speed regex over each block finds the few lines worth a
look (trigger words); only those lines are decoded and parsed in Python.  A traceback that starts
in a block is parsed from that block's text; one cut by the block end is carried into the next
block.  Events are kept per rank up to a fixed count, so memory stays flat however noisy the log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Optional

from .normalize import DEFAULT_ENGINE_ROOTS, Frame, parse_exception, parse_frame, strip_prefix
from ..patterns import Rule, RuleSet

# Words one of which appears in (nearly) every line a rule can match; the rest of the log is
# never looked at line by line.  Rules whose lines have none of these add theirs via `trigger:`.
TRIGGER_WORDS = [
    "Traceback", "rror", "xception", "ailed", "AILED", "Fail", "FAIL", "illed", "signal",
    "ssert", "Unsupported", "imeout", "timed out", "TIMEOUT", "fault", "dumped", "Abort",
    "out of memory", "mismatch", "already in use", "NCCL", "SIG", "Terminated", "atchdog",
    "refused", "exitcode", "exit code", "gated", "cuDNN", "cudnn", "CUDNN", "restricted",
    "died", "dead", "exited", "Not enough memory", "lmsys/sglang-ci", "context_length",
]

CHUNK = 1 << 20           # bytes per read
MAX_LINE = 4096           # bytes of one line kept around a trigger (tqdm lines can be megabytes)
MAX_CARRY = 4 << 20       # an unterminated traceback longer than this is parsed truncated
MAX_TB_LINES = 400        # lines read for one traceback
TB_WINDOW = 256 * 1024    # bytes read after a traceback header to parse it
PER_RANK = 16             # events kept per rank (first ones win: we want the root)
RANK_HIGH, RANK_NORMAL, RANK_CASCADE = 0, 1, 2


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


@dataclass
class ScanResult:
    events: list[Event]               # in file order
    pcg_active: Optional[bool]
    tail: list[str]                   # last lines of the log (for logs with no error at all)
    size: int


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


# faulthandler's frame lines: '  File "x.py", line 3 in f' (no comma before "in").
_FH_FRAME = re.compile(r'^\s*File "([^"]+)", line (\d+) in (.+?)\s*$')

# SGLang logs the exception *inside* a sentence: "Scheduler hit an exception: <Type>: <msg>".
_HIT = re.compile(r"^.{0,80}? hit an exception: (?!Traceback)(.*)$")


class _Scanner:
    def __init__(self, ruleset: RuleSet, engine_roots: Optional[list[str]] = None) -> None:
        self.rs = ruleset
        self.roots = [re.compile(r) for r in (engine_roots or DEFAULT_ENGINE_ROOTS)]
        words = list(TRIGGER_WORDS)
        for r in ruleset.rules:
            words += r.trigger
        markers = ruleset.active + ruleset.inactive + ruleset.weak_active
        words += markers
        # Longest first so the alternation reports the most specific word (cosmetic only).
        uniq = sorted(set(words), key=len, reverse=True)
        self.words = uniq
        self.trigger = re.compile("|".join(re.escape(w) for w in uniq).encode())
        self.markers = [(m, m.encode()) for m in markers]
        self.seen_active = self.seen_inactive = self.seen_weak = False
        self.events: list[Event] = []
        self.count = [0, 0, 0]
        self.last_ignored_end = -10
        self.cache: dict[str, Match] = {}

    # -- events -------------------------------------------------------------------------------
    def _rank(self, ev: Event) -> int:
        rule = ev.rule
        if ev.banner is not None:
            return RANK_HIGH                  # PCG said this error broke it
        if rule is None:
            return RANK_NORMAL
        if rule.role == "cascade":
            return RANK_CASCADE
        return RANK_HIGH if rule.priority == "high" else RANK_NORMAL

    def _add(self, ev: Event) -> None:
        if self.count[ev.rank] >= PER_RANK:
            return
        self.count[ev.rank] += 1
        self.events.append(ev)

    def _full(self) -> bool:
        return min(self.count) >= PER_RANK

    def _match_cached(self, ev: Event) -> Match:
        # Noisy logs repeat one line thousands of times (one per CUDA thread); match it once.
        key = ev.text
        hit = self.cache.get(key)
        if hit is None:
            hit = match_rule(ev, self.rs.rules, frames_known=False)
            if len(self.cache) < 4096:
                self.cache[key] = hit
        return hit

    def _under_frame(self, offset: int, read_at: Callable[[int, int], bytes]) -> bool:
        start = max(0, offset - 4096)
        above = read_at(start, offset - start).decode("utf-8", "replace").rstrip("\r\n")
        prev = above.rsplit("\n", 1)[-1]
        return parse_frame(strip_prefix(prev), self.roots) is not None

    def _headless_frames(self, ev: Event, read_at: Callable[[int, int], bytes]) -> None:
        """An exception line whose traceback header was cut off (a pasted excerpt, a log that
        starts mid-traceback): the frame lines right above it still say where it happened."""
        start = max(0, ev.offset - 16384)
        above = read_at(start, ev.offset - start).decode("utf-8", "replace").split("\n")
        frames: list[Frame] = []
        kept: list[str] = []
        for raw in reversed(above[1:] if start else above):
            line = strip_prefix(raw.rstrip("\r"))
            fr = parse_frame(line, self.roots)
            if fr:
                frames.append(fr)
                kept.append(raw.rstrip())
            elif line[:1] in (" ", "\t") and line.strip():
                kept.append(raw.rstrip())     # source line or carets under a frame
            elif line.strip():
                break
            if len(kept) > 60:
                break
        if frames:
            ev.frames = frames[::-1]
            ev.lines = kept[::-1][-16:] + ev.lines

    def _line_event(self, raw: str, offset: int, end: int,
                    read_at: Optional[Callable[[int, int], bytes]] = None) -> None:
        body = strip_prefix(raw)
        if parse_frame(body, self.roots) is not None:
            return                            # a frame line outside a parsed traceback
        if body.startswith("    ") and read_at is not None and self._under_frame(offset, read_at):
            return                            # source line of a traceback frame, not an error
        text = body.strip()
        hm = _HIT.match(text)
        if hm:
            text = hm.group(1)
        if not text:
            return
        exc = parse_exception(text)
        ev = Event(offset, text, lines=[raw.rstrip()])
        if exc:
            ev.exc_type, ev.msg = exc
        hit = self._match_cached(ev)
        if hit.rule is not None and hit.rule.role == "ignore":
            if text.startswith("Exception ignored in"):
                self.last_ignored_end = end
            return
        if hit.banner is not None and hit.rule is None and self._attach_banner(
                hit.banner, hit.banner_groups, offset, raw.rstrip()):
            return
        if hit.rule is None and hit.banner is None and not exc:
            return                            # a trigger word in an ordinary log line
        if exc and read_at is not None and self.count[RANK_NORMAL] + self.count[RANK_HIGH] < 8:
            self._headless_frames(ev, read_at)
            if ev.frames:
                hit = match_rule(ev, self.rs.rules, frames_known=True)
        if "Fatal Python error" in text and read_at is not None:
            self._faulthandler_frames(ev, end, read_at)
        ev.rule, ev.groups = hit.rule, hit.groups
        ev.banner, ev.banner_groups = hit.banner, hit.banner_groups
        ev.rank = self._rank(ev)
        self._add(ev)

    def _faulthandler_frames(self, ev: Event, end: int,
                             read_at: Callable[[int, int], bytes]) -> None:
        """A segfault has no Python traceback, but faulthandler prints each thread's stack,
        innermost first; the "Current thread" one says where it crashed."""
        lines = read_at(end, 64 * 1024).decode("utf-8", "replace").split("\n")
        for i, raw in enumerate(lines[:400]):
            if strip_prefix(raw).startswith("Current thread"):
                frames: list[Frame] = []
                kept: list[str] = [raw.rstrip()]
                for fl in lines[i + 1:i + 60]:
                    m = _FH_FRAME.match(strip_prefix(fl))
                    if not m:
                        break
                    fr = parse_frame(f'  File "{m.group(1)}", line {m.group(2)}, in {m.group(3)}',
                                     self.roots)
                    if fr:
                        frames.append(fr)
                        kept.append(fl.rstrip())
                ev.frames = frames[::-1]      # faulthandler prints the innermost frame first
                ev.lines += kept[:12]
                return

    def _attach_banner(self, rule: Rule, groups: dict, offset: int, line: str) -> bool:
        """HEAD prints "Fail when using backend: tc_piecewise" right after the exception: that
        exception is the error, the banner says it broke PCG."""
        for ev in reversed(self.events):
            if offset - ev.offset > 256 * 1024:
                break
            if ev.rank != RANK_CASCADE and ev.banner is None:
                ev.banner, ev.banner_groups, ev.banner_line = rule, groups, line
                ev.rank = RANK_HIGH
                return True
        return False

    # -- tracebacks ---------------------------------------------------------------------------
    def _traceback(self, buf: bytes, header: str, offset: int) -> int:
        """Parse the traceback whose header line starts at file ``offset``; ``buf`` holds the
        bytes after the header line.  Returns how many bytes of ``buf`` it spans."""
        ev = Event(offset, "", lines=[header.rstrip()])
        frame_lines: list[list[str]] = []
        stray = 0
        n = 0
        pos = 0
        while n < MAX_TB_LINES and pos < len(buf):
            nl = buf.find(b"\n", pos)
            end = len(buf) if nl < 0 else nl + 1
            raw = buf[pos:min(end, pos + MAX_LINE)].decode("utf-8", "replace").rstrip("\r\n")
            if "\r" in raw:
                raw = raw.rsplit("\r", 1)[-1]
            n += 1
            pos = end
            line = strip_prefix(raw)
            fr = parse_frame(line, self.roots)
            if fr:
                ev.frames.append(fr)
                frame_lines.append([raw.rstrip()])
                continue
            if not line.strip() or line.strip().startswith("[Previous line repeated"):
                continue
            if line[:1] in (" ", "\t"):
                if frame_lines and len(frame_lines[-1]) < 3:
                    frame_lines[-1].append(raw.rstrip())      # source line / carets
                continue
            exc = parse_exception(line)
            if exc is None:
                stray += 1                   # another process's line interleaved
                if stray > 20:
                    break
                continue
            ev.exc_type, ev.msg = exc
            ev.text = f"{ev.exc_type}: {ev.msg}" if ev.msg else ev.exc_type
            tail = [raw.rstrip()]
            # Continuation lines of a multi-line message (dynamo "Explanation:", CUDA hints).
            while len(ev.detail) < 4 and pos < len(buf):
                nl = buf.find(b"\n", pos)
                end = len(buf) if nl < 0 else nl + 1
                nxt = buf[pos:min(end, pos + MAX_LINE)].decode("utf-8", "replace").rstrip()
                s = strip_prefix(nxt)
                if not s.strip() or s.startswith("Traceback") or not (
                        s[:1] in (" ", "\t") or s.startswith(("CUDA kernel errors", "For debugging",
                                                               "Compile with", "Search for"))):
                    break
                ev.detail.append(s.strip())
                tail.append(nxt)
                pos = end
            kept = frame_lines[-8:]
            if len(frame_lines) > 8:
                ev.lines.append(f"  ... {len(frame_lines) - 8} outer frames ...")
            for fl in kept:
                ev.lines += fl
            ev.lines += tail
            break
        if not ev.exc_type:
            return pos                        # truncated traceback: nothing to name
        if ev.offset - self.last_ignored_end <= 1:
            return pos                        # "Exception ignored in ...": handled
        hit = match_rule(ev, self.rs.rules, frames_known=True)
        if hit.rule is not None and hit.rule.role == "ignore":
            return pos
        ev.rule, ev.groups = hit.rule, hit.groups
        ev.banner, ev.banner_groups = hit.banner, hit.banner_groups
        ev.rank = self._rank(ev)
        self._add(ev)
        return pos

    # -- markers ------------------------------------------------------------------------------
    def _markers(self, line: bytes) -> None:
        for text, b in self.markers:
            if b in line:
                if text in self.rs.active:
                    self.seen_active = True
                elif text in self.rs.inactive:
                    self.seen_inactive = True
                else:
                    self.seen_weak = True

    def pcg_active(self) -> Optional[bool]:
        if self.seen_active:
            return True
        if self.seen_inactive:
            return False
        return True if self.seen_weak else None

    # -- lines ------------------------------------------------------------------------------
    def line(self, seg: bytes, offset: int, end: int, read_at: Callable[[int, int], bytes]) -> int:
        """Handle one trigger line (``seg``, at most MAX_LINE bytes of it) starting at file
        ``offset`` and ending at ``end``; returns the offset where scanning resumes."""
        self._markers(seg)
        if b"\r" in seg:                     # tqdm redraws: keep the segment with the match
            m = self.trigger.search(seg)
            at = m.start() if m else len(seg)
            seg = seg[seg.rfind(b"\r", 0, at) + 1:]
            cut = seg.find(b"\r")
            seg = seg if cut < 0 else seg[:cut]
        raw = seg.decode("utf-8", "replace").rstrip("\r\n")
        if "Traceback (most recent call last)" in raw:
            return end + self._traceback(read_at(end, TB_WINDOW), raw, offset)
        if not self._full():
            self._line_event(raw, offset, end, read_at)
        return end
