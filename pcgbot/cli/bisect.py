"""``pcgbot bisect TEST``: find the commit that broke (or, with --fix, fixed) a test."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import click

from ..fsutil import write_text

from ..bisect.engine import bisect_test
from ..bisect.search import SearchConfig
from ..errors import PcgbotError, UsageError
from ..plan.schema import Plan, load_plan


def find_plan(plan_file: Optional[str], test: str) -> Plan:
    """The plan given, else the one plan in ./plans that has the test."""
    if plan_file:
        return load_plan(plan_file)
    hits = []
    for p in sorted(Path("plans").glob("*.yaml")):
        plan = load_plan(p)
        try:
            plan.find_test(test)
        except UsageError:
            continue
        hits.append(plan)
    if len(hits) == 1:
        return hits[0]
    if not hits:
        raise UsageError(f"no plan in ./plans has a test {test!r}; give --plan")
    raise UsageError(f"several plans have {test!r} ({', '.join(p.source for p in hits)}); "
                     "give --plan")


def _gpus(text: Optional[str]) -> tuple[int, ...]:
    if not text:
        return ()
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise UsageError(f"--gpus: expected a comma-separated list of GPU indices, got {text!r}")


@click.command("bisect")
@click.argument("test")
@click.option("--plan", "plan_file", type=click.Path(), help="Plan [default: the one in ./plans "
              "with TEST].")
@click.option("--repo", type=click.Path(file_okay=False), help="Git checkout [default: plan's].")
@click.option("--good", help="Commit where the test is healthy [default: baseline sweep].")
@click.option("--bad", help="Commit where it fails [default: latest regressed sweep].")
@click.option("--mode", help="Mode [default: the plan's default_mode].")
@click.option("--signature", help="Failure fingerprint(s) that count, comma-separated "
              "[default: the regression's].")
@click.option("--confidence", type=click.FloatRange(0.5, 0.999999),
              default=SearchConfig.confidence,
              show_default=True, help="Posterior needed to name a commit.")
@click.option("--none-confidence", type=click.FloatRange(0.5, 0.999999), default=None,
              help="Posterior needed to answer no-culprit or good-is-bad, if lower than "
              "--confidence (cheaper on flaky alarms) [default: --confidence].")
@click.option("--max-runs", type=click.IntRange(min=1), default=SearchConfig.max_runs,
              show_default=True,
              help="Test-run budget.")
@click.option("--max-minutes", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Wall-clock budget: then stop with the answer so far (inconclusive, with "
              "its range) and a state --resume continues [default: none].")
@click.option("--min-effect", type=click.FloatRange(0.01, 0.9), default=None,
              help="Smallest pass-rate change a culprit must cause [default: 0.15].")
@click.option("--slots", type=click.IntRange(min=1), default=None,
              help="Probe runs in parallel [default: as many as the free GPUs hold (GPU "
              "tests), else 1].")
@click.option("--gpus", help="GPUs the probes may use, e.g. 0,1,2,3 [default: all visible].")
@click.option("--fix", is_flag=True, help="Find the commit that fixed it (--bad older, "
              "--good newer).")
@click.option("--resume", is_flag=True, help="Continue an interrupted bisection.")
@click.option("--store", "store_path", type=click.Path(dir_okay=False), envvar="PCGBOT_STORE",
              help="Results store [default: .pcgbot/pcgbot.db].")
@click.option("--state-dir", type=click.Path(file_okay=False), default=".pcgbot/bisect",
              show_default=True, help="Where worktrees, probe logs and state live.")
@click.option("--keep-worktrees", is_flag=True, help="Leave the probe worktrees in place.")
@click.option("--out", type=click.Path(dir_okay=False), help="Also write the result JSON here.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def bisect_cmd(test: str, plan_file: Optional[str], repo: Optional[str], good: Optional[str],
               bad: Optional[str], mode: Optional[str], signature: Optional[str],
               confidence: float, none_confidence: Optional[float], max_runs: int,
               max_minutes: Optional[float],
               min_effect: Optional[float], slots: Optional[int],
               gpus: Optional[str], fix: bool, resume: bool, store_path: Optional[str],
               state_dir: str, keep_worktrees: bool, out: Optional[str], as_json: bool) -> int:
    """Flake-aware bisection of TEST (a path or short name) over first-parent commits.

    Probes each commit in its own worktree, repeats runs only while they are informative, and
    counts only failures with the regression's signature.  Prints the culprit with its
    confidence and the evidence per commit, or "inconclusive" with the range left."""
    plan = find_plan(plan_file, test)
    cfg = SearchConfig(none_confidence=none_confidence)
    if min_effect is not None:
        cfg.min_effect = min_effect
    res = bisect_test(plan, test, repo=repo, good=good, bad=bad, mode=mode, signature=signature,
                      confidence=confidence, max_runs=max_runs, max_minutes=max_minutes,
                      fix=fix, resume=resume,
                      slots=slots, gpus=_gpus(gpus), store=store_path, state_dir=state_dir,
                      keep_worktrees=keep_worktrees, config=cfg,
                      progress=lambda m: print(f"pcgbot bisect: {m}", file=sys.stderr, flush=True))
    data = res.to_dict()
    # The answer first: a bad --out must not lose a culprit that took GPU hours to find.
    click.echo(json.dumps(data, indent=2, sort_keys=True) if as_json else res.render())
    if out:
        try:
            write_text(out, json.dumps(data, indent=2, sort_keys=True) + "\n")
        except PcgbotError as e:
            raise PcgbotError(f"{e} (the result is printed above and kept in {res.state})") from None
        click.echo(f"wrote {out}", err=True)
    return 0


def register(group: click.Group) -> None:
    group.add_command(bisect_cmd)
