"""`pcgbot plan simulate`: replay real commit times against a fleet; time to culprit, GPU-h."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Optional

import click

from .options import store_option

from ..errors import UsageError
from ..plan.schema import load_plan

# The workflow whose concurrency rule the fleet follows: the example shipped in the repository
# (an installed wheel has no docs/, then --workflow is required).
EXAMPLE_WORKFLOW = Path(__file__).resolve().parents[2] / "docs" / "examples" / "pcgbot-sweep.yml"


def _ints(text: str) -> list[int]:
    try:
        out = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UsageError(f"--runners: expected comma-separated integers, got {text!r}") from None
    if not out or any(x < 1 for x in out):
        raise UsageError(f"--runners: every runner count must be >= 1, got {text!r}")
    return out


def _fmt(v: Optional[float], unit: str = "h") -> str:
    return "-" if v is None else f"{v:.1f}{unit}"


@click.command("simulate")
@click.argument("plan_file", metavar="PLAN", type=click.Path(dir_okay=False))
@click.option("--runners", "runners_text", default="2,4,8", show_default=True,
              help="Runner counts to simulate (comma-separated).")
@click.option("--gpus", type=click.IntRange(1, 64), default=1, show_default=True,
              help="GPUs per runner.")
@click.option("--commits", "commits_file", type=click.Path(dir_okay=False), default=None,
              help="Commit times file (unix seconds per line) [default: the shipped "
                   "sglang-jax first-parent history].")
@click.option("--repo", "repo", type=click.Path(file_okay=False), default=None,
              help="Take first-parent commit times from this git checkout instead.")
@click.option("--since", default=None, help="With --repo: only commits since (git date).")
@click.option("--commits-per-day", type=float, default=None,
              help="Rescale the stream's gaps to this mean rate (SGLang main: 40.2).")
@click.option("--workflow", type=click.Path(dir_okay=False), default=None,
              help="Workflow whose `concurrency` coalesces sweeps [default: "
                   "docs/examples/pcgbot-sweep.yml].")
@click.option("--failure-rate", type=float, default=1.0, show_default=True,
              help="P(a run of the regressed test fails) after the bad commit.")
@click.option("--regressions-per-day", type=float, default=1.0, show_default=True)
@click.option("--setup-minutes", type=float, default=10.0, show_default=True,
              help="Bisect set-up at each new commit (worktree + install).")
@click.option("--sentinels/--no-sentinels", default=True, show_default=True,
              help="Run PCG-inert tests once per sweep.")
@click.option("--assume-inert", default=None, metavar="GLOBS",
              help="Tests to treat as PCG-inert, on top of those the store knows.")
@store_option("Durations and PCG-inert tests come from it (used only if it exists).")
@click.option("--trials", type=click.IntRange(1, 1000), default=5, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--target-hours", type=float, default=None,
              help="Also find the smallest runner count with median time-to-culprit <= this.")
@click.option("--max-runners", type=click.IntRange(1, 256), default=32, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def simulate_cmd(plan_file: str, runners_text: str, gpus: int, commits_file: Optional[str],
                 repo: Optional[str], since: Optional[str], commits_per_day: Optional[float],
                 workflow: Optional[str], failure_rate: float, regressions_per_day: float,
                 setup_minutes: float, sentinels: bool, assume_inert: Optional[str],
                 store_path: Optional[str], trials: int, seed: int,
                 target_hours: Optional[float], max_runners: int, as_json: bool) -> int:
    """Replay real commit times against RUNNERS runners sweeping PLAN; print the time from a
    planted bad commit to its filed culprit (median, p90), GPU-hours per day and the share of
    regressions caught.  Seeded: the same arguments print the same numbers.

    Example: pcgbot plan simulate plans/sglang-1gpu.yaml --commits-per-day 40.2 --target-hours 12"""
    from ..fleet import (DEFAULT_COMMITS, FleetConfig, git_times, load_times, rescale,
                         runners_for_target, simulate_trials, workflow_concurrency)
    from ..results.cost import history, inert_from_store

    plan = load_plan(plan_file)
    counts = _ints(runners_text)
    if commits_file and repo:
        raise UsageError("--commits and --repo: give one source of commit times")
    if regressions_per_day <= 0 or setup_minutes < 0:
        raise UsageError("--regressions-per-day must be > 0 and --setup-minutes >= 0")
    times = git_times(repo, since=since) if repo else load_times(commits_file or DEFAULT_COMMITS)
    if commits_per_day is not None:
        times = rescale(times, commits_per_day)
    wf = workflow or str(EXAMPLE_WORKFLOW)
    if not workflow and not EXAMPLE_WORKFLOW.is_file():
        raise UsageError("--workflow: no docs/examples/pcgbot-sweep.yml next to this pcgbot; "
                         "pass the sweep workflow file")
    rule = workflow_concurrency(wf)
    durations, flaky, _ = history(plan, store_path)
    inert: set[str] = set()
    if sentinels:
        inert = inert_from_store(plan, store_path)
        if assume_inert:
            inert |= {t.path for t in plan.select(assume_inert)}
    cfg = FleetConfig(runners=counts[0], gpus=gpus, failure_rate=failure_rate,
                      regressions_per_day=regressions_per_day, setup_s=setup_minutes * 60,
                      inert=frozenset(inert), durations=durations, flaky=frozenset(flaky),
                      seed=seed)
    results = [simulate_trials(plan, times, replace(cfg, runners=n),
                               rule, trials) for n in counts]
    need, tried = (None, [])
    if target_hours is not None:
        need, tried = runners_for_target(plan, times, cfg, rule, trials, target_hours,
                                         max_runners)
    if as_json:
        click.echo(json.dumps({"plan": plan.name, "workflow": wf,
                               "concurrency": rule.__dict__, "inert_tests": len(inert),
                               "results": [r.to_dict() for r in results],
                               "target_hours": target_hours, "runners_for_target": need,
                               "tried": [r.to_dict() for r in tried]}, indent=2))
        return 0
    r0 = results[0]
    click.echo(f"plan {plan.name}: {r0.commits} commits over {r0.days:.1f} days "
               f"({r0.commits / r0.days:.1f}/day); {gpus} GPU(s) per runner; "
               f"{len(inert)} PCG-inert test(s) as sentinels; {trials} seeded trial(s), "
               f"failure rate {failure_rate:g}, {regressions_per_day:g} regression(s)/day")
    click.echo(f"coalescing: concurrency group {rule.group!r}, cancel-in-progress "
               f"{str(rule.cancel_in_progress).lower()} (from {wf})")
    head = (f"{'runners':>7} {'sweep h':>8} {'GPU-h/sweep':>11} {'commits/sweep':>13} "
            f"{'GPU-h/day':>9} {'caught':>7} {'culprit':>7} {'TTC median':>10} {'TTC p90':>8}")
    click.echo(head)
    for r in results:
        click.echo(f"{r.runners:>7} {r.sweep_wall_hours:>8.1f} {r.gpu_hours_per_sweep:>11.1f} "
                   f"{r.commits_per_sweep:>13.1f} {r.gpu_hours_per_day:>9.1f} "
                   f"{r.caught_share:>7.0%} {r.culprit_share:>7.0%} "
                   f"{_fmt(r.ttc_median_hours):>10} {_fmt(r.ttc_p90_hours):>8}")
    if target_hours is not None:
        click.echo(f"runners for a median time-to-culprit <= {target_hours:g} h: "
                   + (str(need) if need else f"more than {max_runners}"))
    click.echo("simulated (seeded), not measured: commit times are real; durations are the "
               "plan's est_time or the store's medians; see docs/fleet.md for what is modelled")
    return 0


def register(group: click.Group) -> None:
    """Attach `simulate` to the `plan` group (made by the cost module, registered before)."""
    plan_group = group.commands.get("plan")
    if not isinstance(plan_group, click.Group):
        raise RuntimeError("pcgbot.cli.fleet: register after pcgbot.cli.cost")
    plan_group.add_command(simulate_cmd)
