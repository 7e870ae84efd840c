"""Reports: the seed's REPORT.md, rebuilt from sweep directories, analysis.json and the store.

``collect(dir)`` reads one sweep directory (or a folder of sweep directories holding different
parts of one run, e.g. a 1-GPU and a 2-GPU sweep) into one plain dict; every output format
renders that dict: ``render_markdown`` here, ``pcgbot.junit.render_junit`` for CI dashboards,
``json.dumps`` for machines.  Sections follow the hand-made seed report: results per GPU config,
breakdown by suite, triage categories, key patterns, infrastructure issues, next steps.

Every piece of log text (excerpts, reasons) goes through ``pcgbot.redact.redact`` because the
report is posted to a public job summary.
"""

from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Optional

from ..errors import UsageError
from ..model import FAIL, INFRA, PASS, SKIP, TIMEOUT, RunRecord
from ..signatures.secrets import redact
from .pcg import collect_pcg, render_pcg_markdown

ANALYSIS = "analysis.json"

# Seed categories, in the seed's order: (analysis category, heading).
CATEGORIES = [
    ("pcg-bug", "Confirmed PCG bugs (need fix)"),
    ("not-pcg", "Not PCG-related"),
    ("resolved-on-rerun", "Resolved on rerun"),
    ("infra", "Infrastructure (leaked process, dirty GPU, OOM cascade)"),
    ("flaky", "Flaky (no significant change against the baseline)"),
    ("untriaged", "Not yet triaged"),
]


# ----------------------------------------------------------------------------------------------
# Collecting
# ----------------------------------------------------------------------------------------------

def sweep_dirs(path: str | os.PathLike) -> list[Path]:
    """``path`` itself if it is a sweep directory, else its sweep sub-directories."""
    p = Path(path)
    if (p / "sweep.json").is_file():
        return [p]
    if not p.is_dir():
        raise UsageError(f"{p}: report: no such directory")
    if (p / "runs.jsonl").is_file():
        # a sweep that lost its sweep.json: never report its nested re-runs in its place
        raise UsageError(f"{p}: report: runs.jsonl without sweep.json (not a complete sweep "
                         "directory)")
    subs = sorted(d for d in p.iterdir() if (d / "sweep.json").is_file())
    if not subs:
        raise UsageError(f"{p}: report: not a sweep directory and holds none (no sweep.json)")
    return subs


def _timeout_fails(meta: dict[str, Any]) -> bool:
    """The plan's ``timeout_is_failure`` (timeouts count as failures only where it says so)."""
    try:
        from ..plan.schema import load_plan
        return bool(meta.get("plan_file")) and load_plan(meta["plan_file"]).timeout_is_failure
    except Exception:  # the plan file may not travel with a CI artifact: default is False
        return False


def summarize_runs(runs: list[RunRecord], timeout_fails: bool = False) -> dict[str, Any]:
    """k passes out of n verdict runs, plus counts of the runs that are not verdicts."""
    c = Counter(r.outcome for r in runs)
    k = c[PASS]
    n = k + c[FAIL] + (c[TIMEOUT] if timeout_fails else 0)
    status = "no-verdict" if n == 0 else ("passed" if k == n else "failed")
    return {"passed": k, "runs": n, "status": status, "infra": c[INFRA],
            "timeout": c[TIMEOUT], "skip": c[SKIP]}


