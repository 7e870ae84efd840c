"""Triage: put each failing test of a sweep in one of the seed report's categories.

Categories (seed REPORT.md "Triage: Failure Categories"), decided in this order of evidence:

1. ``infra``             every failure is the runner's fault: an infra outcome, an infra
                         signature (port conflict, private/gated model, cuDNN, ...), or an OOM /
                         SIGKILL right after a run that leaked GPU memory or timed out on the same
                         GPUs (seed Category 4: one leaked server failed 10 later tests).
2. ``resolved-on-rerun`` a later sweep of the test (``--rerun DIR``) passed every run.
3. ``not-pcg``           PCG never became active in any run ("PCG not active: auto-disabled").
4. differential          ``--differential`` re-runs the test in the plan's ``nopcg`` mode:
                         fails there too => ``not-pcg``; passes there => ``pcg-bug``.
5. signature             the dominant failure's known-pattern category (pcg-bug / not-pcg / infra).
6. ``flaky``             passed some runs and failed others, with nothing above to say why.
7. ``untriaged``         none of the above.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional, Union

from ..errors import UsageError
from ..model import FAIL, INFRA, PASS, SKIP, TIMEOUT, RunRecord
from ..signatures.patterns import RuleSet
from ..results.sweepdir import run_log
from ..signatures.signature import Signature, signature_of_log

LEAK_MIB = 1024.0            # GPU memory left behind by a run that poisons the next ones
NOPCG_MODE = "nopcg"
DIFF_DIR = "differential-nopcg"   # inside the sweep dir: re-used, so triage is idempotent
OOM_RULES = ("cuda-oom", "killed-sigkill")
CATEGORIES = ("pcg-bug", "not-pcg", "flaky", "resolved-on-rerun", "infra", "untriaged")


@dataclass
class TriageEntry:
    test: str
    category: str                      # one of CATEGORIES
    reason: str                        # one line: the evidence that decided the category
    passed: int = 0                    # verdict runs (pass/fail; timeouts when they count)
    runs: int = 0
    timeouts: int = 0
    infra: int = 0
    signature: Optional[str] = None    # dominant failure fingerprint
    title: Optional[str] = None
    rule: Optional[str] = None
    sig_category: Optional[str] = None  # the signature's own category (pcg-bug/not-pcg/infra/unknown)
    signatures: list[str] = field(default_factory=list)   # every fingerprint seen, most common first
    pcg_active: Optional[bool] = None  # True: PCG ran in some run; False: in none; None: unknown
    pcg_specific: Optional[bool] = None  # differential: True = passes without PCG
    nopcg: Optional[list[int]] = None  # [passed, runs] in the nopcg re-run
    rerun: Optional[list[int]] = None  # [passed, runs] in the --rerun sweeps
    log: Optional[str] = None          # log of a run with the dominant signature
    excerpt: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- pure helpers (tested directly) ----------------------------------------------------------
def verdict_counts(runs: list[RunRecord], timeout_is_failure: bool = False) -> tuple[int, int]:
    """(passed, verdict runs): only pass/fail are verdicts; timeouts when the plan says so."""
    bad = {FAIL, TIMEOUT} if timeout_is_failure else {FAIL}
    passed = sum(1 for r in runs if r.outcome == PASS)
    return passed, passed + sum(1 for r in runs if r.outcome in bad)


def pcg_status(runs: list[RunRecord],
               sigs: Optional[dict[str, Signature]] = None) -> Optional[bool]:
    """True if any run proved PCG active; False if every informative run proved it off."""
    sigs = sigs or {}
    vals = []
    for r in runs:
        if r.outcome == SKIP or (r.outcome == INFRA and r.exit_code is None):
            continue                  # never ran: says nothing about PCG
        v = r.pcg_active
        if v is None and r.log in sigs:
            v = sigs[r.log].pcg_active
        vals.append(v)
    if True in vals:
        return True
    if vals and all(v is False for v in vals):
        return False
    return None


def _overlap(a: list, b: list) -> bool:
    # CPU slots ([]) share the host: a leak there is as bad for the next CPU run.
    return (not a and not b) or bool(set(a) & set(b))


def poisoned_by(run: RunRecord, history: list[RunRecord], leak_mib: float) -> Optional[str]:
    """Why ``run`` may have failed because of an earlier run's mess on the same GPUs.

    Walk back over earlier runs on overlapping GPUs: a leak over ``leak_mib`` or a timeout
    poisons; a failure continues the walk (the cascade); a clean pass ends it."""
    earlier = sorted((r for r in history if r.started_at < run.started_at and r is not run
                      and _overlap(r.gpus, run.gpus)), key=lambda r: r.started_at, reverse=True)
    for r in earlier[:50]:
        if r.leaked_mib is not None and r.leaked_mib > leak_mib:
            gp = ",".join(str(g) for g in r.gpus) or "cpu"
            return f"after {r.test} left {r.leaked_mib / 1024:.1f} GiB on GPU {gp}"
        if r.outcome == TIMEOUT:
            gp = ",".join(str(g) for g in r.gpus) or "cpu"
            return f"after {r.test} timed out on GPU {gp}"
        if r.outcome == PASS:
            return None
    return None


def classify(test: str, runs: list[RunRecord], sigs: dict[str, Signature], *,
             history: list[RunRecord], timeout_is_failure: bool = False,
             nopcg: Optional[list[RunRecord]] = None, rerun: Optional[list[RunRecord]] = None,
             leak_mib: float = LEAK_MIB) -> TriageEntry:
    """The category of one failing test from its runs (and optional nopcg/rerun runs)."""
    passed, n = verdict_counts(runs, timeout_is_failure)
    bad = [r for r in runs if r.outcome in (FAIL, TIMEOUT, INFRA)]
    e = TriageEntry(test, "untriaged", "", passed=passed, runs=n,
                    timeouts=sum(r.outcome == TIMEOUT for r in runs),
                    infra=sum(r.outcome == INFRA for r in runs),
                    pcg_active=pcg_status(runs, sigs))
    fps = Counter(sigs[r.log].fingerprint for r in bad if r.log in sigs)
    e.signatures = [fp for fp, _ in fps.most_common()]
    if e.signatures:
        top = e.signatures[0]
        rep = next(r for r in bad if r.log in sigs and sigs[r.log].fingerprint == top)
        s = sigs[rep.log]
        e.signature, e.title, e.rule, e.sig_category = s.fingerprint, s.title, s.rule, s.category
        e.log, e.excerpt = rep.log, list(s.excerpt)

    # 1. infra: every bad run is explained by the runner.
    why_infra = []
    for r in bad:
        s = sigs.get(r.log or "")
        if r.outcome == INFRA:
            why_infra.append(r.reason or "infra outcome")
        elif s is not None and s.category == "infra" and s.rule not in OOM_RULES:
            why_infra.append(s.title)
        elif s is not None and s.rule in OOM_RULES and (p := poisoned_by(r, history, leak_mib)):
            why_infra.append(f"{s.title} {p}")
        else:
            why_infra = []
            break
    if why_infra:
        top, k = Counter(why_infra).most_common(1)[0]
        e.category, e.reason = "infra", f"{top}" + (f" (+{len(why_infra) - k} more)"
                                                     if len(why_infra) > k else "")
        return e

    # 2. resolved on rerun.
    if rerun:
        rp, rn = verdict_counts(rerun, timeout_is_failure)
        e.rerun = [rp, rn]
        if rn and rp == rn:
            e.category, e.reason = "resolved-on-rerun", f"failed {n - passed}/{n}, rerun passed {rp}/{rn}"
            return e

    # 3. PCG never ran.
    if e.pcg_active is False:
        e.category, e.reason = "not-pcg", "PCG not active: auto-disabled"
        return e

    # 4. differential nopcg re-run.
    if nopcg is not None:
        np_, nn = verdict_counts(nopcg, timeout_is_failure)
        e.nopcg = [np_, nn]
        if nn and np_ < nn:
            e.category, e.pcg_specific = "not-pcg", False
            e.reason = f"fails without PCG too: nopcg passed {np_}/{nn}"
            return e
        if nn and np_ == nn and passed < n:
            e.category, e.pcg_specific = "pcg-bug", True
            e.reason = f"passes without PCG ({np_}/{nn}), fails with PCG ({passed}/{n})"
            return e

    # 5. the dominant signature's known category.
    if e.sig_category in ("pcg-bug", "not-pcg", "infra"):
        e.category = e.sig_category
        e.reason = f"known pattern {e.rule}: {e.title}"
        return e

    # 6. flaky / 7. untriaged.
    if 0 < passed < n:
        e.category, e.reason = "flaky", f"passed {passed}/{n} with no known cause"
    else:
        what = f"{e.timeouts} timeouts" if e.timeouts and not n else f"passed {passed}/{n}"
        e.reason = f"{what}; " + (f"signature: {e.title}" if e.title else "no signature")
    return e


def pcg_inactive_passes(runs: list[RunRecord]) -> list[str]:
    """Tests that passed every run while PCG never became active: these are *not* PCG passes
    (the engine silently auto-disabled PCG), and reports must say so."""
    by_test: dict[str, list[RunRecord]] = {}
    for r in runs:
        by_test.setdefault(r.test, []).append(r)
    return sorted(t for t, rs in by_test.items()
                  if any(r.outcome == PASS for r in rs)
                  and all(r.outcome in (PASS, SKIP) for r in rs) and pcg_status(rs) is False)


def auto_disabled(sweep: Path, runs: list[RunRecord]) -> list[dict[str, Any]]:
    """PCG auto-disabled, passing and failing tests alike: every informative run proved PCG
    off (the seed noted passing ones too -- they are not PCG passes).  The reason comes from
    the first log that names one (model architecture, speculative decoding, multimodal,
    platform, configuration); None when SGLang's cascade stayed silent."""
    from ..signatures.pcg import disable_reason

    by_test: dict[str, list[RunRecord]] = {}
    for r in runs:
        by_test.setdefault(r.test, []).append(r)
    out = []
    for t in sorted(by_test):
        rs = by_test[t]
        if pcg_status(rs) is not False:
            continue
        passed, n = verdict_counts(rs)
        item: dict[str, Any] = {"test": t, "passed": passed, "runs": n,
                                "status": "passed" if n and passed == n else "failed",
                                "reason": None, "line": None, "log": None}
        for r in rs:
            p = run_log(sweep, r) if r.log else None
            found = disable_reason(p) if p is not None else None
            if found:
                item["reason"], item["line"], item["log"] = found[0], found[1], r.log
                break
        if item["log"] is None:
            item["log"] = next((r.log for r in rs if r.log), None)
        out.append(item)
    return out


