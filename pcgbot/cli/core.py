"""Core commands: plan, sweep, merge, rerun, run-one, import."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import click

from ..errors import PcgbotError, UsageError
from ..fsutil import write_text
from .options import REPEATS, SECONDS, folder_value, renamed
from .options import store_option as _store_option
from ..model import FAIL, TIMEOUT, INFRA
from ..plan.schema import dump_plan, load_plan, parse_plan, validate_files
from ..sweep.progress import ProgressPrinter
from ..results.store import Store
from ..sweep.sweep import check_repo, parse_shard, read_meta, read_runs, run_one, run_sweep
from ..results.sweepdir import merge_dirs

store_option = _store_option()


def open_store(path: Optional[str]) -> Store:
    return Store(path)


def history_for(plan_name: str, store_path: Optional[str]) -> dict[str, float]:
    try:
        return open_store(store_path).durations(plan_name)
    except PcgbotError:
        return {}


@click.group("plan")
def plan_group() -> None:
    """Validate, list, cost and import test plans."""


@plan_group.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path())
def plan_validate(files: tuple[str, ...]) -> int:
    """Check plan files; print every error as FILE:LINE: key: problem (exit 2 if any)."""
    errors = validate_files(list(files))
    for line in errors:
        click.echo(line, err=True)
    if errors:
        return 2
    click.echo(f"{len(files)} plan(s) valid")
    return 0


@plan_group.command("list")
@click.argument("file", type=click.Path())
@click.option("--tests", "pattern", help="Only tests matching these globs (comma-separated).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def plan_list(file: str, pattern: Optional[str], as_json: bool) -> int:
    """Print the tests of a plan (path, GPUs, suite, estimated time)."""
    plan = load_plan(file)
    tests = plan.select(pattern)
    if as_json:
        click.echo(json.dumps([t.__dict__ | {"name": t.name} for t in tests], indent=2))
        return 0
    for t in tests:
        click.echo(f"{t.path:<70} gpus={t.gpus} est={t.est_time:>6.0f}s  {t.suite}")
    total = sum(t.est_time for t in tests)
    click.echo(f"{len(tests)} tests, {total / 3600:.2f} h estimated per repeat, "
               f"{plan.repeats} repeats, modes: {', '.join(plan.modes)}")
    return 0


@plan_group.command("import-sglang")
@click.argument("checkout", type=click.Path(exists=True, file_okay=False))
@click.option("--suite", "suites", multiple=True, help="Suite(s) to include (repeatable).")
@click.option("--nightly", is_flag=True, help="Take nightly registrations instead of per-commit.")
@click.option("--gpus", type=click.IntRange(0, 64), default=None, help="Only tests of this GPU count.")
@click.option("--name", default=None, help="Plan name [default: sglang-<gpus>gpu or sglang].")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write here, not stdout.")
def plan_import(checkout, suites, nightly, gpus, name, output) -> int:
    """Build a plan from register_cuda_ci(...) calls under CHECKOUT/test/registered/."""
    from ..plan.sglang import build_plan, scan_checkout

    regs = scan_checkout(checkout)
    plan = build_plan(regs, name=name or (f"sglang-{gpus}gpu" if gpus else "sglang"),
                      suites=list(suites) or None, nightly=nightly, gpus=gpus)
    text = dump_plan(plan)
    # What was imported is validated like any plan before it is written.
    parse_plan(text, source=output or "<import-sglang>")
    if output:
        write_text(output, text)
        click.echo(f"wrote {output}: {len(plan.tests)} tests", err=True)
    else:
        click.echo(text, nl=False)
    return 0


def _resolve_tests(plan, pattern):
    return plan.select(pattern) if pattern else None


@click.command("sweep")
@click.argument("plan_file", type=click.Path())
@click.option("--mode", help="Mode to force [default: the plan's default_mode].")
@click.option("--repeats", type=REPEATS, help="Runs per test [default: plan].")
@click.option("--timeout", type=SECONDS,
              help="Seconds per run [default: plan].")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Sweep directory [default: results/<plan>-<mode>].")
@click.option("--resume", is_flag=True, help="Finish an interrupted sweep in --out.")
@click.option("--shard", help="Run shard I of N (I/N), balanced by estimated time.")
@click.option("--tests", "pattern", help="Only tests matching these globs (comma-separated).")
@click.option("--slots", type=click.IntRange(min=1), default=None,
              help="Parallel runs [default: one per GPU, or 1 CPU slot without GPUs].")
@click.option("--repo", type=click.Path(file_okay=False), help="Checkout under test.")
@click.option("--cpu", is_flag=True, help="Use CPU slots even where GPUs exist.")
@click.option("--adaptive/--no-adaptive", default=None,
              help="Stop/extend repeats by statistics [default: on when a baseline exists].")
@click.option("--sweep-id", help="Identifier shared by the shards of one sweep.")
@click.option("--sentinels/--no-sentinels", default=True, show_default=True,
              help="Run PCG-inert tests (PCG off in their recent sweeps, per the store) once.")
@click.option("-q", "--quiet", is_flag=True, help="Print errors only.")
@store_option
def sweep_cmd(plan_file, mode, repeats, timeout, out_dir, resume, shard, pattern, slots, repo,
              cpu, adaptive, sweep_id, sentinels, quiet, store_path) -> int:
    """Run every test of PLAN_FILE --repeats times with the mode forced on."""
    from ..sweep.pools import choose_pool, adaptive_setup, sentinel_setup

    plan = load_plan(plan_file)
    mode_name = plan.mode(mode).name
    out = Path(out_dir or f"results/{plan.name}-{mode_name}")
    shard_ij = parse_shard(shard)
    check_repo(plan, repo)          # before the GPU pool's start check touches anything
    history = history_for(plan.name, store_path)
    pool, slots_n = choose_pool(slots, cpu)
    policy, base = adaptive_setup(adaptive, plan, mode_name, repo, store_path, repeats)
    inert = sentinel_setup(sentinels and not resume, plan, mode_name, store_path)
    run_sweep(plan, out, mode=mode_name, repeats=repeats, timeout=timeout,
              tests=_resolve_tests(plan, pattern), slots=slots_n, resume=resume,
              shard=shard_ij, repo=repo, progress=ProgressPrinter(quiet=quiet),
              pool=pool, history=history, adaptive=policy, baseline=base, sweep_id=sweep_id,
              sentinels=inert)
    return _summarize(out, store_path, quiet)


def _summarize(out: Path, store_path: Optional[str], quiet: bool = False) -> int:
    runs = read_runs(out)
    open_store(store_path).import_sweep(out)
    by: dict[str, int] = {}
    for r in runs:
        by[r.outcome] = by.get(r.outcome, 0) + 1
    tests = {r.test for r in runs}
    clean = {t for t in tests if all(r.outcome == "pass" for r in runs if r.test == t)}
    if quiet:          # -q: errors only
        return 0
    click.echo(f"{out}: {len(runs)} runs of {len(tests)} tests "
               f"({', '.join(f'{k} {v}' for k, v in sorted(by.items()))}); "
               f"{len(clean)}/{len(tests)} tests passed every run")
    return 0


@click.command("merge")
@click.argument("dirs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--out", "-o", "out_dir", required=True, type=click.Path(file_okay=False),
              callback=renamed("-o", "--out"), help="Folder to write the merged sweep to (new).")
@store_option
def merge_cmd(dirs, out_dir, store_path) -> int:
    """Join shard sweep directories of one commit into OUT."""
    meta = merge_dirs(dirs, out_dir)
    click.echo(f"merged {len(dirs)} shard(s) into {out_dir}: "
               f"{len(read_runs(out_dir))} runs, complete={meta['complete']}")
    if meta.get("missing_shards"):
        click.echo(f"pcgbot: warning: shard(s) {', '.join(meta['missing_shards'])} missing: "
                   "the merged sweep is incomplete and will not become a baseline", err=True)
    open_store(store_path).import_sweep(out_dir)
    return 0


@click.command("rerun")
@click.argument("sweep_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--failed", is_flag=True, default=True,
              help="Re-run tests with a fail or timeout run (the default, and the only "
                   "selection for now).")
@click.option("--include-infra", is_flag=True, help="Also re-run tests with infra outcomes.")
@click.option("--repeats", type=REPEATS, help="Runs per test [default: plan].")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Where to write [default: SWEEP_DIR/rerun-N].")
@click.option("--plan", "plan_file", type=click.Path(), help="Plan [default: sweep.json's].")
@click.option("--slots", type=click.IntRange(min=1), default=None)
@click.option("--repo", type=click.Path(file_okay=False))
@click.option("-q", "--quiet", is_flag=True, help="Print errors only.")
@store_option
def rerun_cmd(sweep_dir, failed, include_infra, repeats, out_dir, plan_file, slots, repo, quiet,
              store_path) -> int:
    """Re-run only what failed in SWEEP_DIR (the report's rerun.py)."""
    from ..sweep.pools import choose_pool

    meta = read_meta(sweep_dir)
    plan_file = plan_file or meta.get("plan_file")
    if not plan_file:
        raise UsageError(f"{sweep_dir}/sweep.json: plan_file: missing; pass --plan")
    plan = load_plan(plan_file)
    bad = {FAIL, TIMEOUT} | ({INFRA} if include_infra else set())
    names = sorted({r.test for r in read_runs(sweep_dir) if r.outcome in bad})
    if not names:
        click.echo(f"{sweep_dir}: nothing failed; nothing to re-run")
        return 0
    tests = [plan.find_test(n) for n in names]
    if out_dir is None:
        i = 1
        while (Path(sweep_dir) / f"rerun-{i}").exists():
            i += 1
        out_dir = str(Path(sweep_dir) / f"rerun-{i}")
    from ..sweep.sweep import repo_info

    repo = repo or meta.get("repo")
    head, _ = repo_info(check_repo(plan, repo))
    if meta.get("commit") and head and head != meta["commit"]:
        # a pass now may be a fix, not a flake: triage must not call it "resolved on rerun"
        click.echo(f"pcgbot: warning: {sweep_dir} swept {meta['commit'][:12]}, the checkout is "
                   f"at {head[:12]}: the re-run tests that commit", err=True)
    pool, slots_n = choose_pool(slots, False)
    if not quiet:
        click.echo(f"re-running {len(tests)} test(s) into {out_dir}", err=True)
    run_sweep(plan, out_dir, mode=meta.get("mode"), repeats=repeats, tests=tests, slots=slots_n,
              repo=repo, progress=ProgressPrinter(quiet=quiet), pool=pool)
    return _summarize(Path(out_dir), store_path, quiet)


@click.command("run-one")
@click.argument("plan_file", type=click.Path())
@click.argument("test")
@click.option("--mode", help="Mode [default: the plan's default_mode].")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="results/manual",
              show_default=True)