def collect(path: str | os.PathLike, store: Any = None) -> dict[str, Any]:
    """Everything a report shows, as one JSON-able dict (see docs/report.md)."""
    from ..results.sweepdir import read_meta, read_runs

    dirs = sweep_dirs(path)
    metas, tests, infra_runs, analyses = [], {}, [], []
    sig_runs: Counter = Counter()
    for d in dirs:
        meta = read_meta(d)
        metas.append(meta)
        tf = _timeout_fails(meta)
        mode = meta.get("mode")
        by_test: dict[str, list[RunRecord]] = defaultdict(list)
        other: dict[str, list[RunRecord]] = defaultdict(list)
        # Differential reruns (analyze's nopcg runs) live in sweep folders inside the sweep.
        extra = [r for sub in sorted(d.glob("differential-*")) if (sub / "sweep.json").is_file()
                 for r in read_runs(sub)]
        for r in extra:
            other[r.test].append(r)
        for r in read_runs(d):
            (by_test if r.mode == mode else other)[r.test].append(r)
            if r.outcome in (INFRA, TIMEOUT) or r.leaked_mib:
                infra_runs.append(r)
            if r.signature and r.mode == mode:
                sig_runs[r.signature] += 1
        for t, runs in by_test.items():
            if t in tests:
                raise UsageError(f"{d}: report: test {t} is also in another sweep under "
                                 f"{path}; pass one sweep directory")
            first = runs[0]
            s = summarize_runs(runs, tf)
            s.update({"test": t, "suite": first.suite or "(none)", "gpus": first.gpus_needed,
                      "duration_s": round(sum(r.duration_s for r in runs), 3),
                      "signatures": sorted({r.signature for r in runs if r.signature}),
                      "pcg_active": _pcg(runs), "dir": str(d),
                      "first_failure": _first_failure(runs),
                      "other_modes": {m: summarize_runs(rs, tf) for m, rs in
                                      _by_mode(other.get(t, [])).items()}})
            tests[t] = s
        a = d / ANALYSIS
        if a.is_file():
            try:
                analyses.append(json.loads(a.read_text()))
            except ValueError as e:
                raise UsageError(f"{a}:1: analysis: invalid JSON ({e})") from None
    _apply_analysis(tests, analyses)
    data = {
        "sweeps": [{k: m.get(k) for k in ("sweep_id", "plan", "mode", "commit", "branch",
                                          "started_at", "finished_at", "complete", "repeats",
                                          "host", "shard")} for m in metas],
        "baseline": next((a.get("baseline") for a in analyses if a.get("baseline")), None),
        "analysed": bool(analyses),
        "tests": [tests[t] for t in sorted(tests)],
        "configs": _configs(tests.values()),
        "signatures": _signatures(analyses, sig_runs),
        "infra": _infra(infra_runs) + _infra_failures(tests.values()),
        "history": _history(store, metas) if store is not None else [],
        "pcg": collect_pcg(dirs, analyses),
    }
    data["next_steps"] = _next_steps(data)
    return data


def _by_mode(runs: list[RunRecord]) -> dict[str, list[RunRecord]]:
    out: dict[str, list[RunRecord]] = defaultdict(list)
    for r in runs:
        out[r.mode].append(r)
    return dict(out)


def runs_by_test(runs: list[RunRecord], mode: str) -> dict[str, list[RunRecord]]:
    """The runs of one mode, per test (a sweep folder also holds other modes' reruns)."""
    out: dict[str, list[RunRecord]] = defaultdict(list)
    for r in runs:
        if r.mode == mode:
            out[r.test].append(r)
    return out


def _pcg(runs: list[RunRecord]) -> Optional[bool]:
    vals = {r.pcg_active for r in runs if r.pcg_active is not None}
    return True if True in vals else (False if vals else None)


def _first_failure(runs: list[RunRecord]) -> Optional[dict[str, Any]]:
    for r in sorted(runs, key=lambda r: r.attempt):
        if r.outcome == FAIL:
            return {"attempt": r.attempt, "log": r.log, "exit_code": r.exit_code,
                    "signature": r.signature}
    return None


def _apply_analysis(tests: dict[str, dict], analyses: list[dict]) -> None:
    """Verdict, category and signature per test from analysis.json (the triage seam)."""
    sigs: dict[str, dict] = {}
    for a in analyses:
        for s in a.get("signatures") or []:
            sigs[s.get("fingerprint")] = s
        for at in a.get("tests") or []:
            t = tests.get(at.get("test"))
            if t is None:
                continue
            for k in ("verdict", "baseline", "current", "statistic", "category", "signature",
                      "reason"):
                t[k] = at.get(k)
    for t in tests.values():
        t.setdefault("verdict", None)
        t.setdefault("category", None)
        t.setdefault("statistic", None)
        t.setdefault("baseline", None)
        t.setdefault("reason", None)
        if t["status"] == "failed" and not t.get("category"):
            t["category"] = "untriaged"
        s = sigs.get(t.get("signature") or "")
        t["title"] = redact(s["title"]) if s and s.get("title") else None
        t["culprit"] = s.get("culprit") if s else None
        t["issue"] = (s.get("issue") if s else None)


