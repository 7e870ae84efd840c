"""Sweep a plan: every test x repeats in one mode, on a pool of slots, resumable.

Scheduling is longest-first (historical median duration from the store, else the plan's
``est_time``): with many slots that keeps the makespan near max(total/slots, longest).  Records
are appended as runs end; ``resume`` skips every (test, mode, attempt) already recorded and first
kills whatever the interrupted sweep left running (its processes carry ``PCGBOT_SWEEP_ID``).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Callable, Optional

from .. import gitutil as git
from ..errors import UsageError
from ..fsutil import make_dir, why
from ..model import FAIL, INFRA, PASS, SKIP, TIMEOUT, RunRecord
from ..plan.schema import MAX_REPEATS, Plan, TestSpec
from ..signatures.pcg import detect_pcg
from ..procs import (SWEEP_MARKER, StopOnSignal, find_marked, kill_procs,
                     run_process, split_command, utcnow)
from .scheduler import Scheduler, order_tests, shard_tests
from .shim import SHIM_DIR
from .slots import CpuPool
from ..results.sweepdir import (META, RUNS, DirLock, RunWriter, log_name, read_meta, read_runs, repair_tail,
                       write_meta)

# Re-exported for callers that think of these as sweep functions.
__all__ = ["run_sweep", "run_one", "read_runs", "read_meta", "shard_tests", "order_tests"]

Progress = Callable[[RunRecord, int, int], None]


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


MAX_SHARDS = 256


def parse_shard(text: Optional[str]) -> Optional[tuple[int, int]]:
    if not text:
        return None
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise UsageError(f"--shard: {text!r} is not I/N (e.g. 2/4)") from None
    if not (n >= 1 and 1 <= i <= n):
        raise UsageError(f"--shard: {text!r}: need 1 <= I <= N")
    if n > MAX_SHARDS:
        raise UsageError(f"--shard: {text!r}: at most {MAX_SHARDS} shards (a GitHub Actions "
                         "matrix has at most 256 jobs)")
    return i, n


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


# Below this much free space on the log's file system a failed run is blamed on the host.
DISK_FULL_BYTES = 1 << 20


def _disk_full(log: Path) -> Optional[str]:
    """Why the host could not store the run's output, or None."""
    try:
        st = os.statvfs(log.parent)
    except OSError as e:
        return f"cannot stat {log.parent}: {why(e)}"
    free = st.f_bavail * st.f_frsize
    if free < DISK_FULL_BYTES:
        return f"the disk holding {log.parent} is full ({free // 1024} KiB free)"
    return None


def _signature(log: Path) -> Optional[str]:
    from ..signatures.signature import signature_of_log   # loads the rules: only when a run failed

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
    try:
        res = run_process(split_command(plan.command, test.path), cwd=cwd, env=env, log_path=log,
                          timeout=timeout or test.timeout or plan.timeout, run_id=run_id,
                          stream=stream)
    except OSError as e:   # the log cannot even be created: the host's fault, not the test's
        rec.reason = f"host fault: cannot write the log {rel_log}: {why(e)}"
        return rec
    rec.started_at = res.started_at
    rec.exit_code = res.exit_code
    rec.duration_s = round(res.duration_s, 3)
    rec.outcome, rec.reason = _classify(plan, res, log)
    if res.timed_out:
        rec.reason = f"timeout after {timeout or test.timeout or plan.timeout:g}s"
    full = _disk_full(log)
    if full and rec.outcome != PASS:
        # The run may have failed only because it could not write (its log, a cache, a
        # checkpoint): a host fault is infra, never a failure of the code under test.
        rec.outcome, rec.reason = INFRA, f"host fault: {full} (run exited {res.exit_code})"
        rec.pcg_active = detect_pcg(log)
        return rec
    rec.pcg_active = detect_pcg(log)
    if rec.outcome in (FAIL, TIMEOUT):
        rec.signature = _signature(log)
        if rec.signature:
            from ..signatures.signature import SCHEME
            rec.signature_scheme = SCHEME   # every stored fingerprint says which function made it
    if pool is not None:
        rec.leaked_mib = pool.after_run(list(gpus), run_id)
    return rec


