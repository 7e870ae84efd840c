"""Stacks in a log that come without a usable traceback header (scheme v2).

Pasted excerpts and killed processes leave frames with no "Traceback" line above them, or no
exception line below them; faulthandler dumps a thread's stack innermost first.  These methods
give the scanner those frames: above an exception line (headless), as a stack of their own
when its error line is missing (a weak event, named by its innermost frames), and from a thread
dump.  Another process's chatter printed into the middle of a stack is looked past.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from .events import Event
from .normalize import Frame, parse_frame, strip_prefix

RUN_GAP = 4096            # frame lines further apart than this are two different stacks
MAX_RUN = 60              # frames kept of one orphan run (the innermost ones matter)
# Another process's chatter printed into the middle of a stack (NCCL_DEBUG=INFO, warnings): it
# neither ends nor starts a traceback.
_CHATTER = re.compile(r"NCCL INFO|NCCL WARN|Warning|^\[?W\d{3,4}|^\s*warnings\.warn")
_FH_HEADER = re.compile(r"^(?:Current thread|Thread) 0x[0-9a-f]+ \(most recent call first\):")
# faulthandler's frame lines: '  File "x.py", line 3 in f' (no comma before "in").
_FH_FRAME = re.compile(r'^\s*File "([^"]+)", line (\d+) in (.+?)\s*$')


class Stacks:
    """Mixin of the scanner (``scan._Scanner``): it provides roots, rs, events, run, _add, _rank."""
    roots: list[re.Pattern[str]]
    rs: Any
    events: list[Event]
    run: list[tuple[int, Frame, str]]
    _add: Callable[[Event], None]
    _rank: Callable[[Event], int]

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
        chatter = 0
        rows = [strip_prefix(r.rstrip("\r")) for r in (above[1:] if start else above)]
        for i in range(len(rows) - 1, -1, -1):
            raw, line = above[i + (1 if start else 0)], rows[i]
            fr = parse_frame(line, self.roots)
            if fr:
                frames.append(fr)
                kept.append(raw.rstrip())
            elif line[:1] in (" ", "\t") and line.strip():
                kept.append(raw.rstrip())     # source line or carets under a frame
            elif line.strip() and _CHATTER.search(line) and chatter < 8:
                chatter += 1                  # interleaved by another process: look past it
            elif line.strip() and self._frame_above(rows, i):
                kept.append(raw.rstrip())     # right under a frame: its source line, dedented
            elif line.strip():                # by a paste that lost the indentation
                break
            if len(kept) > 60:
                break
        if frames:
            ev.frames = frames[::-1]
            ev.lines = kept[::-1][-16:] + ev.lines

    def _frame_above(self, rows: list[str], i: int) -> bool:
        """Is the nearest line above rows[i] (chatter skipped) a frame line?"""
        for j in range(i - 1, max(-1, i - 10), -1):
            if rows[j].strip() and not _CHATTER.search(rows[j]):
                return parse_frame(rows[j], self.roots) is not None
        return False

    def _truncated(self, ev: Event) -> None:
        """A stack whose error line is not in the log (cut excerpt, killed process): a weak event
        named by its innermost frames, chosen only when the log shows nothing better."""
        rule = self.rs.by_id("truncated-traceback")
        if rule is None or not (ev.frames or ev.text):
            return
        ev.text = ev.text or "traceback without its error line"
        ev.rule, ev.rank = rule, self._rank(Event(0, "", rule=rule))
        self._add(ev)

    def _orphan_frame(self, offset: int, fr: Frame, raw: str) -> None:
        if self.run and offset - self.run[-1][0] > RUN_GAP:
            self.flush_run()                  # a new stack starts: keep the old one as an event
        self.run.append((offset, fr, raw))
        if len(self.run) > MAX_RUN:
            del self.run[0]

    def flush_run(self) -> None:
        """Turn the pending run of frame lines (no header, no error line) into an event."""
        run, self.run = self.run, []
        if not run:
            return
        ev = Event(run[0][0], "", frames=[f for _o, f, _r in run],
                   lines=[r for _o, _f, r in run[-8:]])
        self._truncated(ev)

    def _thread_dump(self, header: str, offset: int, end: int,
                     read_at: Callable[[int, int], bytes]) -> None:
        """faulthandler's "Current thread 0x... (most recent call first):" with no "Fatal Python
        error" line above it in the excerpt: the dumped stack names where the process hung or
        crashed."""
        for prev in self.events[-3:]:
            if "Fatal Python error" in prev.text and offset - prev.offset < 64 * 1024:
                return                        # already the segfault's own stack
        ev = Event(offset, "", lines=[header])
        self._faulthandler_frames(ev, offset, read_at)
        self._truncated(ev)

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
