"""Streaming log scanner: a log file -> a bounded list of error events + PCG markers.

Logs reach 100 MB (a server logging every decode batch for 20 minutes), so the file is read in
1 MiB blocks and never held whole.  A C-speed regex over each block finds the few lines worth a
look (trigger words); only those lines are decoded and parsed in Python.  A traceback that starts
in a block is parsed from that block's text; one cut by the block end is carried into the next
block.  Events are kept per rank up to a fixed count, so memory stays flat however noisy the log.
"""

from __future__ import annotations

import re
from typing import Callable, Optional

from .events import (RANK_CASCADE, RANK_HIGH, RANK_NORMAL, RANK_WEAK, Event, Match, ScanResult,
                     match_rule)
from .normalize import DEFAULT_ENGINE_ROOTS, Frame, parse_exception, parse_frame, strip_prefix
from .patterns import Rule, RuleSet
from .pcg import verdict as pcg_verdict
from .phase import PHASE_LINES, phase_before
from .stacks import _FH_HEADER, Stacks

__all__ = ["CHUNK", "MAX_CARRY", "MAX_LINE", "TRIGGER_WORDS", "Event", "Match", "ScanResult",
           "match_rule", "RANK_CASCADE", "RANK_HIGH", "RANK_NORMAL", "RANK_WEAK"]

# Words one of which appears in (nearly) every line a rule can match; the rest of the log is
# never looked at line by line.  Rules whose lines have none of these add theirs via `trigger:`.
TRIGGER_WORDS = [
    "Traceback", "rror", "ERROR", "xception", "ailed", "AILED", "Fail", "FAIL", "illed", "signal",
    "ssert", "Unsupported", "imeout", "timed out", "TIMEOUT", "fault", "dumped", "Abort",
    "out of memory", "mismatch", "already in use", "NCCL WARN", "SIG", "Terminated", "atchdog",
    "refused", "exitcode", "exit code", "gated", "cuDNN", "cudnn", "CUDNN", "restricted",
    "died", "dead", "exited", "Not enough memory", "lmsys/sglang-ci", "context_length",
    # scheme v2: frames without a traceback header (cut excerpts), faulthandler dumps, hints
    # that follow frames, and the compiler / device-capability families with no error word.
    'File "', "most recent call first", "ptxas", "no kernel image", "peer access", ": in ",
    "Free memory on device", "TORCHDYNAMO_VERBOSE", "Piecewise CUDA Graph is enabled",
]

CHUNK = 1 << 20           # bytes per read
MAX_LINE = 4096           # bytes of one line kept around a trigger (tqdm lines can be megabytes)
MAX_CARRY = 4 << 20       # an unterminated traceback longer than this is parsed truncated
MAX_TB_LINES = 400        # lines read for one traceback
TB_WINDOW = 256 * 1024    # bytes read after a traceback header to parse it
PER_RANK = 16             # events kept per rank (first ones win: we want the root)

_FAILED = re.compile(r"^FAILED (?P<test>[^\s(]*(?:::|\.py)\S*)(?: - (?P<rest>.*))?$")   # not unittest's "FAILED (errors=1)"
_ASSERT_SRC = re.compile(r"^assert \S")       # pytest prints the rewritten assert at column 0
# ... and where its "E" was lost, a comparison of two literal numbers is still no source line.
_ASSERT_NUMBERS = re.compile(r"^assert -?[\d.]+(?:e-?\d+)? (?:[<>]=?|==|!=) -?[\d.]+(?:e-?\d+)?\s*$")
_SOURCE = re.compile(r"^\s{3,}(?:raise|return|assert|if|elif|for|while|with|yield|await)\b"
                     r"|^\s*raise [A-Za-z_][\w.]*\(")   # a paste that lost its indentation
_DIGITS = re.compile(r"\d{3,}")
# SGLang logs the exception *inside* a sentence: "Scheduler hit an exception: <Type>: <msg>".
_HIT = re.compile(r"^.{0,80}? hit an exception: (?!Traceback)(.*)$")


