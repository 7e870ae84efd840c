"""Baselines in a real git repo and a real SQLite store; bundles as real tar.gz files."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from pathlib import Path

import pytest

from conftest import run_cli
from pcgbot.results import baseline as bl
from pcgbot.errors import UsageError
from pcgbot.results.store import Store
from test_diff import cli, rate, rec, write_sweep


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> dict[str, str]:
    """main: A - B - C;  side branch from A: S.  Returns name -> sha (and 'path')."""
    r = tmp_path / "repo"
    r.mkdir()
    git(r, "init", "-q", "-b", "main")
    git(r, "config", "user.email", "t@example.com")
    git(r, "config", "user.name", "t")
    shas = {"path": str(r)}
    for name in "ABC":
        (r / "f").write_text(name)
        git(r, "commit", "-qam" if name != "A" else "-qm", name) if name != "A" else None
        if name == "A":
            git(r, "add", "f")
            git(r, "commit", "-qm", "A")
        shas[name] = git(r, "rev-parse", "HEAD")
    git(r, "checkout", "-qb", "side", shas["A"])
    (r / "g").write_text("S")
    git(r, "add", "g")
    git(r, "commit", "-qm", "S")
    shas["S"] = git(r, "rev-parse", "HEAD")
    git(r, "checkout", "-q", "main")
    return shas


def sweep(store: Store, tmp: Path, name: str, commit: str, day: int, records, *,
          complete: bool = True, repo: str | None = None, branch: str = "main") -> dict:
    d = write_sweep(tmp / name, records, sweep_id=name, commit=commit, branch=branch,
                    started=f"2026-01-{day:02d}T00:00:00+00:00", complete=complete)
    if repo:
        meta = json.loads((d / "sweep.json").read_text())
        meta["repo"] = repo
        (d / "sweep.json").write_text(json.dumps(meta))
    store.import_sweep(d)
    return json.loads((d / "sweep.json").read_text())


def test_baseline_is_latest_complete_ancestor(tmp_path: Path, repo) -> None:
    store = Store(tmp_path / "db.sqlite")
    sweep(store, tmp_path, "sA", repo["A"], 1, rate("t", 10, 10))
    sweep(store, tmp_path, "sS", repo["S"], 2, rate("t", 10, 10))          # side branch commit
    sweep(store, tmp_path, "sB-partial", repo["B"], 3, rate("t", 2, 2), complete=False)
    cur = sweep(store, tmp_path, "sC", repo["C"], 4, rate("t", 3, 10), repo=repo["path"])
    # S is newer but not an ancestor of C; B's sweep is incomplete: the baseline is A's
    assert bl.find_baseline(store, cur)["sweep_id"] == "sA"
    # without a repo, time decides: the newest complete earlier sweep on the branch
    cur_norepo = dict(cur, repo=None)
    assert bl.find_baseline(store, cur_norepo)["sweep_id"] == "sS"
    assert bl.is_ancestor(repo["path"], repo["A"], repo["C"]) is True
    assert bl.is_ancestor(repo["path"], repo["S"], repo["C"]) is False
    assert bl.is_ancestor(repo["path"], "0" * 40, repo["C"]) is None
    assert bl.is_ancestor(None, repo["A"], repo["C"]) is None


def test_same_commit_later_and_other_branch_are_not_baselines(tmp_path: Path, repo) -> None:
    store = Store(tmp_path / "db.sqlite")
    sweep(store, tmp_path, "sB-again", repo["B"], 1, rate("t", 10, 10))
    sweep(store, tmp_path, "sA-later", repo["A"], 9, rate("t", 10, 10))
    sweep(store, tmp_path, "sA-dev", repo["A"], 2, rate("t", 10, 10), branch="dev")
    cur = sweep(store, tmp_path, "sB", repo["B"], 5, rate("t", 10, 10), repo=repo["path"])
    assert bl.find_baseline(store, cur) is None


def test_pin_overrides_and_requires_complete(tmp_path: Path, repo) -> None:
    store = Store(tmp_path / "db.sqlite")
    sweep(store, tmp_path, "sA", repo["A"], 1, rate("t", 10, 10))
    sweep(store, tmp_path, "sB", repo["B"], 2, rate("t", 10, 10))
    cur = sweep(store, tmp_path, "sC", repo["C"], 3, rate("t", 10, 10), repo=repo["path"])
    assert bl.find_baseline(store, cur)["sweep_id"] == "sB"
    bl.pin(store, tmp_path / "sA")
    assert bl.find_baseline(store, cur)["sweep_id"] == "sA"
    bl.unpin(store, "p", "pcg", "main")
    assert bl.find_baseline(store, cur)["sweep_id"] == "sB"
    write_sweep(tmp_path / "inc", rate("t", 1, 1), sweep_id="inc", complete=False)
    with pytest.raises(UsageError, match="complete: false"):
        bl.pin(store, tmp_path / "inc")


def test_pooled_counts_walk_history_and_stop_at_change(tmp_path: Path, repo) -> None:
    store = Store(tmp_path / "db.sqlite")
    sweep(store, tmp_path, "s1", repo["A"], 1, rate("flip", 10, 10) + rate("ok", 3, 3))
    sweep(store, tmp_path, "s2", repo["A"], 2, rate("flip", 0, 10) + rate("ok", 3, 3))
    sweep(store, tmp_path, "s3", repo["B"], 3, rate("flip", 0, 10) + rate("ok", 3, 3))
    row = store.sweep("s3")
    pooled = bl.pooled_counts(store, row, want=20)
    assert pooled["ok"] == (9, 9)          # three sweeps of 3 runs, still short of 20
    assert pooled["flip"] == (0, 20)       # reached 20; the older 10/10 is not mixed in
    assert bl.pooled_counts(store, row, want=5)["ok"] == (6, 6)
    assert [r["sweep_id"] for r in bl.history(store, row)] == ["s3", "s2", "s1"]


def test_show_lists_each_line(tmp_path: Path, repo) -> None:
    store = Store(tmp_path / "db.sqlite")
    sweep(store, tmp_path, "sA", repo["A"], 1, rate("t", 10, 10))
    sweep(store, tmp_path, "sB", repo["B"], 2, rate("t", 1, 1), complete=False)
    sweep(store, tmp_path, "dA", repo["A"], 3, rate("t", 10, 10), branch="dev")
    lines = bl.show(store)
    assert [(e["branch"], e["baseline"]["sweep_id"], e["sweeps"]) for e in lines] == \
        [("dev", "dA", 1), ("main", "sA", 2)]
    assert lines[1]["baseline"]["runs"] == 10 and lines[1]["pinned"] is None
    assert bl.show(store, branch="nope") == []


def test_bundle_roundtrip_idempotent_and_deterministic(tmp_path: Path, repo) -> None:
    src = Store(tmp_path / "src.sqlite")
    sweep(src, tmp_path, "sA", repo["A"], 1, rate("t", 10, 10))
    sweep(src, tmp_path, "sB", repo["B"], 2, rate("t", 4, 10) + rate("u", 3, 3))
    (tmp_path / "sB" / "logs").mkdir()
    (tmp_path / "sB" / "logs" / "t.pcg.0.log").write_text("log text")
    b1, b2 = tmp_path / "b1.tar.gz", tmp_path / "b2.tar.gz"
    assert bl.export_bundle(src, b1, logs=True) == ["sA", "sB"]
    bl.export_bundle(src, b2, logs=True)
    assert b1.read_bytes() == b2.read_bytes()       # same content, same bytes
    dst = Store(tmp_path / "dst.sqlite")
    ids = bl.import_bundles(dst, [str(b1)], tmp_path / "unpacked")
    ids2 = bl.import_bundles(dst, [str(b1), str(b2)], tmp_path / "unpacked")
    assert sorted(ids) == ["sA", "sB"] and sorted(set(ids2)) == ["sA", "sB"]
    assert len(dst.sweeps()) == 2
    assert len(dst.runs("sB")) == 13 and len(dst.runs("sA")) == 10    # nothing doubled
    assert dst.sweep("sB")["commit"] == repo["B"]
    logs = list((tmp_path / "unpacked").rglob("t.pcg.0.log"))
    assert len(logs) == 1 and logs[0].read_text() == "log text"
    # re-export from the importing store gives the same runs
    b3 = tmp_path / "b3.tar.gz"
    bl.export_bundle(dst, b3, plans=("p",))
    assert bl.export_bundle(dst, tmp_path / "none.tar.gz", plans=("other",)) == []


def _evil_bundle(path: Path, name: str) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        data = b"{}"
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize("name", ["../escape/sweep.json", "/abs/sweep.json",
                                  "other-root/x/sweep.json", "pcgbot-bundle/x/../../e"])
def test_unsafe_bundles_rejected(tmp_path: Path, name: str) -> None:
    b = _evil_bundle(tmp_path / "evil.tar.gz", name)
    with pytest.raises(UsageError, match="bundle"):
        bl.import_bundles(Store(tmp_path / "db.sqlite"), [str(b)], tmp_path / "out")
    assert not (tmp_path / "escape").exists()


def test_not_a_bundle(tmp_path: Path) -> None:
    (tmp_path / "x.tar.gz").write_text("not a tar")
    with pytest.raises(UsageError, match="not a .tar.gz bundle"):
        bl.import_bundles(Store(tmp_path / "db.sqlite"), [str(tmp_path / "x.tar.gz")])


def test_cli_baseline_commands_and_auto_diff(tmp_path: Path, repo, capsys, monkeypatch) -> None:
    db = str(tmp_path / "cli.sqlite")
    env = {"PCGBOT_STORE": db}
    monkeypatch.setenv("PCGBOT_STORE", db)
    store = Store(db)
    # three clean sweeps of 3 runs (an adaptive history), then a 1/4 at C
    for i, (name, c) in enumerate([("s1", "A"), ("s2", "A"), ("s3", "B")], 1):
        sweep(store, tmp_path, name, repo[c], i, rate("t.py", 3, 3) + rate("u.py", 3, 3))
    cur = write_sweep(tmp_path / "cur", rate("t.py", 1, 4) + rate("u.py", 3, 3), sweep_id="cur",
                      commit=repo["C"], started="2026-01-09T00:00:00+00:00")
    r = run_cli("diff", str(cur), "--json", env=env)
    data = json.loads(r.stdout)
    t = {x["test"]: x for x in data["tests"]}
    assert data["baseline"]["sweep_id"] == "s3" and data["pooled_runs"] == 20
    assert t["t.py"]["baseline"] == [9, 9] and t["t.py"]["verdict"] == "regression"
    t = {x["test"]: x
         for x in json.loads(cli(capsys, "diff", str(cur), "--json", "--pool-runs", "0")[1])["tests"]}
    assert t["t.py"]["baseline"] == [3, 3] and t["t.py"]["verdict"] == "flaky"
    rc, out, _ = cli(capsys, "baseline", "set", str(tmp_path / "s1"))
    assert rc == 0 and "s1 (pinned)" in out
    shown = json.loads(cli(capsys, "baseline", "show", "--json")[1])
    assert shown[0]["pinned"]["sweep_id"] == "s1" and shown[0]["latest_complete"]["sweep_id"] == "cur"
    assert "[pinned]" in cli(capsys, "baseline", "show")[1]
    bundle = tmp_path / "out" / "all.tar.gz"
    rc, out, _ = cli(capsys, "baseline", "export", "-o", str(bundle))
    assert rc == 0 and "4 sweeps" in out
    env2 = {"PCGBOT_STORE": str(tmp_path / "other.sqlite")}
    for _ in range(2):
        r = run_cli("baseline", "import", str(bundle), env=env2)
        assert r.returncode == 0 and "imported 4 sweeps" in r.stdout, r.stderr
    assert len(Store(tmp_path / "other.sqlite").runs("cur")) == 7
    monkeypatch.setenv("PCGBOT_STORE", env2["PCGBOT_STORE"])
    rc, _, err = cli(capsys, "baseline", "import", str(tmp_path / "missing.tar.gz"))
    assert rc == 2 and "missing.tar.gz" in err


def runs_of(test: str, *outcomes: str) -> list:
    """Runs numbered after the 3 of ``rate(test, 3, 3)``."""
    return [rec(test, 3 + i, o) for i, o in enumerate(outcomes)]


def test_auto_baseline(tmp_path: Path, repo) -> None:
    store = Store(tmp_path / "db.sqlite")
    first = sweep(store, tmp_path, "s1", repo["A"], 1, rate("t", 3, 3))
    assert bl.auto_baseline(store, first) == (None, [], None)
    sweep(store, tmp_path, "s2", repo["B"], 2, rate("t", 3, 3) + runs_of("t", "timeout"))
    cur = sweep(store, tmp_path, "s3", repo["C"], 3, rate("t", 0, 3), repo=repo["path"])
    row, base_runs, pooled = bl.auto_baseline(store, cur)
    assert row["sweep_id"] == "s2" and len(base_runs) == 4 and pooled == {"t": (6, 6)}
    _, _, pooled = bl.auto_baseline(store, cur, timeout_is_failure=True)
    assert pooled == {"t": (6, 7)}
    assert bl.auto_baseline(store, cur, pool_runs=0)[2] is None


def test_prune_keeps_the_newest_bundles(tmp_path: Path) -> None:
    d = tmp_path / "1-gpu"
    d.mkdir()
    names = [f"20261{m}01T000000Z-abcdef012345-{m}.tar.gz" for m in range(1, 6)]
    for n in reversed(names):                      # creation order must not matter
        (d / n).write_bytes(b"x")
    (d / "README.md").write_text("not a bundle\n")
    r = run_cli("baseline", "prune", str(d), "--keep", "2")
    assert r.returncode == 0, r.stderr
    assert f"removed 3 old bundle(s) ({names[0]} .. {names[2]})" in r.stdout
    assert sorted(p.name for p in d.iterdir()) == sorted(["README.md"] + names[3:])
    again = run_cli("baseline", "prune", str(d), "--keep", "2")
    assert "removed 0 old bundle(s)" in again.stdout and len(list(d.iterdir())) == 3
    for bad, what in ((["--keep", "0"], "--keep: 0: keep at least 1 bundle"),
                      ([], "not a folder of bundles")):
        target = str(d) if bad else str(tmp_path / "missing")
        r = run_cli("baseline", "prune", target, *bad)
        assert r.returncode == 2 and what in r.stderr and "Traceback" not in r.stderr
