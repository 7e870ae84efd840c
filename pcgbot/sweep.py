"""Sweep a plan: every test x repeats in one mode, on a pool of slots, resumable.

Scheduling is longest-first (historical median duration from the store, else the plan's
``est_time``): with many slots that keeps the makespan near max(total/slots, longest).  Records
are appended as runs end; ``resume`` skips every (test, mode, attempt) already recorded and first
kills whatever the interrupted sweep left running (its processes carry ``PCGBOT_SWEEP_ID``).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Callable, Optional

from . import gitutil_min as git
from .errors import PcgbotError, UsageError
from .model import FAIL, INFRA, PASS, SKIP, TIMEOUT, RunRecord
from .plan import Plan, TestSpec
from .runner import (SWEEP_MARKER, detect_pcg, find_marked, kill_procs, run_process,
                     split_command, utcnow)
from .shim import SHIM_DIR
from .slots import CpuPool
from .sweepdir import (RUNS, RunWriter, log_name, read_meta, read_runs, repair_tail,
                       write_meta)

# Re-exported for callers that think of these as sweep functions.
__all__ = ["run_sweep", "run_one", "read_runs", "read_meta", "shard_tests", "order_tests"]

Progress = Callable[[RunRecord, int, int], None]


class Interrupted(PcgbotError):
    """The sweep was stopped by a signal (exit 130, like a shell's Ctrl-C)."""

    exit_code = 130


def mode_env(plan: Plan, mode_name: Optional[str], base: Optional[dict] = None) -> dict[str, str]:
    """Environment of a run in ``mode``: the shim first on PYTHONPATH plus the mode's values."""
    mode = plan.mode(mode_name)
    env = dict(os.environ if base is None else base)
    env.update(mode.env)
    pp = env.get("PYTHONPATH", "")
    env["PYTHONPATH"] = SHIM_DIR + (os.pathsep + pp if pp else "")
    env["PCGBOT_MODE"] = mode.name
    if mode.server_args:
        env["PCGBOT_SERVER_ARGS"] = json.dumps(mode.server_args, sort_keys=True)
    else:
        env.pop("PCGBOT_SERVER_ARGS", None)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def parse_shard(text: Optional[str]) -> Optional[tuple[int, int]]:
    if not text:
        return None
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise UsageError(f"--shard: {text!r} is not I/N (e.g. 2/4)") from None
    if not (n >= 1 and 1 <= i <= n):
        raise UsageError(f"--shard: {text!r}: need 1 <= I <= N")
    return i, n


def order_tests(tests: list[TestSpec], history: dict[str, float]) -> list[TestSpec]:
    """Longest first; ties by path so the order is deterministic."""
    return sorted(tests, key=lambda t: (-history.get(t.path, t.est_time), t.path))


def shard_tests(tests: list[TestSpec], shard: tuple[int, int], history: dict[str, float],
                ) -> list[TestSpec]:
    """Greedy LPT partition of tests into N balanced bins by estimated time; bin I (1-based)."""
    i, n = shard
    bins: list[list[TestSpec]] = [[] for _ in range(n)]
    load = [0.0] * n
    for t in order_tests(tests, history):
        j = min(range(n), key=lambda b: (load[b], b))
        bins[j].append(t)
        load[j] += history.get(t.path, t.est_time)
    return bins[i - 1]


def repo_info(repo: Path) -> tuple[Optional[str], Optional[str]]:
    commit = git.try_git(["rev-parse", "HEAD"], repo)
    # In Actions a PR's GITHUB_REF_NAME is "12/merge": its branch is GITHUB_HEAD_REF.
    branch = os.environ.get("GITHUB_HEAD_REF") or os.environ.get("GITHUB_REF_NAME") or \
        git.try_git(["rev-parse", "--abbrev-ref", "HEAD"], repo)
    return commit, (None if branch == "HEAD" else branch)


def _classify(plan: Plan, res, log: Path) -> tuple[str, Optional[str]]:
    if res.exit_code is None:
        return INFRA, res.error
    if res.timed_out:
        return TIMEOUT, None
    return (PASS if res.exit_code == 0 else FAIL), None


def _signature(log: Path) -> Optional[str]:
    try:
        from .signatures import signature_of_log
    except ImportError:   # the signatures module is optional in stripped installs
        return None
    try:
        return signature_of_log(log).fingerprint
    except Exception as e:  # a signature must never lose the run record
        print(f"pcgbot: warning: signature of {log}: {e}", file=sys.stderr)
        return None


def execute(plan: Plan, test: TestSpec, *, out_dir: Path, mode: str, attempt: int, repo: Path,
            commit: Optional[str], timeout: Optional[float], gpus: list[int],
            sweep_id: str, stream: bool = False, pool=None, use_gpu_env: bool = False,
            ) -> RunRecord:
    """Run one (test, mode, attempt) and build its record (not yet written)."""
    run_id = f"{sweep_id}/{test.path}/{mode}/{attempt}"
    rel_log = log_name(test.path, mode, attempt)
    log = out_dir / rel_log
    rec = RunRecord(test=test.path, attempt=attempt, mode=mode, outcome=INFRA, exit_code=None,
                    duration_s=0.0, commit=commit, log=rel_log, started_at=utcnow(),
                    gpus=list(gpus), run_id=run_id, plan=plan.name, suite=test.suite,
                    gpus_needed=test.gpus, host=socket.gethostname())
    if pool is not None:
        reason = pool.before_run(list(gpus), run_id)
        if reason:
            rec.reason = reason
            log.parent.mkdir(parents=True, exist_ok=True)
            log.write_text(f"[pcgbot] not started: {reason}\n")
            return rec
    env = mode_env(plan, mode)
    if plan.pythonpath:
        shim, _, rest = env["PYTHONPATH"].partition(os.pathsep)
        env["PYTHONPATH"] = os.pathsep.join(
            [shim] + [str((repo / p).resolve()) for p in plan.pythonpath] + ([rest] if rest else []))
    env[SWEEP_MARKER] = sweep_id
    if use_gpu_env:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(str(g) for g in gpus)
    cwd = repo / plan.workdir
    if not cwd.is_dir():
        rec.reason = f"workdir {cwd} does not exist"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(f"[pcgbot] not started: {rec.reason}\n")
        return rec
    if not (cwd / test.path.split("::")[0]).exists():
        # renamed or not yet written at this commit: nothing to say about the code
        rec.outcome = SKIP
        rec.reason = f"{test.path} is not in this checkout ({(commit or '?')[:12]})"
        rec.log = None
        return rec
    res = run_process(split_command(plan.command, test.path), cwd=cwd, env=env, log_path=log,
                      timeout=timeout or test.timeout or plan.timeout, run_id=run_id,
                      stream=stream)
    rec.started_at = res.started_at
    rec.exit_code = res.exit_code
    rec.duration_s = round(res.duration_s, 3)
    rec.outcome, rec.reason = _classify(plan, res, log)
    if res.timed_out:
        rec.reason = f"timeout after {timeout or test.timeout or plan.timeout:g}s"
    rec.pcg_active = detect_pcg(log)
    if rec.outcome in (FAIL, TIMEOUT):
        rec.signature = _signature(log)
    if pool is not None:
        rec.leaked_mib = pool.after_run(list(gpus), run_id)
    return rec


def _new_meta(plan: Plan, mode: str, repo: Path, tests: list[TestSpec], repeats: int,
              shard: Optional[tuple[int, int]], sweep_id: Optional[str]) -> dict:
    commit, branch = repo_info(repo)
    if not sweep_id:
        tag = os.environ.get("GITHUB_RUN_ID") or time.strftime("%Y%m%dT%H%M%S") + \
            "-" + uuid.uuid4().hex[:6]
        sweep_id = f"{plan.name}:{mode}:{(commit or 'nogit')[:12]}:{tag}"
    if shard:
        sweep_id += f"@shard{shard[0]}of{shard[1]}"
    return {"sweep_id": sweep_id, "plan": plan.name,
            "plan_file": str(Path(plan.source).resolve()) if plan.source else None,
            "mode": mode, "commit": commit, "branch": branch, "repo": str(repo),
            "started_at": utcnow(), "finished_at": None, "complete": False,
            "repeats": repeats, "host": socket.gethostname(),
            "shard": f"{shard[0]}/{shard[1]}" if shard else None,
            # where the baseline comes from: a PR is compared with its target branch
            "base_branch": os.environ.get("GITHUB_BASE_REF") or None,
            "tests": [t.path for t in tests]}


def check_repo(plan: Plan, repo: Optional[str | os.PathLike]) -> Path:
    """The checkout under test, after checking it and the plan's workdir exist."""
    repo_p = Path(repo) if repo else plan.repo_path()
    if not repo_p.is_dir():
        raise UsageError(f"{plan.source}: repo: {repo_p} is not a directory")
    if not (repo_p / plan.workdir).is_dir():
        raise UsageError(f"{plan.source}: workdir: {repo_p / plan.workdir} does not exist "
                         "(is --repo the checkout under test?)")
    return repo_p


def run_sweep(plan: Plan, out_dir: str | os.PathLike, *, mode: Optional[str] = None,
              repeats: Optional[int] = None, timeout: Optional[float] = None,
              tests: Optional[list[TestSpec]] = None, slots: Optional[int] = None,
              resume: bool = False, shard: Optional[tuple[int, int]] = None,
              repo: Optional[str | os.PathLike] = None, progress: Optional[Progress] = None,
              adaptive=None, baseline: Optional[dict[str, tuple[int, int]]] = None,
              pool=None, history: Optional[dict[str, float]] = None,
              sweep_id: Optional[str] = None) -> Path:
    """Run the sweep into ``out_dir``; returns it.  See module docstring."""
    out = Path(out_dir)
    mode = plan.mode(mode).name
    repo_p = check_repo(plan, repo)
    history = history or {}
    selected = list(tests) if tests is not None else list(plan.tests)
    partial = {t.path for t in selected} != {t.path for t in plan.tests}
    if shard:
        # est_time only: every shard job must compute the same split, whatever its store holds
        selected = shard_tests(selected, shard, {})
    reps = repeats or plan.repeats
    if (out / RUNS).exists() and not resume:
        raise UsageError(f"{out}: already holds a sweep; pass --resume to finish it "
                         "or choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    with _DirLock(out):
        if resume and (out / "sweep.json").exists():
            meta = _resume_meta(out, plan, mode, repo_p)
            selected = [t for t in plan.tests if t.path in set(meta.get("tests") or [])] \
                or selected
        else:
            (out / "logs").mkdir(parents=True, exist_ok=True)
            meta = _new_meta(plan, mode, repo_p, selected, reps, shard, sweep_id)
            meta["partial"] = partial
        write_meta(out, meta)
        pool = pool or CpuPool(slots or 1)
        with _StopOnSignal(meta["sweep_id"]) as stop:
            _drive(plan, out, meta, selected, mode, reps, repo_p, timeout, slots, pool,
                   adaptive, baseline or {}, history, progress, stop)
        meta["finished_at"] = utcnow()
        meta["complete"] = True
        meta["adaptive"] = bool(adaptive)
        if hasattr(pool, "summary"):
            meta["gpu"] = pool.summary()  # leftovers cleaned, GPUs quarantined (by whom), leaks
        write_meta(out, meta)
    return out


def _resume_meta(out: Path, plan: Plan, mode: str, repo_p: Path) -> dict:
    meta = read_meta(out)
    if meta.get("mode") != mode or meta.get("plan") != plan.name:
        raise UsageError(f"{out}/sweep.json: plan/mode {meta.get('plan')}/{meta.get('mode')}"
                         f" differ from {plan.name}/{mode}")
    head, _ = repo_info(repo_p)
    if meta.get("commit") and head and head != meta["commit"]:
        raise UsageError(f"{out}/sweep.json: commit: the sweep is of {meta['commit'][:12]} but "
                         f"{repo_p} is at {head[:12]}; check that commit out to resume")
    leftovers = [p for p in find_marked(SWEEP_MARKER, meta["sweep_id"])]
    if leftovers:   # runs of the interrupted sweep: their results were never recorded
        kill_procs(leftovers, grace=2.0)
    repair_tail(out)
    meta["complete"] = False
    return meta


class _DirLock:
    """One sweep process per folder: a second one (say, --resume while it runs) is refused
    instead of killing the live sweep's runs.  flock dies with its holder, even on SIGKILL."""

    def __init__(self, out: Path):
        self.path = out / ".lock"
        self.fd: Optional[int] = None

    def __enter__(self) -> "_DirLock":
        import fcntl

        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(self.fd, 32).decode(errors="replace").strip() or "?"
            os.close(self.fd)
            raise UsageError(f"{self.path.parent}: another pcgbot sweep (pid {holder}) is "
                             "running in this folder") from None
        os.ftruncate(self.fd, 0)
        os.write(self.fd, str(os.getpid()).encode())
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.close(self.fd)


class _StopOnSignal:
    """SIGINT/SIGTERM (Ctrl-C, a cancelled CI job): kill every run of this sweep, record none
    of the killed runs (their outcome is ours, not the test's), and end with a clear error;
    ``--resume`` then finishes the sweep."""

    def __init__(self, sweep_id: str):
        self.sweep_id = sweep_id
        self.signum: Optional[int] = None
        self._old: dict[int, object] = {}

    def __enter__(self) -> "_StopOnSignal":
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
                              "recorded; finish the sweep with --resume")


def _drive(plan, out, meta, selected, mode, reps, repo_p, timeout, slots, pool, adaptive,
           baseline, history, progress, stop) -> None:
    """Schedule and run every missing (test, attempt) of the sweep."""
    done = {r.key: r for r in read_runs(out)}
    writer = RunWriter(out)
    use_gpu_env = bool(getattr(pool, "is_gpu", False))
    sched = _Scheduler(plan, selected, mode, reps, done, adaptive, baseline, history)
    total = sched.total_planned()
    finished = [sum(1 for k in done if k[1] == mode)]

    def record(rec: RunRecord) -> None:
        writer.append(rec)
        finished[0] += 1
        if progress:
            progress(rec, finished[0], max(total, finished[0]))

    # Tests that can never be placed: more GPUs than the host has.
    for t in selected:
        if t.gpus > pool.capacity():
            for a in sched.pop_all(t):
                record(_skip(plan, t, mode, a, meta, f"needs {t.gpus} GPUs, host has "
                                                    f"{pool.capacity()}"))

    with ThreadPoolExecutor(max_workers=max(1, min(64, slots or 64))) as ex:
        running: dict[Future, tuple[TestSpec, int, list[int]]] = {}
        while True:
            started = False
            blocked_k = None    # smallest GPU count that failed to place in this pass
            for t, a in ([] if stop.signum else sched.ready()):
                if blocked_k is not None and t.gpus >= blocked_k:
                    continue
                ids = pool.try_acquire(t.gpus)
                if ids is None:
                    blocked_k = t.gpus if blocked_k is None else min(blocked_k, t.gpus)
                    if not running and not pool_can_ever(pool, t.gpus):
                        q = getattr(pool, "quarantined", lambda: {})()
                        sched.take(t, a)
                        sched.finish(t, None)
                        record(_infra(plan, t, mode, a, meta, "no clean GPU: " + "; ".join(
                            why for _, why in sorted(q.items()))))
                        started = True
                        blocked_k = None
                    continue
                sched.take(t, a)
                fut = ex.submit(execute, plan, t, out_dir=out, mode=mode, attempt=a, repo=repo_p,
                                commit=meta.get("commit"), timeout=timeout, gpus=ids,
                                sweep_id=meta["sweep_id"], pool=pool, use_gpu_env=use_gpu_env)
                running[fut] = (t, a, ids)
                started = True
            if not running:
                if started:
                    continue
                break
            doneset, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for fut in doneset:
                t, a, ids = running.pop(fut)
                pool.release(ids)
                rec = fut.result()
                if stop.signum is not None:
                    continue        # killed by us: not the test's outcome
                record(rec)
                sched.finish(t, rec)


def pool_can_ever(pool, k: int) -> bool:
    q = getattr(pool, "quarantined", lambda: {})()
    return pool.capacity() - len(q) >= max(k, 1)


def _skip(plan, t, mode, a, meta, reason) -> RunRecord:
    return RunRecord(test=t.path, attempt=a, mode=mode, outcome=SKIP, exit_code=None,
                     duration_s=0.0, commit=meta.get("commit"), log=None, started_at=utcnow(),
                     plan=plan.name, suite=t.suite, gpus_needed=t.gpus, reason=reason,
                     host=socket.gethostname())


def _infra(plan, t, mode, a, meta, reason) -> RunRecord:
    rec = _skip(plan, t, mode, a, meta, reason)
    rec.outcome = INFRA
    return rec


class _Scheduler:
    """Which (test, attempt) may start next.

    Fixed repeats: every missing attempt is ready at once, longest test first.  Adaptive: a test
    starts with ``min_runs`` attempts and gets more only while ``adaptive.decide`` says the
    verdict is still open (up to ``max_runs``).
    """

    def __init__(self, plan, tests, mode, reps, done, adaptive, baseline, history):
        self.adaptive = adaptive
        self.baseline = baseline
        self.timeout_fails = plan.timeout_is_failure
        self.mode = mode
        self.order = order_tests(tests, history)
        self.results: dict[str, list[str]] = {t.path: [] for t in tests}
        self.pending: dict[str, list[int]] = {}
        self.inflight: dict[str, int] = {t.path: 0 for t in tests}
        self.stopped: set[str] = set()
        self.cap = reps if adaptive is None else max(reps, adaptive.max_runs)
        for t in tests:
            for a in range(self.cap):
                r = done.get((t.path, mode, a))
                if r is not None:
                    self.results[t.path].append(r.outcome)
            first = reps if adaptive is None else adaptive.min_runs
            self.pending[t.path] = [a for a in range(first) if (t.path, mode, a) not in done]
        self._next = {t.path: (reps if adaptive is None else adaptive.min_runs) for t in tests}
        self._done_keys = done

    def total_planned(self) -> int:
        return sum(len(v) for v in self.pending.values()) + sum(
            1 for k in self._done_keys if k[1] == self.mode)

    def ready(self):
        """(test, attempt) pairs that may start, longest test first; the caller takes them."""
        for t in self.order:
            pend = self.pending.get(t.path)
            while pend:
                before = len(pend)
                yield t, pend[0]
                if len(pend) == before:    # not taken: the pool is full for this test
                    break

    def take(self, t, a) -> None:
        self.pending[t.path].remove(a)
        self.inflight[t.path] += 1

    def pop_all(self, t) -> list[int]:
        out = self.pending.get(t.path, [])
        self.pending[t.path] = []
        return out

    def finish(self, t, rec: Optional[RunRecord]) -> None:
        self.inflight[t.path] -= 1
        if rec is None:
            return
        self.results[t.path].append(rec.outcome)
        if self.adaptive is None or self.pending[t.path] or self.inflight[t.path]:
            return
        outs = self.results[t.path]
        nxt = self._next[t.path]
        while nxt < self.cap and (t.path, self.mode, nxt) in self._done_keys:
            nxt += 1
        if nxt >= self.cap:
            return
        k = outs.count(PASS)
        n = k + outs.count(FAIL) + (outs.count(TIMEOUT) if self.timeout_fails else 0)
        decision = self.adaptive.decide(self.baseline.get(t.path), k, n, len(outs))
        if decision.action == "continue":
            self.pending[t.path].append(nxt)
            self._next[t.path] = nxt + 1


def run_one(plan: Plan, test: TestSpec, *, out_dir: str | os.PathLike, mode: Optional[str] = None,
            attempt: int = 0, repo: Optional[str | os.PathLike] = None,
            timeout: Optional[float] = None, stream: bool = False,
            gpus: tuple[int, ...] | list[int] = ()) -> RunRecord:
    """One run with full process-tree hygiene, appended to ``out_dir/runs.jsonl``."""
    out = Path(out_dir)
    mode = plan.mode(mode).name
    repo_p = Path(repo) if repo else plan.repo_path()
    if not repo_p.is_dir():
        raise UsageError(f"{plan.source}: repo: {repo_p} is not a directory")
    (out / "logs").mkdir(parents=True, exist_ok=True)
    if (out / "sweep.json").exists():
        meta = read_meta(out)
    else:
        meta = _new_meta(plan, mode, repo_p, [test], 1, None, None)
        write_meta(out, meta)
    commit, _ = repo_info(repo_p)
    rec = execute(plan, test, out_dir=out, mode=mode, attempt=attempt, repo=repo_p,
                  commit=commit, timeout=timeout, gpus=list(gpus), sweep_id=meta["sweep_id"],
                  stream=stream, use_gpu_env=bool(gpus))
    RunWriter(out).append(rec)
    return rec
