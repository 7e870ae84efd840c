"""Commit statuses and check runs for a sweep: one line on the commit (or PR head) per config.

The status description is GitHub's 140 characters ("143/181 passed · 2 new regressions"); a check
run carries the Markdown summary too.  Posting is idempotent: an identical latest status for the
context, or an identical check run of the same name, is left alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from ..errors import UsageError
from ..model import short_name
from .backend import STATUS_DESC_LIMIT, Backend
from .render import rate

SHA_RE = re.compile(r"^[0-9a-f]{7,40}$")
CONTEXT_RE = re.compile(r"^[A-Za-z0-9_./:+ -]{1,100}$")


@dataclass
class StatusResult:
    state: str                 # success | failure | error | pending
    description: str
    context: str
    target_url: Optional[str]
    posted: bool               # False: an identical status was already there


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def describe(analysis: dict) -> tuple[str, str]:
    """(state, description) for a sweep's analysis."""
    t = analysis.get("totals") or {}
    sweep = analysis.get("sweep") or {}
    tests, passed, regs = int(t.get("tests", 0)), int(t.get("passed", 0)), int(t.get("regressions", 0))
    desc = f"{passed}/{tests} passed · {_plural(regs, 'new regression')}"
    extra = [f"{t[k]} {k}" for k in ("fixed", "flaky", "infra") if t.get(k)]
    if extra:
        desc += " · " + ", ".join(extra)
    if sweep.get("complete") is False:
        desc = "incomplete sweep · " + desc
    state = "failure" if regs else ("error" if sweep.get("complete") is False else "success")
    if len(desc) > STATUS_DESC_LIMIT:
        desc = desc[: STATUS_DESC_LIMIT - 1] + "…"
    return state, desc


def summary_markdown(analysis: dict, description: str) -> str:
    """The check run's summary: totals, then every non-unchanged test with its pass rates."""
    t = analysis.get("totals") or {}
    sweep = analysis.get("sweep") or {}
    lines = [f"**{description}**", "",
             f"Plan `{sweep.get('plan', '?')}` · mode `{sweep.get('mode', '?')}` · commit "
             f"`{(sweep.get('commit') or '?')[:12]}` · config `{analysis.get('config') or '?'}`", "",
             "| Tests | Passed | Failed | New regressions | Fixed | Flaky | Infra |", "|---|---|---|---|---|---|---|",
             "| " + " | ".join(str(t.get(k, 0)) for k in
                             ("tests", "passed", "failed", "regressions", "fixed", "flaky", "infra")) + " |", ""]
    notable = [x for x in analysis.get("tests") or [] if isinstance(x, dict) and x.get("verdict")
               not in (None, "unchanged")]
    order = {"regression": 0, "still-failing": 1, "flaky": 2, "fixed": 3}
    notable.sort(key=lambda x: (order.get(x["verdict"], 9), x.get("test", "")))
    if notable:
        lines += ["| Test | Verdict | Baseline | Current | Category |", "|---|---|---|---|---|"]
        for x in notable[:300]:
            lines.append(f"| `{short_name(x.get('test', ''))}` | {x['verdict']} | {rate(x.get('baseline'))} | "
                         f"{rate(x.get('current'))} | {x.get('category') or ''} |")
        if len(notable) > 300:
            lines.append(f"| … {len(notable) - 300} more | | | | |")
    if analysis.get("run_url"):
        lines += ["", f"Run: {analysis['run_url']}"]
    return "\n".join(lines) + "\n"


def post_status(backend: Backend, analysis: dict, sha: str, *, context: Optional[str] = None,
                target_url: Optional[str] = None, check_run: bool = False,
                paused: Optional[int] = None) -> StatusResult:
    """Post the sweep's status.  ``paused`` (the number of the issue labelled pcgbot-paused):
    a neutral answer instead of the verdict -- a status ``success`` saying "paused" (commit
    statuses have no neutral state, and a required check must not block merges while the bot
    is switched off), a check run ``neutral``."""
    sha = sha.strip().lower()
    if not SHA_RE.match(sha):
        raise UsageError(f"--sha: sha: expected 7-40 hex digits, got {sha!r}")
    context = context or f"pcg/{analysis.get('config') or 'sweep'}"
    if not CONTEXT_RE.match(context):
        raise UsageError(f"--context: context: expected 1-100 of [A-Za-z0-9_./:+ -], got {context!r}")
    state, desc = describe(analysis)
    if paused is not None:
        state = "success"
        desc = f"pcgbot paused (#{paused}), not judged · {desc}"[:STATUS_DESC_LIMIT]
    # the configuration's page of the published dashboard, else the CI run
    url = target_url or analysis.get("dashboard_url") or analysis.get("run_url")
    if check_run:
        conclusion = "neutral" if paused is not None else \
            {"success": "success", "failure": "failure", "error": "neutral"}.get(state, "neutral")
        posted = backend.upsert_check_run(sha, context, conclusion, desc, summary_markdown(analysis, desc), url)
        return StatusResult(state, desc, context, url, posted)
    latest = backend.latest_status(sha, context)
    if latest and latest.get("state") == state and latest.get("description") == desc \
            and (latest.get("target_url") or None) == (url or None):
        return StatusResult(state, desc, context, url, False)
    backend.create_status(sha, state, desc, url, context)
    return StatusResult(state, desc, context, url, True)