_SOURCE_FILE = re.compile(r"(?<![\w.\-])([\w.\-]+\.(?:cpp|cc|cu|cxx)):\d+")
_WHAT = re.compile(r"^\s*what\(\):\s+(?!terminate called)(.+)$")
_NCCL_WARN = re.compile(r"NCCL WARN (.*(?:[Ff]ail|[Ee]rror|[Ii]nvalid|[Uu]nhandled|[Dd]uplicate|"
                        r"not supported).*)")
# A line no rule knows that still says something failed: named only when the log shows nothing
# better (rule error-line), so a format nobody wrote a rule for is not "no error found".
_ERROR_WORD = re.compile(r"\b(?:[Ee]rror|ERROR|[Ff]ailed|FAILED|[Ff]ailure|[Ff]atal|FATAL|[Aa]borted|"
                         r"[Ee]xception|[Aa]ssertion)\b")
_BENIGN_WORD = re.compile(r"(?i)\b(?:no|0|zero|without|ignor\w*)\s+(?:\w+\s+)?errors?\b|retry|retrying|"
                          r"warn(?:ing)?\b|deprecat|error[_ ]?(?:rate|log|file|handler)|errors?[=:]\s*0\b|"
                          r"\b(?:DEBUG|INFO)\b|\b\d+ passed|if (?:you|this)|will be|may |might |error trace|bug report")

# NCCL WARNs it prints on healthy runs too (no InfiniBand verbs library: it falls back to sockets).
_NCCL_BENIGN = re.compile(r"Failed to open libibverbs|NET/IB|NET/Plugin|No device found")
_CHATTER = re.compile(r"NCCL (?:INFO|WARN)|^\[?W\d{4} |^\s*$")


# Exceptions that are usually raised without a message: the line after a bare one is the log
# going on ("Ran 3 tests", "run finished on host x"), not their message.
_BARE = {"AssertionError", "KeyboardInterrupt", "StopIteration", "StopAsyncIteration",
         "SystemExit", "GeneratorExit", "NotImplementedError"}


def _four_lines(data: bytes) -> list[str]:
    """The first four lines of ``data`` (bytes read right after a line): where a message's
    continuation, NCCL's "Last error:" cause or a C++ ``what():`` line stands."""
    return data.decode("utf-8", "replace").split("\n")[:4]


def _with_cause_below(msg: str, below: list[str], exc_type: str = "") -> Optional[tuple[str, int]]:
    """dynamo's "BackendCompilerFailed: backend='inductor' raised:" (and an exception whose
    message starts on the next line) names its cause on the next line that is not another
    process's chatter: (the message with it, lines used), or None when there is no cause."""
    if msg and not msg.endswith("raised:"):
        return None
    for i, line in enumerate(below[:4]):
        if _CHATTER.search(line):
            continue
        inner = strip_prefix(line).strip()
        if not inner or inner.startswith(("Traceback", "File ", "During handling", "The above")):
            return None
        if (msg or exc_type.rsplit(".", 1)[-1] in _BARE) and not parse_exception(inner):
            return None                       # a bare AssertionError keeps its empty message
        return f"{msg} {inner}".strip(), i + 1
    return None


