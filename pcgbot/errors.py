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
    """Stopped by a signal: exit 128 + its number, as a shell reports it (130 for Ctrl-C's
    SIGINT, 143 for SIGTERM, what a cancelled CI job sends)."""

    exit_code = 130

    def __init__(self, message: str, signum: int = 2):
        super().__init__(message)
        self.exit_code = 128 + signum