@click.option("--timeout", type=SECONDS)
@click.option("--repo", type=click.Path(file_okay=False))
@click.option("--gpu-ids", "--gpus", "gpus", callback=renamed("--gpus", "--gpu-ids"),
              help="CUDA_VISIBLE_DEVICES for the run, e.g. 0,1.")
def run_one_cmd(plan_file, test, mode, out_dir, timeout, repo, gpus) -> int:
    """Run one TEST (path or short name) once, streaming its log (the report's manual_test.py)."""
    plan = load_plan(plan_file)
    spec = plan.find_test(test)
    try:
        ids = [int(x) for x in gpus.split(",")] if gpus else []
    except ValueError:
        raise UsageError(f"--gpus: {gpus!r} is not a comma-separated list of GPU indices") from None
    repo_p = check_repo(plan, repo)
    if not (repo_p / plan.workdir / spec.path.split("::")[0]).exists():
        raise UsageError(f"{repo_p / plan.workdir / spec.path.split('::')[0]}: {spec.path} is not "
                         "in this checkout (renamed, or not yet written at this commit)")
    existing = [r.attempt for r in read_runs(out_dir) if r.test == spec.path
                and r.mode == plan.mode(mode).name] if Path(out_dir).exists() else []
    rec = run_one(plan, spec, out_dir=out_dir, mode=mode, attempt=max(existing, default=-1) + 1,
                  repo=repo, timeout=timeout, stream=True, gpus=ids)
    click.echo(f"\n{rec.outcome.upper()} {rec.test} [{rec.mode}] exit={rec.exit_code} "
               f"{rec.duration_s:.1f}s pcg_active={rec.pcg_active} log={Path(out_dir) / rec.log}",
               err=True)
    return 0 if rec.outcome == "pass" else 1


