"""Option types shared by the commands: numbers that mean something, or one clear error."""

from __future__ import annotations

import math
from typing import Any, Optional

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
