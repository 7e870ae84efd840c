"""Flake-aware bisection on real git: worktrees, per-commit setup, probes, saved state.

The search itself is pure (``bisect_search``); this module feeds it.  Each probed commit gets its
own detached worktree under the state folder, so the user's checkout is never touched.  The
plan's ``setup`` runs only when its cache key (a hash of the ``setup_key`` files at that commit)
differs from the one last installed; a commit whose setup fails is untestable (neither good nor
bad).  A probe run counts as a failure only when its failure signature is the regression's:
an unrelated crash, a timeout or an infra problem is recorded and steers nothing.  The state is
written (JSON, atomic rename) after every run, so ``--resume`` loses nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import shutil
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any, Callable, Optional

from .. import gitutil
from . import timing
from .ends import learn_signature, unseeded_end
from .result import BisectResult, build_result
from .search import FAIL, OTHER, PASS, Search, SearchConfig
from .seed import Seeds, culprit_weights, open_store, seeds_for, sig_matches
from ..errors import PcgbotError, UsageError
from ..fsutil import write_text
from ..model import (FAIL as R_FAIL, INFRA as R_INFRA, PASS as R_PASS, TIMEOUT as R_TIMEOUT,
                    RunRecord, short_name)
from ..plan.schema import Plan, TestSpec
from ..sweep.pools import probe_slots
from ..procs import KillOnSignal, run_process
from ..results.sweepdir import run_log

# run(sha, worktree, attempt, out_dir) -> RunRecord; the default is pcgbot.sweep.run_one.
Runner = Callable[[str, Path, int, Path], RunRecord]
STATE_VERSION = 1
HOST_RETRY = 1000   # attempt offset of a probe re-run because its GPU was found dirty


def probe_verdict(rec: RunRecord, signature: Optional[str], plan: Plan,
                  out_dir: Path) -> tuple[str, Optional[str]]:
    """pass / fail / other for one probe run, and the run's failure signature.

    Only a failure with the regression's signature is "fail" (syzkaller#3855: an unrelated
    crash derailed a bisection).  Timeouts count as failures only where the plan says so."""
    if rec.outcome == R_PASS:
        return PASS, None
    if not (rec.outcome == R_FAIL or (rec.outcome == R_TIMEOUT and plan.timeout_is_failure)):
        return OTHER, rec.signature
    sig = rec.signature
    log = run_log(out_dir, rec)
    if sig is None and log is not None:
        from ..signatures.signature import signature_of_log
        sig = signature_of_log(log).fingerprint
    if sig_matches(signature, sig):
        return FAIL, sig
    if signature is not None and log is not None:
        # a signature from an issue filed under an older fingerprint scheme: the same failure
        # under any scheme counts (the run is reported by its current fingerprint)
        from ..signatures.schemes import fingerprints_of_log
        if any(sig_matches(signature, f) for f in fingerprints_of_log(log).values()):
            return FAIL, sig
    return OTHER, sig


class _State:
    """The JSON state file: parameters, commits, setups, every probe run, the result."""

    def __init__(self, path: Path, data: dict[str, Any]):
        self.path = path
        self.data = data

    def save(self) -> None:
        write_text(self.path, json.dumps(self.data, indent=1, sort_keys=True))

    @classmethod
    def load(cls, path: Path) -> Optional["_State"]:
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            raise UsageError(f"{path}:1: bisect state: unreadable ({e}); delete it to start over")
        if data.get("version") != STATE_VERSION:
            raise UsageError(f"{path}:1: version: bisect state version {data.get('version')!r}, "
                             f"expected {STATE_VERSION}; delete it to start over")
        return cls(path, data)


class Bisection:
    """One bisection of one test over one first-parent range."""

    def __init__(self, plan: Plan, test: TestSpec, repo: Path, commits: list[str], *,
                 mode: str, fix: bool, seeds: Seeds, config: SearchConfig, state_dir: Path,
                 resume: bool, runner: Optional[Runner], progress: Callable[[str], None],
                 slots: int, gpus: tuple[int, ...], pool: Any = None, store: Any = None):
        self.plan, self.test, self.repo, self.commits = plan, test, repo, commits
        self.mode, self.fix, self.seeds, self.cfg = mode, fix, seeds, config
        self.progress, self.slots, self.gpus = progress, max(1, slots), gpus
        self.stopped_why: Optional[str] = None    # why run() stopped before the search did
        self.deadline: Optional[float] = None     # time.monotonic() budget of this invocation
        self.budget_min: Optional[float] = None
        self.pool = pool     # GPU pool (NVML): GPUs per probe + hygiene; None = static --gpus
        self.store = store   # results store (or None): setup and run durations go there too
        self.runner = runner or self._run_one
        self._keys: dict[str, str] = {}
        self._free: queue.Queue[int] = queue.Queue()   # slot numbers: which GPUs a run gets
        for i in range(self.slots):
            self._free.put(i)
        ident = hashlib.sha256("\0".join([plan.name, test.path, mode, commits[0], commits[-1],
                                          "fix" if fix else "cause"]).encode()).hexdigest()[:10]
        self.dir = state_dir / f"{short_name(test.path)}-{'fix' if fix else 'cause'}-{ident}"
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / "state.json"
        st = _State.load(path) if resume else None
        self.resumed = st is not None
        if not self.resumed:   # a fresh start: drop what an earlier attempt left behind
            self.cleanup()
            for sub in ("runs", "setup"):
                shutil.rmtree(self.dir / sub, ignore_errors=True)
        self.state = st or _State(path, {
            "version": STATE_VERSION, "plan": plan.source or plan.name, "test": test.path,
            "mode": mode, "fix": fix, "commits": commits, "signature": seeds.signature,
            "seed_before": list(seeds.before), "seed_after": list(seeds.after),
            "seed_source": seeds.source, "setups": {}, "installed_key": None, "probes": [],
            "result": None})
        if self.state.data["commits"] != commits:
            raise UsageError(f"{path}:1: commits: saved state is for another range; "
                             "run without --resume to start over")
        if not self.resumed:
            self.state.data["weights"] = culprit_weights(repo, commits, plan.unlikely_culprits,
                                                         config.unlikely_weight)
            # No signature given and no sweeps: the failing end's failures will name it.
            self.state.data["signature_from_ends"] = seeds.measure and seeds.signature is None
        if "setup_keys" not in self.state.data:   # which commits share one installed setup
            self.state.data["setup_keys"] = [self._setup_key(c) for c in commits]
        self.search = self._new_search()
        self._replay()

    # -- state ---------------------------------------------------------------------------
    def _new_search(self) -> Search:
        d = self.state.data
        return Search(len(self.commits) - 1, tuple(d["seed_before"]), tuple(d["seed_after"]),
                      self.cfg, weights=d.get("weights"), setup_groups=d["setup_keys"])

    def _replay(self) -> None:
        idx = {sha: j for j, sha in enumerate(self.commits)}
        for sha, s in self.state.data["setups"].items():
            if not s["ok"]:
                self.search.mark_untestable(idx[sha])
        for p in self.state.data["probes"]:
            self.search.record(idx[p["sha"]], p["verdict"])

    def adopt_signature(self, sig: Optional[str]) -> None:
        """Count only failures with ``sig`` from now on, and re-judge the runs so far."""
        d = self.state.data
        d["signature"] = sig
        for p in d["probes"]:
            if p["verdict"] in (FAIL, OTHER) and p["outcome"] in (R_FAIL, R_TIMEOUT):
                counts = p["outcome"] == R_FAIL or self.plan.timeout_is_failure
                p["verdict"] = FAIL if counts and sig_matches(sig, p["signature"]) else OTHER
        self.search = self._new_search()
        self._replay()
        self.state.save()

    def _attempts(self, sha: str) -> int:
        """Runs of ``sha`` recorded in the state."""
        return sum(1 for p in self.state.data["probes"] if p["sha"] == sha)

    def _next_attempt(self, sha: str) -> int:
        """The first attempt number of ``sha`` not used yet.  Parallel runs are recorded as
        they finish, so an interrupted bisection can have saved attempt 3 but not 2, and a run
        may have reached runs.jsonl but not the state: numbering from the highest one seen in
        either (host re-runs fold back: attempt + HOST_RETRY * k) never reuses a number."""
        from ..results.sweepdir import read_runs
        used = [p["attempt"] for p in self.state.data["probes"] if p["sha"] == sha]
        used += [r.attempt % HOST_RETRY for r in read_runs(self.dir / "runs" / sha[:12])]
        return max(used) + 1 if used else 0

    # -- git + setup ---------------------------------------------------------------------
    def worktree(self, sha: str) -> Path:
        return gitutil.worktree_add(self.repo, self.dir / "wt" / sha[:12], sha)

    def _setup_key(self, sha: str) -> Optional[str]:
        if not self.plan.setup:
            return None
        if sha not in self._keys:
            self._keys[sha] = gitutil.files_key(self.repo, sha, self.plan.setup_key)
        return self._keys[sha]

    def ensure_setup(self, sha: str) -> bool:
        """Worktree for ``sha`` and, when its key differs from the installed one, the setup."""
        wt = self.worktree(sha)
        key = self._setup_key(sha)
        d = self.state.data
        if key is None or key == d["installed_key"]:
            return True
        log = self.dir / "setup" / f"{sha[:12]}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        self.progress(f"setup at {sha[:10]} (key {key[:8]} changed)")
        res = run_process(["bash", "-c", self.plan.setup], cwd=wt, env=dict(os.environ),
                          log_path=log, timeout=max(self.plan.timeout, 3600.0),
                          run_id=f"bisect-setup-{sha[:12]}")
        ok = res.exit_code == 0 and not res.timed_out
        d["setups"][sha] = {"ok": ok, "key": key, "log": str(log), "exit_code": res.exit_code,
                            "duration_s": round(res.duration_s, 3)}
        if ok:
            timing.record(self.store, self.plan.name, self.test.path, timing.SETUP, sha, 0,
                          res.duration_s, str(self.state.path))
        d["installed_key"] = key if ok else None
        self.state.save()
        if not ok:
            self.progress(f"setup failed at {sha[:10]} (exit {res.exit_code}): skipped, see {log}")
        return ok

    # -- probes --------------------------------------------------------------------------
    def _run_one(self, sha: str, wt: Path, attempt: int, out_dir: Path) -> RunRecord:
        from ..sweep.sweep import run_one
        g = self.test.gpus
        if self.pool is None:     # no NVML: --gpus split statically among the slots
            slot = self._free.get()
            try:
                gpus = self.gpus[slot * g:(slot + 1) * g] if g and self.gpus else ()
                return run_one(self.plan, self.test, out_dir=out_dir, mode=self.mode,
                               attempt=attempt, repo=wt, gpus=gpus)
            finally:
                self._free.put(slot)
        for again in range(self.pool.capacity() + 1):
            ids = self._acquire(g)
            try:
                rec = run_one(self.plan, self.test, out_dir=out_dir, mode=self.mode,
                              attempt=attempt + HOST_RETRY * again, repo=wt, gpus=ids,
                              pool=self.pool)
            finally:
                self.pool.release(ids)
            # A GPU found dirty before the run is the host's fault, not the commit's: the pool
            # has quarantined it, so the run goes again on clean GPUs, under its own attempt
            # number so that runs.jsonl keeps the infra record of what happened.
            if not (rec.outcome == R_INFRA and set(ids) & set(self.pool.quarantined())):
                break
            self.progress(f"{sha[:10]}: {rec.reason}; running again on other GPUs")
        return rec

    def _acquire(self, k: int) -> list[int]:
        """k clean GPUs from the pool, waiting while other probes hold them."""
        while True:
            ids = self.pool.try_acquire(k)
            if ids is not None:
                return ids
            if self.pool.usable() < k:
                q = self.pool.quarantined()
                raise PcgbotError(f"no clean GPU for a {k}-GPU probe of {self.test.path}: "
                                  + "; ".join(w for _, w in sorted(q.items()))
                                  + " (state saved: --resume continues once GPUs are free)")
            time.sleep(0.1)

    def _probe(self, sha: str, attempt: int) -> dict[str, Any]:
        out_dir = self.dir / "runs" / sha[:12]
        rec = self.runner(sha, self.dir / "wt" / sha[:12], attempt, out_dir)
        verdict, sig = probe_verdict(rec, self.state.data["signature"], self.plan, out_dir)
        return {"sha": sha, "attempt": attempt, "outcome": rec.outcome, "verdict": verdict,
                "signature": sig, "log": str(out_dir / rec.log) if rec.log else None,
                "duration_s": rec.duration_s, "gpus": list(rec.gpus or []),
                "started_at": rec.started_at}

    def _record(self, p: dict[str, Any]) -> None:
        j = self.commits.index(p["sha"])
        self.state.data["probes"].append(p)
        self.search.record(j, p["verdict"])
        learn_signature(self)   # no signature given: the failing end's faces name it
        self.state.save()   # after every run: an interrupted bisection resumes here
        if p["outcome"] in (R_PASS, R_FAIL):   # runs that ran to the end time a run
            timing.record(self.store, self.plan.name, self.test.path, timing.RUN, p["sha"],
                          p["attempt"], p["duration_s"], str(self.state.path))
        d = self.search.decision()
        note = f" ({p['outcome']}, other signature {p['signature']})" if (
            p["verdict"] == OTHER and p["signature"]) else ""
        on = f" on GPU {','.join(map(str, p['gpus']))}" if p.get("gpus") else ""
        self.progress(f"run {self.search.runs}: {p['sha'][:10]} [{j}/{len(self.commits) - 1}] "
                      f"{p['verdict']}{on}{note}; {self._lead(d)}")

    def _lead(self, d) -> str:
        """The leading answer so far, in words: 'P=0.91 culprit [7]', '... in [5..9]'."""
        n = len(self.commits) - 1
        if d.lo == d.hi:
            what = ("no culprit" if d.lo == n + 1 else "good already bad" if d.lo == 0
                    else f"{'fix' if self.fix else 'culprit'} [{d.lo}]")
        else:
            hi = "none" if d.hi == n + 1 else str(d.hi)
            what = f"{'fix' if self.fix else 'culprit'} in [{d.lo}..{hi}]"
        return f"P={d.confidence:.3f} {what}"

    def update_cost(self) -> None:
        """The search's setup cost = the measured setup / run duration ratio (``timing``)."""
        if not self.plan.setup:
            return
        t = timing.measure(self.state.data, self.store, self.plan.name, self.test.path,
                           self.test.est_time)
        if t.ratio is not None:
            self.cfg.setup_cost = t.ratio
        self.state.data["cost"] = {"setup_s": t.setup_s, "run_s": t.run_s,
                                   "setup_cost": self.cfg.setup_cost, "from": t.source}

    def step(self) -> bool:
        """One round of probes (up to ``slots`` in parallel); False when the search is done."""
        self.update_cost()
        picks = self.search.next_probes(1)
        if not picks:
            return False
        sha = self.commits[picks[0]]
        if not self.ensure_setup(sha):
            self.search.mark_untestable(picks[0])
            end = unseeded_end(self, picks[0])
            if end:   # nothing else tells what that end does: no range to search
                self.stopped_why = f"the setup fails at the {end} {sha[:10]}"
                return False
            return True
        if self.slots > 1:   # more slots: only commits that share the installed setup
            key = self._setup_key(sha)
            same = {j for j, c in enumerate(self.commits)
                    if self.search.ev[j].set_up and not self.search.ev[j].untestable
                    and (key is None or self._setup_key(c) == key)} | {picks[0]}
            picks = [picks[0]] + self.search.next_probes(self.slots - 1, allowed=same)
            for j in set(picks[1:]):
                self.worktree(self.commits[j])
        jobs, seen = [], {}
        for j in picks:
            c = self.commits[j]
            seen[c] = seen[c] + 1 if c in seen else self._next_attempt(c)
            jobs.append((c, seen[c]))
        self.run_jobs(jobs)
        return True

    def run_jobs(self, jobs: list[tuple[str, int]]) -> None:
        """Run (commit, attempt) probes, up to ``slots`` at a time, recording each run as
        soon as it ends."""
        if len(jobs) <= 1 or self.slots == 1:
            for a in jobs:
                self._record(self._probe(*a))
            return
        error: Optional[BaseException] = None
        with ThreadPoolExecutor(min(self.slots, len(jobs))) as ex:
            for fut in as_completed([ex.submit(self._probe, *a) for a in jobs]):
                try:
                    p = fut.result()
                except BaseException as e:   # keep the runs that did finish, then raise
                    error = error or e
                    continue
                self._record(p)
        if error is not None:
            raise error

    def set_budget(self, minutes: Optional[float]) -> None:
        """Wall-clock budget of this invocation, measuring the ends included."""
        if minutes is not None:
            self.budget_min, self.deadline = minutes, time.monotonic() + 60.0 * minutes

    def out_of_time(self) -> bool:
        if self.deadline is None or time.monotonic() < self.deadline:
            return False
        self.stopped_why = (f"time budget spent ({self.budget_min:g} min, "
                            f"{self.search.runs} runs); --resume continues")
        return True

    def run(self, keep_worktrees: bool = False) -> BisectResult:
        """Probe until the search decides, or until the budget (``set_budget``) is spent: then
        the answer so far, inconclusive with its range, and a state that ``--resume``
        continues (a CI job ends with a result instead of being killed).  Ends that no sweep
        seeds are probed by the search like any commit, as long as that pays (``ends``)."""
        try:
            # A cancelled CI job (SIGTERM) or Ctrl-C: probes killed, worktrees removed, the
            # state kept for --resume.
            with KillOnSignal(then=f"continue with the same pcgbot bisect command and --resume "
                                   f"(state: {self.state.path})"):
                while not self.out_of_time() and self.step():
                    pass
            res = build_result(self)
        finally:
            if not keep_worktrees:
                self.cleanup()
        if self.pool is not None:   # GPU hygiene during the bisection: cleaned, quarantined
            self.state.data["gpu_pool"] = self.pool.summary()
        self.state.data["result"] = res.to_dict()
        self.state.save()
        return res

    def cleanup(self) -> None:
        wt_root = self.dir / "wt"
        if wt_root.is_dir():
            for wt in wt_root.iterdir():
                gitutil.worktree_remove(self.repo, wt)
            shutil.rmtree(wt_root, ignore_errors=True)


