"""The HTML dashboard: one static file with a pass-rate heatmap of tests x commits.

Built from the store's sweeps of one plan and mode (one column per commit, the newest sweep of
each), plus the sweep being reported if the store does not have it yet.  Rows carry their
suite and GPU count as ``data-`` attributes; the page's inline script filters them from the URL
hash (``#suite=NAME&gpus=N``), so a link can point at one slice.  Everything is inline (CSS, JS,
SVG sparklines) because the file is opened from CI artifacts with no network.
"""

from __future__ import annotations

import html
import json
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Optional

from ..model import RunRecord, short_name
from ..signatures.secrets import redact
from ..gitutil import try_git
from .markdown import ANALYSIS, runs_by_test, summarize_runs
from .pcg import render_pcg_html

TEMPLATE = Path(__file__).resolve().parent / "dashboard.html"


def _esc(v: Any) -> str:
    return html.escape("" if v is None else str(v), quote=True)


def _git_order(repo: Optional[str]) -> dict[str, tuple[int, str]]:
    """sha -> (position oldest-first, subject), from the repository the sweeps ran in."""
    if not repo or not Path(repo).is_dir():
        return {}
    out = try_git(["log", "--all", "--topo-order", "--reverse", "--format=%H %s"], repo) or ""
    order = {}
    for i, line in enumerate(out.splitlines()):
        sha, _, subject = line.partition(" ")
        order[sha] = (i, subject)
    return order


def collect_dashboard(store: Any, *, plan: str, mode: str, current: Optional[dict] = None,
                      current_runs: Optional[list[RunRecord]] = None,
                      analysis: Optional[dict] = None, limit: int = 40) -> dict[str, Any]:
    """Columns (commits), rows (tests with one cell per column) and open signatures.

    Commits that only a bisection probed (its culprit ``evidence``) get columns too, their cells
    marked ``probe``: that is where the heatmap shows the step from green to red."""
    # one shard, a --tests subset or a rerun is not the plan's state at that commit
    sweeps = [s for s in (store.sweeps(plan=plan, mode=mode) if store is not None else [])
              if not s.get("shard") and not (s.get("meta") or {}).get("partial")]
    if current and current.get("sweep_id") not in {s["sweep_id"] for s in sweeps}:
        sweeps.insert(0, dict(current, meta=current))
    cols, seen = [], set()
    for s in sweeps:                       # newest first: keep the newest sweep per commit
        if s.get("commit") not in seen:
            seen.add(s.get("commit"))
            cols.append(s)
    cols = cols[:limit]
    sigs = [dict(s) for s in (analysis or {}).get("signatures") or []
            if s.get("category") == "infra" or not s.get("tests") or any(
                t.get("verdict") in ("regression", "still-failing", "flaky")
                for t in s.get("tests") or [])]
    probes: dict[str, dict[str, dict]] = defaultdict(dict)   # sha -> test -> evidence
    for s in (analysis or {}).get("signatures") or []:
        for key in ("culprit", "fix"):
            for e in (s.get(key) or {}).get("evidence") or []:
                for t in s.get("tests") or []:
                    probes[e["sha"]][t["test"]] = e
    for sha in probes:
        if sha not in seen:
            seen.add(sha)
            cols.append({"commit": sha, "sweep_id": "bisect probe", "started_at": None,
                         "probe": True})
    repo = next((c.get("meta", {}).get("repo") for c in cols if c.get("meta", {}).get("repo")),
                None)
    order = _git_order(repo)
    cols.sort(key=lambda c: (order.get(c.get("commit") or "", (10**9, ""))[0],
                             c.get("started_at") or ""))
    rows: dict[str, dict[str, Any]] = {}
    for j, c in enumerate(cols):
        if c.get("probe"):
            continue
        if current and c["sweep_id"] == current.get("sweep_id") and current_runs is not None:
            runs = current_runs
        else:
            runs = store.runs(c["sweep_id"])
        for test, rs in runs_by_test(runs, mode).items():
            row = rows.setdefault(test, {"test": test, "suite": rs[0].suite or "(none)",
                                         "gpus": rs[0].gpus_needed, "cells": [None] * len(cols),
                                         "failed_with": {}})
            sm = summarize_runs(rs)
            row["cells"][j] = {"passed": sm["passed"], "runs": sm["runs"], "status": sm["status"]}
            for r in rs:   # the fingerprints it failed with, and where (the test's own page)
                if r.signature and r.outcome in ("fail", "timeout"):
                    seen_at = row["failed_with"].setdefault(r.signature, {"runs": 0, "commits": []})
                    seen_at["runs"] += 1
                    if c.get("commit") not in seen_at["commits"]:
                        seen_at["commits"].append(c.get("commit"))
    for j, c in enumerate(cols):
        for test, e in probes.get(c.get("commit") or "", {}).items():
            row = rows.get(test)
            if row is not None and row["cells"][j] is None:
                row["cells"][j] = {"passed": e.get("passed", 0), "runs": e.get("runs", 0),
                                   "status": "probe", "probe": True}
    columns = [{"commit": c.get("commit"), "sweep_id": c["sweep_id"],
                "started_at": c.get("started_at"), "probe": bool(c.get("probe")),
                "subject": order.get(c.get("commit") or "", (0, ""))[1]} for c in cols]
    return {"plan": plan, "mode": mode, "columns": columns,
            "rows": [rows[t] for t in sorted(rows, key=lambda t: (rows[t]["gpus"],
                                                                   rows[t]["suite"], t))],
            "signatures": sigs, "pcg": (analysis or {}).get("pcg")}