def _configs(tests) -> list[dict[str, Any]]:
    """Totals per GPU config and, inside each, per suite (the seed's two first tables)."""
    acc: dict[int, dict] = {}
    for t in tests:
        c = acc.setdefault(t["gpus"], {"config": _label(t["gpus"]), "gpus": t["gpus"],
                                       "suites": {}, "tests": 0, "passed": 0, "failed": 0,
                                       "no_verdict": 0})
        s = c["suites"].setdefault(t["suite"], {"suite": t["suite"], "tests": 0, "passed": 0,
                                                 "failed": 0, "no_verdict": 0})
        key = {"passed": "passed", "failed": "failed"}.get(t["status"], "no_verdict")
        for d in (c, s):
            d["tests"] += 1
            d[key] += 1
    out = []
    for g in sorted(acc):
        c = acc[g]
        c["pass_rate"] = round(c["passed"] / c["tests"], 4) if c["tests"] else None
        c["suites"] = [c["suites"][k] for k in sorted(c["suites"])]
        out.append(c)
    return out


def _label(gpus: int) -> str:
    return f"{gpus}-GPU" if gpus else "CPU"


def _signatures(analyses: list[dict], sig_runs: Counter) -> list[dict[str, Any]]:
    """Key patterns: analysis signatures (titled, categorised), else raw fingerprints."""
    out, seen = [], set()
    for a in analyses:
        for s in a.get("signatures") or []:
            fp = s.get("fingerprint")
            if fp in seen:
                continue
            seen.add(fp)
            out.append({"fingerprint": fp, "title": redact(s.get("title") or fp or ""),
                        "rule": s.get("rule"), "category": s.get("category"),
                        "pcg_specific": s.get("pcg_specific"),
                        "tests": [t.get("test") for t in s.get("tests") or []],
                        "runs": sig_runs.get(fp, 0), "culprit": s.get("culprit"),
                        "fix": s.get("fix"), "issue": s.get("issue"),
                        "reproduce": s.get("reproduce"),
                        "excerpt": [redact(x) for x in (s.get("excerpt") or [])][-12:]})
    for fp, n in sig_runs.most_common():
        if fp not in seen:
            out.append({"fingerprint": fp, "title": fp, "rule": None, "category": None,
                        "pcg_specific": None, "tests": [], "runs": n, "culprit": None,
                        "fix": None, "issue": None, "reproduce": None, "excerpt": []})
    return out


def _infra(runs: list[RunRecord]) -> list[dict[str, Any]]:
    """Infrastructure problems grouped by reason (the holder process of a quarantined GPU,
    timeouts, leaked memory), with the tests they hit."""
    groups: dict[tuple[str, str], dict] = {}
    for r in runs:
        if r.outcome in (INFRA, TIMEOUT):
            kind, reason = r.outcome, redact(r.reason or "(no reason recorded)")
        else:
            kind, reason = "leak", f"run left {r.leaked_mib:.0f} MiB of GPU memory in use"
        g = groups.setdefault((kind, reason), {"kind": kind, "reason": reason, "runs": 0,
                                               "tests": []})
        g["runs"] += 1
        if r.test not in g["tests"]:
            g["tests"].append(r.test)
    return sorted(groups.values(), key=lambda g: (-g["runs"], g["reason"]))


def _infra_failures(tests) -> list[dict[str, Any]]:
    """Failures that triage put down to infrastructure (a port held by a leaked server, an OOM
    after a leak): the code did run, but the machine was at fault."""
    groups: dict[str, dict] = {}
    for t in tests:
        if t.get("category") == "infra":
            why = t.get("title") or t.get("reason") or "failure triaged as infrastructure"
            g = groups.setdefault(why, {"kind": "infra-failure", "reason": why, "runs": 0,
                                        "tests": []})
            g["runs"] += t["runs"] - t["passed"]
            g["tests"].append(t["test"])
    return list(groups.values())


def _history(store: Any, metas: list[dict]) -> list[dict[str, Any]]:
    """Pass counts of the last sweeps of the same plan and mode, newest first."""
    out = []
    m = metas[0]
    for s in store.sweeps(plan=m.get("plan"), mode=m.get("mode"))[:10]:
        per = runs_by_test(store.runs(s["sweep_id"]), s["mode"])
        st = Counter(summarize_runs(rs)["status"] for rs in per.values())
        out.append({"sweep_id": s["sweep_id"], "commit": s["commit"],
                    "started_at": s["started_at"], "tests": len(per),
                    "passed": st["passed"], "failed": st["failed"]})
    return out


