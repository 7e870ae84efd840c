"""Baselines: which earlier sweep a sweep is compared with, and the pass counts it contributes.

The baseline of a sweep is, unless one is pinned (``pcgbot baseline set``), the latest complete
sweep of the same plan and mode on the same branch at an *ancestor* commit (``git merge-base
--is-ancestor`` in the checkout when it can answer; by start time otherwise).  Its counts are
pooled with older sweeps of the same line up to ``stats.POOL_RUNS`` runs per test
(``stats.pool_history``), because an adaptive sweep runs a clean test only ~3 times.

Bundles carry sweeps between machines (CI artifacts, a data branch): a ``.tar.gz`` holding, per
sweep, ``sweep.json`` + ``runs.jsonl`` (+ ``logs/`` on request), rebuilt from the store so a
bundle of imported sweeps can be re-exported.  Importing is idempotent (the store keys sweeps by
id and runs by (sweep, test, mode, attempt)); bundles are byte-identical for the same content
(mtime 0 everywhere), so a data branch only changes when results do.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import subprocess
import tarfile
from pathlib import Path
from typing import Any, Optional

from .. import __version__
from . import stats
from .diff import counts_by_test
from ..errors import UsageError
from .store import Store
from .sweepdir import run_log

Counts = tuple[int, int]
HISTORY_SWEEPS = 20  # at most this many earlier sweeps are read when pooling


def pin_key(plan: Optional[str], mode: Optional[str], branch: Optional[str]) -> str:
    return f"baseline:{plan}:{mode}:{branch or ''}"


def is_ancestor(repo: Optional[str | os.PathLike], ancestor: Optional[str],
                commit: Optional[str]) -> Optional[bool]:
    """True/False from git, or None when git cannot tell (no repo, unknown commit)."""
    if not repo or not ancestor or not commit or not Path(repo).is_dir():
        return None
    try:
        r = subprocess.run(["git", "merge-base", "--is-ancestor", ancestor, commit], cwd=str(repo),
                           capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return {0: True, 1: False}.get(r.returncode)  # 128 etc.: a commit git does not know


def candidates(store: Store, sweep_meta: dict[str, Any],
               repo: Optional[str | os.PathLike] = None) -> list[dict[str, Any]]:
    """Complete sweeps that may serve as this sweep's baseline, newest first."""
    repo = repo or sweep_meta.get("repo")
    commit, started = sweep_meta.get("commit"), sweep_meta.get("started_at")
    out = []
    branch = sweep_meta.get("base_branch") or sweep_meta.get("branch")
    for row in store.sweeps(plan=sweep_meta.get("plan"), mode=sweep_meta.get("mode"),
                            branch=branch, complete=True):
        if row["sweep_id"] == sweep_meta.get("sweep_id"):
            continue
        if row.get("shard") or (row.get("meta") or {}).get("partial"):
            continue  # one shard, a --tests subset or a rerun: not the whole plan
        if commit and row.get("commit") == commit:
            continue  # a re-run of the same commit is not a baseline for it
        if started and row.get("started_at") and row["started_at"] > started:
            continue
        if is_ancestor(repo, row.get("commit"), commit) is False:
            continue  # a sibling branch's commit, or a later one
        out.append(row)
    return out


def find_baseline(store: Store, sweep_meta: dict[str, Any],
                  repo: Optional[str | os.PathLike] = None) -> Optional[dict[str, Any]]:
    """The baseline sweep row for ``sweep_meta`` (a sweep.json dict), or None."""
    pinned = store.get_meta(pin_key(sweep_meta.get("plan"), sweep_meta.get("mode"),
                                    sweep_meta.get("branch")))
    if pinned and pinned != sweep_meta.get("sweep_id"):
        row = store.sweep(pinned)
        if row is not None:
            return row
    found = candidates(store, sweep_meta, repo)
    return found[0] if found else None


def history(store: Store, base_row: dict[str, Any], repo: Optional[str | os.PathLike] = None,
            limit: int = HISTORY_SWEEPS) -> list[dict[str, Any]]:
    """The baseline sweep, then the complete sweeps before it on its line, newest first."""
    meta = dict(base_row.get("meta") or {})
    meta.update({k: base_row.get(k) for k in ("sweep_id", "plan", "mode", "branch", "commit",
                                               "started_at")})
    return [base_row] + candidates(store, meta, repo or meta.get("repo"))[:limit - 1]


def pooled_counts(store: Store, base_row: dict[str, Any], *, timeout_is_failure: bool = False,
                  want: int = stats.POOL_RUNS,
                  repo: Optional[str | os.PathLike] = None) -> dict[str, Counts]:
    """Per test, the baseline's (passes, runs) pooled with older sweeps up to ``want`` runs."""
    per_sweep = [counts_by_test(store.runs(r["sweep_id"]), timeout_is_failure=timeout_is_failure,
                                mode=r.get("mode"))
                 for r in history(store, base_row, repo)]
    tests = set(per_sweep[0])
    out = {}
    for t in sorted(tests):
        pooled = stats.pool_history([s.get(t, (0, 0)) for s in per_sweep], want)
        if pooled is not None:
            out[t] = pooled
    return out


