"""`pcgbot github sync|status|command`: issues per signature, commit statuses, bot commands."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional

import click

from ..errors import UsageError
from ..github.analysis import load_analysis
from ..github.brake import DEFAULT_PER_DAY, DEFAULT_PER_SWEEP

if TYPE_CHECKING:  # PyGithub is imported only when a github command runs (0.4 s of start-up)
    from ..github.backend import Backend
    from ..github.client import GitHubConfig


def config_from_env(**kw: Any) -> "GitHubConfig":
    from ..github.client import config_from_env as _cfg

    return _cfg(**kw)
from ..signatures.secrets import redact


def _log(msg: str) -> None:
    click.echo(redact(msg), err=True)


def _out(text: str) -> None:
    """Everything printed passes redaction too (a reply may quote a comment)."""
    click.echo(redact(text))


def _backend(cfg: "GitHubConfig", dry_run: Optional[str], default_dir: Path) -> "Backend":
    """Real GitHub with a token; the dry-run folder only when one is asked for."""
    from ..github.dryrun import FolderBackend
    if dry_run:
        return FolderBackend(dry_run)
    if not cfg.token:
        # Never a silent dry run: "created #1, #2" into a folder must not read as done.
        raise UsageError("no GITHUB_TOKEN: set it (the workflow's secrets.GITHUB_TOKEN), or pass "
                         f"--dry-run OUTDIR to write the issues and statuses as files "
                         f"(e.g. --dry-run {default_dir})")
    from ..github.backend import RemoteBackend
    return RemoteBackend(cfg, log=_log)


def _store(path: Optional[str]) -> Any:
    """The results store, only if it exists (sync must not create one as a side effect)."""
    from ..results.store import Store, default_store_path
    p = path or default_store_path()
    return Store(p) if (path or os.path.exists(p)) else None


def _common(fn: Callable) -> Callable:
    for opt in reversed([
        click.option("--repo", default=None, help="owner/name [default: $GITHUB_REPOSITORY]."),
        click.option("--api-url", default=None, help="API base URL [default: $GITHUB_API_URL or api.github.com]."),
        click.option("--dry-run", "dry_run", default=None, metavar="OUTDIR",
                     help="Write issues/comments/statuses as files in OUTDIR instead of calling GitHub."),
        click.option("--json", "as_json", is_flag=True, help="Print the result as JSON."),
    ]):
        fn = opt(fn)
    return fn


@click.group("github")
def github_group() -> None:
    """File and update GitHub issues, post statuses, handle /pcgbot commands.

    Configured like a GitHub Actions step: GITHUB_TOKEN, GITHUB_REPOSITORY, GITHUB_API_URL,
    GITHUB_SERVER_URL, GITHUB_SHA, GITHUB_RUN_ID (flags override). Without a token, pass
    --dry-run OUTDIR: everything is then written there as files."""


@github_group.command("sync")
@click.argument("sweep_dir", metavar="DIR", type=click.Path(exists=True))
@_common
@click.option("--store", "store_path", default=None, help="Store with /pcgbot command decisions "
              "[default: $PCGBOT_STORE or .pcgbot/pcgbot.db if it exists].")
@click.option("--close-after", type=click.IntRange(1, 100), default=1, show_default=True,
              help="Healthy sweeps needed before an issue is closed.")
@click.option("--max-new", type=click.IntRange(0, 1000), default=DEFAULT_PER_SWEEP, show_default=True,
              help="New issues filed by this sync at most; the rest are held back in one summary issue "
              "and filed by later syncs.")
@click.option("--max-new-per-day", type=click.IntRange(0, 10000), default=DEFAULT_PER_DAY,
              show_default=True, help="New pcgbot issues in the repository in any 24 hours at most.")
@click.option("--notify-author/--no-notify-author", default=True, show_default=True,
              help="When a culprit is found, comment once on the pull request that merged it "
              "(or on the commit), mentioning its author.")
def sync_cmd(sweep_dir: str, repo: Optional[str], api_url: Optional[str], dry_run: Optional[str],
             as_json: bool, store_path: Optional[str], close_after: int, max_new: int,
             max_new_per_day: int, notify_author: bool) -> int:
    """File or update one issue per failure signature in DIR/analysis.json.

    Nothing is written while an open issue carries the `pcgbot-paused` label.

    Example: pcgbot github sync sweeps/abc123 --repo sgl-project/sglang"""
    from ..github.brake import Caps, paused_by
    from ..github.overrides import overrides
    from ..github.sync import sync
    analysis = load_analysis(sweep_dir)
    cfg = config_from_env(repo=repo, api_url=api_url)
    if analysis.get("run_url") is None and cfg.run_url():
        analysis["run_url"] = cfg.run_url()
    backend = _backend(cfg, dry_run, Path(sweep_dir) / "github-dryrun")
    pause = paused_by(backend)
    if pause is not None:
        _out(f"github sync ({backend.name}): paused by #{pause.number} (label pcgbot-paused): "
             "nothing filed, commented or edited")
        return 0
    store = _store(store_path)
    ov = overrides(store, cfg.repo or "") if store is not None else {}
    told: list[str] = []

    def tell(number: int, st: Any, sig: dict) -> None:
        from ..github.author import tell_author
        t = tell_author(backend, st, sig, number, log=_log)
        if t is not None:    # on stderr with the other progress lines; --json has the list too
            told.append(f"author of {st.culprit['sha'][:12]} told on {t.where}"
                        + ("" if t.posted else " (already)"))
            _log(f"github: {told[-1]}")
    result = sync(backend, analysis, overrides=ov, close_after=close_after, log=_log,
                  caps=Caps(per_sweep=max_new, per_day=max_new_per_day),
                  on_culprit=tell if notify_author else None)
    if as_json:
        _out(json.dumps(dict(result.__dict__, told=told), indent=2))
    else:
        for line in result.lines():
            _out(f"github sync ({backend.name}): {line}")
    return 0


@github_group.command("status")
@click.argument("sweep_dir", metavar="DIR", type=click.Path(exists=True))
@click.option("--sha", default=None, help="Commit (or PR head) to mark [default: $GITHUB_SHA].")
@click.option("--context", default=None, help="Status context [default: pcg/<config>, e.g. pcg/1-gpu].")
@click.option("--check-run", is_flag=True, help="Post a check run with the Markdown summary "
              "(needs a GITHUB_TOKEN with checks: write).")
@click.option("--target-url", default=None, help="Link [default: the run URL from the analysis or env].")
@_common
def status_cmd(sweep_dir: str, sha: Optional[str], context: Optional[str], check_run: bool,
               target_url: Optional[str], repo: Optional[str], api_url: Optional[str],
               dry_run: Optional[str], as_json: bool) -> int:
    """Post the sweep's result as a commit status (or check run) on SHA.

    Example: pcgbot github status sweeps/abc123 --sha $PR_HEAD_SHA --context pcg/1-gpu"""
    from ..errors import UsageError
    from ..github.status import post_status
    analysis = load_analysis(sweep_dir)
    cfg = config_from_env(repo=repo, api_url=api_url)
    sha = sha or cfg.sha
    if not sha:
        raise UsageError("--sha: sha: not given and $GITHUB_SHA is not set")
    backend = _backend(cfg, dry_run, Path(sweep_dir) / "github-dryrun")
    from ..github.brake import paused_by
    pause = paused_by(backend)
    res = post_status(backend, analysis, sha, context=context, check_run=check_run,
                      target_url=target_url or analysis.get("dashboard_url")
                      or analysis.get("run_url") or cfg.run_url(),
                      paused=pause.number if pause else None)
    if as_json:
        _out(json.dumps(res.__dict__, indent=2))
    else:
        what = "check run" if check_run else "status"
        _out(f"github {what} ({backend.name}) {res.context} on {sha[:12]}: {res.state}: "
                   f"{res.description}" + ("" if res.posted else " (unchanged)"))
    return 0


@github_group.command("command")
@click.option("--event", "event_path", default=None, metavar="FILE",
              help="issue_comment event JSON [default: $GITHUB_EVENT_PATH].")
@click.option("--plan", "plan_file", default=None, type=click.Path(dir_okay=False),
              help="Plan whose tests `rerun`/`bisect` may name [default: the issue's own tests].")
@click.option("--store", "store_path", default=None,
              help="Store recording decisions [default: $PCGBOT_STORE or .pcgbot/pcgbot.db].")
@_common
def command_cmd(event_path: Optional[str], plan_file: Optional[str], store_path: Optional[str],
                repo: Optional[str], api_url: Optional[str], dry_run: Optional[str], as_json: bool) -> int:
    """Handle a `/pcgbot ...` issue comment: rerun, bisect, fixed-by, dup, invalid, not-pcg, help.

    GPU work is dispatched to the sweep/bisect workflows; nothing from the comment reaches a shell.

    Example: pcgbot github command --event "$GITHUB_EVENT_PATH"
    """
    from ..github.commands import handle_event, load_event
    from ..results.store import Store
    event = load_event(event_path or os.environ.get("GITHUB_EVENT_PATH"))
    event_repo = str((event.get("repository") or {}).get("full_name") or "") or None
    cfg = config_from_env(repo=repo or event_repo, api_url=api_url)
    plan = None
    if plan_file:
        from ..plan.schema import load_plan
        plan = load_plan(plan_file)
    backend = _backend(cfg, dry_run, Path("github-dryrun"))
    out = handle_event(backend, event, store=Store(store_path), plan=plan, log=_log)
    if as_json:
        _out(json.dumps(out.__dict__, indent=2))
    else:
        _out(f"github command ({backend.name}): {out.command or '-'}: {out.status}")
    return 0


def register(group: click.Group) -> None:
    group.add_command(github_group)


if __name__ == "__main__":   # pragma: no cover
    sys.exit(github_group())
