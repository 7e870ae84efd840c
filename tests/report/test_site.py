"""The published dashboard site: pages per configuration, test and signature; stable URLs; links
that resolve; nothing loaded from outside; the pages in a real headless Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from browser import CHROMIUM, chromium
from conftest import run_cli
from test_dashboard import history  # noqa: F401  (the fixture: three sweeps, one regression)
from test_report import P, TESTS, make_sweep
from pcgbot.report.site import build_site, page_of_signature, slug, page_of_test

DOCS = Path(__file__).resolve().parents[2] / "docs" / "images"


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.external: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("href", "src"):
            v = a.get(key)
            if not v:
                continue
            if tag in ("script", "link", "img", "iframe") and re.match(r"(https?:)?//", v):
                self.external.append(v)
            if key == "href":
                self.hrefs.append(v)


def _check_links(site: Path) -> int:
    n = 0
    for page in site.rglob("*.html"):
        p = _Links()
        p.feed(page.read_text())
        assert not p.external, (page, p.external)
        for h in p.hrefs:
            if re.match(r"[a-z]+:", h) or h.startswith("#"):
                continue                                  # issue links, anchors
            target = (page.parent / h.split("#")[0]).resolve()
            assert target.is_file(), f"{page}: broken link {h}"
            n += 1
    return n


@pytest.fixture
def site(history, tmp_path):  # noqa: F811
    store, dirs = history
    out = tmp_path / "site"
    build_site(store, out, analyses=[dirs[-1] / "analysis.json"],
               issues={"sig111": {"number": 7, "url": "https://github.com/o/r/issues/7"}})
    return store, dirs, out


def test_site_has_a_page_per_configuration_test_and_signature(site):
    store, dirs, out = site
    assert (out / "index.html").is_file() and (out / ".nojekyll").is_file()
    index = json.loads((out / "data" / "index.json").read_text())
    assert [(c["plan"], c["mode"]) for c in index["configs"]] == [("demo", "pcg")]
    assert index["tests"] == len(TESTS)
    for t in TESTS:
        assert (out / page_of_test(t)).is_file()
    heat = (out / index["configs"][0]["page"]).read_text()
    assert f'href="../{page_of_test("registered/models/test_embedding.py")}"' in heat
    emb = (out / page_of_test("registered/models/test_embedding.py")).read_text()
    assert "Failed with" in emb and "10/10" in emb and "0/10" in emb
    sigs = json.loads((out / "data" / "signatures.json").read_text())
    assert sigs, "no open signature published"
    for fp in sigs:
        page = (out / page_of_signature(fp)).read_text()
        assert "Tests" in page and "Culprit" in page
    assert _check_links(out) > 20


def test_urls_stay_when_new_sweeps_arrive(site, tmp_path):
    store, dirs, out = site
    before = {p.relative_to(out) for p in out.rglob("*.html")}
    d = make_sweep(tmp_path / "s9", "9" * 40, dict(TESTS), sweep_id="demo:pcg:9",
                   started="2026-07-29T10:00:00+00:00")
    store.import_sweep(d)
    build_site(store, out, analyses=[dirs[-1] / "analysis.json"])
    after = {p.relative_to(out) for p in out.rglob("*.html")}
    assert before <= after
    assert "9999999" in (out / page_of_test("registered/core/test_generate.py")).read_text()


def test_slugs_are_unique_and_safe():
    names = ["a/test_x.py", "b/test_x.py", "test_x.py", "t/test_<script>.py", "../../x.py"]
    slugs = {slug(n) for n in names}
    assert len(slugs) == len(names)
    assert all(re.fullmatch(r"[A-Za-z0-9_.-]+", s) for s in slugs)


def test_hostile_names_are_escaped(history, tmp_path):  # noqa: F811
    store, dirs = history
    evil = make_sweep(tmp_path / "evil", "5" * 40, {"t/test_<script>x.py": ("<b>s</b>", 1, [P])},
                      sweep_id="demo:pcg:evil", started="2026-07-30T10:00:00+00:00")
    store.import_sweep(evil)
    out = tmp_path / "site"
    build_site(store, out)
    for page in out.rglob("*.html"):
        assert "<script>x" not in page.read_text(), page


def test_cli_site(history, tmp_path):  # noqa: F811
    store, dirs = history
    out = tmp_path / "cli-site"
    r = run_cli("site", str(out), "--store", str(store.path), "--analysis",
                str(dirs[-1] / "analysis.json"), "--last", "10")
    assert r.returncode == 0, r.stderr
    assert "1 configuration(s)" in r.stdout and (out / "index.html").is_file()
    r = run_cli("site", str(out), "--store", str(store.path), "--analysis", str(tmp_path / "no"))
    assert r.returncode == 2 and "--analysis" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed")
def test_pages_render_in_a_browser(site, tmp_path):
    store, dirs, out = site
    index = json.loads((out / "data" / "index.json").read_text())
    sig = next(iter(json.loads((out / "data" / "signatures.json").read_text())))
    pages = {"site-overview.png": out / index["configs"][0]["page"],
             "site-test.png": out / page_of_test("registered/models/test_embedding.py"),
             "site-signature.png": out / page_of_signature(sig)}
    for name, page in pages.items():
        dom = chromium(["--dump-dom", page.as_uri()], tmp_path / f"p-{name}")
        assert dom.returncode == 0 and "<h1>" in dom.stdout, dom.stderr[-1000:]
        shot = tmp_path / name
        r = chromium([f"--screenshot={shot}", "--window-size=1100,700", page.as_uri()],
                     tmp_path / f"s-{name}")
        assert r.returncode == 0 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert shot.stat().st_size > 10_000
        if os.environ.get("PCGBOT_UPDATE_DOCS"):
            shutil.copy(shot, DOCS / name)


def test_statuses_and_issues_link_into_the_published_site(tmp_path):
    """analyze --dashboard URL puts the site's URLs on the analysis; the status links to the
    configuration's page and the issue to its signature's page, the same paths the site writes."""
    from fakegithub import make_analysis, make_signature
    from pcgbot.analysis.links import add_dashboard_links, page_of_config
    from pcgbot.github.dryrun import FolderBackend
    from pcgbot.github.status import post_status
    from pcgbot.github.sync import sync

    a = make_analysis([make_signature()])
    a["sweep"].update(plan="demo", mode="pcg")
    add_dashboard_links(a, "https://o.github.io/r/")
    assert a["dashboard_url"] == "https://o.github.io/r/" + page_of_config("demo", "pcg")
    backend = FolderBackend(tmp_path / "dry")
    st = post_status(backend, a, "c" * 40, context="pcg/1-gpu")
    assert st.target_url == a["dashboard_url"]
    sync(backend, a)
    body = "".join(p.read_text() for p in (tmp_path / "dry" / "issues").glob("*.md"))
    assert "https://o.github.io/r/signatures/a1b2c3d4e5f6.html" in body
