"""The report's PCG coverage section (Markdown and HTML): where PCG did not run, and why.

A PCG sweep only tests PCG where PCG ran.  Three lists come from ``analysis.json``'s ``pcg``
block (``pcgbot.analysis.triage.pcg_findings``), or, without an analysis, the auto-disabled list
is computed from the sweep's own logs:

- *PCG coverage lost*: tests whose PCG ran in the sweep before and not in this one -- a finding
  (SGLang's auto-disable logic changed at this commit), listed first;
- *PCG-inert*: tests with PCG off in every run of their recent sweeps, run once per sweep as a
  sentinel, with the evidence (which sweeps, how many runs, what the log said);
- *PCG auto-disabled*: every test of this sweep whose runs all had PCG off, passing or failing,
  with the reason when the log names one.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any, Optional

from ..signatures.secrets import redact


def collect_pcg(dirs: list[Path], analyses: list[dict]) -> dict[str, Any]:
    """The ``pcg`` block of the first analysis that has one, else auto-disabled from the logs."""
    for a in analyses:
        if isinstance(a.get("pcg"), dict):
            return a["pcg"]
    from ..analysis.triage import auto_disabled
    from ..results.sweepdir import read_meta, read_runs

    out: dict[str, Any] = {"auto_disabled": [], "inert": [], "coverage_lost": [],
                           "sentinels": [], "sentinels_woken": []}
    for d in dirs:
        meta = read_meta(d)
        runs = [r for r in read_runs(d) if r.mode == meta.get("mode")]
        out["auto_disabled"] += auto_disabled(d, runs)
        out["sentinels"] += list(meta.get("sentinels") or [])
        out["sentinels_woken"] += list(meta.get("sentinels_woken") or [])
    return out


def _said(item: dict) -> str:
    line = item.get("line")
    if not line:
        return "(the log names no reason: SGLang's check is silent)"
    return redact(str(line))[:160]


def _commits(e: dict) -> str:
    """The window's sweeps as their short commits, newest first."""
    n = len(e.get("sweeps") or [])
    cs = [str(c)[:7] for c in e.get("commits") or [] if c]
    return f"{n} ({', '.join(cs)})" if cs else str(n)


def _md_table(head: list[str], rows: list[list[Any]]) -> list[str]:
    cell = lambda v: str(v).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    return (["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
            + ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows] + [""])


def render_pcg_markdown(pcg: Optional[dict]) -> list[str]:
    """Markdown lines of the section (empty when there is nothing to say)."""
    if not pcg or not any(pcg.get(k) for k in ("auto_disabled", "inert", "coverage_lost",
                                                 "sentinels")):
        return []
    out = ["## PCG Coverage", ""]
    if pcg.get("coverage_lost"):
        out += ["### PCG coverage lost", "",
                "PCG ran in these tests' previous sweep and not in this one: SGLang now "
                "auto-disables it there. Their passes no longer test PCG.", ""]
        out += _md_table(["Test", "PCG ran at", "PCG off at", "Reason", "Log said"],
                         [[f"`{c['test']}`", f"`{str(c.get('was_active_commit'))[:10]}`",
                           f"`{str(c.get('commit'))[:10]}`", c.get("reason") or "unknown",
                           _said(c)] for c in pcg["coverage_lost"]])
    if pcg.get("inert") or pcg.get("sentinels"):
        woken = set(pcg.get("sentinels_woken") or [])
        out += ["### PCG-inert tests (one sentinel run per sweep)", "",
                f"This sweep ran {len(pcg.get('sentinels') or [])} sentinel(s); "
                f"{len(woken)} showed PCG active and ran in full"
                + (": " + ", ".join(f"`{t}`" for t in sorted(woken)) if woken else "") + ".", ""]
        if pcg.get("inert"):
            out += _md_table(["Test", "Sweeps (commits)", "Runs with PCG off", "Reason",
                              "Log said", "Log"],
                             [[f"`{e['test']}`", _commits(e), e.get("runs"),
                               e.get("reason") or "unknown", _said(e), e.get("log") or ""]
                              for e in pcg["inert"]])
    if pcg.get("auto_disabled"):
        out += ["### PCG auto-disabled", "",
                "Every run of these tests had PCG off whatever the mode asked: a pass here is "
                "not a PCG pass.", ""]
        out += _md_table(["Test", "Status", "Passed", "Reason", "Log said"],
                         [[f"`{a['test']}`", a.get("status"), f"{a.get('passed')}/{a.get('runs')}",
                           a.get("reason") or "unknown", _said(a)] for a in pcg["auto_disabled"]])
    return out


def _esc(v: Any) -> str:
    return html.escape("" if v is None else str(v), quote=True)


def render_pcg_html(pcg: Optional[dict]) -> str:
    """The dashboard's section: the same three lists as HTML tables."""
    if not pcg:
        return ""
    parts = []
    tables = (
        ("coverage_lost", "PCG coverage lost",
         ["Test", "PCG ran at", "PCG off at", "Reason", "Log said"],
         lambda c: [c["test"], str(c.get("was_active_commit"))[:10], str(c.get("commit"))[:10],
                    c.get("reason") or "unknown", _said(c)]),
        ("inert", "PCG-inert tests (one sentinel run per sweep)",
         ["Test", "Sweeps (commits)", "Runs with PCG off", "Reason", "Log said", "Log"],
         lambda e: [e["test"], _commits(e), e.get("runs"), e.get("reason") or "unknown",
                    _said(e), e.get("log") or ""]),
        ("auto_disabled", "PCG auto-disabled in this sweep",
         ["Test", "Status", "Passed", "Reason", "Log said"],
         lambda a: [a["test"], a.get("status"), f"{a.get('passed')}/{a.get('runs')}",
                    a.get("reason") or "unknown", _said(a)]),
    )
    for key, title, head, row in tables:
        items = pcg.get(key) or []
        if not items:
            continue
        rows = "".join("<tr>" + "".join(f"<td>{_esc(v)}</td>" for v in row(i)) + "</tr>"
                       for i in items)
        parts.append(f'<h2 id="pcg-{key.replace("_", "-")}">{_esc(title)} ({len(items)})</h2>'
                     f"<table class=pcg><tr>{''.join(f'<th>{_esc(h)}</th>' for h in head)}</tr>"
                     f"{rows}</table>")
    return "".join(parts)
