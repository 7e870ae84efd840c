"""Every command and subcommand has help text, and --help works for each."""

from __future__ import annotations

import click
from click.testing import CliRunner

from pcgbot.cli.main import cli


def _walk(group: click.Group, prefix=()):
    for name, cmd in group.commands.items():
        yield prefix + (name,), cmd
        if isinstance(cmd, click.Group):
            yield from _walk(cmd, prefix + (name,))


def test_every_command_has_help():
    runner = CliRunner()
    seen = []
    for path, cmd in _walk(cli):
        assert (cmd.help or "").strip(), f"pcgbot {' '.join(path)} has no help text"
        r = runner.invoke(cli, [*path, "--help"])
        assert r.exit_code == 0, (path, r.output)
        assert "Usage: " in r.output
        seen.append(" ".join(path))
    for core in ("sweep", "merge", "rerun", "run-one", "plan validate", "plan list",
                 "plan import-sglang"):
        assert core in seen


def test_top_level_help_lists_commands():
    r = CliRunner().invoke(cli, ["--help"])
    assert r.exit_code == 0 and "sweep" in r.output