def _cell_html(cell: Optional[dict], col: dict) -> str:
    """One heatmap cell, kept small (600 tests x 60 commits is 36,000 of them): the colour is
    one of 21 classes (``b0`` red .. ``b20`` green, in the template), and only a cell that did
    not pass every run carries its rate and a tooltip."""
    if cell is None:
        return '<td class="cell none"></td>'
    probe = " probe" if cell.get("probe") else ""
    if not cell["runs"]:
        tip = f"{str(col['commit'])[:10]} {col['subject']}: no verdict run"
        return f'<td class="cell nv{probe}" title="{_esc(tip)}">-</td>'
    rate = cell["passed"] / cell["runs"]
    if rate == 1 and not probe:
        return '<td class="cell b20"></td>'
    tip = f"{str(col['commit'])[:10]} {col['subject']}: {cell['passed']}/{cell['runs']} passed" \
        + (" (bisect probe)" if probe else "")
    label = "" if rate == 1 else str(cell["passed"])
    return (f'<td class="cell b{round(20 * rate)}{probe}" data-rate="{rate:.2f}" '
            f'title="{_esc(tip)}">{label}</td>')


def _sparkline(cells: list[Optional[dict]]) -> str:
    pts = [(i, c["passed"] / c["runs"]) for i, c in enumerate(cells) if c and c["runs"]]
    w, h = max(8 * len(cells), 40), 20
    step = w / max(len(cells) - 1, 1)
    poly = " ".join(f"{i * step:.1f},{(1 - r) * (h - 4) + 2:.1f}" for i, r in pts)
    last = pts[-1] if pts else None
    dot = (f'<circle cx="{last[0] * step:.1f}" cy="{(1 - last[1]) * (h - 4) + 2:.1f}" r="2" '
           f'fill="{"#1a7f37" if last[1] == 1 else "#cf222e"}"/>') if last else ""
    return (f'<svg class="sparkline" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
            f'role="img" aria-label="pass rate trend"><polyline points="{poly}" fill="none" '
            f'stroke="#57606a" stroke-width="1.5"/>{dot}</svg>')


def _issue_html(issue: Any) -> str:
    if isinstance(issue, dict):
        num, url = issue.get("number"), issue.get("url") or issue.get("html_url")
        text = f"#{num}" if num else (issue.get("path") or "issue")
        return f'<a href="{_esc(url)}">{_esc(text)}</a>' if url else _esc(text)
    return _esc(issue) if issue else "not filed"


def _signatures_html(sigs: list[dict], sig_href: Optional[Callable[[str], str]] = None,
                     test_href: Optional[Callable[[str], str]] = None) -> str:
    if not sigs:
        return "<p>No open failure signatures.</p>"
    rows = []
    for s in sigs:
        c = s.get("culprit") or {}
        culprit = (f"<code>{_esc(str(c.get('sha'))[:10])}</code> {_esc(c.get('subject'))} "
                   f"<small>by {_esc(c.get('author'))}, confidence "
                   f"{float(c.get('confidence') or 0):.3f}</small>"
                   if c.get("status") == "found" else _esc(c.get("status") or "not bisected"))
        tests = "<br>".join(f"{_test_link(t.get('test'), test_href)} {_esc(t.get('verdict'))} "
                            f"{_esc('/'.join(map(str, t.get('current') or [])))}"
                            for t in s.get("tests") or [])
        cat = s.get("category") or "unknown"
        fp = _esc(s.get("fingerprint"))
        rows.append(f"<tr class=\"sig\" data-fingerprint=\"{fp}\">"
                    f"<td>{_link(redact(s.get('title') or ''), sig_href, s.get('fingerprint'))}"
                    f"<br><small><code>{fp}"
                    f"</code></small></td><td><span class=\"tag {_esc(cat)}\">{_esc(cat)}</span>"
                    f"</td><td>{tests}</td><td>{culprit}</td>"
                    f"<td>{_issue_html(s.get('issue'))}</td></tr>")
    return ("<table class=\"sigs\"><thead><tr><th>Signature</th><th>Category</th><th>Tests</th>"
            "<th>Culprit</th><th>Issue</th></tr></thead><tbody>" + "".join(rows)
            + "</tbody></table>")