def pcg_findings(sweep: Path, meta: dict, runs: list[RunRecord], plan: Any,
                 store: Any) -> dict[str, Any]:
    """analysis.json's PCG coverage: auto-disabled tests, the sentinels this sweep ran (and
    which woke), the PCG-inert tests as of this sweep with their evidence, and the tests that
    lost PCG coverage at this sweep (a finding: SGLang stopped running PCG there)."""
    from ..results.inert import coverage_lost, inert_tests

    out: dict[str, Any] = {"auto_disabled": auto_disabled(sweep, runs),
                           "sentinels": list(meta.get("sentinels") or []),
                           "sentinels_woken": list(meta.get("sentinels_woken") or []),
                           "inert": [], "coverage_lost": []}
    if plan is None or store is None or not meta.get("complete"):
        return out
    if store.sweep(meta["sweep_id"]) is None:
        store.import_sweep(sweep)     # idempotent; the rule reads the store's sweeps
    out["inert"] = [e.to_dict() for e in sorted(
        inert_tests(store, plan, meta.get("mode"), upto=meta["sweep_id"]).values(),
        key=lambda e: e.test)]
    out["coverage_lost"] = [c.to_dict() for c in coverage_lost(store, plan, meta["sweep_id"])]
    return out


def quiet_sentinels(findings: dict[str, Any], runs: list[RunRecord]) -> set[str]:
    """Sentinel tests whose run had PCG off: their pass/fail is not a PCG regression."""
    woken = set(findings.get("sentinels_woken") or [])
    return {t for t in findings.get("sentinels") or [] if t not in woken
            and pcg_status([r for r in runs if r.test == t]) is not True}


