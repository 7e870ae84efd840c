"""CLI: ``pcgbot diff`` and ``pcgbot baseline show|set|unset|export|import|prune``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import click

from ..results import baseline as bl
from ..results import stats
from ..results.diff import diff_sweeps, render_text, summarize
from ..errors import UsageError
from ..results.store import Store
from ..results.sweepdir import read_meta, read_runs

from .options import renamed
from .options import store_option as _store_option

store_option = _store_option()

HEADER = (f"verdicts: one-sided Fisher exact test on passes/(pass+fail) runs, alarm at "
          f"p<{stats.ALARM_P}; beta-binomial P(rate fell) (uniform priors) shown; timeouts and "
          "infra are not fails unless the plan says timeout_is_failure (docs/statistics.md)")


def _timeout_is_failure(meta: dict[str, Any], plan_file: Optional[str]) -> bool:
    from ..plan.schema import load_plan

    path = plan_file or meta.get("plan_file")
    if plan_file and not Path(plan_file).exists():
        raise UsageError(f"{plan_file}: plan file not found")
    if path and Path(path).exists():
        return load_plan(path).timeout_is_failure
    return False


def run_diff(current: str, baseline: str, *, store_path: Optional[str], plan_file: Optional[str],
             pool_runs: int) -> dict[str, Any]:
    """The diff as data: {current, baseline, tests: [TestDiff.to_dict()], totals}."""
    cur_dir = Path(current)
    meta = read_meta(cur_dir)
    cur_runs = read_runs(cur_dir)
    tif = _timeout_is_failure(meta, plan_file)
    base_meta, base_runs, pooled = None, [], None
    if baseline == "auto":
        store = Store(store_path)
        store.import_sweep(cur_dir)
        row, base_runs, pooled = bl.auto_baseline(store, meta, timeout_is_failure=tif,
                                                  pool_runs=pool_runs)
        if row is not None:
            base_meta = row.get("meta") or row
    elif baseline != "none":
        base_meta, base_runs = read_meta(baseline), read_runs(baseline)
    diffs = diff_sweeps(base_runs, cur_runs, timeout_is_failure=tif, mode=meta.get("mode"),
                        pooled=pooled)
    return {"current": meta, "baseline": base_meta, "timeout_is_failure": tif,
            "pooled_runs": pool_runs if pooled is not None else None,
            "statistic": HEADER, "totals": summarize(diffs),
            "tests": [d.to_dict() for d in diffs], "_diffs": diffs}


@click.command("diff")
@click.argument("current", type=click.Path(file_okay=False))
@click.option("--baseline", "baseline", default="auto", show_default=True,
              help="Baseline sweep dir, 'auto' (the store's baseline for CURRENT) or 'none'.")
@click.option("--plan", "plan_file", type=click.Path(dir_okay=False),
              help="Plan file (for timeout_is_failure) [default: sweep.json's plan_file].")
@click.option("--pool-runs", type=click.IntRange(min=0), default=stats.POOL_RUNS,
              show_default=True,
              help="With --baseline auto: pool older sweeps up to this many runs per test "
                   "(0: the baseline sweep alone).")
@click.option("--all", "show_all", is_flag=True, help="Also list unchanged tests.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--fail-on-regression", is_flag=True, help="Exit 1 when any test regressed.")
@store_option
def diff_cmd(current, baseline, plan_file, pool_runs, show_all, as_json, fail_on_regression,
             store_path) -> int:
    """Per test: baseline k0/n0 vs current k1/n1 and a verdict (regression, fixed,
    still-failing, flaky, unchanged, new-test, infra-only) with the statistic behind it."""
    res = run_diff(current, baseline, store_path=store_path, plan_file=plan_file,
                   pool_runs=pool_runs)
    diffs = res.pop("_diffs")
    if as_json:
        click.echo(json.dumps(res, indent=2, sort_keys=True, default=str))
    else:
        b = res["baseline"]
        where = (f"baseline {b.get('sweep_id')} ({(b.get('commit') or '?')[:12]})" if b
                 else "no baseline")
        if res["pooled_runs"]:
            where += f", pooled with older sweeps up to {res['pooled_runs']} runs per test"
        click.echo(f"{res['current'].get('sweep_id')} vs {where}")
        click.echo(render_text(diffs, show_all=show_all, header=HEADER))
    regressions = res["totals"].get(stats.REGRESSION, 0)
    return 1 if fail_on_regression and regressions else 0


@click.group("baseline")
def baseline_group() -> None:
    """Baselines: show or pin them; export/import sweeps as bundles."""


@baseline_group.command("show")
@click.option("--plan-name", "--plan", "plan", callback=renamed("--plan", "--plan-name"),
              help="Only this plan (its name).")
@click.option("--mode", help="Only this mode.")
@click.option("--branch", help="Only this branch.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@store_option
def show_cmd(plan, mode, branch, as_json, store_path) -> int:
    """The baseline of each plan + mode + branch: pinned, else the latest complete sweep."""
    lines = bl.show(Store(store_path), plan=plan, mode=mode, branch=branch)
    if as_json:
        click.echo(json.dumps(lines, indent=2, sort_keys=True))
        return 0
    if not lines:
        click.echo("no sweeps in the store")
        return 0
    for e in lines:
        b = e["baseline"]
        how = "pinned" if e["pinned"] else "latest complete"
        desc = (f"{b['sweep_id']} @ {(b['commit'] or '?')[:12]} ({b['started_at']}; "
                f"{b['tests']} tests, {b['runs']} runs) [{how}]") if b \
            else "none (no complete sweep)"
        click.echo(f"{e['plan']} / {e['mode']} / {e['branch'] or '-'}: {desc}")
    return 0


@baseline_group.command("set")
@click.argument("sweep_dir", type=click.Path(file_okay=False))
@store_option
def set_cmd(sweep_dir, store_path) -> int:
    """Pin SWEEP_DIR as the baseline of its plan + mode + branch."""
    row = bl.pin(Store(store_path), sweep_dir)
    click.echo(f"baseline of {row['plan']} / {row['mode']} / {row['branch'] or '-'}: "
               f"{row['sweep_id']} (pinned)")
    return 0


@baseline_group.command("unset")
@click.option("--plan-name", "--plan", "plan", required=True,
              callback=renamed("--plan", "--plan-name"), help="The plan (its name).")
@click.option("--mode", required=True)
@click.option("--branch", default=None)
@store_option
def unset_cmd(plan, mode, branch, store_path) -> int:
    """Drop a pin: the latest complete ancestor sweep is the baseline again."""
    bl.unpin(Store(store_path), plan, mode, branch)
    click.echo(f"baseline of {plan} / {mode} / {branch or '-'}: automatic")
    return 0


@baseline_group.command("export")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Bundle file to write (.tar.gz).")
@click.option("--plan-name", "--plan", "plans", multiple=True,
              callback=renamed("--plan", "--plan-name"),
              help="Only sweeps of this plan (its name; repeatable).")
@click.option("--logs", is_flag=True, help="Include run logs.")
@click.option("--complete-only", is_flag=True, help="Leave out incomplete sweeps.")
@store_option
def export_cmd(output, plans, logs, complete_only, store_path) -> int:
    """Write sweeps from the store to a bundle (CI artifact, data branch)."""
    ids = bl.export_bundle(Store(store_path), output, plans=tuple(plans), logs=logs,
                           complete_only=complete_only)
    click.echo(f"{output}: {len(ids)} sweeps")
    return 0


@baseline_group.command("import")
@click.argument("bundles", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--dest", type=click.Path(file_okay=False),
              help="Where sweep dirs are unpacked [default: sweeps/ next to the store].")
@store_option
def import_cmd(bundles, dest, store_path) -> int:
    """Import bundles into the store (idempotent: importing twice doubles nothing)."""
    ids = bl.import_bundles(Store(store_path), list(bundles), dest)
    click.echo(f"imported {len(ids)} sweeps from {len(bundles)} bundle(s)")
    return 0


@baseline_group.command("prune")
@click.argument("folder", type=click.Path())
@click.option("--keep", type=int, default=200, show_default=True,
              help="Newest bundles to keep.")
def prune_cmd(folder, keep) -> int:
    """Delete all but the newest --keep bundles of FOLDER (a data branch's <config>/ folder)."""
    gone = bl.prune_bundles(folder, keep)
    click.echo(f"{folder}: removed {len(gone)} old bundle(s)"
               + (f" ({gone[0].name} .. {gone[-1].name})" if gone else ""))
    return 0


def register(group: click.Group) -> None:
    group.add_command(diff_cmd)
    group.add_command(baseline_group)