class _Scanner(Stacks):
    """One pass over one log: trigger lines in, events out (bounded per rank)."""

    def __init__(self, ruleset: RuleSet, engine_roots: Optional[list[str]] = None) -> None:
        self.rs = ruleset
        self.roots = [re.compile(r) for r in (engine_roots or DEFAULT_ENGINE_ROOTS)]
        words = list(TRIGGER_WORDS)
        for r in ruleset.rules:
            words += r.trigger
        markers = ruleset.active + ruleset.inactive + ruleset.weak_active
        words += markers + PHASE_LINES
        # Longest first so the alternation reports the most specific word (cosmetic only).
        uniq = sorted(set(words), key=len, reverse=True)
        self.words = uniq
        self.trigger = re.compile("|".join(re.escape(w) for w in uniq).encode())
        self.words_phase = re.compile("|".join(re.escape(w) for w in PHASE_LINES).encode())
        self.markers = [(m, m.encode()) for m in markers]
        self.seen_active = self.seen_inactive = self.seen_weak = False
        self.events: list[Event] = []
        self.count = [0, 0, 0, 0]
        self.run: list[tuple[int, Frame, str]] = []   # frame lines seen outside any traceback
        self.last_ignored_end = -10
        self.cache: dict[str, Match] = {}
        self.quiet: set[str] = set()      # shapes of trigger lines that were no error at all
        self.read_at: Optional[Callable[[int, int], bytes]] = None   # the log, while it is open
        self.phase = ""                   # the last phase line's phase (phase.py), "" if none
        self.nccl_causes: list[tuple[int, str]] = []   # (offset, line after "Last error:")
        self.nccl_warns: list[tuple[int, str]] = []   # (offset, message) of failing NCCL WARNs
        self.error_line: Optional[tuple[int, str]] = None   # see ScanResult.error_line

    # -- events -------------------------------------------------------------------------------
    def _rank(self, ev: Event) -> int:
        rule = ev.rule
        if ev.banner is not None:
            return RANK_HIGH                  # PCG said this error broke it
        if rule is None:
            return RANK_NORMAL
        if rule.role == "cascade":
            return RANK_CASCADE
        if rule.priority == "low":
            return RANK_WEAK
        return RANK_HIGH if rule.priority == "high" else RANK_NORMAL

    def _add(self, ev: Event) -> None:
        if self.count[ev.rank] >= PER_RANK:
            return
        self.count[ev.rank] += 1
        ev.phase = ev.phase or self.phase     # the last phase line printed before it
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

    def _line_event(self, raw: str, offset: int, end: int,
                    read_at: Optional[Callable[[int, int], bytes]] = None) -> None:
        body = strip_prefix(raw)
        # A noisy log repeats a few harmless line shapes ("request 4711 failed with a transient
        # error, retrying") hundreds of thousands of times: one that was no error is skipped at
        # once.  Only long numbers are blurred: rules read short ones (signal 9, Errno 98).
        shape = _DIGITS.sub("0", body)
        if "Last error:" in body or "NCCL WARN" in body:
            self._nccl_diagnosis(body.strip(), offset, end, read_at)   # every rank's, repeated or not
        if shape in self.quiet:
            return
        fr = parse_frame(body, self.roots)
        if fr is not None:
            self._orphan_frame(offset, fr, raw.rstrip())
            return                            # a frame line outside a parsed traceback
        if body.startswith("    ") and read_at is not None and self._under_frame(offset, read_at):
            return                            # source line of a traceback frame, not an error
        if _SOURCE.match(body):
            return                            # pytest's "> raise X(...)" source display
        text = body.strip()
        if _FH_HEADER.match(text) and read_at is not None:
            self._thread_dump(raw.rstrip(), offset, end, read_at)
            return
        hm = _HIT.match(text)
        if hm:
            text = hm.group(1)
        if not text:
            return
        origin, test = "", ""
        fm = _FAILED.match(text)
        if fm:                                # pytest: "FAILED path::test - Error: msg"
            origin, test, text = "pytest", fm.group("test"), (fm.group("rest") or "").strip()
            if not text:
                text = f"FAILED {test}"       # no message: the failing test is the evidence
        elif body.lstrip().startswith("E ") or raw.lstrip().startswith("E "):
            origin = "pytest"
        if (origin == "pytest" and _ASSERT_SRC.match(text)) or _ASSERT_NUMBERS.match(text):
            origin = "pytest"
            text = f"AssertionError: {text}"  # pytest's rewritten assert (a bare one is source)
        exc = parse_exception(text)
        lines = [raw.rstrip()]
        if exc and (not exc[1] or exc[1].endswith("raised:")) and read_at is not None:
            below = _four_lines(read_at(end, 4 * MAX_LINE))
            joined = _with_cause_below(exc[1], below, exc[0])
            if joined is not None:
                exc = (exc[0], joined[0])
                text = f"{exc[0]}: {joined[0]}"
                lines.append(below[joined[1] - 1].rstrip())
        ev = Event(offset, text, lines=lines, origin=origin, test=test)
        if exc:
            ev.exc_type, ev.msg = exc
        hit = self._match_cached(ev)
        if hit.rule is not None and hit.rule.id == "cpp-terminate" and read_at is not None:
            # "terminate called after throwing an instance of 'X'" then "  what():  <message>"
            # (ranks interleave them): the message is the error; X is only its C++ type.
            for line in _four_lines(read_at(end, 4 * MAX_LINE)):
                wm = _WHAT.search(line)
                if wm and wm.group(1).strip():
                    ev.exc_type, ev.msg = hit.groups.get("cls", "exception"), wm.group(1).strip()
                    ev.lines.append(line.rstrip())
                    break
        if hit.rule is not None and hit.rule.id == "gtest-failure" and not hit.groups.get("file") \
                and read_at is not None:
            # CI output that lost ": Failure" prints the test's "file.cpp:59" on the line above
            fm2 = _SOURCE_FILE.search(self._line_above(offset))
            hit = Match(hit.rule, {"file": fm2.group(1)} if fm2 else {}, hit.banner, hit.banner_groups)
        if hit.rule is not None and hit.rule.role == "ignore":
            if text.startswith("Exception ignored in"):
                self.last_ignored_end = end
            return
        if hit.banner is not None and hit.rule is None and (self._attach_banner(
                hit.banner, hit.banner_groups, offset, raw.rstrip()) or not hit.banner_groups):
            return                            # (a hint with nothing of its own names no error)
        if hit.rule is None and hit.banner is None and not exc:
            if _ERROR_WORD.search(text) and not _BENIGN_WORD.search(text):
                self.error_line = (offset, text[:400])   # weak evidence, kept in case
            if len(self.quiet) < 4096:
                self.quiet.add(shape)         # the same shape again says nothing new
            return                            # a trigger word in an ordinary log line
        if (exc or hit.rule is not None) and read_at is not None \
                and self.count[RANK_NORMAL] + self.count[RANK_HIGH] < 8:
            self._headless_frames(ev, read_at)
            if ev.frames:
                self.run = []                 # those orphan frames were this error's
                hit = match_rule(ev, self.rs.rules, frames_known=True)
        if "Fatal Python error" in text and read_at is not None:
            self._faulthandler_frames(ev, end, read_at)
        ev.rule, ev.groups = hit.rule, hit.groups
        ev.banner, ev.banner_groups = hit.banner, hit.banner_groups
        ev.rank = self._rank(ev)
        self._add(ev)

    def _attach_banner(self, rule: Rule, groups: dict, offset: int, line: str) -> bool:
        """HEAD prints "Fail when using backend: tc_piecewise" right after the exception: that
        exception is the error, the banner says it broke PCG."""
        for ev in reversed(self.events):
            if offset - ev.offset > 256 * 1024:
                break
            if ev.rank == RANK_CASCADE:
                continue
            if ev.banner is None:
                ev.banner, ev.banner_groups, ev.banner_line = rule, groups, line
                ev.rank = RANK_HIGH
            return True                       # (a second banner for one error says it again)
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
            if exc is None or exc[0].endswith("Warning"):
                stray += 1                   # another process's line interleaved
                if stray > 20:
                    break
                continue
            ev.exc_type, ev.msg = exc
            tail = [raw.rstrip()]
            below = _four_lines(buf[pos:pos + 4 * MAX_LINE])
            joined = _with_cause_below(ev.msg, below, ev.exc_type)
            if joined is not None:
                ev.msg, used = joined
                tail.append(below[used - 1].rstrip())
                for _ in range(used):
                    nl = buf.find(b"\n", pos)
                    pos = len(buf) if nl < 0 else nl + 1
            ev.text = f"{ev.exc_type}: {ev.msg}" if ev.msg else ev.exc_type
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
            # Cut before its exception line: the innermost frames still say where it failed;
            # cut before its first frame, the line the engine printed above it does.
            if not ev.frames and self.read_at is not None:
                above = self._line_above(offset)
                if above:
                    ev.text, ev.groups = above, {"after": above}
                    ev.lines.insert(0, above)
            kept = frame_lines[-8:]
            for fl in kept:
                ev.lines += fl
            self._truncated(ev)
            # A header whose body was not one (no frame parsed, no error line): read the lines
            # after it one by one instead of skipping them with it.
            return pos if ev.frames else 0
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

    def _nccl_diagnosis(self, text: str, offset: int, end: int,
                        read_at: Optional[Callable[[int, int], bytes]]) -> None:
        """NCCL says what went wrong in its own words ("Last error:" then the cause, or a
        failing "NCCL WARN" line); wrappers around it (DistBackendError, ncclUnhandledCudaError,
        "unhandled cuda error") vary by version and rank, the diagnosis does not."""
        if text == "Last error:" and len(self.nccl_causes) < 32 and read_at is not None:
            for line in _four_lines(read_at(end, 4 * MAX_LINE)):
                if not _CHATTER.search(line):
                    self.nccl_causes.append((offset, strip_prefix(line).strip()[:300]))
                    break
        elif len(self.nccl_warns) < 32:
            m = _NCCL_WARN.search(text)
            if m and not _NCCL_BENIGN.search(m.group(1)):
                self.nccl_warns.append((offset, m.group(1).strip()[:300]))

    def _line_above(self, offset: int) -> str:
        """The last non-empty line before file ``offset`` that is not another process's chatter
        (prefixes stripped), "" if none."""
        assert self.read_at is not None
        lo = max(0, offset - 4096)
        text = self.read_at(lo, offset - lo).decode("utf-8", "replace")
        rows = [x for x in text.replace("\r", "\n").split("\n")[1 if lo else 0:]
                if x.strip() and not _CHATTER.search(x)]
        rows = [strip_prefix(x).strip() for x in rows]
        rows = [x for x in rows if x]
        return rows[-1] if rows else ""

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
        # the same rule as detect_pcg (a run record's pcg_active), over the same markers
        return pcg_verdict(self.seen_active, self.seen_inactive, self.seen_weak)

    # -- lines ------------------------------------------------------------------------------
    def line(self, seg: bytes, offset: int, end: int, read_at: Callable[[int, int], bytes]) -> int:
        """Handle one trigger line (``seg``, at most MAX_LINE bytes of it) starting at file
        ``offset`` and ending at ``end``; returns the offset where scanning resumes."""
        self.read_at = read_at
        self._markers(seg)
        if b"\r" in seg:                     # tqdm redraws: keep the segment with the match
            m = self.trigger.search(seg)
            at = m.start() if m else len(seg)
            start = seg.rfind(b"\r", 0, at) + 1
            seg, offset = seg[start:], offset + start   # grep's `tr` gives the segment's offset
            cut = seg.find(b"\r")
            seg = seg if cut < 0 else seg[:cut]
        raw = seg.decode("utf-8", "replace").rstrip("\r\n")
        if self.words_phase.search(seg):
            p = phase_before(raw)
            self.phase = p if p is not None else self.phase
        if "Traceback (most recent call last)" in raw:
            return end + self._traceback(read_at(end, TB_WINDOW), raw, offset)
        if not self._full():
            self._line_event(raw, offset, end, read_at)
        return end