# --- the effectful shell -------------------------------------------------------------------
def _load_plan(plan: Any, meta: dict):
    from ..plan.schema import Plan, load_plan
    if isinstance(plan, Plan):
        return plan
    if plan:
        return load_plan(plan)
    if meta.get("plan_file") and Path(meta["plan_file"]).is_file():
        return load_plan(meta["plan_file"])
    return None


def _signatures(sweep: Path, runs: list[RunRecord], rules: Optional[RuleSet]) -> dict[str, Signature]:
    out: dict[str, Signature] = {}
    for r in runs:
        if r.outcome in (FAIL, TIMEOUT) and r.log and r.log not in out:
            p = run_log(sweep, r)
            if p is not None:
                out[r.log] = signature_of_log(p, rules)
    return out


def _differential(sweep: Path, plan, tests: list[str], repeats: int) -> list[RunRecord]:
    """Re-run ``tests`` in nopcg mode into SWEEP/differential-nopcg (resumed if present)."""
    from ..results.sweepdir import read_runs
    from ..sweep.sweep import run_sweep
    if NOPCG_MODE not in plan.modes:
        raise UsageError(f"{plan.source or plan.name}: modes: --differential needs a "
                         f"{NOPCG_MODE!r} mode (plan has: {', '.join(sorted(plan.modes))})")
    out = sweep / DIFF_DIR
    specs = [plan.find_test(t) for t in tests]
    have = {(r.test, r.attempt) for r in read_runs(out)} if out.is_dir() else set()
    missing = [s for s in specs if any((s.path, a) not in have for a in range(repeats))]
    if missing:
        run_sweep(plan, out, mode=NOPCG_MODE, tests=missing, repeats=repeats,
                  resume=(out / "runs.jsonl").exists())
    return read_runs(out)


