"""The sweep directory on disk: ``sweep.json``, ``runs.jsonl`` and ``logs/``.

``runs.jsonl`` is append-only: a record is written as one line and fsync'd when its run ends, so
a sweep killed at any moment loses at most the run in flight.  A torn last line (killed during
the write) is ignored on read and cut off before a resume appends again.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any, Iterable, Optional

from ..errors import PcgbotError, UsageError
from ..fsutil import make_dir, why, write_text
from ..model import RunRecord, safe_relpath

META = "sweep.json"
RUNS = "runs.jsonl"
_SHARD = re.compile(r"[1-9][0-9]*/[1-9][0-9]*")


def read_meta(sweep_dir: str | os.PathLike) -> dict[str, Any]:
    p = Path(sweep_dir) / META
    try:
        meta = json.loads(p.read_text())
    except FileNotFoundError:
        raise UsageError(f"{p}: not a sweep directory (no {META})") from None
    except ValueError as e:
        raise UsageError(f"{p}:{getattr(e, 'lineno', 1)}: {META}: invalid JSON ({e})") from None
    if not isinstance(meta, dict) or "sweep_id" not in meta:
        raise UsageError(f"{p}:1: sweep_id: missing")
    for key, kinds in _META_TYPES.items():
        v = meta.get(key)
        if v is not None and (not isinstance(v, kinds) or (isinstance(v, bool) and bool not in kinds)):
            raise UsageError(f"{p}:1: {key}: expected {' or '.join(k.__name__ for k in kinds)}, "
                             f"got {type(v).__name__}")
    if not meta["sweep_id"] or any(ord(c) < 32 for c in meta["sweep_id"]):
        raise UsageError(f"{p}:1: sweep_id: empty or holds control characters")
    if not all(isinstance(x, str) for x in meta.get("tests") or []):
        raise UsageError(f"{p}:1: tests: expected a list of test paths")
    sh = meta.get("shard")
    if sh is not None and not _SHARD.fullmatch(sh):
        raise UsageError(f"{p}:1: shard: expected I/N or null, got {sh!r}")
    return meta


# sweep.json comes from GPU runners and artifacts: every field pcgbot reads has one type.
_META_TYPES: dict[str, tuple] = {
    "sweep_id": (str,), "plan": (str,), "plan_file": (str,), "mode": (str,), "commit": (str,),
    "branch": (str,), "base_branch": (str,), "started_at": (str,), "finished_at": (str,),
    "complete": (bool,), "partial": (bool,), "adaptive": (bool,), "repeats": (int,),
    "host": (str,), "shard": (str,), "tests": (list,), "repo": (str,), "shards": (list,),
    "missing_shards": (list,), "gpu": (dict,),
}


def write_meta(sweep_dir: str | os.PathLike, meta: dict[str, Any]) -> None:
    """Atomic replace, so a reader never sees half a file."""
    write_text(Path(sweep_dir) / META, json.dumps(meta, indent=2, sort_keys=True) + "\n")


def inside(sweep_dir: str | os.PathLike, rel: Optional[str]) -> Optional[Path]:
    """``sweep_dir/rel`` if it is a path inside the sweep directory once symlinks are resolved,
    else None.  Every path read from a record, a bundle or sweep.json goes through here: those
    come from GPU runners and artifacts, and a job that reads them may hold a write token."""
    if not rel or not isinstance(rel, str) or not safe_relpath(rel):
        return None
    base = Path(sweep_dir).resolve()
    p = (base / rel).resolve()
    return p if p == base or base in p.parents else None


def run_log(sweep_dir: str | os.PathLike, rec: RunRecord) -> Optional[Path]:
    """The log file of a run, if it exists inside the sweep directory."""
    p = inside(sweep_dir, rec.log)
    return p if p is not None and p.is_file() else None


def read_runs(sweep_dir: str | os.PathLike) -> list[RunRecord]:
    p = Path(sweep_dir) / RUNS
    if not p.exists():
        return []
    out: dict[tuple, RunRecord] = {}
    with open(p, "rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = RunRecord.from_dict(json.loads(line))
        except (ValueError, TypeError) as e:
            if i == len(lines):      # torn final line from a killed sweep: not a record yet
                continue
            raise UsageError(f"{p}:{i}: record: invalid ({e})") from None
        out.setdefault(rec.key, rec)  # first write wins; resume never writes a key twice
    return list(out.values())


def repair_tail(sweep_dir: str | os.PathLike) -> None:
    """Cut a torn last line so the next append starts on a fresh line."""
    p = Path(sweep_dir) / RUNS
    if not p.exists():
        return
    with open(p, "rb+") as f:
        data = f.read()
        if data and not data.endswith(b"\n"):
            cut = data.rfind(b"\n") + 1
            f.truncate(cut)
            f.flush()
            os.fsync(f.fileno())


class RunWriter:
    """Appends records to runs.jsonl, one fsync'd line each, from any thread."""

    def __init__(self, sweep_dir: str | os.PathLike):
        self.path = Path(sweep_dir) / RUNS
        self._lock = threading.Lock()

    def append(self, rec: RunRecord) -> None:
        line = (rec.to_json() + "\n").encode()
        with self._lock:
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            except OSError as e:
                raise PcgbotError(f"{self.path}: cannot record a run: {why(e)}") from None
            size = os.fstat(fd).st_size
            try:
                if os.write(fd, line) != len(line):
                    raise OSError(errno.ENOSPC, "short write (disk full?)")
                os.fsync(fd)
            except OSError as e:
                # Nothing half-recorded: cut what was written of this line.
                try:
                    os.ftruncate(fd, size)
                except OSError:
                    pass
                raise PcgbotError(f"{self.path}: cannot record {rec.test} {rec.mode} attempt "
                                  f"{rec.attempt}: {why(e)}; the sweep stops here "
                                  "(--resume finishes it once there is room)") from None
            finally:
                os.close(fd)


