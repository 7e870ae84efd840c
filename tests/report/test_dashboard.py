"""The HTML dashboard: heatmap cells from the store, signatures, and the URL-hash filter
checked in a real headless Chromium (skipped only where no chromium is installed)."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from browser import CHROMIUM, chromium
from conftest import run_cli
from test_report import F, P, TESTS, analysis_for, make_sweep
from pcgbot.report.dashboard import dashboard_for_dir
from pcgbot.results.store import Store



@pytest.fixture
def history(tmp_path):
    """Three sweeps at three commits: the embedding test breaks at the second one."""
    store = Store(tmp_path / "db.sqlite")
    dirs = []
    for i, (commit, emb) in enumerate([("1" * 40, [P] * 10), ("2" * 40, [F] * 10),
                                       ("3" * 40, [F] * 8 + [P] * 2)]):
        tests = dict(TESTS)
        tests["registered/models/test_embedding.py"] = ("stage-b-small", 1, emb)
        d = make_sweep(tmp_path / f"s{i}", commit, tests, sweep_id=f"demo:pcg:{i}",
                       started=f"2026-07-2{i}T10:00:00+00:00")
        store.import_sweep(d)
        dirs.append(d)
    analysis_for(dirs[-1], dirs[-2])
    return store, dirs


def _rows(page: str) -> dict[str, str]:
    return dict(re.findall(r'<tr data-suite="[^"]*" data-gpus="\d+" data-test="([^"]+)"(.*?)</tr>',
                           page, re.S))


def test_heatmap_cells_per_commit_and_signatures(history):
    store, dirs = history
    page = dashboard_for_dir(dirs[-1], store)
    assert "http://" not in page.replace("http://www.w3.org", "") and "<link" not in page
    assert not re.search(r"\{\{[A-Z_]+\}\}", page)   # every template slot filled
    rows = _rows(page)
    assert len(rows) == len(TESTS)
    emb = rows["registered/models/test_embedding.py"]
    # swept commits, oldest first: all passed (no rate needed), none, 2 of 10
    cells = re.findall(r'<td class="cell (b\d+)"(?: data-rate="([\d.]+)")?', emb)
    assert cells == [("b20", ""), ("b0", "0.00"), ("b4", "0.20")]
    # the culprit's bisect evidence (commit ccc..., 0/10) is a probe column of its own
    assert re.findall(r'<td class="cell b\d+ probe" data-rate="([\d.]+)"', emb) == ["0.00"]
    assert '<th class=probe title="bisect probe' in page and ">ccccccc</th>" in page
    assert "<polyline" in emb                    # sparkline
    # the infra-only test has grey no-verdict cells, never a colour
    assert len(re.findall(r'class="cell b\d+"', emb)) == 3
    assert rows["registered/lora/test_lora_update.py"].count('class="cell nv"') == 3
    assert "RuntimeError: size mismatch" in page and "ghp_" not in page
    assert 'href="https://github.com/o/r/issues/7">#7</a>' in page
    assert "cccccccccc" in page and "confidence 0.970" in page


def test_sweep_not_in_store_still_shows(tmp_path):
    d = make_sweep(tmp_path / "s", "4" * 40, {"t/test_a.py": ("s", 1, [P, F])})
    page = dashboard_for_dir(d, Store(tmp_path / "empty.db"))
    assert 'data-rate="0.50"' in page and "4444444" in page


def test_cli_html_and_escaping(history, tmp_path):
    store, dirs = history
    out = tmp_path / "d.html"
    r = run_cli("report", str(dirs[-1]), "--format", "html", "--store", str(store.path),
                "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert len(re.findall(r'class="cell b\d+"', out.read_text())) == 3 * (len(TESTS) - 1)
    evil = make_sweep(tmp_path / "evil", "5" * 40,
                      {"t/test_<script>x.py": ("<b>s</b>", 1, [P])})
    page = dashboard_for_dir(evil, None)
    assert "<script>x" not in page and html.escape("test_<script>x") in page


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed")
def test_browser_renders_cells_and_filters_from_hash(history, tmp_path):
    store, dirs = history
    page = tmp_path / "dashboard.html"
    page.write_text(dashboard_for_dir(dirs[-1], store))
    url = page.as_uri()
    full = chromium(["--dump-dom", url], tmp_path / "p1")
    assert full.returncode == 0, full.stderr[-2000:]
    assert f'data-shown="{len(TESTS)}"' in full.stdout        # set by the page's script
    assert f"{len(TESTS)} of {len(TESTS)} tests shown" in full.stdout
    dom = chromium(["--dump-dom", url + "#suite=stage-b-small&gpus=1"], tmp_path / "p2").stdout
    visible = re.findall(r'<tr data-suite="([^"]*)" data-gpus="(\d+)" data-test="[^"]*">', dom)
    hidden = re.findall(r'<tr data-suite="([^"]*)" data-gpus="(\d+)" data-test="[^"]*" hidden',
                        dom)
    assert visible and all(v == ("stage-b-small", "1") for v in visible)
    assert len(visible) == 2 and len(hidden) == len(TESTS) - 2
    assert "2 of 6 tests shown" in dom
    assert 'data-rate="0.20"' in dom                          # rendered cells survive
    shot = tmp_path / "shot.png"
    r = chromium([f"--screenshot={shot}", "--window-size=1100,640", url], tmp_path / "p3")
    assert r.returncode == 0 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 10_000                       # a real picture, not blank
