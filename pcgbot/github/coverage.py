"""One GitHub issue per sweep that lost PCG coverage.

A test that ran with PCG in its previous sweep and without it in this one is not a failure --
every run may pass -- but the PCG sweep stopped testing PCG there (SGLang's auto-disable logic
changed, a model moved to another architecture).  Saving its repeats is not enough: a person
should decide whether that was intended.  So each sweep with such tests gets one issue listing
them (from ``analysis.json``'s ``pcg.coverage_lost``, see ``pcgbot.analysis.triage``), filed
through the same ``Backend`` seam as the signature issues (real GitHub or a dry-run folder).

Idempotent: the body carries a hidden marker with the sweep id, and a sweep whose issue exists
(open or closed) files nothing, so a re-run of the CI job does not duplicate it.
"""

from __future__ import annotations

from typing import Any, Optional

from .backend import Backend, Issue

LABEL = "pcg-coverage-lost"
LABEL_COLOR = "5319e7"
LABEL_DESC = "pcgbot: tests where PCG stopped running"


def marker(sweep_id: str) -> str:
    return f"<!-- pcgbot:coverage-lost sweep={sweep_id} -->"


def _cell(v: Any) -> str:
    return str(v if v is not None else "").replace("|", "\\|").replace("\n", " ")[:200]


def render_issue(analysis: dict[str, Any]) -> Optional[tuple[str, str]]:
    """(title, body) of the sweep's coverage issue, or None when it lost none."""
    pcg = analysis.get("pcg")
    lost = pcg.get("coverage_lost") if isinstance(pcg, dict) else None
    lost = [c for c in lost if isinstance(c, dict)] if isinstance(lost, list) else []
    if not lost:
        return None
    sweep = analysis.get("sweep") or {}
    commit = str(sweep.get("commit") or "?")
    title = (f"PCG coverage lost at {commit[:10]}: {len(lost)} test(s) no longer run PCG "
             f"({sweep.get('plan') or '?'})")
    lines = [
        f"In sweep `{sweep.get('sweep_id')}` of `{commit}` these tests ran with PCG off in every "
        "run, while their previous sweep ran PCG. Their passes no longer test PCG; from the "
        "next sweeps on they run once as PCG-inert sentinels.",
        "",
        "If SGLang meant to turn PCG off there, close this issue. If not, the auto-disable "
        "change between the two commits is the thing to look at.",
        "",
        "| Test | PCG ran at | PCG off at | Reason | Log said |",
        "|---|---|---|---|---|",
    ]
    for c in lost:
        was, now = str(c.get("was_active_commit"))[:10], str(c.get("commit"))[:10]
        lines.append(f"| `{_cell(c.get('test'))}` | `{_cell(was)}` | `{_cell(now)}` | "
                     f"{_cell(c.get('reason') or 'unknown')} | "
                     f"{_cell(c.get('line') or '(no reason in the log)')} |")
    if analysis.get("run_url"):
        lines += ["", f"CI run: {analysis['run_url']}"]
    lines += ["", marker(str(sweep.get("sweep_id")))]
    return title, "\n".join(lines)


def file_coverage_issue(backend: Backend, analysis: dict[str, Any]) -> tuple[str, Optional[Issue]]:
    """File the sweep's coverage issue once.  Returns ("filed" | "exists" | "none", issue)."""
    rendered = render_issue(analysis)
    if rendered is None:
        return "none", None
    title, body = rendered
    mark = marker(str((analysis.get("sweep") or {}).get("sweep_id")))
    for issue in backend.list_issues([LABEL], state="all"):
        if mark in (issue.body or ""):
            return "exists", issue
    backend.ensure_labels({LABEL: (LABEL_COLOR, LABEL_DESC)})
    return "filed", backend.create_issue(title, body, [LABEL])