_PLAIN = re.compile(r"[A-Za-z0-9_.-]+\.py")


def log_name(test: str, mode: str, attempt: int) -> str:
    """The log of one run: ``logs/sub__test_x.pcg.0.log`` for ``sub/test_x.py``.

    One name per test: a path that would not map back unambiguously (it has ``__`` or another
    character than ``[A-Za-z0-9_.-/]``, or is not a ``.py`` file) gets ``~`` and a hash of the
    whole path, a character plain names never hold, so ``sub/test_c.py`` and ``sub__test_c.py``
    get two logs.  Mode names are single safe words (the plan checks them)."""
    parts = test.split("/")
    if all(_PLAIN.fullmatch(p) and "__" not in p for p in parts[-1:]) and \
            all(re.fullmatch(r"[A-Za-z0-9_.-]+", p) and "__" not in p and p not in (".", "..")
                for p in parts[:-1]):
        safe = "__".join(parts)[:-3]
    else:
        digest = hashlib.sha1(test.encode()).hexdigest()[:10]
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", test)[:80] + "~" + digest
    return f"logs/{safe}.{mode}.{attempt}.log"


def merge_dirs(dirs: Iterable[str | os.PathLike], out: str | os.PathLike) -> dict[str, Any]:
    """Join shard directories of one sweep (same commit, plan, mode) into ``out``."""
    dirs = [Path(d) for d in dirs]
    if not dirs:
        raise UsageError("merge: no sweep directories given")
    metas = [(d, read_meta(d)) for d in dirs]
    first_dir, first = metas[0]
    for d, m in metas[1:]:
        for key in ("commit", "plan", "mode"):
            if m.get(key) != first.get(key):
                raise UsageError(f"{d / META}: {key}: {m.get(key)!r} differs from "
                                 f"{first.get(key)!r} in {first_dir / META}")
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise UsageError(f"{out}: not empty; merge into a new directory")
    # Built beside ``out`` and renamed into place: a merge that fails half-way leaves nothing.
    make_dir(out.parent)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.merging-", dir=out.parent))
    try:
        meta = _merge_into(tmp, metas)
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return meta


def _merge_into(out: Path, metas: list[tuple[Path, dict[str, Any]]]) -> dict[str, Any]:
    first_dir, first = metas[0]
    (out / "logs").mkdir(parents=True, exist_ok=True)
    seen: dict[tuple, Path] = {}
    writer = RunWriter(out)
    tests: list[str] = []
    for d, m in metas:
        for t in m.get("tests", []):
            if t not in tests:
                tests.append(t)
        for rec in read_runs(d):
            if rec.key in seen:
                raise UsageError(f"{d / RUNS}: {rec.test} {rec.mode} attempt {rec.attempt}: "
                                 f"also in {seen[rec.key] / RUNS}")
            seen[rec.key] = d
            src = run_log(d, rec)
            if src is not None:
                dest = out / rec.log
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dest)
            writer.append(rec)
    shards = [m.get("shard") for _, m in metas]
    whole = _all_shards(shards)
    meta = dict(first)
    meta.update({
        "sweep_id": first["sweep_id"].split("@shard")[0],
        "shard": None,
        "shards": [m.get("shard") for _, m in metas],
        "tests": tests,
        # complete only when every shard 1..N of the sweep is here and complete
        "complete": whole and all(m.get("complete") for _, m in metas),
        "partial": any(m.get("partial") for _, m in metas),
        "missing_shards": _missing(shards),
        "started_at": min(m.get("started_at") or "" for _, m in metas),
        "finished_at": max(m.get("finished_at") or "" for _, m in metas) or None,
    })
    write_meta(out, meta)
    return meta


def _parse(shards: list) -> tuple[set[int], set[int]]:
    idx, ns = set(), set()
    for sh in shards:
        i, n = (int(x) for x in sh.split("/"))
        idx.add(i)
        ns.add(n)
    return idx, ns


def _all_shards(shards: list) -> bool:
    if all(sh is None for sh in shards):
        return True
    if any(sh is None for sh in shards):
        return False
    idx, ns = _parse(shards)
    return len(ns) == 1 and idx == set(range(1, next(iter(ns)) + 1))


def _missing(shards: list) -> list[str]:
    if any(sh is None for sh in shards):
        return []
    idx, ns = _parse(shards)
    n = max(ns)
    return [f"{i}/{n}" for i in range(1, n + 1) if i not in idx]


def check_sweep_dir(sweep_dir: str | os.PathLike) -> Path:
    p = Path(sweep_dir)
    if not (p / META).exists():
        raise PcgbotError(f"{p}: not a sweep directory (no {META})")
    return p


class DirLock:
    """One sweep process per folder: a second one (say, --resume while it runs) is refused
    instead of killing the live sweep's runs.  flock dies with its holder, even on SIGKILL."""

    def __init__(self, out: Path):
        self.path = out / ".lock"
        self.fd: Optional[int] = None

    def __enter__(self) -> "DirLock":
        import fcntl

        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(self.fd, 32).decode(errors="replace").strip() or "?"
            os.close(self.fd)
            raise UsageError(f"{self.path.parent}: another pcgbot sweep (pid {holder}) is "
                             "running in this folder") from None
        try:   # the pid is a courtesy for the message above; the flock is the lock
            os.ftruncate(self.fd, 0)
            os.write(self.fd, str(os.getpid()).encode())
        except OSError:
            pass
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.close(self.fd)