def triage_sweep(sweep_dir: Union[str, os.PathLike], *, plan: Any = None,
                 differential: bool = False, rerun_dirs: Iterable[Union[str, os.PathLike]] = (),
                 rules: Optional[RuleSet] = None, repeats: int = 3,
                 leak_mib: float = LEAK_MIB) -> list[TriageEntry]:
    """Triage every failing test of ``sweep_dir`` (see the module docstring for the order)."""
    from ..results.sweepdir import read_meta, read_runs
    sweep = Path(sweep_dir)
    meta = read_meta(sweep)
    runs = read_runs(sweep)
    plan_obj = _load_plan(plan, meta) if (plan or differential or meta.get("plan_file")) else None
    tif = bool(plan_obj and plan_obj.timeout_is_failure)
    by_test: dict[str, list[RunRecord]] = {}
    for r in runs:
        by_test.setdefault(r.test, []).append(r)
    failing = sorted(t for t, rs in by_test.items()
                     if any(r.outcome in (FAIL, TIMEOUT, INFRA) for r in rs))
    sigs = _signatures(sweep, runs, rules)
    rerun_runs: dict[str, list[RunRecord]] = {}
    for d in rerun_dirs:
        for r in read_runs(Path(d)):
            # a re-run at another commit that passes may be a fix, not a flake
            if meta.get("commit") and r.commit and r.commit != meta["commit"]:
                continue
            rerun_runs.setdefault(r.test, []).append(r)
    entries = []
    for t in failing:
        entries.append(classify(t, by_test[t], sigs, history=runs, timeout_is_failure=tif,
                                rerun=rerun_runs.get(t), leak_mib=leak_mib))
    if differential:
        if plan_obj is None:
            raise UsageError(f"{sweep / 'sweep.json'}: plan_file: no plan to re-run from; "
                             f"pass --plan")
        todo = [e.test for e in entries if e.category not in ("infra", "resolved-on-rerun", "not-pcg")]
        if todo:
            nop = _differential(sweep, plan_obj, todo, repeats)
            by_np: dict[str, list[RunRecord]] = {}
            for r in nop:
                by_np.setdefault(r.test, []).append(r)
            entries = [classify(e.test, by_test[e.test], sigs, history=runs,
                                timeout_is_failure=tif, rerun=rerun_runs.get(e.test),
                                nopcg=by_np.get(e.test, []), leak_mib=leak_mib)
                       if e.test in todo else e for e in entries]
    return entries