@click.command("import")
@click.argument("dirs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@store_option
def import_cmd(dirs, store_path) -> int:
    """Index sweep directories into the store (idempotent)."""
    st = open_store(store_path)
    for d in dirs:
        sid = st.import_sweep(d)
        click.echo(f"imported {d} as {sid}")
    return 0


@click.command("analyze")
@click.argument("sweep_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--baseline", default="auto", show_default=True,
              help="Baseline sweep dir, 'auto' (from the store) or 'none'.")
@click.option("--plan", "plan_file", type=click.Path(), help="Plan [default: sweep.json's].")
@click.option("--differential", is_flag=True,
              help="Re-run failing tests in the plan's nopcg mode to tell PCG bugs apart.")
@click.option("--rerun", "rerun_dirs", multiple=True, type=click.Path(exists=True, file_okay=False),
              help="Sweep dirs of re-runs (for 'resolved on rerun').")
@click.option("--culprit", "culprit_files", multiple=True, type=click.Path(exists=True),
              help="Bisect results (pcgbot bisect --json output) to attach.")
@click.option("--config", help="GPU config label for statuses [default: from the plan].")
@click.option("--run-url", help="Link to the CI run [default: from GITHUB_* variables].")
@click.option("--dashboard", metavar="URL",
              help="Base URL of the published dashboard (pcgbot site on GitHub Pages): "
                   "statuses and issues link to its pages.")
@click.option("--json", "as_json", is_flag=True, help="Print analysis.json to stdout.")
@store_option
def analyze_cmd(sweep_dir, baseline, plan_file, differential, rerun_dirs, culprit_files, config,
                run_url, dashboard, as_json, store_path) -> int:
    """Diff, signatures and triage of SWEEP_DIR -> SWEEP_DIR/analysis.json."""
    from ..analysis.pipeline import analyze, load_culprit_files

    data = analyze(sweep_dir, baseline=baseline, plan=plan_file, differential=differential,
                   run_url=run_url, store=open_store(store_path),
                   culprits=load_culprit_files(culprit_files), config=config,
                   rerun_dirs=rerun_dirs, dashboard=dashboard)
    if as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
        return 0
    t = data["totals"]
    base = data["baseline"]
    click.echo(f"{sweep_dir}/analysis.json: {t['tests']} tests, {t['passed']} passed, "
               f"{t['regressions']} regression(s), {t['fixed']} fixed, {t['flaky']} flaky; "
               + (f"baseline {base.get('commit')}" if base else
                  "NO BASELINE (nothing to compare with: regressions unknown)"))
    for g in data["signatures"]:
        tests = ", ".join(x["test"].rsplit("/", 1)[-1] for x in g["tests"])
        click.echo(f"  [{g['fingerprint']}] {g['category']}: {g['title']}  ({tests})")
    return 0


def register(group: click.Group) -> None:
    for cmd in (plan_group, sweep_cmd, merge_cmd, rerun_cmd, run_one_cmd, import_cmd,
                analyze_cmd):
        group.add_command(cmd)
