"""CLI: ``pcgbot report`` (Markdown, JUnit, HTML, JSON) and ``pcgbot demo``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

import click

from ..errors import UsageError
from ..fsutil import write_text
from .options import store_option

SUMMARY_LIMIT = 1 << 20       # GitHub rejects job summaries over 1 MiB


def _open_store(path: Optional[str], required: bool):
    """The store named by --store, else $PCGBOT_STORE / .pcgbot/pcgbot.db when it exists."""
    from ..results.store import Store, default_store_path
    if path:
        if not Path(path).is_file():
            raise UsageError(f"{path}:1: --store: no such file")
        return Store(path)
    p = default_store_path()
    if Path(p).is_file():
        return Store(p)
    return None if not required else Store(p)


def report_text(directory: str, fmt: str, store_path: Optional[str]) -> str:
    from ..report.markdown import collect, render_markdown, sweep_dirs
    store = _open_store(store_path, required=False)
    try:
        if fmt == "html":
            from ..report.dashboard import dashboard_for_dir
            dirs = sweep_dirs(directory)
            if len(dirs) != 1:
                raise UsageError(f"{directory}: --format html: pass one sweep directory "
                                 f"(found {len(dirs)})")
            return dashboard_for_dir(dirs[0], store)
        data = collect(directory, store=store)
        if fmt == "json":
            return json.dumps(data, indent=2, sort_keys=True) + "\n"
        if fmt == "junit":
            from ..report.junit import render_junit
            return render_junit(data)
        return render_markdown(data)
    finally:
        if store is not None:
            store.close()


def step_summary(text: str, path: Optional[str] = None) -> Optional[Path]:
    """Append ``text`` to ``$GITHUB_STEP_SUMMARY`` (if set), cut to the 1 MiB GitHub accepts."""
    path = path or os.environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return None
    p = Path(path)
    used = p.stat().st_size if p.exists() else 0
    room = SUMMARY_LIMIT - used
    raw = text.encode()
    if len(raw) > room:
        note = "\n\n> Report truncated: the job summary is limited to 1 MiB; the full report " \
               "is in the job's artifacts.\n"
        cut = max(0, room - len(note.encode()))
        raw = raw[:cut].decode(errors="ignore").encode() + note.encode() if cut else b""
    with open(p, "ab") as f:
        f.write(raw)
    return p


def register(group: click.Group) -> None:
    @group.command("report")
    @click.argument("directory", type=click.Path(file_okay=False))
    @click.option("--format", "fmt", type=click.Choice(["md", "junit", "html", "json"]),
                  default="md", show_default=True, help="Output format.")
    @click.option("-o", "--output", type=click.Path(dir_okay=False),
                  help="Write here instead of stdout.")
    @store_option("Its history fills the report's history (used only if it exists).")
    @click.option("--json", "as_json", is_flag=True, help="The report as JSON (= --format json).")
    def report_cmd(directory: str, fmt: str, output: Optional[str],
                   store_path: Optional[str], as_json: bool) -> int:
        """Report on a sweep directory (or a folder of sweep directories): the seed report's
        tables in Markdown, JUnit XML for CI dashboards, the HTML dashboard, or JSON.

        With --format md and $GITHUB_STEP_SUMMARY set, the Markdown is also appended to the
        job summary (cut at 1 MiB)."""
        fmt = "json" if as_json else fmt
        text = report_text(directory, fmt, store_path)
        if output:
            write_text(output, text)
            click.echo(f"wrote {output}", err=True)
        else:
            click.echo(text, nl=False)
        if fmt == "md" and os.environ.get("GITHUB_STEP_SUMMARY"):
            step_summary(text)
        return 0

    @group.command("site")
    @click.argument("out_dir", type=click.Path(file_okay=False))
    @click.option("--analysis", "analyses", multiple=True, type=click.Path(dir_okay=False),
                  help="analysis.json of the newest sweep of a configuration (repeatable): its "
                       "open signatures, culprits and bisect evidence.")
    @click.option("--issues", "issues_file", type=click.Path(dir_okay=False),
                  help="JSON map fingerprint -> {number, url} of filed issues (github sync "
                       "--json's 'issues').")
    @click.option("--last", type=click.IntRange(1, 1000), default=60, show_default=True,
                  help="Commits per configuration (the newest sweep of each).")
    @store_option("Its sweeps are what the site shows.")
    @click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
    def site_cmd(out_dir: str, analyses: tuple[str, ...], issues_file: Optional[str], last: int,
                 store_path: Optional[str], as_json: bool) -> int:
        """Build the static dashboard site (GitHub Pages) into OUT_DIR: one heatmap per GPU
        configuration, one page per test and per open signature, and their data as JSON.

        Example: pcgbot site _site --analysis sweep/analysis.json --last 60"""
        from ..report.site import build_site
        issues = None
        if issues_file:
            try:
                issues = json.loads(Path(issues_file).read_text())
            except (OSError, ValueError) as e:
                raise UsageError(f"{issues_file}: --issues: {e}") from None
            if not isinstance(issues, dict):
                raise UsageError(f"{issues_file}: --issues: expected a JSON object")
        store = _open_store(store_path, required=True)
        try:
            res = build_site(store, out_dir, analyses=analyses, last=last, issues=issues)
        finally:
            store.close()
        if as_json:
            click.echo(json.dumps(res, indent=2, sort_keys=True))
        else:
            click.echo(f"wrote {out_dir}/index.html: {len(res['configs'])} configuration(s), "
                       f"{res['tests']} test pages, {res['signatures']} signature pages")
        return 0

    @group.command("demo")
    @click.option("--dir", "out", type=click.Path(file_okay=False),
                  help="Folder to build the demo in (new or empty; default: a temp dir).")
    @click.option("--slots", type=click.IntRange(min=1), default=2, show_default=True,
                  help="Parallel CPU slots for the sweeps.")
    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
    def demo_cmd(out: Optional[str], slots: int, as_json: bool) -> int:
        """Build a toy engine repository with a PCG-only regression, a flaky test, a test
        failing in both modes and an infra failure, then run the whole loop on CPU:
        sweep baseline and head, diff, triage, bisect, dry-run GitHub, report, dashboard."""
        from ..demo.run import run_demo
        res = run_demo(out, echo=(lambda s: None) if as_json else click.echo, slots=slots)
        if as_json:
            click.echo(json.dumps(res, indent=2, sort_keys=True))
            return 0
        click.echo("")
        click.echo(f"status: {res['status']}")
        planted = res["planted"]
        for test, sha in sorted(planted.items()):
            got = res["culprits"].get(test)
            if got:
                ok = "matches the planted commit" if got["sha"] == sha else \
                    f"planted {sha[:10]}"
                click.echo(f"culprit of {test}: {got['sha'][:10]} \"{got['subject']}\" "
                           f"({ok})")
            else:
                click.echo(f"culprit of {test}: not found (planted {sha[:10]})")
        click.echo(f"open the dashboard: {res['files']['dashboard']}")
        click.echo(f"read the report:    {res['files']['report']}")
        click.echo(f"done in {res['seconds']} s in {res['dir']}")
        return 0
