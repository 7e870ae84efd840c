"""``pcgbot analyze``: one sweep -> ``analysis.json`` (the input of GitHub sync and reports).

Joins the parts: the pass-rate diff against the baseline (``diff``), failure signatures
(``signatures``), triage categories incl. the differential nopcg re-run (``triage``) and bisect
results (``bisect``).  Tests are grouped by failure signature so that one bug is one entry (and,
later, one GitHub issue) even when it hits several tests.
"""

from __future__ import annotations

import json
import os
import shlex
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Optional

from ..results.diff import diff_sweeps
from ..errors import UsageError
from ..model import FAIL, PASS, TIMEOUT, RunRecord
from ..plan.schema import Plan, load_plan
from ..signatures.schemes import aliases_of_log, fingerprint_in_scheme, signer
from ..signatures.signature import SCHEME
from ..results.store import Store
from ..fsutil import write_text
from ..results.sweepdir import read_meta, read_runs, run_log
from .links import add_dashboard_links

ALARM = {"regression", "new-test", "still-failing", "flaky"}


def _plan_for(meta: dict, plan: Optional[str | Plan]) -> Optional[Plan]:
    if isinstance(plan, Plan):
        return plan
    path = plan or meta.get("plan_file")
    if path and Path(path).exists():
        return load_plan(path)
    if plan:
        raise UsageError(f"{plan}: plan file not found")
    return None


def resolve_baseline(sweep_dir: Path, meta: dict, baseline: Optional[str], store: Store,
                     timeout_fails: bool = False,
                     ) -> tuple[Optional[dict], list[RunRecord], Optional[dict]]:
    """``baseline`` is a sweep dir, "auto" (the store's baseline for this sweep, pooled with
    older sweeps exactly as ``pcgbot diff --baseline auto`` and the adaptive sweep do) or None.
    Returns (baseline sweep.json, its runs, pooled counts or None)."""
    if not baseline or baseline == "none":
        return None, [], None
    if baseline != "auto":
        return read_meta(baseline), read_runs(baseline), None
    from ..results.baseline import auto_baseline

    store.import_sweep(sweep_dir)
    row, base_runs, pooled = auto_baseline(store, meta, timeout_is_failure=timeout_fails)
    return ((row.get("meta") or row) if row else None), base_runs, pooled


def _fails(runs: list[RunRecord], timeout_fails: bool) -> list[RunRecord]:
    bad = {FAIL, TIMEOUT} if timeout_fails else {FAIL}
    return [r for r in runs if r.outcome in bad]


def _signature_of(run: RunRecord, sweep_dir: Path, cache: dict, scheme: int = SCHEME
                  ) -> Optional[Any]:
    path = run_log(sweep_dir, run)     # None: no log, or one that points outside the sweep
    if path is None:
        return None
    if path not in cache:
        cache[path] = signer(scheme)(path)
    return cache[path]


def _fp_of(run: RunRecord, sweep_dir: Path, scheme: int) -> Optional[str]:
    """The run's fingerprint under ``scheme``: a record stored by an older scheme is
    re-fingerprinted from its log, so a scheme change alone never looks like a new bug."""
    return fingerprint_in_scheme(run.signature, run.signature_scheme,
                                 run_log(sweep_dir, run), scheme)


