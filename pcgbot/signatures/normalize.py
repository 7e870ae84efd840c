"""Pure text normalisation for failure signatures (no I/O).

Two runs of the same bug print different PIDs, ports, addresses, timestamps, ranks, temp paths and
tqdm bars; a fingerprint must not see any of that.  The table below is ordered (earlier rules
protect text from later ones, e.g. timestamps before bare numbers) and every row says why it
exists, in the manner of syzkaller's report title rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

# Per-line prefixes that launchers, CI systems and issue pastes add; they are stripped before
# parsing so a traceback printed by torchrun ("[rank0]: ..."), copied from a CI log
# ("2026-01-29T10:11:12.1234567Z ...") or quoted in a comment ("> ") parses like a plain one.
# One alternative per source, each named; ``strip_prefix`` applies them repeatedly because real
# lines stack them ("[time] (EngineCore_DP0 pid=1) ERROR 07-27 23:31:27 [core.py:591] ...").
_PREFIXES: list[tuple[str, str]] = [
    ("bom/quote", r"\ufeff|>\s?"),
    ("CI timestamp", r"\[?\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?\]?"
                     r"(?:\s+(?:stdout|stderr)\s+[FP])?\s"),     # GitHub Actions, Buildkite, k8s CRI
    ("journald", r"[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d [\w.\-]+ [\w.\-]+(?:\[\d+\])?: "),
    ("date time", r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:[.,]\d+)?(?:\s+-\s+[\w.]+\s+-\s+[A-Z]+\s+-)?\s"),
                                                               # Python logging "... - name - ERROR - "
    ("tgi shard", r"Shard \d+:\s?"),                           # text-generation-inference
    ("short timestamp", r"(?:[A-Z][a-z]{2} [ \d]\d|\d\d-\d\d) \d\d:\d\d:\d\d(?:[.,]\d+)?(?=\s)\s?"),
                                                               # CircleCI "Dec 03 17:59:26", "04-20 13:32:25.784"
    ("colour", r"(?:\x1b|\^\[)\[[0-9;]*m"),                   # real or pasted as literal ^[[
    ("gutter", r"\s*(?:[|│┃]|\d+\s*\|)\s?"),                   # tables, box drawings, nl -ba
    ("compose", r"[\w.\-]+\s+\|\s"),                           # docker compose "svc-1  | "
    ("stamp|level|", r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \| \w+ \| \w+ \| "),
    ("grep -n / pid", r"\[\d+\]\s|\d{1,7}:(?=\s)"),
    ("sglang", r"\[(?:\d{4}-\d\d-\d\d )?\d\d:\d\d:\d\d(?:[ ,][\w.]+)*\]\s?|\[gpu_id=\d+\]\s"),
    ("torchrun", r"\[rank\d+\]:\s?"),
    ("glog", r"[EWIF]\d{4} [\d:.]+ \d+ [\w/.]+:\d+\] (?:\[[\d/_]+\] )?|\[[EWIF] [\w.]+:\d+\]\s"
             r"|\[[EWIF]\d{3,4} [\d:.]+ [\w/.]+:\d+\]\s?"),
    ("vllm logger", r"(?:INFO|WARNING|ERROR|DEBUG|CRITICAL)\s+\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?\s+"
                    r"\[?[\w.]+:\d+\]\s?|\[[\w.]+\.py:\d+\]\s"),
    ("actor tag", r"\((?:[A-Za-z_]\w*(?:[ _]\w+)*)?(?:,? ?(?:pid|rank|ip)=[\w.]+)*\)\s"),
    ("wrapper tag", r"\[[A-Z][A-Z0-9_]{1,15}\]\s"),              # [BASH] , [ERROR]
    ("pytest", r"\s?E\s{2,}(?=\S)|\s?E$"),                      # "E   AssertionError: ..."
]
_PREFIX = re.compile("^(?:" + "|".join(f"(?:{rx})" for _n, rx in _PREFIXES) + ")")
_TRAILING_GUTTER = re.compile(r"(?<!\s)\s*[│┃]\s*$|^\s*[│┃]\s*$")
_ANSI = re.compile(r"(?:\x1b|\^\[)\[[0-9;?]*[A-Za-z]")


def strip_prefix(line: str) -> str:
    """Drop launcher, CI and paste prefixes (repeatedly: they stack) and ANSI colour, so parsing
    sees the program's own text."""
    line = _ANSI.sub("", line)
    line = _TRAILING_GUTTER.sub("", line)
    for _ in range(6):
        m = _PREFIX.match(line)
        if not m or not m.end():
            break
        line = line[m.end():]
    return line