def _link(text: str, href: Optional[Callable[[str], str]], key: Any) -> str:
    if href is None or not key:
        return _esc(text)
    return f'<a href="{_esc(href(str(key)))}">{_esc(text)}</a>'


def _test_link(test: Any, href: Optional[Callable[[str], str]]) -> str:
    return f"<code>{_link(str(test or ''), href, test)}</code>"


def render_dashboard(d: dict[str, Any], *, test_href: Optional[Callable[[str], str]] = None,
                     sig_href: Optional[Callable[[str], str]] = None,
                     nav: str = "") -> str:
    """The page; with ``test_href`` / ``sig_href`` (a published site) tests and signatures link
    to their own pages, and ``nav`` (HTML) is put above the title."""
    cols = d["columns"]
    head = "".join(f'<th{" class=probe" if c["probe"] else ""} title="{_esc(c["sweep_id"])} '
                   f'{_esc(c["subject"])}">{_esc(str(c["commit"])[:7])}</th>' for c in cols)
    body = []
    for r in d["rows"]:
        cells = "".join(_cell_html(c, cols[j]) for j, c in enumerate(r["cells"]))
        body.append(f'<tr data-suite="{_esc(r["suite"])}" data-gpus="{r["gpus"]}" '
                    f'data-test="{_esc(r["test"])}"><td class="test" title="{_esc(r["test"])}">'
                    f'{_link(short_name(r["test"]), test_href, r["test"])} '
                    f'<small>{_esc(r["suite"])} · {r["gpus"]} GPU'
                    f'</small></td>{cells}<td class="spark">{_sparkline(r["cells"])}</td></tr>')
    swept = [j for j, c in enumerate(cols) if not c["probe"]]
    every = d.get("all_rows", d["rows"])        # a page of a paginated heatmap counts them all
    latest = [r["cells"][swept[-1]] for r in every if swept and r["cells"][swept[-1]]]
    passing = sum(1 for c in latest if c["status"] == "passed")
    cards = [(len(swept), "commits swept"), (len(cols) - len(swept), "commits probed by bisect"),
             (len(every), "tests"),
             (f"{passing}/{len(latest)}", "passing at the newest commit"),
             (len(d["signatures"]), "open signatures")]
    suites = sorted({r["suite"] for r in d["rows"]})
    gpus = sorted({r["gpus"] for r in d["rows"]})
    title = f"pcgbot: {d['plan']} ({d['mode']})"
    meta = (f"{len(swept)} sweep(s); newest commit {_esc(str(cols[swept[-1]]['commit'])[:10])}"
            f" swept {_esc(cols[swept[-1]]['started_at'])}" if swept else "no sweeps")
    fills = {
        "TITLE": _esc(title), "META": meta, "NAV": nav,
        "CARDS": "".join(f'<div class="card"><b>{_esc(v)}</b><span>{_esc(k)}</span></div>'
                         for v, k in cards),
        "SUITE_OPTIONS": '<option value="">all</option>' + "".join(
            f'<option value="{_esc(s)}">{_esc(s)}</option>' for s in suites),
        "GPU_OPTIONS": '<option value="">all</option>' + "".join(
            f'<option value="{g}">{g}</option>' for g in gpus),
        "COLUMNS": head, "ROWS": "".join(body),
        "SIGNATURES": _signatures_html(d["signatures"], sig_href, test_href)
        + render_pcg_html(d.get("pcg")),
    }
    page = TEMPLATE.read_text()
    for k, v in fills.items():
        page = page.replace("{{" + k + "}}", v)
    return page


def dashboard_for_dir(sweep_dir: str | Path, store: Any = None,
                      issues: Optional[dict[str, dict]] = None) -> str:
    """The dashboard of the plan and mode of ``sweep_dir`` (its analysis gives the signatures;
    ``issues`` maps a fingerprint to its filed issue ``{"number", "url"}``)."""
    from ..results.sweepdir import read_meta, read_runs
    meta = read_meta(sweep_dir)
    a = Path(sweep_dir) / ANALYSIS
    analysis = json.loads(a.read_text()) if a.is_file() else None
    d = collect_dashboard(store, plan=meta.get("plan"), mode=meta.get("mode"),
                          current=dict(meta, dir=str(sweep_dir)),
                          current_runs=read_runs(sweep_dir), analysis=analysis)
    for sig in d["signatures"]:
        if issues and sig.get("fingerprint") in issues:
            sig["issue"] = issues[sig["fingerprint"]]
    return render_dashboard(d)
