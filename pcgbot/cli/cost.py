"""`pcgbot plan cost`: GPU-hours and wall time of a sweep, to size the runner pool."""

from __future__ import annotations

import json
from typing import Optional

import click

from ..results.cost import estimate, history, inert_from_store, render
from ..errors import UsageError
from ..plan.schema import load_plan
from .options import REPEATS, store_option


@click.command("cost")
@click.argument("plan_file", metavar="PLAN", type=click.Path(dir_okay=False))
@click.option("--gpus", type=click.IntRange(1, 64), required=True,
              help="GPUs per runner; tests needing more are listed, not counted.")
@click.option("--runners", "runners_text", default="1", show_default=True, metavar="N",
              help="Runners (= sweep shards) working in parallel (plan simulate takes a list).")
@click.option("--repeats", type=REPEATS, default=None, help="Runs per test [default: the plan's].")
@click.option("--adaptive", is_flag=True,
              help="Assume adaptive repeats: stable tests stop after ~1/3 of the runs.")
@click.option("--tests", "pattern", default=None, help="Only tests matching these globs.")
@store_option("Durations and flaky tests come from its history.")
@click.option("--assume-inert", "assume_inert", default=None, metavar="GLOBS",
              help="What-if: price these tests (globs) as PCG-inert sentinels, one run each, on "
                   "top of the inert tests the store knows.")
@click.option("--json", "as_json", is_flag=True, help="Print the estimate as JSON.")
def cost_cmd(plan_file: str, gpus: int, runners_text: str, repeats: Optional[int], adaptive: bool,
             pattern: Optional[str], store_path: Optional[str], assume_inert: Optional[str],
             as_json: bool) -> int:
    """Estimate GPU-hours and wall time of sweeping PLAN on RUNNERS machines of GPUS each.

    Example: pcgbot plan cost plans/sglang-1gpu.yaml --gpus 1 --runners 4 --adaptive"""
    try:
        runners = int(runners_text)
    except ValueError:
        raise UsageError(f"--runners: expected one runner count, got {runners_text!r}") from None
    if runners < 1:
        raise UsageError(f"--runners: must be >= 1, got {runners}")
    plan = load_plan(plan_file)
    durations, flaky, source = history(plan, store_path)
    inert = inert_from_store(plan, store_path)
    if assume_inert:
        inert |= {t.path for t in plan.select(assume_inert)}
    est = estimate(plan, gpus=gpus, runners=runners, repeats=repeats, adaptive=adaptive,
                   durations=durations, flaky=flaky, tests=plan.select(pattern), inert=inert)
    if as_json:
        click.echo(json.dumps(dict(est.to_dict(), source=source), indent=2))
    else:
        click.echo(render(est, source))
    return 0


def register(group: click.Group) -> None:
    """Add `cost` under the `plan` group, creating the group if no other area made it yet.

    Another area (plan import/validate) may own the `plan` group; whichever registers first
    creates it and the other attaches to it, so the register lines may come in any order as
    long as that area also attaches to an existing group."""
    existing = group.commands.get("plan")
    if isinstance(existing, click.Group):
        plan_group = existing
    else:
        plan_group = click.Group("plan", help="Plans: inspect, validate, estimate cost.")
        group.add_command(plan_group)
    plan_group.add_command(cost_cmd)
