"""What pcgbot writes on GitHub: issue titles and bodies, the hidden state block, comments.

An issue is found again by its hidden marker ``<!-- pcgbot:sig=FP -->`` (plus the ``sig:FP``
label used to list it), never by its title.  The bot's memory of an issue lives in the body too,
as ``<!-- pcgbot:state {json} -->``: what it already announced, reopen count, human overrides.
Keeping it in the issue (not only in a local store) means any runner, with any artifact history,
continues where the last one stopped.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Optional

from ..model import short_name
from .backend import BODY_LIMIT

MARKER = "<!-- pcgbot:sig={fp} -->"
MARKER_RE = re.compile(r"<!-- pcgbot:sig=([A-Za-z0-9_.:-]+) -->")
STATE_RE = re.compile(r"<!-- pcgbot:state (\{.*?\}) -->", re.S)
EVENT_RE = re.compile(r"<!-- pcgbot:event=([0-9a-f]+) -->")
BODY_BUDGET = BODY_LIMIT - 2048       # stay clear of the limit: redaction may lengthen a line
TITLE_MAX = 256
MAX_RUNS = 10                          # run links kept in the body


@dataclass
class IssueState:
    """The bot's memory of one issue (serialised in the body).  Unknown keys are ignored on load
    so older bots can read newer bodies."""
    fp: str
    tests: dict[str, dict] = field(default_factory=dict)   # test -> {verdict, baseline, current, statistic, log}
    culprit: Optional[dict] = None
    fix: Optional[dict] = None
    category: str = "unknown"
    pcg_specific: Optional[bool] = None
    gpus: Optional[int] = None
    runs: list[dict] = field(default_factory=list)         # [{sweep, commit, url}] newest last
    announced: dict = field(default_factory=dict)          # facts a human was already told
    healthy: list[str] = field(default_factory=list)       # sweep ids seen healthy since last failure
    reopens: int = 0
    seq: int = 0                          # bot comments so far: the key of the next one (see sync.comment_once)
    autoclose: bool = True
    closed_by_bot: bool = False
    superseded_by: Optional[int] = None   # a concurrent filing of the same fingerprint won
    redirect: Optional[int] = None        # "/pcgbot dup #N": occurrences go to issue N
    ignored: bool = False                 # "/pcgbot invalid": never file or reopen
    not_pcg: bool = False                 # "/pcgbot not-pcg": keep as not-pcg, never reopen
    fixed_by: Optional[str] = None        # "/pcgbot fixed-by SHA": close once a sweep confirms
    last_good: Optional[str] = None       # baseline commit when first seen: default `bisect --good`
    scheme: int = 1                       # fingerprint scheme of `fp` (bodies without it: v1)
    aliases: list[str] = field(default_factory=list)  # fingerprints it was known by (older schemes)
    split_from: Optional[int] = None      # filed when a new scheme split the signature of this issue

    def dump(self) -> str:
        # ">" escaped so that "-->" can never end the HTML comment early.
        text = json.dumps(asdict(self), sort_keys=True, separators=(",", ":")).replace(">", "\\u003e")
        return f"<!-- pcgbot:state {text} -->"

    @classmethod
    def load(cls, body: str) -> Optional["IssueState"]:
        fp = marker_of(body)
        m = _last_state(body or "")
        if fp is None:
            return None
        if m is None:
            return cls(fp=fp)
        try:
            data = json.loads(m.group(1))
        except ValueError:
            return cls(fp=fp)       # a human mangled it: start over, the marker still holds
        names = {f.name for f in fields(cls)}
        data = {k: v for k, v in data.items() if k in names}
        data["fp"] = fp
        return cls(**data)


def _last_state(body: str) -> Optional[re.Match]:
    # The bot's block is the last one: a log excerpt or title quoting a state block comes earlier.
    found = None
    for found in STATE_RE.finditer(body):
        pass
    return found


def marker_of(body: Optional[str]) -> Optional[str]:
    m = MARKER_RE.search(body or "")
    return m.group(1) if m else None


def replace_state(body: str, state: IssueState) -> str:
    """The body with its state block replaced (or appended), the rest untouched."""
    m = _last_state(body)
    if m:
        return body[:m.start()] + state.dump() + body[m.end():]
    return body.rstrip() + "\n\n" + state.dump() + "\n"


def rate(kn: Optional[list]) -> str:
    if not kn:
        return "–"
    k, n = kn
    return f"{k}/{n} ({100.0 * k / n:.0f}%)" if n else f"{k}/{n}"


def issue_title(title: str, tests: list[str]) -> str:
    names = [short_name(t) for t in sorted(tests)]
    shown = ", ".join(names[:3]) + (f" +{len(names) - 3} more" if len(names) > 3 else "")
    out = f"[pcgbot] {title} ({shown})" if shown else f"[pcgbot] {title}"
    return out if len(out) <= TITLE_MAX else out[: TITLE_MAX - 1] + "…"


def _pcg_line(pcg_specific: Optional[bool]) -> str:
    if pcg_specific is True:
        return "**yes**: fails with PCG, passes with PCG disabled (`nopcg` rerun)"
    if pcg_specific is False:
        return "**no**: fails with PCG disabled too (`nopcg` rerun), not PCG-related"
    return "unknown (no `nopcg` rerun yet)"


def _commit_block(label: str, c: dict) -> list[str]:
    # Full SHAs outside code spans: GitHub renders them as short links to the commits.
    if c.get("status") != "found" or not c.get("sha"):
        rng = c.get("range") or []
        span = f" in {rng[0]}...{rng[1]}" if len(rng) == 2 else ""
        return [f"### {label}", f"Bisect inconclusive{span} (confidence {c.get('confidence') or 0:.0%}).", ""]
    lines = [f"### {label}",
             f"{c['sha']} {c.get('subject') or ''} (author: {c.get('author') or '?'}), "
             f"confidence **{(c.get('confidence') or 0):.0%}**"]
    rng = c.get("range") or []
    if len(rng) == 2:
        lines.append(f"Searched {rng[0]} (good) .. {rng[1]} (bad).")
    ev = c.get("evidence") or []
    if ev:
        lines += ["", "| Commit | Passed | Runs |", "|---|---|---|"]
        lines += [f"| {e.get('sha', '')} | {e.get('passed')} | {e.get('runs')} |" for e in ev[:40]]
    return lines + [""]


def issue_body(sig: dict, state: IssueState, *, excerpt_lines: int = 60, max_tests: int = 200) -> str:
    """The whole issue body.  Shrinks the excerpt, then the test table, until it fits GitHub's
    65,536-character limit with margin."""
    while True:
        body = _body(sig, state, excerpt_lines, max_tests)
        if len(body) <= BODY_BUDGET:
            return body
        if excerpt_lines > 5:
            excerpt_lines //= 2
        elif max_tests > 10:
            max_tests //= 2
        else:   # pathological single lines: hard cut, keeping the marker and state at the ends
            head = body[: BODY_BUDGET - len(state.dump()) - 200]
            return head + "\n\n…(truncated)\n\n" + state.dump() + "\n"


def _body(sig: dict, state: IssueState, excerpt_lines: int, max_tests: int) -> str:
    fp = state.fp
    lines = [MARKER.format(fp=fp), f"## {sig.get('title') or fp}", ""]
    gpus = state.gpus
    lines += [f"- **Signature** `{fp}`" + (f" (rule `{sig['rule']}`)" if sig.get("rule") else ""),
              f"- **Category**: `{state.category}`" + (f" · **GPUs**: {gpus}" if gpus else ""),
              f"- **PCG-specific**: {_pcg_line(state.pcg_specific)}"]
    if sig.get("dashboard_url"):
        lines.append(f"- **Dashboard**: [pass rates, tests and bisect evidence]({sig['dashboard_url']})")
    if state.aliases:
        lines.append("- Also known as " + ", ".join(f"`{a}`" for a in state.aliases)
                     + " (earlier fingerprint schemes)")
    if state.split_from:
        lines.append(f"- Split from #{state.split_from}: fingerprint scheme {state.scheme} tells "
                     f"this failure apart from the one tracked there.")
    if state.redirect:
        lines.append(f"- Tracked in #{state.redirect} (marked duplicate).")
    if state.fixed_by:
        lines.append(f"- Reported fixed by `{state.fixed_by[:12]}`; closes when a sweep confirms.")
    if not state.autoclose:
        lines.append("- Auto-close is off (reopened twice): a human closes this one.")
    lines += ["", "### Affected tests", "| Test | Verdict | Baseline | Current | Statistic |", "|---|---|---|---|---|"]
    tests = sorted(state.tests.items())
    for t, d in tests[:max_tests]:
        stat = (d.get("statistic") or "").replace("|", "\\|")
        lines.append(f"| `{t}` | {d.get('verdict') or ''} | {rate(d.get('baseline'))} | {rate(d.get('current'))} | {stat} |")
    hidden = max(len(tests) - max_tests, 0) + max(len(sig.get("tests") or []) - len(tests), 0)
    if hidden:
        lines.append(f"| … and {hidden} more | | | | |")
    lines.append("")
    if state.culprit:
        lines += _commit_block("First bad commit (bisect)", state.culprit)
    if state.fix:
        lines += _commit_block("Fixing commit (bisect)", state.fix)
    excerpt = [str(x) for x in (sig.get("excerpt") or [])]
    if excerpt:
        if len(excerpt) > excerpt_lines:
            excerpt = excerpt[:excerpt_lines // 2] + ["…"] + excerpt[-(excerpt_lines - excerpt_lines // 2):]
        fence = "`" * max([3] + [len(m) + 1 for m in re.findall(r"`{3,}", "\n".join(excerpt))])
        lines += ["### Log excerpt (redacted)", fence + "text", *[x[:2000] for x in excerpt], fence, ""]
    if sig.get("reproduce"):
        lines += ["### Reproduce", "```sh", str(sig["reproduce"]), "```", ""]
    if state.runs:
        lines.append("### Runs")
        for r in state.runs[-MAX_RUNS:]:
            where = f"[{r.get('sweep')}]({r['url']})" if r.get("url") else f"`{r.get('sweep')}`"
            lines.append(f"- {where} at {r.get('commit') or '?'}")
        lines.append("")
    lines += ["<sub>Filed and updated by pcgbot. Commands: comment `/pcgbot help`.</sub>", "", state.dump(), ""]
    return "\n".join(lines)


def bucket(kn: Optional[list]) -> str:
    """Coarse pass-rate class: a change of class is news, a wobble inside one is not."""
    if not kn or not kn[1]:
        return "none"
    k, n = kn
    return "fails" if k == 0 else "passes" if k == n else "flaky"


def facts(state: IssueState) -> dict[str, Any]:
    """What a human should be told about when it changes."""
    return {"tests": {t: bucket(d.get("current")) for t, d in sorted(state.tests.items())},
            "culprit": (state.culprit or {}).get("sha") if (state.culprit or {}).get("status") == "found" else None,
            "fix": (state.fix or {}).get("sha") if (state.fix or {}).get("status") == "found" else None,
            "pcg_specific": state.pcg_specific, "category": state.category}


def change_lines(old: dict, new: dict, state: IssueState) -> list[str]:
    """Human sentences for what changed between two fact sets (empty: nothing worth a comment)."""
    if not old:
        return []
    out = []
    old_tests, new_tests = old.get("tests", {}), new.get("tests", {})
    for t, b in new_tests.items():
        d = state.tests.get(t, {})
        if t not in old_tests:
            out.append(f"- New test hit: `{t}`: {rate(d.get('baseline'))} → {rate(d.get('current'))}")
        elif old_tests[t] != b:
            out.append(f"- `{t}` now {b} ({old_tests[t]} before): {rate(d.get('current'))}")
    if new.get("culprit") and new["culprit"] != old.get("culprit"):
        c = state.culprit or {}
        out.append(f"- Culprit found: `{new['culprit'][:12]}` {c.get('subject') or ''} "
                   f"(confidence {(c.get('confidence') or 0):.0%})")
    if new.get("fix") and new["fix"] != old.get("fix"):
        out.append(f"- Fixing commit found: `{new['fix'][:12]}` {(state.fix or {}).get('subject') or ''}")
    if new.get("pcg_specific") != old.get("pcg_specific") and new.get("pcg_specific") is not None:
        out.append(f"- PCG-specific: {_pcg_line(new['pcg_specific'])}")
    if new.get("category") != old.get("category"):
        out.append(f"- Category: `{old.get('category')}` → `{new.get('category')}`")
    return out


def event_marker(key: str) -> str:
    return f"<!-- pcgbot:event={key} -->"