def _next_steps(data: dict[str, Any]) -> list[str]:
    steps = []
    tests = data["tests"]
    for s in data["signatures"]:
        regs = [t for t in tests if t.get("signature") == s["fingerprint"]
                and t.get("verdict") == "regression"]
        if not regs:
            continue
        names = ", ".join(f"`{t['test']}`" for t in regs)
        c = s.get("culprit") or {}
        if c.get("status") == "found":
            steps.append(f"Fix regression \"{s['title']}\" ({names}): culprit "
                         f"{str(c.get('sha'))[:10]} \"{c.get('subject')}\" by {c.get('author')}"
                         f" (confidence {c.get('confidence', 0):.3f}).")
        else:
            steps.append(f"Bisect regression \"{s['title']}\" ({names}): no culprit yet.")
    untriaged = [t["test"] for t in tests if t.get("category") == "untriaged"]
    if untriaged:
        steps.append(f"Triage {len(untriaged)} untriaged failing test(s): "
                     + ", ".join(f"`{t}`" for t in untriaged[:10])
                     + (" ..." if len(untriaged) > 10 else "") + ".")
    infra_tests = sorted({t for g in data["infra"] for t in g["tests"]}
                         | {t["test"] for t in tests if t.get("category") == "infra"})
    if infra_tests:
        steps.append(f"Rerun {len(infra_tests)} test(s) hit by infrastructure problems on a "
                     "clean machine: " + ", ".join(f"`{t}`" for t in infra_tests[:10]) + ".")
    if not data["analysed"] and any(t["status"] == "failed" for t in tests):
        steps.append("Run `pcgbot analyze` on this sweep to diff against the baseline, triage "
                     "and bisect.")
    return steps


# ----------------------------------------------------------------------------------------------
# Markdown
# ----------------------------------------------------------------------------------------------

def _cell(v: Any) -> str:
    """A Markdown table cell: no pipes or newlines may break the row."""
    return str("" if v is None else v).replace("|", "\\|").replace("\n", " ").strip()


