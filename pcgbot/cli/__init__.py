"""The command line: a thin click layer over the stages, one module per command group.

``main`` is the click group's runner (returns an exit code), ``entry`` the console script.
Only ``PcgbotError`` escapes a command; ``main`` prints it as one line and exits non-zero.
"""

from .main import cli, entry, main

__all__ = ["cli", "entry", "main"]