def _new_meta(plan: Plan, mode: str, repo: Path, tests: list[TestSpec], repeats: int,
              shard: Optional[tuple[int, int]], sweep_id: Optional[str],
              branch: Optional[str] = None) -> dict:
    commit, checked_out = repo_info(repo)
    branch = branch or checked_out
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
              sweep_id: Optional[str] = None, branch: Optional[str] = None,
              sentinels: Optional[set[str]] = None) -> Path:
    """Run the sweep into ``out_dir``; returns it.  See module docstring.

    ``sentinels``: PCG-inert test paths (``pcgbot.results.inert``) that run once unless that
    run shows PCG active; sweep.json records them and the ones that woke up."""
    out = Path(out_dir)
    mode = plan.mode(mode).name
    repo_p = check_repo(plan, repo)
    history = history or {}
    selected = list(tests) if tests is not None else list(plan.tests)
    partial = {t.path for t in selected} != {t.path for t in plan.tests}
    if not selected:
        raise UsageError(f"{plan.source or plan.name}: no test selected: a sweep of nothing "
                         "would become a baseline that proves nothing")
    if shard:
        # est_time only: every shard job must compute the same split, whatever its store holds.
        # A shard may be empty (more shards than tests): merge joins it with the others.
        selected = shard_tests(selected, shard, {})
    if repeats is not None and not 1 <= repeats <= MAX_REPEATS:
        raise UsageError(f"--repeats: must be between 1 and {MAX_REPEATS}, got {repeats}")
    reps = repeats or plan.repeats
    if (out / RUNS).exists() and not resume:
        raise UsageError(f"{out}: already holds a sweep; pass --resume to finish it "
                         "or choose another --out")
    if resume and (out / RUNS).exists() and not (out / META).exists():
        raise UsageError(f"{out}: runs.jsonl without sweep.json: not a sweep that can be "
                         "resumed (its plan, mode and commit are unknown); use another --out")
    make_dir(out)
    with DirLock(out):
        if resume and (out / META).exists():
            meta = _resume_meta(out, plan, mode, repo_p)
            if repeats is not None and meta.get("repeats") not in (None, repeats):
                raise UsageError(f"{out}/{META}: repeats: the sweep was started with "
                                 f"--repeats {meta['repeats']}, not {repeats}; resume without "
                                 "--repeats")
            reps = meta.get("repeats") or reps   # a resume finishes the sweep that was started
            selected = [t for t in plan.tests if t.path in set(meta.get("tests") or [])] \
                or selected
        else:
            (out / "logs").mkdir(parents=True, exist_ok=True)
            # ``branch``: the branch the commit belongs to when the checkout cannot say (a
            # detached worktree of an older commit of main)
            meta = _new_meta(plan, mode, repo_p, selected, reps, shard, sweep_id, branch)
            meta["partial"] = partial
        if sentinels is not None and not (resume and "sentinels" in meta):
            meta["sentinels"] = sorted(sentinels & {t.path for t in selected})
        write_meta(out, meta)
        pool = pool or CpuPool(slots or 1)
        with StopOnSignal(meta["sweep_id"]) as stop:
            woken = _drive(plan, out, meta, selected, mode, reps, repo_p, timeout, slots, pool,
                           adaptive, baseline or {}, history, progress, stop)
        if meta.get("sentinels"):
            # sentinels whose run showed PCG active: no longer inert, run in full this sweep
            meta["sentinels_woken"] = sorted(set(meta.get("sentinels_woken") or []) | set(woken))
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


def _drive(plan, out, meta, selected, mode, reps, repo_p, timeout, slots, pool, adaptive,
           baseline, history, progress, stop) -> list[str]:
    """Schedule and run every missing (test, attempt) of the sweep; returns the sentinels
    that woke up (PCG active)."""
    done = {r.key: r for r in read_runs(out)}
    writer = RunWriter(out)
    use_gpu_env = bool(getattr(pool, "is_gpu", False))
    sched = Scheduler(plan, selected, mode, reps, done, adaptive, baseline, history,
                      sentinels=set(meta.get("sentinels") or ()))
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
        try:
            _loop(plan, out, meta, mode, repo_p, timeout, pool, sched, stop, ex, running, record,
                  use_gpu_env)
        except BaseException:
            # A run cannot be recorded (disk full) or pcgbot itself failed: no run of this sweep
            # may outlive it, or the executor would wait for each to time out.
            kill_procs(find_marked(SWEEP_MARKER, meta["sweep_id"]), grace=2.0)
            raise
    return list(sched.woken)


def _loop(plan, out, meta, mode, repo_p, timeout, pool, sched, stop, ex, running, record,
          use_gpu_env) -> None:
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
                        w for _, w in sorted(q.items()))))
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
        doneset, _ = wait(list(running), timeout=1.0, return_when=FIRST_COMPLETED)
        if stop.signum is not None:
            # a run whose process was being started when the signal came escaped the first
            # kill (a forked child carries the marker only once it has exec'd): again
            kill_procs(find_marked(SWEEP_MARKER, meta["sweep_id"]), grace=2.0)
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


def run_one(plan: Plan, test: TestSpec, *, out_dir: str | os.PathLike, mode: Optional[str] = None,
            attempt: int = 0, repo: Optional[str | os.PathLike] = None,
            timeout: Optional[float] = None, stream: bool = False,
            gpus: tuple[int, ...] | list[int] = (), pool=None) -> RunRecord:
    """One run with full process-tree hygiene, appended to ``out_dir/runs.jsonl``.

    With ``pool`` (a GPU pool that handed out ``gpus``) the run also gets the pool's GPU
    hygiene: leftovers cleaned before it, a dirty GPU quarantined, leaked memory measured."""
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
    # SIGINT/SIGTERM (a cancelled CI job) kill the run's whole tree and record nothing: a run
    # must never outlive pcgbot with parent 1.  (A no-op off the main thread: bisection probes
    # run in threads and the bisection handles signals itself.)
    with StopOnSignal(meta["sweep_id"], then="nothing was recorded") as stop:
        rec = execute(plan, test, out_dir=out, mode=mode, attempt=attempt, repo=repo_p,
                      commit=commit, timeout=timeout, gpus=list(gpus), sweep_id=meta["sweep_id"],
                      stream=stream, use_gpu_env=bool(gpus), pool=pool)
        if stop.signum is None:
            RunWriter(out).append(rec)
    return rec