def auto_baseline(store: Store, sweep_meta: dict[str, Any], *, timeout_is_failure: bool = False,
                  pool_runs: int = stats.POOL_RUNS) -> tuple[Optional[dict[str, Any]], list,
                                                             Optional[dict[str, Counts]]]:
    """What ``--baseline auto`` compares with: (baseline row or None, its runs, pooled counts
    or None when pool_runs is 0).  Pass the pooled counts to ``diff_sweeps(pooled=...)`` so the
    verdicts use the same evidence the adaptive sweep stopped on."""
    repo = sweep_meta.get("repo")
    row = find_baseline(store, sweep_meta, repo=repo)
    if row is None:
        return None, [], None
    pooled = (pooled_counts(store, row, timeout_is_failure=timeout_is_failure, want=pool_runs,
                            repo=repo) if pool_runs > 0 else None)
    return row, store.runs(row["sweep_id"]), pooled


def pin(store: Store, sweep_dir: str | os.PathLike) -> dict[str, Any]:
    """Import ``sweep_dir`` and make it the baseline of its plan + mode + branch."""
    sid = store.import_sweep(sweep_dir)
    row = store.sweep(sid)
    assert row is not None
    if not row["complete"]:
        raise UsageError(f"{Path(sweep_dir) / 'sweep.json'}:1: complete: false; only a complete "
                         "sweep can be a baseline")
    store.set_meta(pin_key(row["plan"], row["mode"], row["branch"]), sid)
    return row


def unpin(store: Store, plan: str, mode: str, branch: Optional[str]) -> None:
    store.set_meta(pin_key(plan, mode, branch), None)


def show(store: Store, plan: Optional[str] = None, mode: Optional[str] = None,
         branch: Optional[str] = None) -> list[dict[str, Any]]:
    """One entry per (plan, mode, branch): the pinned sweep and the latest complete sweep, i.e.
    the baseline the next sweep on that line gets (ancestry aside)."""
    lines: dict[tuple, dict[str, Any]] = {}
    for row in store.sweeps(plan=plan, mode=mode, branch=branch):
        key = (row["plan"], row["mode"], row["branch"])
        e = lines.setdefault(key, {"plan": row["plan"], "mode": row["mode"],
                                   "branch": row["branch"], "sweeps": 0, "pinned": None,
                                   "latest_complete": None})
        e["sweeps"] += 1
        whole = not row.get("shard") and not (row.get("meta") or {}).get("partial")
        if row["complete"] and whole and e["latest_complete"] is None:   # as candidates() sees it
            e["latest_complete"] = _brief(store, row)
    for key, e in lines.items():
        pinned = store.get_meta(pin_key(*key))
        row = store.sweep(pinned) if pinned else None
        if row is not None:
            e["pinned"] = _brief(store, row)
        e["baseline"] = e["pinned"] or e["latest_complete"]
    return [lines[k] for k in sorted(lines, key=lambda k: tuple(str(x) for x in k))]


def _brief(store: Store, row: dict[str, Any]) -> dict[str, Any]:
    runs = store.runs(row["sweep_id"])
    return {"sweep_id": row["sweep_id"], "commit": row["commit"], "started_at": row["started_at"],
            "dir": row["dir"], "tests": len({r.test for r in runs}), "runs": len(runs)}


# -- bundles --------------------------------------------------------------------------------
BUNDLE_ROOT = "pcgbot-bundle"
# The bundle format.  Raise it (a documented version step in CHANGELOG.md) when a reader of the
# old format would misread the new one; an added field is not a step.  Every pcgbot reads the
# formats up to its own, so a data branch written by older versions keeps working.
BUNDLE_VERSION = 1
_MAX_MEMBER = 512 * 1024 * 1024  # refuse absurd members (a bundle is data from elsewhere)


def safe_name(sweep_id: str) -> str:
    """A directory name for a sweep id (ids hold ':' and '@'); stable and collision-free."""
    import hashlib

    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", sweep_id).strip("._")[:80] or "sweep"
    return f"{slug}-{hashlib.sha256(sweep_id.encode()).hexdigest()[:8]}"


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), 0, 0o644
    tar.addfile(info, io.BytesIO(data))