# (pattern, replacement, why) — applied in order by ``normalize``.
_RULES: list[tuple[re.Pattern[str], str, str]] = [
    (re.compile(r"\x1b\[[0-9;?]*[A-Za-z]"), "", "terminal colour codes are presentation"),
    (re.compile(r"(?<!\s)\s*\d{1,3}%\|[^|\n]*\|\s*[\d.]+[kMG]?/[\d.]+[kMG]?\s*\[[^\]\n]*\]"), " PROGRESS",
     "tqdm bars differ by how far the run got"),
    (re.compile(r"\b\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?"), "TIME",
     "wall-clock timestamps"),
    (re.compile(r"\b\d\d:\d\d:\d\d(?:[.,]\d+)?\b"), "TIME", "clock times without a date"),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I), "UUID",
     "request and run ids"),
    (re.compile(r"\b0x[0-9a-fA-F]+\b"), "ADDR", "pointers and handles move between runs"),
    (re.compile(r"(?:[A-Za-z]:)?(?:/[\w.@+\-]+){2,}/([\w.@+\-]+)"), r"PATH/\1",
     "checkout, venv and temp dirs differ per machine; the file name stays"),
    (re.compile(r"\bhttps?://[\w.\-]+(?::\d+)?"), "URL", "hosts and ports of local servers"),
    (re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?"), "IP", "addresses and their ports"),
    (re.compile(r"(?i)\b(port)(\s*[=:]?\s*)\d{2,5}\b"), r"\1\2PORT", "ports are picked at random"),
    (re.compile(r"(?i)\b(pid|process|worker|child)(\s*[=:#]?\s*)\d+\b"), r"\1\2PID",
     "process ids"),
    (re.compile(r"\b(?:TP|DP|PP|EP|CP|rank|Rank|RANK|local_rank|cuda:)\s*[=:]?\s*\d+\b"), "RANK",
     "which rank crashed first is a race"),
    (re.compile(r"\b[0-9a-f]{12,}\b", re.I), "HEX", "hashes, commit shas, tensor ids"),
    (re.compile(r"\b\d+(?:\.\d+)?(?:e[+-]?\d+)?\b"), "N",
     "sizes, counts, scores and line numbers change with the input and the commit"),
    (re.compile(r"\s+"), " ", "whitespace runs are layout"),
]


def normalize(text: str) -> str:
    """The fingerprint form of a message: every volatile token replaced by a placeholder."""
    for pat, repl, _why in _RULES:
        text = pat.sub(repl, text)
    return text.strip().rstrip("`'\".,;:\u3002 ")   # a paste's closing quote or full stop


# Title cleaning keeps numbers (a person wants "128 vs 1536") but drops what makes two titles of
# one bug look different at a glance: colour, progress bars, clock times, addresses, long paths.
_TITLE_RULES: list[tuple[re.Pattern[str], str]] = [
    (_RULES[0][0], ""),
    (_RULES[1][0], ""),
    (_RULES[2][0], ""),
    (_RULES[3][0], ""),
    (_RULES[4][0], "UUID"),
    (_RULES[5][0], "ADDR"),
    (_RULES[6][0], r"\1"),
]


