"""`pcgbot github coverage DIR`: one issue per sweep that lost PCG coverage.

Kept out of ``cli/github.py`` so the signature-issue commands and this one change separately;
it attaches to the ``github`` group that module creates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import click

from ..github.analysis import load_analysis
from .github import _backend, _common, _log, _out, config_from_env


@click.command("coverage")
@click.argument("sweep_dir", metavar="DIR", type=click.Path(exists=True))
@_common
def coverage_cmd(sweep_dir: str, repo: Optional[str], api_url: Optional[str],
                 dry_run: Optional[str], as_json: bool) -> int:
    """File one issue listing the tests of DIR/analysis.json that lost PCG coverage (PCG ran
    in their previous sweep, not in this one); nothing when none did, nothing twice.

    Example: pcgbot github coverage sweeps/abc123 --repository sgl-project/sglang"""
    from ..github.coverage import file_coverage_issue

    analysis = load_analysis(sweep_dir)
    cfg = config_from_env(repo=repo, api_url=api_url)
    if analysis.get("run_url") is None and cfg.run_url():
        analysis["run_url"] = cfg.run_url()
    backend = _backend(cfg, dry_run, Path(sweep_dir) / "github-dryrun")
    what, issue = file_coverage_issue(backend, analysis)
    pcg = analysis.get("pcg") if isinstance(analysis.get("pcg"), dict) else {}
    lost = len(pcg.get("coverage_lost") or []) if isinstance(pcg.get("coverage_lost"), list) else 0
    if as_json:
        _out(json.dumps({"result": what, "tests": lost,
                         "issue": issue.number if issue else None}, indent=2))
    elif issue is None:
        _log(f"github coverage ({backend.name}): no test lost PCG coverage in this sweep")
    else:
        _out(f"github coverage ({backend.name}): {what} #{issue.number}: {issue.title}")
    return 0


def register(group: click.Group) -> None:
    """Attach to the `github` group (registered before this module in main.py)."""
    gh = group.commands.get("github")
    if not isinstance(gh, click.Group):
        raise RuntimeError("pcgbot.cli.coverage: register after pcgbot.cli.github")
    gh.add_command(coverage_cmd)