def export_bundle(store: Store, out: str | os.PathLike, *, plans: tuple[str, ...] = (),
                  logs: bool = False, complete_only: bool = False) -> list[str]:
    """Write the store's sweeps (of ``plans``, or all) to ``out``; returns the sweep ids."""
    rows = [r for r in store.sweeps(complete=True if complete_only else None)
            if not plans or r["plan"] in plans]
    rows.sort(key=lambda r: r["sweep_id"])  # stable order => identical bytes for same content
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    # filename="" and mtime=0: the gzip header would otherwise carry the temp name and the time
    with open(tmp, "wb") as raw, \
            gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        # pcgbot_version: which release wrote the bundle (the data branch keeps it per sweep)
        manifest = {"version": BUNDLE_VERSION, "pcgbot_version": __version__,
                    "sweeps": [r["sweep_id"] for r in rows]}
        _add(tar, f"{BUNDLE_ROOT}/MANIFEST.json", json.dumps(manifest, indent=1).encode())
        for r in rows:
            base = f"{BUNDLE_ROOT}/{safe_name(r['sweep_id'])}"
            meta = r.get("meta") or {k: r[k] for k in ("sweep_id", "plan", "plan_file", "mode",
                                                       "commit", "branch", "started_at",
                                                       "finished_at", "complete")}
            _add(tar, f"{base}/sweep.json", (json.dumps(meta, indent=2, sort_keys=True)
                                             + "\n").encode())
            recs = store.runs(r["sweep_id"])
            _add(tar, f"{base}/runs.jsonl", "".join(x.to_json() + "\n" for x in recs).encode())
            if logs and r.get("dir"):
                for rec in recs:
                    p = run_log(r["dir"], rec)
                    if p is not None:
                        _add(tar, f"{base}/{rec.log}", p.read_bytes())
    os.replace(tmp, out)
    return [r["sweep_id"] for r in rows]


def _check_member(bundle: str, m: tarfile.TarInfo) -> None:
    parts = Path(m.name).parts
    if (not parts or parts[0] != BUNDLE_ROOT or ".." in parts or m.name.startswith("/")
            or not (m.isfile() or m.isdir()) or m.size > _MAX_MEMBER):
        raise UsageError(f"{bundle}:1: bundle: unsafe or foreign member {m.name!r}")


def _check_format(bundle: str, tar: tarfile.TarFile, members: list[tarfile.TarInfo]) -> None:
    """Refuse a bundle of a newer format than this pcgbot reads (one line naming the writer);
    older formats, and bundles without a manifest, are read as they are."""
    man = next((m for m in members if m.name == f"{BUNDLE_ROOT}/MANIFEST.json" and m.isfile()), None)
    if man is None:
        return
    src = tar.extractfile(man)
    try:
        data = json.loads(src.read() if src else b"{}")
    except ValueError:
        raise UsageError(f"{bundle}:1: bundle: MANIFEST.json is not JSON") from None
    fmt = data.get("version", 1) if isinstance(data, dict) else None
    if not isinstance(fmt, int):
        raise UsageError(f"{bundle}:1: bundle: MANIFEST.json: version: expected an integer")
    if fmt > BUNDLE_VERSION:
        raise UsageError(f"{bundle}:1: bundle: format {fmt} (written by pcgbot "
                         f"{data.get('pcgbot_version') or '?'}) is newer than the format {BUNDLE_VERSION} "
                         f"pcgbot {__version__} reads; upgrade pcgbot (see CHANGELOG.md)")


def import_bundles(store: Store, files: list[str], dest: Optional[str | os.PathLike] = None
                   ) -> list[str]:
    """Unpack bundles under ``dest`` (default: ``sweeps/`` next to the store) and import every
    sweep into the store.  Importing the same bundle twice doubles nothing."""
    dest_p = Path(dest) if dest else store.path.parent / "sweeps"
    ids: list[str] = []
    for f in files:
        try:
            tar = tarfile.open(f, mode="r:*")
        except OSError as e:
            raise UsageError(f"{f}: bundle: cannot open ({e.strerror or e})") from None
        except tarfile.TarError:
            raise UsageError(f"{f}: bundle: not a .tar.gz bundle (pcgbot baseline export writes "
                             "them)") from None
        with tar:
            members = tar.getmembers()
            for m in members:
                _check_member(f, m)
            _check_format(f, tar, members)
            dirs = sorted({Path(m.name).parts[1] for m in members
                           if Path(m.name).parts[2:] == ("sweep.json",)})
            if not dirs:
                raise UsageError(f"{f}:1: bundle: no {BUNDLE_ROOT}/<sweep>/sweep.json inside")
            for m in members:
                if not m.isfile():
                    continue
                target = dest_p.joinpath(*Path(m.name).parts[1:])
                target.parent.mkdir(parents=True, exist_ok=True)
                src = tar.extractfile(m)
                assert src is not None
                target.write_bytes(src.read())
        for d in dirs:
            ids.append(store.import_sweep(dest_p / d))
    return ids


def prune_bundles(folder: str | os.PathLike, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` bundles (``*.tar.gz``) of ``folder``; return them.

    Bundles are named so that sorting by name is oldest-first (the data branch names them
    ``<UTC stamp>-<sha>-<run>.tar.gz``).  Only the tree is pruned: the branch's history keeps
    every bundle, while jobs that fetch the tip shallowly download only the newest ones."""
    if keep < 1:
        raise UsageError(f"--keep: {keep}: keep at least 1 bundle")
    d = Path(folder)
    if not d.is_dir():
        raise UsageError(f"{d}: not a folder of bundles")
    bundles = sorted(p for p in d.iterdir() if p.name.endswith(".tar.gz") and p.is_file())
    gone = bundles[:-keep]
    for p in gone:
        p.unlink()
    return gone
