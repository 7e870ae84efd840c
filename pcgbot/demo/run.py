"""``pcgbot demo``: the whole loop on a toy repository, on CPU slots, in under a minute.

Stages (each prints a line):
  1. build the tinyengine repository (pcgbot.demo_repo) with bugs planted at known commits;
  2. sweep the baseline commit and the head commit in PCG mode (real shim injection);
  3. import both into a store, diff head against the baseline;
  4. analyze head (signatures + differential nopcg triage) -> analysis.json;
  5. bisect each regression between baseline and head;
  6. write the GitHub issues, comments and statuses it would post (dry-run folder);
  7. write the Markdown report, JUnit XML and the HTML dashboard.
During the sweeps the demo itself holds the plan's ``TINYENGINE_PORT`` -- a stand-in for a
server leaked by an earlier job -- so ``test_port_server`` fails the way infrastructure
problems do in real CI.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

from .repo import build_demo_repo
from ..errors import UsageError
from ..gitutil import worktree_add

Echo = Callable[[str], None]


@contextmanager
def leaked_port(port: int) -> Iterator[bool]:
    """Hold ``port`` like a leftover server would; yields False if someone already holds it
    (the infra failure happens either way, so the demo's outcome does not change)."""
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        s.listen(1)
        held = True
    except OSError:
        held = False
    try:
        yield held
    finally:
        s.close()


def run_demo(out: Optional[str | os.PathLike] = None, *, echo: Echo = print,
             slots: int = 2) -> dict[str, Any]:
    """Run every stage into ``out`` (a new temp dir if None); returns what was found/written."""
    from ..plan.schema import load_plan
    from ..results.store import Store
    from ..sweep.sweep import run_sweep

    t0 = time.monotonic()
    # Absolute: git runs with cwd=the demo repo, where a relative path would land elsewhere.
    root = (Path(out) if out else Path(tempfile.mkdtemp(prefix="pcgbot-demo-"))).resolve()
    if root.exists() and any(root.iterdir()):
        raise UsageError(f"{root}: --dir: exists and is not empty (pick a new folder)")
    root.mkdir(parents=True, exist_ok=True)
    info = build_demo_repo(root)
    plan = load_plan(info["plan"])
    echo(f"[1/7] repository: {info['repo']} ({len(info['commits'])} commits; baseline "
         f"{info['baseline'][:10]}, head {info['head'][:10]})")
    result: dict[str, Any] = {"dir": str(root), "repo": info["repo"], "plan": info["plan"],
                              "planted": info["culprits"], "stages": {},
                              "baseline": info["baseline"], "head": info["head"]}
    base_dir, head_dir = root / "sweeps" / "baseline", root / "sweeps" / "head"
    store = Store(root / "pcgbot.db")
    with leaked_port(info["leak_port"]) as held:
        wt = worktree_add(info["repo"], root / "worktrees" / "baseline", info["baseline"])
        # The baseline is an earlier commit of main (swept from a detached worktree): record
        # it as main's, so that `pcgbot diff HEAD --baseline auto` finds it as CI would.
        run_sweep(plan, base_dir, repo=wt, slots=slots, branch="main")
        run_sweep(plan, head_dir, repo=info["repo"], slots=slots)
        for d in (base_dir, head_dir):
            store.import_sweep(d)
        echo(f"[2/7] swept baseline and head: {base_dir}, {head_dir} "
             f"(port {info['leak_port']} {'held by the demo' if held else 'already taken'})")
        result["sweeps"] = {"baseline": str(base_dir), "head": str(head_dir)}
        result["stages"]["diff"] = _stage_diff(base_dir, head_dir, echo)
        analysis = _stage_analyze(head_dir, base_dir, plan, store, echo)
        result["stages"]["analyze"] = {t["test"]: t["category"]
                                       for t in analysis["tests"] if t.get("category")}
        result["stages"]["bisect"] = _stage_bisect(head_dir, analysis, plan, info, root,
                                                    store, echo)
    result["culprits"] = _culprits(head_dir)
    gh = _stage_github(head_dir, root / "github", info["head"], echo)
    result["stages"]["github"] = gh["lines"]
    result.update(_stage_report(head_dir, root, store, gh, echo))
    store.close()
    result["seconds"] = round(time.monotonic() - t0, 1)
    return result


def _stage_diff(base_dir: Path, head_dir: Path, echo: Echo) -> dict[str, int]:
    from ..results.diff import diff_sweeps
    from ..results.sweepdir import read_runs
    counts: dict[str, int] = {}
    for d in diff_sweeps(read_runs(base_dir), read_runs(head_dir)):
        counts[d.verdict] = counts.get(d.verdict, 0) + 1
    echo("[3/7] diff vs baseline: " + ", ".join(f"{n} {v}" for v, n in sorted(counts.items())))
    return counts


def _stage_analyze(head_dir: Path, base_dir: Path, plan, store, echo: Echo) -> dict[str, Any]:
    """analysis.json for head: diff + signatures + differential (nopcg) triage."""
    from ..analysis.pipeline import analyze
    a = analyze(head_dir, baseline=str(base_dir), plan=plan, differential=True, store=store)
    cats: dict[str, int] = {}
    for t in a.get("tests") or []:
        if t.get("category"):
            cats[t["category"]] = cats.get(t["category"], 0) + 1
    echo("[4/7] analyzed: " + (", ".join(f"{n} {c}" for c, n in sorted(cats.items()))
                               or "nothing failing") +
         f"; {len(a.get('signatures') or [])} failure signature(s)")
    return a


def _stage_bisect(head_dir: Path, analysis: dict, plan, info: dict, root: Path,
                  store, echo: Echo) -> list[dict]:
    """Bisect every regression between baseline and head; culprits go into analysis.json."""
    from ..analysis.pipeline import attach_culprit, write_analysis
    from ..bisect.engine import bisect_test

    # One slot: parallel probes are recorded in the order they finish, which steers the
    # search; one at a time, the demo probes the same commits on every machine.
    out = []
    regressions = [t for t in analysis.get("tests") or [] if t.get("verdict") == "regression"]
    for t in regressions:
        res = bisect_test(plan, t["test"], repo=info["repo"], good=info["baseline"],
                          bad=info["head"], signature=t.get("signature"), slots=1,
                          store=store, state_dir=root / "bisect").to_dict()
        res["test"] = t["test"]
        attach_culprit(analysis.get("signatures") or [], res)
        out.append(res)
        echo(f"[5/7] bisect {t['test']}: {res['verdict']}"
             + (f" {res['sha'][:10]} \"{res['subject']}\" (confidence {res['confidence']:.2f},"
                f" {res['runs']} runs)" if res.get("sha") else f": {res['message']}"))
    if not regressions:
        echo("[5/7] bisect: no regression to bisect")
    write_analysis(head_dir, analysis)
    return out


def _culprits(head_dir: Path) -> dict[str, dict[str, Any]]:
    """test -> culprit of its signature, from analysis.json."""
    p = head_dir / "analysis.json"
    if not p.is_file():
        return {}
    out = {}
    for s in json.loads(p.read_text()).get("signatures") or []:
        c = s.get("culprit") or {}
        for t in s.get("tests") or []:
            if t.get("verdict") == "regression" and c.get("sha"):
                out[t["test"]] = {"sha": c["sha"], "subject": c.get("subject"),
                                  "confidence": c.get("confidence"), "status": c.get("status")}
    return out


def _stage_github(head_dir: Path, out: Path, head_sha: str, echo: Echo) -> dict[str, Any]:
    """Issues, comments and the commit status a real run would post, as files in ``out``."""
    from ..github.analysis import load_analysis
    from ..github.dryrun import FolderBackend
    from ..github.status import post_status
    from ..github.sync import Syncer, sync

    analysis = load_analysis(head_dir)
    backend = FolderBackend(out)
    res = sync(backend, analysis)
    st = post_status(backend, analysis, head_sha)
    issues: dict[str, dict[str, Any]] = {}
    finder = Syncer(backend, analysis)
    for sig in analysis.get("signatures") or []:
        hit = finder.find(sig["fingerprint"])
        if hit:
            num = hit[0].number
            url = hit[0].url or str(out / "issues" / f"{num:04d}.md")
            if not url.startswith(("https://", "http://", "file:")):   # dry run: a local file
                url = Path(url).resolve().as_uri()
            issues[sig["fingerprint"]] = {"number": num, "url": url}
    echo(f"[6/7] github dry run: {'; '.join(res.lines())}; status {st.context}: {st.state} "
         f"-> {out}")
    return {"issues": issues, "status": f"{st.context}: {st.state}: {st.description}",
            "lines": res.lines()}


def _stage_report(head_dir: Path, root: Path, store, gh: dict[str, Any],
                  echo: Echo) -> dict[str, Any]:
    from ..report.dashboard import dashboard_for_dir
    from ..report.junit import render_junit
    from ..report.markdown import collect, render_markdown

    data = collect(head_dir, store=store)
    files = {"report": root / "report.md", "junit": root / "junit.xml",
             "dashboard": root / "dashboard.html", "status": root / "status.txt"}
    files["report"].write_text(render_markdown(data))
    files["junit"].write_text(render_junit(data))
    files["dashboard"].write_text(dashboard_for_dir(head_dir, store, issues=gh["issues"]))
    status = gh["status"]
    files["status"].write_text(status + "\n")
    echo(f"[7/7] report: {files['report']}  junit: {files['junit']}  "
         f"dashboard: {files['dashboard']}")
    return {"files": {k: str(v) for k, v in files.items()}, "status": status}
