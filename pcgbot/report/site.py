"""The published dashboard: a static site of PCG health over the last sweeps, for GitHub Pages.

Layout (every URL stable: a test's or a signature's page never moves when new sweeps arrive, so
statuses and issues can link to it)::

    index.html                        the GPU configurations, one card each
    <config>/index.html               the heatmap of tests x commits of one configuration
    tests/<test-slug>.html            one test: pass rate over commits in every configuration,
                                      the fingerprints it failed with, its issue
    signatures/<fingerprint>.html     one open signature: tests, culprit, bisect evidence, issue
    data/index.json, data/<config>.json, data/signatures.json   the same data, for other tools

No server, no external script or font (self-hosted runners and users behind firewalls); the
heatmap and every page work without JavaScript (only the heatmap's filters use it).
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any, Iterable, Optional

from ..analysis.links import page_of_config, page_of_signature, page_of_test, slug
from ..fsutil import make_dir, write_text
from ..signatures.secrets import redact
from .dashboard import _cell_html, _sparkline, collect_dashboard, render_dashboard

_CSS = """body{margin:0;font:14px/1.45 -apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:#1f2328}
header{padding:16px 24px;border-bottom:1px solid #d0d7de;background:#f6f8fa}
header h1{margin:0 0 4px;font-size:20px}nav{font-size:13px;margin-bottom:6px}
main{padding:16px 24px;max-width:1400px}h2{font-size:16px;margin:24px 0 8px}
table{border-collapse:collapse}th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:left;
vertical-align:top;font-size:13px}th{background:#f6f8fa}code{font-family:ui-monospace,Menlo,monospace;
font-size:12px}.cards{display:flex;gap:12px;flex-wrap:wrap}.card{border:1px solid #d0d7de;
border-radius:6px;padding:8px 14px;min-width:160px}.card b{display:block;font-size:18px}
.heat td.cell{width:34px;height:22px;text-align:center;font-size:10px;color:#fff;font-weight:600;
border:1px solid #fff;padding:0}.heat td.cell.none{background:#eaeef2}.heat td.cell.nv{background:#8c959f}
.muted{color:#656d76}""" + "".join(   # the heatmap's 21 colour classes, as in dashboard.html
    f".heat td.b{b}{{background:hsl({6 * b},62%,{40 if b in (0, 20) else 44}%)}}" for b in range(21))


def _esc(v: Any) -> str:
    return html.escape("" if v is None else str(v), quote=True)


def _page(title: str, body: str, depth: int) -> str:
    up = "../" * depth
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_esc(title)}</title><style>{_CSS}</style></head><body><header>"
            f'<nav><a href="{up}index.html">pcgbot dashboard</a></nav><h1>{_esc(title)}</h1>'
            f"</header><main>{body}</main></body></html>\n")


def _issue(issue: Any) -> str:
    if isinstance(issue, dict) and (issue.get("url") or issue.get("html_url")):
        num = issue.get("number")
        return (f'<a href="{_esc(issue.get("url") or issue.get("html_url"))}">'
                f'{_esc("#" + str(num) if num else "issue")}</a>')
    return "not filed"


def _load_analyses(paths: Iterable[str | Path]) -> list[dict]:
    from ..errors import UsageError
    out = []
    for p in paths:
        try:
            a = json.loads(Path(p).read_text())
        except OSError as e:
            raise UsageError(f"{p}: --analysis: {e.strerror}") from None
        except ValueError as e:
            raise UsageError(f"{p}: --analysis: invalid JSON ({e})") from None
        if not isinstance(a, dict):
            raise UsageError(f"{p}: --analysis: not an analysis.json object")
        out.append(a)
    return out


def _config_of(analysis: dict) -> tuple[Optional[str], Optional[str]]:
    sw = analysis.get("sweep") or {}
    return sw.get("plan") or analysis.get("plan"), sw.get("mode") or analysis.get("mode")


