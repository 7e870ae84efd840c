"""One test run as one process tree that never outlives its run.

Why so careful: in the seed report a timed-out test's server kept 63.7 GB of GPU memory after
``subprocess.run(timeout=...)`` killed only the parent, and ten later tests failed with OOM.
Here every run gets its own session/process group and an environment marker
(``PCGBOT_RUN_ID``).  When the run ends -- normally or by timeout -- the group gets SIGTERM, a
grace period, then SIGKILL; then any process still carrying the marker (a ``setsid`` daemon
escapes the group but keeps its environment) is killed the same way.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Optional

import psutil

from .errors import Interrupted

RUN_MARKER = "PCGBOT_RUN_ID"
SWEEP_MARKER = "PCGBOT_SWEEP_ID"
OWNER_MARKER = "PCGBOT_OWNER_PID"   # lets a GPU check tell a live sweep's run from a leftover


@dataclass
class ProcResult:
    exit_code: Optional[int]      # negative = killed by that signal; None = could not start
    duration_s: float
    timed_out: bool
    started_at: str
    error: Optional[str] = None   # why the process could not start
    killed: int = 0               # processes that had to be killed after the run ended


def utcnow() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def split_command(template: str, path: str) -> list[str]:
    """``python3 {path} -f`` -> argv, with ``{python}`` = this interpreter."""
    return shlex.split(template.format(path=shlex.quote(path),
                                       python=shlex.quote(sys.executable)))


def run_process(cmd: list[str] | str, *, cwd: str | os.PathLike, env: dict[str, str],
                log_path: str | os.PathLike, timeout: float, run_id: str, grace: float = 5.0,
                stream: bool = False) -> ProcResult:
    """Run ``cmd`` in its own session with ``env[RUN_MARKER] = run_id``, output to ``log_path``.

    Returns after every process of the run (group members and marker carriers) is gone.
    """
    argv = shlex.split(cmd) if isinstance(cmd, str) else list(cmd)
    env = dict(env)
    env[RUN_MARKER] = run_id
    env[OWNER_MARKER] = str(os.getpid())
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started_at = utcnow()
    t0 = time.monotonic()
    with open(log_path, "wb") as log:
        try:
            proc = subprocess.Popen(
                argv, cwd=str(cwd), env=env, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE if stream else log, stderr=subprocess.STDOUT,
                start_new_session=True)
        except OSError as e:
            msg = f"cannot start {argv[0]!r} in {cwd}: {e.strerror or e}"
            log.write(f"[pcgbot] {msg}\n".encode())
            return ProcResult(None, time.monotonic() - t0, False, started_at, error=msg)
        pump = None
        if stream:
            pump = threading.Thread(target=_tee, args=(proc.stdout, log), daemon=True)
            pump.start()
        timed_out = False
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
        except KeyboardInterrupt:
            kill_tree(proc.pid, run_id, grace=min(grace, 2.0))
            raise
        killed = kill_tree(proc.pid, run_id, grace=grace)
        code = proc.wait()
        if pump is not None:
            pump.join(timeout=5)
        if timed_out:
            log.write(f"\n[pcgbot] TIMEOUT after {timeout:g}s: process tree killed "
                      f"({killed} processes)\n".encode())
    return ProcResult(code, time.monotonic() - t0, timed_out, started_at, killed=killed)


def _tee(src, log) -> None:
    out = sys.stdout.buffer if hasattr(sys.stdout, "buffer") else None
    for chunk in iter(lambda: src.read1(65536), b""):
        log.write(chunk)
        if out is not None:
            out.write(chunk)
            out.flush()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def kill_tree(pgid: int, run_id: str, grace: float = 5.0) -> int:
    """Terminate the run's process group, then every process carrying its marker.

    SIGTERM first so servers can release GPU memory cleanly; SIGKILL after ``grace`` seconds
    for whatever ignores it.  Returns how many processes were signalled.
    """
    count = 0
    if _group_alive(pgid):
        members = [p for p in psutil.process_iter() if _pgid(p) == pgid]
        count += len(members)
        _signal_group(pgid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while _group_alive(pgid) and time.monotonic() < deadline:
            if all(_dead(p) for p in members):
                break
            time.sleep(0.02)
        if _group_alive(pgid):
            _signal_group(pgid, signal.SIGKILL)
    escaped = find_marked(RUN_MARKER, run_id)
    if escaped:
        count += len(escaped)
        kill_procs(escaped, grace)
    return count


def _dead(p: psutil.Process) -> bool:
    try:
        return p.status() == psutil.STATUS_ZOMBIE
    except psutil.Error:
        return True


def _pgid(p: psutil.Process) -> Optional[int]:
    try:
        return os.getpgid(p.pid)
    except OSError:
        return None


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def find_marked(marker: str, value: str, *, prefix: bool = False,
                since: Optional[float] = None) -> list[psutil.Process]:
    """Processes (other than us) whose environment has ``marker=value`` (or a value starting
    with ``value`` when ``prefix``), optionally only those created after ``since``."""
    me = os.getpid()
    out = []
    for p in psutil.process_iter(["pid"]):
        if p.pid == me:
            continue
        try:
            if since is not None and p.create_time() < since:
                continue
            v = p.environ().get(marker)
        except (psutil.Error, OSError):
            continue
        if v is not None and (v.startswith(value) if prefix else v == value):
            out.append(p)
    return out


def kill_procs(procs: Iterable[psutil.Process], grace: float = 5.0) -> None:
    procs = list(procs)
    for p in procs:
        try:
            p.terminate()
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(procs, timeout=grace)
    for p in alive:
        try:
            p.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=5)


class StopOnSignal:
    """SIGINT/SIGTERM (Ctrl-C, a cancelled CI job): kill every run of this sweep, record none
    of the killed runs (their outcome is ours, not the test's), and end with a clear error;
    ``--resume`` then finishes the sweep."""

    def __init__(self, sweep_id: str, then: str = "finish the sweep with --resume"):
        self.sweep_id = sweep_id
        self.then = then
        self.signum: Optional[int] = None
        self._old: dict[int, object] = {}

    def __enter__(self) -> "StopOnSignal":
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        first = self.signum is None
        self.signum = signum
        if first:
            kill_procs(find_marked(SWEEP_MARKER, self.sweep_id), grace=2.0)

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        if self.signum is not None and exc[0] is None:
            name = signal.Signals(self.signum).name
            raise Interrupted(f"interrupted by {name}: runs in flight were killed and not "
                              f"recorded; {self.then}", self.signum)


class KillOnSignal:
    """SIGINT/SIGTERM in a command that runs several process trees from threads (a bisection's
    parallel probes): kill every process this pcgbot started (they carry its pid as
    ``OWNER_MARKER``) and raise ``Interrupted`` in the main thread at once, so that the caller's
    ``finally`` (worktrees, state) runs and nothing outlives it with parent 1."""

    def __init__(self, then: str):
        self.then = then
        self._old: dict[int, object] = {}

    def __enter__(self) -> "KillOnSignal":
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        for sig, old in self._old.items():     # a second signal during the kill: default action
            signal.signal(sig, old)
        self._old = {}
        kill_procs(find_marked(OWNER_MARKER, str(os.getpid())), grace=2.0)
        raise Interrupted(f"interrupted by {signal.Signals(signum).name}: runs in flight were "
                          f"killed and not recorded; {self.then}", signum)

    def __exit__(self, exc_type, exc, tb) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        if isinstance(exc, Interrupted) and self.then not in str(exc):
            # a run inside handled the signal itself (one run at a time): say what to do here
            signum = exc.exit_code - 128
            raise Interrupted(f"interrupted by {signal.Signals(signum).name}: runs in flight "
                              f"were killed and not recorded; {self.then}", signum) from None

