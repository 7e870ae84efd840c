"""Option types shared by the commands: numbers that mean something, or one clear error."""

from __future__ import annotations

import math
from typing import Any, Callable, Optional

import click

from ..plan.schema import MAX_REPEATS


class Seconds(click.ParamType):
    """A duration in seconds: finite and > 0 (``nan`` and ``inf`` are no timeout)."""

    name = "seconds"

    def convert(self, value: Any, param: Optional[click.Parameter], ctx: Optional[click.Context]
                ) -> float:
        try:
            v = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        if not math.isfinite(v) or v <= 0:
            self.fail(f"{value!r}: need a finite number of seconds > 0", param, ctx)
        return v


SECONDS = Seconds()
REPEATS = click.IntRange(1, MAX_REPEATS)


STORE_HELP = "Results store (SQLite) [default: $PCGBOT_STORE, else .pcgbot/pcgbot.db]."


def store_option(note: str = "") -> Callable:
    """``--store FILE``: the same option, meaning and help in every command."""
    return click.option("--store", "store_path", type=click.Path(dir_okay=False), default=None,
                        metavar="FILE", help=STORE_HELP + (f" {note}" if note else ""))


def renamed(old: str, new: str) -> Callable:
    """Callback for an option that still accepts an old spelling: a warning on stderr when the
    old one was typed (kept for one major version, see docs/cli.md)."""
    def warn(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        argv = ((ctx.find_root().obj or {}) if isinstance(ctx.find_root().obj, dict) else {}
                ).get("argv") or []
        if any(a == old or a.startswith(old + "=") for a in argv):
            click.echo(f"pcgbot: warning: {old} is renamed {new}; the old spelling is accepted "
                       "until pcgbot 2.0", err=True)
        return value
    return warn


def folder_value(ctx: click.Context, param: click.Parameter, value: Optional[str]
                 ) -> Optional[str]:
    """An option that takes a folder never swallows the next option (``--dry-run --sha X``)."""
    if value is not None and value.startswith("-"):
        raise click.BadParameter(f"takes a folder, got {value!r} (write {param.opts[-1]} DIR)")
    return value