def analyze(sweep_dir: str | os.PathLike, *, baseline: Optional[str] = "auto",
            plan: Optional[str | Plan] = None, differential: bool = False,
            run_url: Optional[str] = None, store: Optional[Store] = None,
            culprits: Iterable[dict] = (), config: Optional[str] = None,
            rerun_dirs: Iterable[str] = (), scheme: int = SCHEME,
            dashboard: Optional[str] = None) -> dict[str, Any]:
    """``scheme`` is the fingerprint scheme the analysis speaks (the current one; an older one
    reproduces what an older pcgbot filed).  ``dashboard``: the published site's base URL
    (``pcgbot site`` on GitHub Pages): statuses and issues then link to the configuration's and
    the signature's pages."""
    sweep_dir = Path(sweep_dir)
    meta = read_meta(sweep_dir)
    runs = read_runs(sweep_dir)
    store = store or Store()
    plan_obj = _plan_for(meta, plan)
    timeout_fails = bool(plan_obj and plan_obj.timeout_is_failure)
    base_meta, base_runs, pooled = resolve_baseline(sweep_dir, meta, baseline, store,
                                                    timeout_fails)
    diffs = {d.test: d.to_dict() for d in diff_sweeps(
        base_runs, runs, timeout_is_failure=timeout_fails, mode=meta.get("mode"),
        pooled=pooled)}
    triage: dict[str, Any] = {}
    if plan_obj is not None or not differential:
        from .triage import triage_sweep

        for e in triage_sweep(sweep_dir, plan=plan_obj, differential=differential,
                              rerun_dirs=tuple(rerun_dirs)):
            triage[e.test] = e
    specs = {t.path: t for t in plan_obj.tests} if plan_obj else {}
    by_test: dict[str, list[RunRecord]] = {}
    for r in runs:
        by_test.setdefault(r.test, []).append(r)

    from .triage import pcg_findings, quiet_sentinels

    pcg = pcg_findings(sweep_dir, meta, runs, plan_obj, store)
    quiet = quiet_sentinels(pcg, runs)     # PCG-inert sentinels: no PCG regression alarm
    sig_cache: dict = {}
    groups: dict[str, dict[str, Any]] = {}
    tests_out = []
    for test in sorted(by_test):
        rs = by_test[test]
        d = diffs.get(test) or {}
        tri = triage.get(test)
        spec = specs.get(test)
        gpus = spec.gpus if spec else max((r.gpus_needed for r in rs), default=0)
        fails = _fails(rs, timeout_fails)
        fp = None
        if fails:
            fps = {id(r): _fp_of(r, sweep_dir, scheme) for r in fails}
            counted = Counter(f for f in fps.values() if f)
            sig = None
            if counted:
                fp = counted.most_common(1)[0][0]
                rep = next(r for r in fails if fps[id(r)] == fp)
            else:
                rep = fails[0]
            sig = _signature_of(rep, sweep_dir, sig_cache, scheme)
            if sig is not None and fp is None:
                fp = sig.fingerprint
            if fp and d.get("verdict") in ALARM and test not in quiet:
                g = groups.setdefault(fp, {
                    "fingerprint": fp,
                    "title": sig.title if sig else f"failure {fp}",
                    "rule": sig.rule if sig else None,
                    "category": sig.category if sig else "unknown",
                    "pcg_specific": None, "excerpt": list(sig.excerpt) if sig else [],
                    "gpus": gpus, "tests": [], "culprit": None, "fix": None,
                    "reproduce": _reproduce(meta, test, rs[0].mode),
                    "scheme": scheme, "aliases": [],
                })
                rep_log = run_log(sweep_dir, rep)
                if rep_log is not None:
                    # What older schemes called this log: how their issues are found again.
                    for a in aliases_of_log(rep_log, scheme):
                        if a != fp and a not in g["aliases"]:
                            g["aliases"].append(a)
                g["gpus"] = max(g["gpus"], gpus)
                g["tests"].append({"test": test, "verdict": d.get("verdict"),
                                   "baseline": d.get("baseline"), "current": d.get("current"),
                                   "statistic": d.get("statistic"), "log": rep.log})
                tcat = getattr(tri, "category", None) if tri is not None else None
                if tcat in ("pcg-bug", "not-pcg", "infra") and g["category"] in ("unknown", None):
                    g["category"] = tcat     # differential / infra evidence beats "unknown"
                if tri is not None and getattr(tri, "pcg_specific", None) is not None:
                    prev = g["pcg_specific"]
                    g["pcg_specific"] = tri.pcg_specific if prev is None else (
                        prev and tri.pcg_specific)
        pcg_vals = {r.pcg_active for r in rs if r.outcome in (PASS, FAIL)}
        tests_out.append({
            "test": test, "suite": spec.suite if spec else (rs[0].suite or ""), "gpus": gpus,
            "verdict": d.get("verdict"), "baseline": d.get("baseline"),
            "current": d.get("current"), "statistic": d.get("statistic"),
            "category": getattr(tri, "category", None) if tri else None,
            "reason": getattr(tri, "reason", None) if tri else None,
            "signature": fp,
            "pcg_active": True if True in pcg_vals else (False if pcg_vals == {False} else None),
        })
    for c in culprits:
        attach_culprit(groups.values(), c)
    healthy = [t["test"] for t in tests_out
               if t["current"] and t["current"][1] > 0 and t["current"][0] == t["current"][1]
               and all(r.outcome == PASS for r in by_test[t["test"]] if r.outcome != "skip")]
    # a PCG-inert sentinel that ran with PCG off says nothing about PCG: not counted as a
    # regression (the commit status), though its row keeps its verdict
    verdicts = Counter(t["verdict"] for t in tests_out if t["test"] not in quiet)
    result = {
        "sweep": meta, "baseline": base_meta,
        "config": config or _config(plan_obj, runs),
        "run_url": run_url or _run_url(),
        "totals": {"tests": len(tests_out), "passed": len(healthy),
                   "failed": len(tests_out) - len(healthy),
                   "regressions": verdicts.get("regression", 0), "fixed": verdicts.get("fixed", 0),
                   "flaky": verdicts.get("flaky", 0), "infra": verdicts.get("infra-only", 0)},
        "tests": tests_out,
        "signatures": sorted(groups.values(), key=lambda g: (-len(g["tests"]), g["fingerprint"])),
        "healthy_tests": healthy,
        "pcg": pcg,
    }
    if dashboard:
        add_dashboard_links(result, dashboard)
    write_analysis(sweep_dir, result)
    return result


