"""Writing files the way every command should: atomically, with one clear line on failure.

A full disk, a read-only or missing folder is the user's to fix, not a traceback: each write
here raises ``PcgbotError`` naming the path and the reason, and leaves no temporary file behind.
"""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

from .errors import PcgbotError

# errno values that mean "the host cannot store this" (a host fault, never a test's failure)
HOST_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EROFS}


def why(e: OSError) -> str:
    return e.strerror or str(e)


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Replace ``path`` atomically (a reader never sees half a file); returns it."""
    p = Path(path)
    # unique per writer: parallel probes of a bisection may write one folder's files at once
    tmp = p.with_name(f"{p.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except OSError as e:
        try:
            tmp.unlink()
        except OSError:
            pass
        where = p.parent if e.errno in (errno.ENOENT, errno.EACCES, errno.EROFS) else p
        raise PcgbotError(f"{where}: cannot write {p.name}: {why(e)}") from None
    return p


def write_text(path: str | os.PathLike, text: str) -> Path:
    return write_bytes(path, text.encode())


def make_dir(path: str | os.PathLike) -> Path:
    p = Path(path)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise PcgbotError(f"{p}: cannot create folder: a file of that name exists") from None
    except OSError as e:
        raise PcgbotError(f"{p}: cannot create folder: {why(e)}") from None
    return p
