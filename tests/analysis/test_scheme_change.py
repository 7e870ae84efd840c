"""Changing the fingerprint scheme never duplicates an issue and never fakes a regression.

A store, sweeps and GitHub issues written by scheme v1 (run records without a scheme, issues
whose marker and ``sig:`` label are v1 fingerprints), then an analyze + sync + diff by the
current scheme on real corpus logs: every v1 issue is found again through the signature's
aliases; v1 fingerprints that scheme v2 joins become one issue; a v1 fingerprint that v2 splits
keeps its issue for the larger part and files the rest with a link; verdicts do not move.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fakegithub import FakeGitHub, remote
from pcgbot.analysis.pipeline import analyze
from pcgbot.github.render import IssueState
from pcgbot.github.sync import sync
from pcgbot.model import FAIL, PASS, RunRecord
from pcgbot.results.store import Store
from pcgbot.results.sweepdir import read_runs
from pcgbot.signatures.corpus import read_case
from pcgbot.signatures.v1 import signature_of_log as signature_v1

CORPUS = Path(__file__).resolve().parents[1] / "data" / "signatures"
RUNS = 10


def corpus_log(prefix: str) -> str:
    return read_case(next(CORPUS.glob(prefix + "_*.log"))).body


def write_sweep(d: Path, sweep_id: str, commit: str, tests: dict[str, str | None]) -> Path:
    """A sweep dir as pcgbot v1 wrote it: failing runs carry a v1 fingerprint, no scheme."""
    (d / "logs").mkdir(parents=True)
    meta = {"sweep_id": sweep_id, "plan": "p", "mode": "pcg", "commit": commit, "complete": True}
    (d / "sweep.json").write_text(json.dumps(meta))
    lines = []
    for test, log in tests.items():
        for i in range(RUNS):
            rec = RunRecord(test=test, attempt=i, mode="pcg", outcome=PASS if log is None else FAIL,
                            exit_code=0 if log is None else 1, duration_s=1.0, commit=commit,
                            log=None, started_at="2026-12-01T00:00:00Z")
            if log is not None:
                rec.log = f"logs/{Path(test).stem}-{i}.log"
                (d / rec.log).write_text(log)
                rec.signature = signature_v1(d / rec.log).fingerprint   # what v1 stored
            lines.append(rec.to_json())
    (d / "runs.jsonl").write_text("\n".join(lines) + "\n")
    return d


def two_sweeps(tmp: Path, logs: dict[str, str]) -> tuple[Path, Path]:
    base = write_sweep(tmp / "base", "s0", "a" * 40, {t: None for t in logs})
    cur = write_sweep(tmp / "cur", "s1", "b" * 40, {t: corpus_log(p) for t, p in logs.items()})
    return base, cur


def issues(gh: FakeGitHub) -> list[dict]:
    return sorted(gh.repo("o/r").issue_list(), key=lambda i: i["number"])


@pytest.fixture
def gh():
    with FakeGitHub() as g:
        yield g


def test_v1_store_and_issues_then_v2_sync_and_diff_files_nothing_new(tmp_path: Path, gh) -> None:
    # 024 and 011: the same fingerprint in both schemes.  057/058/059: three v1 fingerprints
    # (CalledProcessError vs RuntimeError wrappers of one ptxas failure) that v2 joins.
    base, cur = two_sweeps(tmp_path, {"t/test_keys.py": "024", "t/test_oom.py": "011",
                                      "t/test_ptxas_a.py": "057", "t/test_ptxas_b.py": "058",
                                      "t/test_ptxas_c.py": "059"})
    store = Store(tmp_path / "store.db")
    store.import_sweep(cur)
    assert all(r.signature_scheme is None for r in read_runs(cur))     # legacy records
    assert all(r.signature_scheme is None for r in store.runs("s1"))   # ... in the store too
    old = analyze(cur, baseline=str(base), store=store, scheme=1)
    assert len(old["signatures"]) == 5
    b = remote(gh)
    assert len(sync(b, old).created) == 5

    new = analyze(cur, baseline=str(base), store=store)               # the current scheme
    assert len(new["signatures"]) == 3
    res = sync(b, new)
    assert res.created == []                                           # zero new issues
    assert len(res.duplicates) == 2                                    # the v1 ptxas pair closed
    old_regs = {t["test"] for t in old["tests"] if t["verdict"] == "regression"}
    new_regs = {t["test"] for t in new["tests"] if t["verdict"] == "regression"}
    assert new_regs == old_regs and new["totals"] == old["totals"]    # zero new regressions
    ptxas = next(s for s in new["signatures"] if s["rule"] == "ptxas-error")
    live = [i for i in issues(gh) if i["state"] == "open"]
    assert len(live) == 3
    kept = next(i for i in live if IssueState.load(i["body"]).fp == ptxas["fingerprint"])
    st = IssueState.load(kept["body"])
    assert sorted(st.aliases) == sorted(ptxas["aliases"]) and st.scheme == 2
    labels = {lb if isinstance(lb, str) else lb["name"] for lb in kept["labels"]}
    assert f"sig:{ptxas['fingerprint']}" in labels and all(f"sig:{a}" in labels for a in st.aliases)
    assert sorted(st.tests) == ["t/test_ptxas_a.py", "t/test_ptxas_b.py", "t/test_ptxas_c.py"]
    closed = [i for i in issues(gh) if i["state"] == "closed"]
    assert all(f"Duplicate of #{kept['number']}" in c["body"] or
               IssueState.load(c["body"]).superseded_by == kept["number"] for c in closed)
    assert sync(b, new).lines() == ["no changes"]                      # settled: idempotent


def test_a_v1_fingerprint_that_v2_splits_keeps_its_issue_and_links_the_new_one(
        tmp_path: Path, gh) -> None:
    # 046 and 048: two different stacks cut before their error line.  v1 called both "no error
    # found in log" (one catch-all fingerprint, one issue); v2 names each by its frames.
    base, cur = two_sweeps(tmp_path, {"t/test_a.py": "046", "t/test_b.py": "048",
                                      "t/test_c.py": "048"})
    b = remote(gh)
    old = analyze(cur, baseline=str(base), store=Store(tmp_path / "s.db"), scheme=1)
    assert [len(s["tests"]) for s in old["signatures"]] == [3]
    assert sync(b, old).created == [1]
    new = analyze(cur, baseline=str(base), store=Store(tmp_path / "s.db"))
    res = sync(b, new)
    assert res.created == [2]
    one, two = issues(gh)
    st1, st2 = IssueState.load(one["body"]), IssueState.load(two["body"])
    assert sorted(st1.tests) == ["t/test_b.py", "t/test_c.py"]        # the larger part stays
    assert list(st2.tests) == ["t/test_a.py"] and st2.split_from == 1
    assert "Split from #1" in two["body"]
    comments = [c["body"] for c in gh.repo("o/r").comments_of(1)]
    assert any("#2" in c and "splits this signature" in c for c in comments)


def test_a_run_recorded_now_says_its_scheme_and_round_trips_the_store(tmp_path: Path) -> None:
    from pcgbot.signatures import SCHEME, fingerprint_in_scheme
    _, cur = two_sweeps(tmp_path, {"t/test_ptxas.py": "057"})
    rec = read_runs(cur)[0]
    log = cur / rec.log
    v2 = fingerprint_in_scheme(rec.signature, rec.signature_scheme, log)
    assert v2 != rec.signature                            # v1's fingerprint, recomputed from the log
    rec.signature, rec.signature_scheme = v2, SCHEME
    assert RunRecord.from_dict(json.loads(rec.to_json())).signature_scheme == SCHEME
    assert fingerprint_in_scheme(rec.signature, rec.signature_scheme, None) == v2   # no re-read
    assert fingerprint_in_scheme("11dfa735ea8e", None, None) is None   # v1, log gone: unknown
