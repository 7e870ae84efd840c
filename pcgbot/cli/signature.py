"""``pcgbot signature`` and ``pcgbot triage``: thin click wrappers over signatures / triage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import click

from ..signatures.schemes import aliases_of_log
from ..signatures.signature import rules_with, signature_of_log
from ..results.sweepdir import read_runs
from ..analysis.triage import LEAK_MIB, pcg_inactive_passes, triage_sweep

_CAT_ORDER = ("pcg-bug", "not-pcg", "infra", "resolved-on-rerun", "flaky", "untriaged")


@click.command("signature")
@click.argument("logs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array, one object per log.")
@click.option("--patterns", "patterns", multiple=True, type=click.Path(dir_okay=False),
              help="Extra patterns YAML (same id overrides a built-in rule). Repeatable.")
@click.option("--explain", is_flag=True,
              help="Show which line, rule and frames produced the key, and the v1 fingerprint.")
def signature_cmd(logs: tuple[str, ...], as_json: bool, patterns: tuple[str, ...],
                  explain: bool) -> int:
    """Fingerprint, title, known rule, category, PCG evidence and excerpt of each failure LOG."""
    rules = rules_with(list(patterns))
    out = []
    for log in logs:
        sig = signature_of_log(log, rules)
        d = {"log": log, **sig.to_dict()}
        if explain:
            rule = rules.by_id(sig.rule) if sig.rule else None
            d["explain"] = {"root_line": sig.root_line, "key": sig.key,
                            "rule_source": rule.source if rule else None,
                            "aliases": aliases_of_log(log)}
        out.append(d)
    if as_json:
        click.echo(json.dumps(out, indent=1))
        return 0
    for d in out:
        pcg = {True: "active", False: "not active", None: "unknown"}[d["pcg_active"]]
        click.echo(f"{d['log']}\n  {d['fingerprint']}  {d['title']}\n"
                   f"  rule: {d['rule'] or '-'}  category: {d['category']}  PCG: {pcg}")
        for t in d["alt_titles"]:
            click.echo(f"  also: {t}")
        if "explain" in d:
            _echo_explain(d)
            continue
        for line in d["excerpt"]:
            click.echo(f"  | {line}")
    return 0


def _echo_explain(d: dict) -> None:
    """What made the key: the root line, the rule (and where it is defined), every hashed part."""
    e = d["explain"]
    click.echo(f"  scheme {d['scheme']}; older schemes: "
               + (", ".join(f"`{a}`" for a in e["aliases"]) or "-"))
    click.echo(f"  root line: {e['root_line'] or '(none: the log shows no error line)'}")
    if d["rule"]:
        click.echo(f"  rule: {d['rule']}" + (f" ({e['rule_source']})" if e["rule_source"] else
                                              " (set by the scanner, not a pattern)"))
    else:
        click.echo("  rule: none (unknown error: innermost type + message + engine frames)")
    click.echo("  key (sha1 of these lines, first 12 hex digits):")
    for part in e["key"]:
        click.echo(f"    {part}")


@click.command("triage")
@click.argument("sweep_dir", type=click.Path(file_okay=False, exists=True))
@click.option("--differential", is_flag=True,
              help="Re-run failing tests in the plan's nopcg mode: fails there too => not-pcg.")
@click.option("--plan", "plan", type=click.Path(dir_okay=False, exists=True),
              help="Plan file (default: sweep.json's plan_file).")
@click.option("--rerun", "rerun_dirs", multiple=True, type=click.Path(file_okay=False, exists=True),
              help="A later sweep dir of the failing tests; all-pass there => resolved-on-rerun.")
@click.option("--repeats", default=3, show_default=True, type=click.IntRange(1, 100),
              help="Runs per test in the nopcg re-run.")
@click.option("--leak-mib", default=LEAK_MIB, show_default=True, type=float,
              help="GPU memory left by a run above which later OOMs on its GPUs are infra.")
@click.option("--patterns", "patterns", multiple=True, type=click.Path(dir_okay=False),
              help="Extra patterns YAML. Repeatable.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of entries.")
def triage_cmd(sweep_dir: str, differential: bool, plan: Optional[str], rerun_dirs: tuple[str, ...],
               repeats: int, leak_mib: float, patterns: tuple[str, ...], as_json: bool) -> int:
    """Put each failing test of SWEEP_DIR in a category: pcg-bug, not-pcg, flaky,
    resolved-on-rerun, infra or untriaged."""
    entries = triage_sweep(Path(sweep_dir), plan=plan, differential=differential,
                           rerun_dirs=rerun_dirs, rules=rules_with(list(patterns)),
                           repeats=repeats, leak_mib=leak_mib)
    if as_json:
        click.echo(json.dumps([e.to_dict() for e in entries], indent=1))
        return 0
    inactive = pcg_inactive_passes(read_runs(Path(sweep_dir)))
    if inactive:
        click.echo(f"PCG not active: auto-disabled ({len(inactive)} passing tests, not PCG passes): "
                   + ", ".join(inactive))
    if not entries:
        click.echo("no failing tests")
        return 0
    entries.sort(key=lambda e: (_CAT_ORDER.index(e.category), e.test))
    width = max(len(e.test) for e in entries)
    for e in entries:
        click.echo(f"{e.category:<18} {e.test:<{width}} {e.passed:>3}/{e.runs:<3} {e.reason}")
    counts = {c: sum(e.category == c for e in entries) for c in _CAT_ORDER}
    click.echo("  ".join(f"{c}: {n}" for c, n in counts.items() if n))
    return 0


def register(group: click.Group) -> None:
    group.add_command(signature_cmd)
    group.add_command(triage_cmd)