def attach_culprit(groups: Iterable[dict], result: dict) -> bool:
    """Put a bisect result (``BisectResult.to_dict()``, with ``test``) on its signature(s)."""
    test = result.get("test")
    key = "fix" if result.get("kind") == "fix" or result.get("fix") is True else "culprit"
    hit = False
    for g in groups:
        if any(t["test"] == test for t in g["tests"]) and (
                not result.get("signature")   # one fingerprint or several, comma-separated
                or g["fingerprint"] in str(result["signature"]).split(",")
                or g[key] is None):
            g[key] = {k: v for k, v in result.items() if k not in ("test", "kind", "fix")}
            hit = True
    return hit


# Categories a bisection cannot explain: the host failed, or a rerun passed.
_NOT_BISECTED = {"infra": "infra (the host, not a commit)",
                 "resolved-on-rerun": "passed on rerun"}


def bisect_targets(analysis: dict, limit: int) -> tuple[list[dict], list[str]]:
    """Which regressions to bisect: one test per failure signature (tests that fail the same
    way share a culprit, and one issue per signature gets it), the one whose pass rate fell
    most (the fastest to bisect), biggest groups first, at most ``limit`` (a commit that breaks
    the mode for every test must not occupy every GPU runner with hundreds of bisections).
    Returns (targets as {test, signature, tests}, one line per regression left out)."""
    groups: dict[str, list[dict]] = {}
    skipped = []
    for t in analysis.get("tests") or []:
        if t.get("verdict") != "regression":
            continue
        why = _NOT_BISECTED.get(t.get("category") or "") or (
            None if t.get("signature") else "no failure signature (timeouts or infra only): no "
            "issue to report a culprit on")
        if why:
            skipped.append(f"{t['test']}: {why}")
            continue
        groups.setdefault(t["signature"], []).append(t)

    def drop(t: dict) -> float:
        (k0, n0), (k1, n1) = t.get("baseline") or (0, 0), t.get("current") or (0, 0)
        return (k0 / n0 if n0 else 1.0) - (k1 / n1 if n1 else 0.0)

    targets = []
    for _sig, ts in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        best = min(ts, key=lambda t: (-drop(t), t["test"]))
        if len(targets) >= limit:
            more = f" (+{len(ts) - 1} with its signature)" if len(ts) > 1 else ""
            skipped.append(f"{best['test']}{more}: over the limit of {limit} bisections per sweep")
            continue
        targets.append({"test": best["test"], "signature": best.get("signature"),
                        "tests": len(ts)})
        skipped += [f"{t['test']}: same signature as {best['test']}, bisected once"
                    for t in ts if t is not best]
    return targets, skipped


def _config(plan: Optional[Plan], runs: list[RunRecord]) -> str:
    gpus = {t.gpus for t in plan.tests} if plan else {r.gpus_needed for r in runs}
    gpus.discard(0)
    return f"{max(gpus)}-gpu" if gpus else "cpu"


def _run_url() -> Optional[str]:
    server = os.environ.get("GITHUB_SERVER_URL")
    repo = os.environ.get("GITHUB_REPOSITORY")
    run = os.environ.get("GITHUB_RUN_ID")
    return f"{server}/{repo}/actions/runs/{run}" if server and repo and run else None


def _reproduce(meta: dict, test: str, mode: str) -> str:
    """The command that runs the test again, as a reader of the issue would type it: the plan
    relative to the checkout that holds it (the repository under test, or pcgbot's own with its
    plans/), never relative to wherever pcgbot happened to run; else its absolute path."""
    plan = meta.get("plan_file") or f"plans/{meta.get('plan')}.yaml"
    p = Path(plan)
    if p.is_absolute():
        for root in p.parents:
            if (root / ".git").exists():
                plan = str(p.relative_to(root))
                break
    return f"pcgbot run-one {shlex.quote(plan)} {shlex.quote(test)} --mode {mode}"


def write_analysis(sweep_dir: Path, data: dict) -> Path:
    return write_text(Path(sweep_dir) / "analysis.json",
                      json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def load_culprit_files(paths: Iterable[str]) -> list[dict]:
    out = []
    for p in paths:
        try:
            data = json.loads(Path(p).read_text())
        except (OSError, ValueError) as e:
            raise UsageError(f"{p}:1: bisect result: cannot read ({e})") from None
        out.extend(data if isinstance(data, list) else [data])
    return out
