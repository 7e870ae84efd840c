"""docs/cli.md, checked: one meaning per option name across every command, the shared options
spelled and explained alike, old spellings accepted with a warning."""

from __future__ import annotations

import click
import pytest

from conftest import run_cli
from pcgbot.cli.main import cli
from pcgbot.cli.options import STORE_HELP

# Spellings kept for one major version (docs/cli.md, "Renamed options"): they alias another
# option of the same command, so they are not names of their own.
DEPRECATED = {"--out": {"bisect"}, "-o": {"merge"}, "--gpus": {"bisect", "run-one"},
              "--plan": {"baseline show", "baseline unset", "baseline export"},
              "--repo": {"github sync", "github status", "github command", "github coverage"}}


def commands(group: click.Group = cli, path: tuple = ()) -> list[tuple[str, click.Command]]:
    out = []
    for name, cmd in sorted(group.commands.items()):
        if isinstance(cmd, click.Group):
            out += commands(cmd, path + (name,))
        else:
            out.append((" ".join(path + (name,)), cmd))
    return out


def kind(p: click.Option) -> str:
    if p.is_flag:
        return "flag"
    t = p.type
    if isinstance(t, click.Path):
        return "folder" if not t.file_okay else ("file" if not t.dir_okay else "path")
    return type(t).__name__


def test_one_meaning_per_option_name():
    seen: dict[str, dict[str, set]] = {}
    for path, cmd in commands():
        for p in cmd.params:
            if not isinstance(p, click.Option):
                continue
            for name in p.opts + p.secondary_opts:
                if path in DEPRECATED.get(name, ()):
                    continue
                seen.setdefault(name, {}).setdefault(kind(p), set()).add(path)
    clashes = {n: ks for n, ks in seen.items() if len(ks) > 1 and n not in ("--plan",)}
    assert not clashes, clashes
    # --plan is a plan file everywhere it is used (a path, file, or not-yet-checked text)
    assert seen["--out"].keys() == {"folder"}
    assert seen["-o"].keys() == {"file"} and seen["--output"].keys() == {"file"}
    assert seen["--json"].keys() == {"flag"} and seen["-q"].keys() == {"flag"}


def test_shared_options_are_spelled_and_explained_alike():
    for path, cmd in commands():
        for p in cmd.params:
            if isinstance(p, click.Option) and "--store" in p.opts:
                assert p.help.startswith(STORE_HELP), (path, p.help)
                assert p.name == "store_path", path
            if isinstance(p, click.Option) and "-o" in p.opts and path not in DEPRECATED["-o"]:
                assert "--output" in p.opts, path
            if isinstance(p, click.Option) and "-q" in p.opts:
                assert "--quiet" in p.opts, path


@pytest.mark.parametrize("args,old", [
    (["baseline", "show", "--plan", "x"], "--plan"),
])
def test_old_spellings_work_with_a_warning(tmp_path, args, old):
    r = run_cli(*args, "--store", str(tmp_path / "s.db"))
    assert r.returncode == 0, r.stderr
    assert f"warning: {old} is renamed" in r.stderr
    new = run_cli(*[("--plan-name" if a == old else a) for a in args], "--store",
                  str(tmp_path / "s.db"))
    assert new.returncode == 0 and "warning" not in new.stderr


def test_a_folder_option_never_swallows_the_next_option(tmp_path):
    r = run_cli("github", "status", str(tmp_path), "--dry-run", "--sha", "a" * 40)
    assert r.returncode == 2 and "takes a folder" in r.stderr and "Traceback" not in r.stderr


def test_report_json_flag_is_format_json(tmp_path):
    from pcgbot.model import RunRecord
    from pcgbot.results.sweepdir import RunWriter, write_meta
    d = tmp_path / "s"
    d.mkdir()
    write_meta(d, {"sweep_id": "p:pcg:1", "plan": "p", "mode": "pcg", "commit": "1" * 40,
                   "complete": True, "repeats": 1, "tests": ["t/test_a.py"]})
    RunWriter(d).append(RunRecord(test="t/test_a.py", attempt=0, mode="pcg", outcome="pass",
                                  exit_code=0, duration_s=1.0, commit="1" * 40, log=None,
                                  started_at="2026-07-01T00:00:00+00:00"))
    a, b = run_cli("report", str(d), "--json"), run_cli("report", str(d), "--format", "json")
    assert a.returncode == b.returncode == 0 and a.stdout == b.stdout and a.stdout.startswith("{")