def clean_for_title(text: str, limit: int = 110) -> str:
    """A readable one-line message: volatile noise removed, cut at a word boundary."""
    for pat, repl in _TITLE_RULES:
        text = pat.sub(repl, text)
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) > limit:
        cut = text[:limit].rsplit(" ", 1)[0]
        text = (cut if len(cut) > limit // 2 else text[:limit]).rstrip(" ,;:") + "..."
    return text


# --- traceback frames ------------------------------------------------------------------------
_FRAME = re.compile(r'^\s*File \\?"(?P<path>(?:[^"\\]|\\(?!"))+)\\?", line (?P<line>\d+), in (?P<func>.+?)\s*$')
# pytest's long traceback names a frame "tests/test_x.py:123: in test_x" (then the source).
_PYTEST_FRAME = re.compile(r'^\s*(?P<path>[^\s:"]+\.py):(?P<line>\d+): in (?P<func>[\w<>.]+)\s*$')

# Where the engine's own code lives in a path.  Everything before the match (checkout dir,
# site-packages, venv) is machine-specific; the module path after it is the stable part.
DEFAULT_ENGINE_ROOTS = [
    r"(?:^|/)(sglang/(?:srt|jit_kernel|multimodal_gen|lang|test|bench\w*|launch\w*)(?:/.*)?\.py)$",
    r"(?:^|/)(sgl_kernel/.*\.py)$",
    r"(?:^|/)(vllm/.*\.py)$",
    r"(?:^|/)(test/(?:registered|srt|manual)/.*\.py)$",
]
_SITE = re.compile(r"(?:site-packages|dist-packages)/(.+\.py)$")


@dataclass(frozen=True)
class Frame:
    module: str        # dotted module path from the package root ("sglang.srt.x.pynccl") or file
    func: str          # function name, e.g. "outplace_all_reduce"
    engine: bool       # inside the engine's (or its tests') own code

    @property
    def short(self) -> str:
        """``pynccl.outplace_all_reduce``: what a title shows."""
        return f"{self.module.rsplit('.', 1)[-1]}.{self.func}"

    @property
    def key(self) -> str:
        return f"{self.module}:{self.func}"


def parse_frame(line: str, engine_roots: list[re.Pattern[str]]) -> Optional[Frame]:
    """``  File "/x/python/sglang/srt/a.py", line 3, in f`` -> Frame("sglang.srt.a", "f", True)."""
    m = _FRAME.match(line) or _PYTEST_FRAME.match(line)
    if not m:
        return None
    path = m.group("path").replace("\\", "/")
    func = m.group("func")
    for root in engine_roots:
        em = root.search(path)
        if em:
            return Frame(_dotted(em.group(1)), func, True)
    sm = _SITE.search(path)
    mod = _dotted(sm.group(1)) if sm else _dotted(path.rsplit("/", 1)[-1])
    return Frame(mod, func, False)


def _dotted(rel: str) -> str:
    rel = rel[:-3] if rel.endswith(".py") else rel
    if rel.endswith("/__init__"):
        rel = rel[: -len("/__init__")]
    return rel.strip("/").replace("/", ".")


# An exception line: "pkg.mod.SomeError: message" or a bare "SomeError".  The type must look like
# an exception class (so "INFO: 127.0.0.1 ..." or "Note: ..." are not mistaken for one).
EXC_LINE = re.compile(
    r"^(?P<type>(?:[A-Za-z_]\w*\.)*(?:(?:[A-Z]\w*)?(?:Error|Exception|Exit|Interrupt|Unsupported|Failure|"
    r"Failed|Warning|Iteration|Timeout|NotFound|Exceeded|Invalid|Mismatch)|Unsupported|"
    r"InternalTorchDynamoError|AssertionError|KeyError"
    r"|(?:[a-z_]\w*\.)+[A-Z][A-Za-z]+))(?::\s?(?P<msg>.*))?$"
)


def parse_exception(line: str) -> Optional[tuple[str, str]]:
    m = EXC_LINE.match(line.strip())
    if not m:
        return None
    return m.group("type"), (m.group("msg") or "").strip()