def _table(head: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    out += ["| " + " | ".join(_cell(c) for c in r) + " |" for r in rows]
    return out + [""]


def _pct(k: int, n: int) -> str:
    return f"{100.0 * k / n:.1f}%" if n else "n/a"


def _kn(t: dict) -> str:
    return f"{t['passed']}/{t['runs']}" if t["runs"] else "no verdict"


def _culprit(c: Optional[dict]) -> str:
    if not c:
        return ""
    if c.get("status") != "found":
        return "inconclusive"
    return f"{str(c.get('sha'))[:10]} {c.get('subject', '')} (P = {c.get('confidence', 0):.3f})"


def render_markdown(data: dict[str, Any]) -> str:
    """The seed's REPORT.md sections, in its order."""
    tests = data["tests"]
    sw = data["sweeps"][0] if data["sweeps"] else {}
    base = data.get("baseline") or {}
    out = [f"# {sw.get('plan', '?')}: {sw.get('mode', '?')} sweep report", ""]
    out += [f"- **Commit:** `{sw.get('commit')}` (branch {sw.get('branch') or 'n/a'})",
            "- **Baseline:** " + (f"`{base.get('commit')}` ({base.get('sweep_id')})"
                                   if base else
                                   "**none**: nothing to compare with, so regressions are unknown "
                                   "(a branch's first sweep, or --baseline none)"
                                   if data.get("analysed") else "none (no analysis.json)"),
            f"- **Runs per test:** {sw.get('repeats')} - **Host:** {sw.get('host')}",
            f"- **Started:** {sw.get('started_at')} - **Finished:** {sw.get('finished_at')}"
            + ("" if all(s.get("complete") for s in data["sweeps"]) else " (INCOMPLETE)"), ""]
    out += ["## Results Summary", ""]
    rows = [[c["config"], c["tests"], c["passed"], c["failed"], c["no_verdict"],
             _pct(c["passed"], c["tests"])] for c in data["configs"]]
    tot = [sum(c[k] for c in data["configs"]) for k in ("tests", "passed", "failed",
                                                         "no_verdict")]
    rows.append(["**Total**", f"**{tot[0]}**", f"**{tot[1]}**", f"**{tot[2]}**", tot[3],
                 f"**{_pct(tot[1], tot[0])}**"])
    out += _table(["Config", "Total Tests", "Passed", "Failed", "No verdict", "Pass Rate"], rows)
    for c in data["configs"]:
        out += [f"### {c['config']} Breakdown by Suite", ""]
        out += _table(["Suite", "Tests", "Passed", "Failed"],
                      [[s["suite"], s["tests"], s["passed"], s["failed"]] for s in c["suites"]])
    changed = [t for t in tests if t.get("verdict") in ("regression", "fixed", "new-test")]
    if changed:
        out += ["## Changes Against the Baseline", ""]
        out += _table(["Test", "Verdict", "Baseline", "Current", "Statistic", "Culprit"],
                      [[f"`{t['test']}`", t["verdict"], _frac(t.get("baseline")),
                        _frac(t.get("current")) or _kn(t), t.get("statistic"),
                        _culprit(t.get("culprit"))] for t in changed])
    out += ["## Triage: Failure Categories", ""]
    if not data["analysed"]:
        out += ["No analysis.json next to this sweep: every failing test is listed as not yet "
                "triaged. Run `pcgbot analyze` for verdicts, categories and culprits.", ""]
    for n, (cat, heading) in enumerate(CATEGORIES, 1):
        ts = [t for t in tests if t.get("category") == cat]
        if not ts:
            continue
        out += [f"### Category {n}: {heading}", ""]
        if cat == "untriaged":
            for c in data["configs"]:
                sub = [t for t in ts if t["gpus"] == c["gpus"]]
                if sub:
                    out += [f"**{c['config']}:**"] + [f"- `{t['test']}` ({_kn(t)})"
                                                      for t in sub] + [""]
            continue
        out += _table(["#", "Test", "GPU", "Pass Rate", "Other modes", "Summary", "Culprit"],
                      [[i, f"`{t['test']}`", t["gpus"], _kn(t), _modes(t),
                        "; ".join(dict.fromkeys(x for x in (t.get("title"), t.get("reason"))
                                                if x))
                        or t.get("statistic") or "", _culprit(t.get("culprit"))]
                       for i, t in enumerate(ts, 1)])
    out += render_pcg_markdown(data.get("pcg"))
    out += ["## Key Patterns Seen", ""]
    if data["signatures"]:
        out += _table(["Pattern", "Rule", "Category", "PCG-specific", "Tests", "Failed runs"],
                      [[s["title"], s.get("rule") or "(fingerprint)", s.get("category") or "",
                        _yn(s.get("pcg_specific")), len(s["tests"]) or "", s["runs"]]
                       for s in data["signatures"]])
    else:
        out += ["No failure signatures.", ""]
    out += ["## Known Infrastructure Issues", ""]
    if data["infra"]:
        out += [f"{i}. **{g['kind']}** x{g['runs']}: {g['reason']} - "
                + ", ".join(f"`{t}`" for t in g["tests"][:8]) for i, g in
                enumerate(data["infra"], 1)] + [""]
    else:
        out += ["None: no run was lost to a timeout, a dirty GPU or leaked memory.", ""]
    if data["history"]:
        out += ["## History (same plan and mode, newest first)", ""]
        out += _table(["Commit", "Started", "Tests", "Passed", "Failed", "Pass Rate"],
                      [[f"`{str(h['commit'])[:10]}`", h["started_at"], h["tests"], h["passed"],
                        h["failed"], _pct(h["passed"], h["tests"])] for h in data["history"]])
    out += ["## Next Steps", ""]
    out += [f"{i}. {s}" for i, s in enumerate(data["next_steps"], 1)] or ["Nothing to do."]
    return "\n".join(out).rstrip() + "\n"


def _frac(v: Any) -> str:
    return f"{v[0]}/{v[1]}" if isinstance(v, (list, tuple)) and len(v) == 2 else ""


def _yn(v: Optional[bool]) -> str:
    return {True: "yes", False: "no"}.get(v, "")


def _modes(t: dict) -> str:
    return ", ".join(f"{m} {_kn(s)}" for m, s in sorted(t.get("other_modes", {}).items()))
