"""The one exception type that reaches the CLI.

Every expected failure (bad plan, unknown test, missing commit, GitHub refusing a call) is raised
as a PcgbotError carrying one line that names what is wrong and where.  ``cli.main`` prints that
line and exits non-zero without a traceback; anything else is a bug and keeps its traceback.
"""


class PcgbotError(Exception):
    """A user-facing error: ``str(err)`` is the whole message, one line."""

    exit_code = 1


class UsageError(PcgbotError):
    """Bad input (a plan, an argument, a file): exit code 2."""

    exit_code = 2


class Interrupted(PcgbotError):
    """The sweep was stopped by a signal (exit 130, like a shell's Ctrl-C)."""

    exit_code = 130