def build_site(store: Any, out: str | Path, *, analyses: Iterable[str | Path] = (),
               last: int = 60, issues: Optional[dict[str, dict]] = None) -> dict[str, Any]:
    """Write the site into ``out`` from the store's sweeps (the newest ``last`` commits of each
    plan and mode) and the newest analysis of each; returns what was written."""
    out = make_dir(out)
    loaded = _load_analyses(analyses)
    by_config = {}
    for a in loaded:              # the newest analysis of each configuration gives its signatures
        by_config[_config_of(a)] = a
    configs = sorted({(s["plan"], s["mode"]) for s in store.sweeps() if s.get("plan")})
    written: dict[str, Any] = {"configs": [], "tests": 0, "signatures": 0, "out": str(out)}
    tests: dict[str, dict[str, Any]] = {}
    sigs: dict[str, dict[str, Any]] = {}
    make_dir(out / "data")
    index_cards = []
    for plan, mode in configs:
        d = collect_dashboard(store, plan=plan, mode=mode, analysis=by_config.get((plan, mode)),
                              limit=last)
        page_path = page_of_config(plan, mode)
        name = page_path.split("/")[0]
        for s in d["signatures"]:
            fp = s.get("fingerprint")
            if issues and fp in issues:
                s["issue"] = issues[fp]
            if fp:
                sigs.setdefault(fp, dict(s, configs=[]))["configs"].append(f"{plan} ({mode})")
        make_dir(out / name)
        pages = _pages(d)      # sorted once: every page's links need the count
        for i, (fname, part) in enumerate(pages):
            nav = ('<nav><a href="../index.html">all configurations</a>'
                   + _page_links(len(pages), i) + "</nav>")
            page = render_dashboard(part, test_href=lambda t: f"../{page_of_test(t)}",
                                    sig_href=lambda fp: f"../{page_of_signature(fp) or '#'}",
                                    nav=nav)
            write_text(out / name / fname, page)
        write_text(out / "data" / f"{name}.json", json.dumps(d, sort_keys=True) + "\n")
        for r in d["rows"]:
            tests.setdefault(r["test"], {"test": r["test"], "configs": []})["configs"].append(
                {"plan": plan, "mode": mode, "page": f"{name}/index.html", "row": r,
                 "columns": d["columns"]})
        swept = [j for j, c in enumerate(d["columns"]) if not c["probe"]]
        newest = [r["cells"][swept[-1]] for r in d["rows"] if swept and r["cells"][swept[-1]]]
        passing = sum(1 for c in newest if c["status"] == "passed")
        index_cards.append((name, plan, mode, len(swept), f"{passing}/{len(newest)}",
                            len(d["signatures"])))
        written["configs"].append({"plan": plan, "mode": mode, "page": f"{name}/index.html",
                                   "data": f"data/{name}.json"})
    make_dir(out / "tests")
    for t in tests.values():
        write_text(out / page_of_test(t["test"]), _test_page(t, sigs))
    make_dir(out / "signatures")
    published = 0
    for fp, s in sigs.items():
        if page_of_signature(fp):                          # fingerprints name files
            write_text(out / page_of_signature(fp), _signature_page(s))
            published += 1
    cards = "".join(
        f'<div class="card"><a href="{_esc(n)}/index.html"><b>{_esc(p)}</b></a>'
        f'<span class="muted">mode {_esc(m)} · {sw} commits · {_esc(ok)} passing at the newest'
        f' · {ns} open signatures</span></div>' for n, p, m, sw, ok, ns in index_cards)
    sig_rows = "".join(
        f'<tr><td><a href="{_esc(page_of_signature(fp) or "#")}">{_esc(redact(s.get("title") or fp))}</a>'
        f'</td><td>{_esc(s.get("category"))}</td><td>{_esc(", ".join(s["configs"]))}</td>'
        f'<td>{_issue(s.get("issue"))}</td></tr>' for fp, s in sorted(sigs.items()))
    body = (f'<div class="cards">{cards or "<p>No sweeps yet.</p>"}</div>'
            f"<h2>Open failure signatures</h2>"
            + (f"<table><tr><th>Signature</th><th>Category</th><th>Configurations</th>"
               f"<th>Issue</th></tr>{sig_rows}</table>" if sig_rows else "<p>None.</p>")
            + '<p class="muted">Data: <a href="data/index.json">data/index.json</a></p>')
    write_text(out / "index.html", _page("pcgbot: PCG health", body, 0))
    written["tests"], written["signatures"] = len(tests), published
    write_text(out / "data" / "index.json", json.dumps(written, sort_keys=True, indent=1) + "\n")
    write_text(out / "data" / "signatures.json", json.dumps(sigs, sort_keys=True) + "\n")
    # GitHub Pages would run Jekyll over the site (dropping files that start with _): not needed
    write_text(out / ".nojekyll", "")
    return written


# A heatmap page holds at most this many tests (x up to 60 commits: 6,000 cells, which a
# browser lays out in well under a second); the worst tests come first, on index.html.
ROWS_PER_PAGE = 100


def _worst_first(rows: list[dict]) -> list[dict]:
    """Tests that failed anywhere first (the lowest newest pass rate first), then the rest in
    the heatmap's own order."""
    def badness(r: dict) -> tuple:
        cells = [c for c in r["cells"] if c and c.get("runs")]
        newest = cells[-1]["passed"] / cells[-1]["runs"] if cells else 1.0
        worst = min((c["passed"] / c["runs"] for c in cells), default=1.0)
        return (worst == 1.0, newest, worst)
    return sorted(rows, key=badness)


def _pages_of(d: dict) -> list[list[dict]]:
    rows = _worst_first(d["rows"])
    return [rows[i:i + ROWS_PER_PAGE] for i in range(0, len(rows), ROWS_PER_PAGE)] or [[]]


def _pages(d: dict) -> list[tuple[str, dict]]:
    out = []
    for i, rows in enumerate(_pages_of(d)):
        part = dict(d, rows=rows, all_rows=d["rows"])     # the cards count every test
        out.append(("index.html" if i == 0 else f"page-{i + 1}.html", part))
    return out


