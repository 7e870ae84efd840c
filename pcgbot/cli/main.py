"""Command-line interface: a thin click layer.

Each command parses its options, calls one core function, renders the result and returns an exit
code.  Only PcgbotError is caught here: it becomes one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import os
import sqlite3
import sys

import click

from .. import __version__
from ..errors import PcgbotError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="pcgbot")
def cli() -> None:
    """pcgbot: sweep a GPU test suite with Piecewise CUDA Graph (or another mode) forced on,
    diff pass rates against the last baseline, bisect regressions and report them on GitHub."""


# --- area modules register their commands here (one line each) -------------------------------
# BEGIN REGISTER
from .core import register as _r; _r(cli)  # noqa: E402,E702
from .cost import register as _r; _r(cli)  # noqa: E402
from .fleet import register as _r; _r(cli)  # noqa: E402
from .gpu import register as _r; _r(cli)  # noqa: E402
from .report import register as _r; _r(cli)  # noqa: E402
from .github import register as _r; _r(cli)  # noqa: E402
from .coverage import register as _r; _r(cli)  # noqa: E402
from .signature import register as _r; _r(cli)  # noqa: E402
from .diff import register as _r; _r(cli)  # noqa: E402
from .bisect import register as _r; _r(cli)  # noqa: E402
# END REGISTER


def main(argv: list[str] | None = None) -> int:
    try:
        args = list(sys.argv[1:] if argv is None else argv)
        # the typed words, for the warning about an old option spelling (cli/options.renamed)
        rv = cli.main(args=args, prog_name="pcgbot", standalone_mode=False, obj={"argv": args})
    except PcgbotError as e:
        click.echo(f"pcgbot: error: {e}", err=True)
        return e.exit_code
    except click.exceptions.Abort:
        click.echo("pcgbot: aborted", err=True)
        return 130
    except click.UsageError as e:
        # one line, like every other error: the command, what is wrong, where to look
        path = e.ctx.command_path if e.ctx is not None else "pcgbot"
        msg = " ".join(e.format_message().split())
        click.echo(f"pcgbot: error: {path}: {msg} (see {path} --help)", err=True)
        return e.exit_code
    except click.ClickException as e:
        click.echo(f"pcgbot: error: {' '.join(e.format_message().split())}", err=True)
        return e.exit_code
    except BrokenPipeError:
        return 0
    except sqlite3.Error as e:
        # the store is locked by another process past its 30 s wait, or corrupt
        click.echo(f"pcgbot: error: store ({os.environ.get('PCGBOT_STORE') or '.pcgbot/pcgbot.db'}"
                   f" or --store): {e}", err=True)
        return 1
    except OSError as e:
        # A host fault nobody turned into a PcgbotError (disk full, folder vanished, read-only
        # file system): still one line, never a traceback.
        where = f"{e.filename}: " if getattr(e, "filename", None) else ""
        click.echo(f"pcgbot: error: {where}{e.strerror or e}", err=True)
        return 1
    return rv if isinstance(rv, int) else 0


def entry() -> None:  # console script
    sys.exit(main())