def bisect_test(plan: Plan, test: str | TestSpec, *, repo: Optional[str | os.PathLike] = None,
                good: Optional[str] = None, bad: Optional[str] = None, mode: Optional[str] = None,
                signature: Optional[str] = None, confidence: Optional[float] = None,
                max_runs: Optional[int] = None, max_minutes: Optional[float] = None,
                fix: bool = False, resume: bool = False, slots: Optional[int] = None,
                gpus: tuple[int, ...] = (), pool: Any = None, store: Any = None,
                state_dir: Optional[str | os.PathLike] = None, keep_worktrees: bool = False,
                config: Optional[SearchConfig] = None, runner: Optional[Runner] = None,
                progress: Optional[Callable[[str], None]] = None) -> BisectResult:
    """Find the commit that introduced (``fix=False``) or fixed (``fix=True``) a failure.

    ``good``/``bad`` default to the store's sweeps (healthy baseline, latest regressed); their
    pass counts seed the model, else each end is measured first.  For ``fix``, ``bad`` is the
    older failing commit and ``good`` the newer passing one.

    GPU tests run on the host's GPU pool (NVML; ``gpus`` restricts it) with the sweep's
    hygiene, and ``slots`` defaults to as many probes as the clean GPUs hold at once; without
    NVML ``gpus`` is split statically among ``slots`` (default: 1)."""
    spec = plan.find_test(test) if isinstance(test, str) else test
    mode = plan.mode(mode).name
    repo_dir = gitutil.toplevel(repo or plan.repo_path())
    say = progress or (lambda _m: None)
    seeds = seeds_for(plan, spec, mode, repo_dir, good=good, bad=bad, signature=signature,
                      fix=fix, store=store)
    old, new = (seeds.bad, seeds.good) if fix else (seeds.good, seeds.bad)
    if old == new:
        raise UsageError(f"good and bad are the same commit ({old[:10]})")
    if not gitutil.is_ancestor(repo_dir, old, new):
        raise UsageError(f"{'bad' if fix else 'good'} commit {old[:10]} is not an ancestor of "
                         f"{'good' if fix else 'bad'} commit {new[:10]}")
    commits = [old] + gitutil.first_parent_range(repo_dir, old, new)
    cfg = config or SearchConfig()
    if confidence is not None:
        cfg.confidence = confidence
    if max_runs is not None:
        cfg.max_runs = max_runs
    cfg.direction = 1 if fix else -1
    if pool is None and runner is None and spec.gpus > 0:
        from ..gpu.pool import gpu_pool_or_none
        pool = gpu_pool_or_none(list(gpus) or None, echo=say)
    slots = probe_slots(spec, slots, gpus, pool, say)   # pools: GPU pool or --gpus split
    b = Bisection(plan, spec, repo_dir, commits, mode=mode, fix=fix, seeds=seeds, config=cfg,
                  state_dir=Path(state_dir or ".pcgbot/bisect").resolve(), resume=resume,
                  runner=runner, progress=say, slots=slots, gpus=tuple(gpus), pool=pool,
                  store=open_store(store))
    where = f", {slots} probes at a time" if slots > 1 else ""
    b.set_budget(max_minutes)
    say(f"bisecting {spec.path} ({mode}) over {len(commits) - 1} commits "
        f"{old[:10]}..{new[:10]}{where}{' (resumed)' if b.resumed else ''}")
    return b.run(keep_worktrees=keep_worktrees)