def _page_links(n: int, current: int) -> str:
    if n <= 1:
        return ""
    links = []
    for i in range(n):
        label = f"{i * ROWS_PER_PAGE + 1}-{(i + 1) * ROWS_PER_PAGE}"
        if i == current:
            links.append(f"<b>{label}</b>")
        else:
            links.append(f'<a href="{"index.html" if i == 0 else f"page-{i + 1}.html"}">{label}</a>')
    return " · tests (worst first): " + " ".join(links)


def _test_page(t: dict[str, Any], sigs: dict[str, dict]) -> str:
    parts = []
    failed: dict[str, dict] = {}
    for cfg in t["configs"]:
        r, cols = cfg["row"], cfg["columns"]
        cells = "".join(_cell_html(c, cols[j]) for j, c in enumerate(r["cells"]))
        heads = "".join(f'<th class="muted" title="{_esc(c["subject"])}">'
                        f'{_esc(str(c["commit"])[:7])}</th>' for c in cols)
        rows = "".join(
            f'<tr><td><code>{_esc(str(c["commit"])[:10])}</code></td><td>{_esc(c["subject"])}'
            f'</td><td>{(str(cell["passed"]) + "/" + str(cell["runs"])) if cell else "not run"}'
            f'{" (bisect probe)" if cell and cell.get("probe") else ""}</td></tr>'
            for c, cell in zip(cols, r["cells"]))
        parts.append(
            f'<h2><a href="../{_esc(cfg["page"])}">{_esc(cfg["plan"])}</a> '
            f'<span class="muted">mode {_esc(cfg["mode"])} · suite {_esc(r["suite"])} · '
            f'{r["gpus"]} GPU</span></h2><table class="heat"><tr>{heads}</tr><tr>{cells}</tr>'
            f"</table><p>{_sparkline(r['cells'])}</p><details><summary>Pass rate per commit"
            f"</summary><table><tr><th>Commit</th><th>Subject</th><th>Passed</th></tr>{rows}"
            f"</table></details>")
        for fp, seen in (r.get("failed_with") or {}).items():
            failed.setdefault(fp, {"runs": 0, "commits": []})
            failed[fp]["runs"] += seen["runs"]
            failed[fp]["commits"] += [c for c in seen["commits"] if c not in failed[fp]["commits"]]
    if failed:
        rows = []
        for fp, seen in sorted(failed.items(), key=lambda kv: -kv[1]["runs"]):
            s = sigs.get(fp)
            title = (f'<a href="../{_esc(page_of_signature(fp) or "#")}">{_esc(redact(s.get("title") or fp))}'
                     f"</a>") if s else f"<code>{_esc(fp)}</code>"
            rows.append(f"<tr><td>{title}</td><td>{seen['runs']}</td><td>"
                        + " ".join(f"<code>{_esc(str(c)[:7])}</code>" for c in seen["commits"][:12])
                        + f"</td><td>{_issue(s.get('issue')) if s else ''}</td></tr>")
        parts.append("<h2>Failed with</h2><table><tr><th>Signature</th><th>Failed runs</th>"
                     "<th>At commits</th><th>Issue</th></tr>" + "".join(rows) + "</table>")
    else:
        parts.append("<h2>Failed with</h2><p>No failure in these sweeps.</p>")
    return _page(t["test"], "".join(parts), 1)


def _signature_page(s: dict[str, Any]) -> str:
    c = s.get("culprit") or {}
    tests = "".join(
        f'<tr><td><a href="../{_esc(page_of_test(t.get("test") or ""))}">'
        f'<code>{_esc(t.get("test"))}</code></a></td><td>{_esc(t.get("verdict"))}</td>'
        f'<td>{_esc("/".join(map(str, t.get("current") or [])))}</td></tr>'
        for t in s.get("tests") or [])
    if c.get("status") == "found":
        culprit = (f"<p>Culprit <code>{_esc(c.get('sha'))}</code> {_esc(c.get('subject'))} "
                   f"by {_esc(c.get('author'))}, confidence {float(c.get('confidence') or 0):.3f}"
                   f" (the first bad commit; the last good one is "
                   f"<code>{_esc(str((c.get('range') or ['?'])[0])[:10])}</code>)</p>")
    else:
        culprit = f"<p>Culprit: {_esc(c.get('status') or 'not bisected')}</p>"
    ev = "".join(f"<tr><td><code>{_esc(str(e.get('sha'))[:10])}</code></td>"
                 f"<td>{_esc(e.get('passed'))}/{_esc(e.get('runs'))}</td>"
                 f"<td>{_esc(e.get('subject'))}</td></tr>" for e in c.get("evidence") or [])
    body = (f"<p><code>{_esc(s.get('fingerprint'))}</code> · category {_esc(s.get('category'))}"
            f" · {_issue(s.get('issue'))} · seen in {_esc(', '.join(s.get('configs') or []))}</p>"
            f"<h2>Tests</h2><table><tr><th>Test</th><th>Verdict</th><th>Passed</th></tr>{tests}"
            f"</table><h2>Culprit</h2>{culprit}"
            + (f"<h2>Bisect evidence</h2><table><tr><th>Commit</th><th>Passed</th><th>Subject</th>"
               f"</tr>{ev}</table>" if ev else ""))
    return _page(redact(s.get("title") or s.get("fingerprint") or "signature"), body, 1)
