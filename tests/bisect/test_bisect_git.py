"""Bisection on real git repositories with real probe processes (pcgbot.sweep.sweep.run_one).

Named cases after syzkaller's bisect table: culprit found, first commit already bad, good
commit actually bad, flaky range with no culprit, unbuildable commits around the culprit, an
unrelated crash in the range, a pass-rate change 0.9 -> 0.6, a fix, resume, parallel slots.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from bisect_repo import TEST_PATH, make_plan, make_repo, step, toy_signature
from conftest import run_cli
from pcgbot.bisect.engine import bisect_test
from pcgbot.errors import UsageError
from pcgbot.model import FAIL, PASS, RunRecord
from pcgbot.results.store import Store
from pcgbot.results.sweepdir import RunWriter, write_meta



@pytest.fixture(scope="module")
def sigs(tmp_path_factory) -> dict[str, str]:
    """Real fingerprints of the toy's two failures (the regression, an unrelated OOM)."""
    t = tmp_path_factory.mktemp("sigs")
    return {"emb": toy_signature(t, False), "oom": toy_signature(t, True)}


def bisect(tmp: Path, shas: list[str], good: int, bad: int, **kw):
    plan = make_plan(tmp, tmp / "repo")
    kw.setdefault("store", tmp / "no-store.db")
    return bisect_test(plan, "test_embedding_models", good=shas[good], bad=shas[bad],
                       state_dir=tmp / "state", **kw)


def index(shas: list[str], sha: str) -> int:
    return shas.index(sha)


def untouched(repo: Path, head: str) -> None:
    assert subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True,
                          text=True).stdout == ""
    assert subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True,
                          text=True).stdout.strip() == head
    wts = subprocess.run(["git", "worktree", "list"], cwd=repo, capture_output=True, text=True)
    assert len(wts.stdout.splitlines()) == 1, wts.stdout   # probe worktrees cleaned up


def test_culprit_found(tmp_path, sigs):
    shas = make_repo(tmp_path / "repo", 12, step(7))
    r = bisect(tmp_path, shas, 0, 12)
    assert r.status == "found" and r.sha == shas[7]
    assert (r.subject, r.author) == ("7", "Ada Dev <ada@example.com>")
    assert r.confidence >= 0.95 and r.range == [shas[6], shas[7]]
    ev = {e["index"]: (e["passed"], e["runs"]) for e in r.evidence}
    assert ev[7][0] == 0 and ev[7][1] >= 1            # the culprit failed every time
    assert all(k == n for j, (k, n) in ev.items() if j < 7)
    assert r.runs <= 24 and r.setups == 1             # one setup key for the whole range
    d = r.to_dict()
    assert d["status"] == "found" and d["kind"] == "cause" and d["test"] == TEST_PATH
    assert d["signature"] == sigs["emb"]              # adopted from the bad end's failures
    text = r.render()
    assert f"culprit: {shas[7]} '7' by Ada Dev" in text and "0/" in text
    untouched(tmp_path / "repo", shas[-1])


def test_first_commit_already_bad(tmp_path):
    shas = make_repo(tmp_path / "repo", 8, step(1))
    r = bisect(tmp_path, shas, 0, 8)
    assert r.status == "found" and r.sha == shas[1] and r.range == [shas[0], shas[1]]


def test_good_commit_actually_bad(tmp_path):
    shas = make_repo(tmp_path / "repo", 10, step(3))
    r = bisect(tmp_path, shas, 5, 10)
    assert r.status == "good-is-bad" and r.sha is None
    assert r.range == [shas[5], shas[5]] and "good commit fails too" in r.message
    assert r.to_dict()["status"] == "inconclusive"    # never a culprit in analysis.json


def _sweep(tmp: Path, name: str, sha: str, outcomes: list[str], sig: str | None) -> Path:
    d = tmp / "sweeps" / name
    d.mkdir(parents=True)
    write_meta(d, {"sweep_id": name, "plan": "toy", "mode": "pcg", "commit": sha,
                   "branch": "main", "started_at": f"2026-07-0{len(name)}T00:00:00Z",
                   "finished_at": "x", "complete": True, "repeats": len(outcomes),
                   "tests": [TEST_PATH]})
    w = RunWriter(d)
    for a, o in enumerate(outcomes):
        w.append(RunRecord(test=TEST_PATH, attempt=a, mode="pcg", outcome=o, exit_code=0,
                           duration_s=0.1, commit=sha, log=None, started_at="x", plan="toy",
                           signature=sig if o == FAIL else None))
    return d


def _store(tmp: Path, good: tuple[str, list[str]], bad: tuple[str, list[str]],
           sig: str) -> Path:
    path = tmp / "store.db"
    st = Store(path)
    st.import_sweep(_sweep(tmp, "s1", good[0], good[1], sig))
    st.import_sweep(_sweep(tmp, "s22", bad[0], bad[1], sig))   # newer (later started_at)
    st.close()
    return path


@pytest.mark.slow
def test_flaky_range_no_culprit(tmp_path, sigs):
    # The test passes 95% everywhere; the bad sweep caught a burst of failures (4/10).
    shas = make_repo(tmp_path / "repo", 10, lambda i: 0.95, seed=3)
    store = _store(tmp_path, (shas[0], [PASS] * 10), (shas[10], [PASS] * 4 + [FAIL] * 6),
                   sigs["emb"])
    plan = make_plan(tmp_path, tmp_path / "repo")
    r = bisect_test(plan, "test_embedding_models", store=store, state_dir=tmp_path / "st")
    assert r.status == "no-culprit", r.render()
    assert r.range == [shas[0], shas[10]] and r.sha is None
    assert "flaky" in r.message


def test_store_defaults_and_seeds(tmp_path, sigs):
    shas = make_repo(tmp_path / "repo", 10, step(4))
    store = _store(tmp_path, (shas[0], [PASS] * 10), (shas[10], [FAIL] * 10), sigs["emb"])
    plan = make_plan(tmp_path, tmp_path / "repo")
    r = bisect_test(plan, "test_embedding_models", store=store, state_dir=tmp_path / "st")
    assert r.status == "found" and r.sha == shas[4]
    assert r.signature == sigs["emb"]
    assert all(e["index"] not in (0, 10) for e in r.evidence)   # ends seeded, not re-measured
    assert r.seeds == "store: sweeps s1 (good) and s22 (bad)"
    assert r.to_dict()["seeds"] == r.seeds and "seeded from store: sweeps s1" in r.render()


def test_given_commits_with_sweeps_are_seeded_and_named_by_them(tmp_path, sigs):
    # The bisect workflow passes --good baseline --bad head; the store has their sweeps.
    shas = make_repo(tmp_path / "repo", 10, step(4))
    store = _store(tmp_path, (shas[0], [PASS] * 10), (shas[10], [FAIL] * 10), sigs["emb"])
    r = bisect(tmp_path, shas, 0, 10, store=store)
    assert r.status == "found" and r.sha == shas[4]
    assert r.signature == sigs["emb"]                  # from the bad sweep, not "any failure"
    assert r.seeds == "store: sweeps s1 (good) and s22 (bad)"
    assert all(e["index"] not in (0, 10) for e in r.evidence)
    state = json.loads(Path(r.state).read_text())
    assert state["seed_before"] == [10, 10] and state["seed_after"] == [0, 10]


def test_unbuildable_after_culprit_is_skipped(tmp_path):
    # Commits 4, 7, 8, 9 cannot be built; 5 (just before the culprit) can.
    shas = make_repo(tmp_path / "repo", 12, step(6), broken={4, 7, 8, 9})
    r = bisect(tmp_path, shas, 0, 12)
    assert r.status == "found" and r.sha == shas[6]
    # Their setup key differs from their neighbours', so a run there costs a setup: the search
    # goes there only when a neighbour cannot tell as much, and one it tried stays untestable.
    assert all(e["untestable"] and e["runs"] == 0 for e in r.evidence if e["index"] in (4, 7, 8, 9))


def test_unbuildable_before_culprit_leaves_a_range(tmp_path):
    # Commit 5 cannot be built: the culprit is 5 or 6 and no probe can tell which.
    shas = make_repo(tmp_path / "repo", 10, step(6), broken={5})
    r = bisect(tmp_path, shas, 0, 10)
    assert r.status == "inconclusive" and r.sha is None
    assert r.range == [shas[4], shas[6]], r.render()
    assert "unbuildable" in r.message
    assert [e["index"] for e in r.evidence if e["untestable"]] == [5]


def test_unrelated_crash_does_not_steer(tmp_path, sigs):
    # Commits 2..5 crash with an out-of-memory error in every run; the regression is at 8.
    shas = make_repo(tmp_path / "repo", 10, step(8), crash=lambda i: 1.0 if 2 <= i <= 5 else 0.0)
    r = bisect(tmp_path, shas, 0, 10)
    assert r.status == "found" and r.sha == shas[8], r.render()
    state = json.loads(Path(r.state).read_text())
    other = [p for p in state["probes"] if p["verdict"] == "other"]
    # Recorded, each with its own signature, and never counted as a failure.
    assert other and all(p["signature"] == sigs["oom"] for p in other)


def test_unrelated_crash_at_the_culprit_range(tmp_path, sigs):
    # Crashes right where the search looks first still cannot make a commit "bad".
    shas = make_repo(tmp_path / "repo", 8, step(6), crash=lambda i: 1.0 if i in (3, 4) else 0.0)
    r = bisect(tmp_path, shas, 0, 8, signature=sigs["emb"])
    assert r.status == "found" and r.sha == shas[6]


@pytest.mark.slow
def test_rate_change_0_9_to_0_6(tmp_path, sigs):
    shas = make_repo(tmp_path / "repo", 6, step(4, 0.9, 0.6), seed=11)
    store = _store(tmp_path, (shas[0], [PASS] * 9 + [FAIL]), (shas[6], [PASS] * 6 + [FAIL] * 4),
                   sigs["emb"])
    plan = make_plan(tmp_path, tmp_path / "repo")
    r = bisect_test(plan, "test_embedding_models", store=store, state_dir=tmp_path / "st",
                    max_runs=120)
    assert r.status in ("found", "inconclusive"), r.render()
    if r.status == "found":
        assert r.sha == shas[4]
    else:   # never a wrong answer; the range left must still contain the culprit
        lo, hi = (shas.index(s) for s in r.range)
        assert lo < 4 <= hi


def test_fix_bisection(tmp_path):
    # Broken from 2 on, fixed at 7: --fix searches bad (older, failing) .. good (newer, passing).
    shas = make_repo(tmp_path / "repo", 11, lambda i: 0.0 if 2 <= i < 7 else 1.0)
    r = bisect(tmp_path, shas, 11, 3, fix=True)
    assert r.status == "found" and r.sha == shas[7] and r.to_dict()["kind"] == "fix"


@pytest.mark.parametrize("slots", [1, 2])
def test_resume_continues_without_repeating(tmp_path, slots):
    # With 2 slots runs are recorded as they finish (out of attempt order), the interruption
    # comes from a worker thread, and the resume finds both ends already measured.
    shas = make_repo(tmp_path / "repo", 12, step(9))
    plan = make_plan(tmp_path, tmp_path / "repo")
    from pcgbot.sweep.sweep import run_one
    calls = []

    def dying(sha, wt, attempt, out_dir):
        if len(calls) == 10:
            raise KeyboardInterrupt
        calls.append((sha, attempt))
        return run_one(plan, plan.tests[0], out_dir=out_dir, mode="pcg", attempt=attempt, repo=wt)

    kw = dict(good=shas[0], bad=shas[12], state_dir=tmp_path / "st", store=tmp_path / "x.db",
              slots=slots)
    with pytest.raises(KeyboardInterrupt):
        bisect_test(plan, "test_embedding_models", runner=dying, **kw)
    state = next((tmp_path / "st").glob("*/state.json"))
    saved = json.loads(state.read_text())["probes"]
    assert len(saved) == len(calls) >= 10         # every run that finished was kept
    again = []

    def counting(sha, wt, attempt, out_dir):
        again.append((sha, attempt))
        return run_one(plan, plan.tests[0], out_dir=out_dir, mode="pcg", attempt=attempt, repo=wt)

    r = bisect_test(plan, "test_embedding_models", runner=counting, resume=True, **kw)
    assert r.status == "found" and r.sha == shas[9]
    assert not set(again) & set(calls)                 # no (commit, attempt) run twice
    assert r.runs == len(calls) + len(again)


def test_parallel_slots(tmp_path):
    shas = make_repo(tmp_path / "repo", 12, step(5))
    r = bisect(tmp_path, shas, 0, 12, slots=3)
    assert r.status == "found" and r.sha == shas[5]
    state = json.loads(Path(r.state).read_text())
    keys = [(p["sha"], p["attempt"]) for p in state["probes"]]
    assert len(keys) == len(set(keys))


def test_bad_input(tmp_path):
    shas = make_repo(tmp_path / "repo", 3, step(2))
    with pytest.raises(UsageError, match="not an ancestor"):
        bisect(tmp_path, shas, 3, 1)
    with pytest.raises(UsageError, match="not found"):
        bisect_test(make_plan(tmp_path, tmp_path / "repo"), "test_embedding_models",
                    good="nosuchref", bad=shas[3], store=tmp_path / "x.db")
    with pytest.raises(UsageError, match="no store"):
        bisect_test(make_plan(tmp_path, tmp_path / "repo"), "test_embedding_models",
                    store=tmp_path / "x.db")


def test_cli_json(tmp_path):
    shas = make_repo(tmp_path / "repo", 6, step(3))
    make_plan(tmp_path, tmp_path / "repo")
    p = run_cli("bisect", "test_embedding_models", "--plan", str(tmp_path / "toy.yaml"),
                "--good", shas[0][:10], "--bad", "main", "--json", "--state-dir",
                str(tmp_path / "st"), "--out", str(tmp_path / "r.json"), cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    data = json.loads(p.stdout)
    assert data["status"] == "found" and data["sha"] == shas[3]
    assert {"sha", "subject", "author", "confidence", "range", "evidence"} <= set(data)
    assert all({"sha", "passed", "runs"} <= set(e) for e in data["evidence"])
    assert json.loads((tmp_path / "r.json").read_text()) == data
    assert "pcgbot bisect: run 1:" in p.stderr and "P=" in p.stderr
    bad = run_cli("bisect", "test_embedding_models", "--plan", str(tmp_path / "toy.yaml"),
                  "--good", "main", "--bad", shas[0], cwd=tmp_path)
    assert bad.returncode == 2 and "not an ancestor" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_fix_defaults_from_store(tmp_path, sigs):
    # Failing from 2 on in the older sweep, passing again in the newer one: the fix is 7.
    shas = make_repo(tmp_path / "repo", 9, lambda i: 0.0 if 2 <= i < 7 else 1.0)
    store = _store(tmp_path, (shas[2], [FAIL] * 10), (shas[9], [PASS] * 10), sigs["emb"])
    r = bisect_test(make_plan(tmp_path, tmp_path / "repo"), "test_embedding_models", fix=True,
                    store=store, state_dir=tmp_path / "st")
    assert r.status == "found" and r.sha == shas[7] and r.kind == "fix"
    assert r.signature == sigs["emb"]


def test_git_errors_name_the_command_and_commit(tmp_path):
    from pcgbot import gitutil
    from pcgbot.errors import PcgbotError
    shas = make_repo(tmp_path / "repo", 1, step(1))
    with pytest.raises(PcgbotError, match=r"git show 0000000:build.txt \(in .*repo\) failed "
                                          r"with exit 128: fatal: "):
        gitutil.git(["show", "0000000:build.txt"], tmp_path / "repo")
    assert gitutil.show_file(tmp_path / "repo", shas[1], "nope.txt") is None
    assert gitutil.files_key(tmp_path / "repo", shas[0], ["build.txt"]) == \
        gitutil.files_key(tmp_path / "repo", shas[1], ["build.txt"])
    with pytest.raises(UsageError, match="not a git repository"):
        gitutil.toplevel(tmp_path)


def _two_faced(tmp: Path, n: int, c: int) -> list[str]:
    """From commit c on, every run fails: half with the embedding assertion, half with an
    out-of-memory crash -- one regression with two signatures."""
    return make_repo(tmp / "repo", n, step(c), seed=8,   # 2 of 4 runs at 10 crash
                     crash=lambda i: 0.5 if i >= c else 0.0)


def test_regression_with_two_signatures_counts_both(tmp_path, sigs):
    shas = _two_faced(tmp_path, 10, 6)
    r = bisect(tmp_path, shas, 0, 10)
    assert r.status == "found" and r.sha == shas[6], r.render()
    state = json.loads(Path(r.state).read_text())
    # The ends are run only while that pays, so the signature is every face the failing end
    # showed in the runs it got (commonest first); each of those counts wherever it shows.
    at_bad = [p["signature"] for p in state["probes"] if p["sha"] == shas[10]]
    assert r.signature.split(",") == sorted(set(at_bad), key=lambda f: -at_bad.count(f))
    late = [p for p in state["probes"] if shas.index(p["sha"]) >= 6]
    assert {p["signature"] for p in late} == {sigs["emb"], sigs["oom"]}
    assert all(p["verdict"] == ("fail" if p["signature"] in at_bad else "other") for p in late)


def _ends_first(monkeypatch, shas: list[str], runs: int) -> None:
    """Make the bisection run ``runs`` probes at the bad end, then at the good end, before
    the search chooses (the old fixed measurement): for tests of what the ends' runs mean."""
    from pcgbot.bisect import engine
    real_step = engine.Bisection.step

    def step(self):
        for sha in (shas[-1], shas[0]):
            e = self.search.ev[self.commits.index(sha)]
            if e.runs + e.other < runs:
                self.ensure_setup(sha)
                self.run_jobs([(sha, self._next_attempt(sha))])
                return True
        return real_step(self)
    monkeypatch.setattr(engine.Bisection, "step", step)


def test_every_face_the_failing_end_shows_joins_the_signature(tmp_path, sigs, monkeypatch):
    # With no signature given, runs at the failing end that fail another way widen it.
    shas = _two_faced(tmp_path, 10, 6)
    _ends_first(monkeypatch, shas, 4)
    r = bisect(tmp_path, shas, 0, 10)
    assert set(r.signature.split(",")) == {sigs["emb"], sigs["oom"]}, r.render()
    assert "signatures " in r.render()
    state = json.loads(Path(r.state).read_text())
    late = [p for p in state["probes"] if shas.index(p["sha"]) >= 6]
    assert all(p["verdict"] == "fail" for p in late)   # no face of the bug is "other"
    assert r.status == "found" and r.sha == shas[6], r.render()


def _two_faced_store(tmp: Path, shas: list[str], sigs: dict, good_last: str,
                     good_sig: str) -> Path:
    """A store with a good sweep at commit 0 (9 passes, then ``good_last`` with ``good_sig``)
    and a bad one at 10 failing 10 times: 7 with the embedding assertion, 3 out of memory."""
    path = tmp / "store.db"
    st = Store(path)
    good = _sweep(tmp, "s1", shas[0], [PASS] * 9 + [good_last], good_sig)
    bad = _sweep(tmp, "s22", shas[10], [FAIL] * 10, sigs["emb"])
    recs = [json.loads(x) for x in (bad / "runs.jsonl").read_text().splitlines()]
    for x in recs[:3]:
        x["signature"] = sigs["oom"]
    (bad / "runs.jsonl").write_text("".join(json.dumps(x) + "\n" for x in recs))
    st.import_sweep(good)
    st.import_sweep(bad)
    st.close()
    return path


@pytest.mark.parametrize("old_oom", [False, True])
def test_store_signature_widens_to_the_bad_sweeps_new_faces(tmp_path, sigs, old_oom):
    shas = _two_faced(tmp_path, 10, 6)
    # the bad sweep fails both ways; with old_oom the good sweep had an OOM too (an old flake)
    path = _two_faced_store(tmp_path, shas, sigs, FAIL if old_oom else PASS, sigs["oom"])
    plan = make_plan(tmp_path, tmp_path / "repo")
    r = bisect_test(plan, "test_embedding_models", store=path, state_dir=tmp_path / "st")
    # commonest first; OOM only where it is new in the bad sweep
    assert r.signature == (sigs["emb"] if old_oom else f"{sigs['emb']},{sigs['oom']}")
    assert r.status == "found" and r.sha == shas[6], r.render()


def test_given_commits_keep_the_main_fingerprint_an_old_flake_shares(tmp_path, sigs):
    # The good sweep already failed once the regression's way; the bad sweep fails 7 times
    # that way and 3 times out of memory: the signature is still led by the main face.
    shas = _two_faced(tmp_path, 10, 6)
    path = _two_faced_store(tmp_path, shas, sigs, FAIL, sigs["emb"])
    r = bisect(tmp_path, shas, 0, 10, store=path)
    assert r.signature == f"{sigs['emb']},{sigs['oom']}"
    # naming the main face (as the bisect workflow does) still adds the new one
    r = bisect_test(make_plan(tmp_path, tmp_path / "repo"), "test_embedding_models",
                    good=shas[0], bad=shas[10], store=path, state_dir=tmp_path / "state2",
                    signature=sigs["emb"])
    assert r.signature == f"{sigs['emb']},{sigs['oom']}"
    state = json.loads(Path(r.state).read_text())
    assert state["seed_before"] == [9, 10] and state["seed_after"] == [0, 10]
    assert r.status == "found" and r.sha == shas[6], r.render()


def test_measured_ends_drop_a_face_the_good_end_shows_too(tmp_path, sigs, monkeypatch):
    # An OOM flake (30%) everywhere; the regression (assertion) from commit 6.  The bad end's
    # 4 runs fail 3 times with the assertion and once with OOM; the good end OOMs once too:
    # OOM is an old flake, not a face of the regression.
    shas = make_repo(tmp_path / "repo", 10, step(6), seed=19, crash=lambda i: 0.3)
    _ends_first(monkeypatch, shas, 4)
    r = bisect(tmp_path, shas, 0, 10)
    state = json.loads(Path(r.state).read_text())
    ends = [p for p in state["probes"] if p["sha"] in (shas[0], shas[10])]
    assert sigs["oom"] in {p["signature"] for p in ends if p["sha"] == shas[0]}
    assert r.signature == sigs["emb"] and state["signature_from_ends"] is True
    assert all(p["verdict"] == "other" for p in state["probes"] if p["signature"] == sigs["oom"])
    assert r.status == "found" and r.sha == shas[6], r.render()


@pytest.mark.parametrize("unlikely", ["docs/*", "behaviour.json"])
def test_unlikely_culprits_lower_the_prior_and_never_exclude(tmp_path, unlikely):
    # Commits 2, 3, 5, 8, 9 change docs/notes.md only; the culprit (6) changes behaviour.json.
    # With "docs/*" those five are unlikely; with "behaviour.json" the culprit itself is (a
    # wrong glob in a plan): it must still be found.
    docs = {2, 3, 5, 8, 9}
    shas = make_repo(tmp_path / "repo", 10, step(6), docs_only=docs)
    plan = make_plan(tmp_path, tmp_path / "repo", extra=f'unlikely_culprits: ["{unlikely}"]\n')
    r = bisect_test(plan, "test_embedding_models", good=shas[0], bad=shas[10],
                    store=tmp_path / "no.db", state_dir=tmp_path / "st")
    assert r.status == "found" and r.sha == shas[6], r.render()
    weights = json.loads(Path(r.state).read_text())["weights"]
    low = {j for j in range(1, 11) if (j in docs) == (unlikely == "docs/*")}
    assert weights == [0.1 if j in low else 1.0 for j in range(1, 11)]
    assert r.unlikely == len(low) and f"{len(low)} of 10 commits change only" in r.render()
    assert all(e["unlikely"] == (e["index"] in low) for e in r.evidence)


def test_changed_files_sees_moves_special_names_and_empty_commits(tmp_path):
    from bisect_repo import _git
    from pcgbot import gitutil
    repo = tmp_path / "r"
    shas = make_repo(repo, 0, lambda i: 1.0)
    (repo / "python").mkdir()
    (repo / "python" / "bench.py").write_text("x = 1\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "code")
    _git(repo, "mv", "python/bench.py", "docs/bench.py")
    _git(repo, "commit", "-qm", "move")
    (repo / "docs" / "café notes.md").write_text("x\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "unicode")
    _git(repo, "commit", "-q", "--allow-empty", "-m", "empty")
    files = list(gitutil.changed_files(repo, shas[0], "HEAD").values())   # newest first
    # a move out of python/ is not docs-only; quoted names come back as they are; empty: none
    assert files == [[], ["docs/café notes.md"], ["docs/bench.py", "python/bench.py"],
                     ["python/bench.py"]]


def test_time_budget_stops_with_a_range_and_resume_finishes(tmp_path):
    shas = make_repo(tmp_path / "repo", 12, step(9))
    kw = dict(good=shas[0], bad=shas[12], state_dir=tmp_path / "st", store=tmp_path / "x.db")
    plan = make_plan(tmp_path, tmp_path / "repo")
    r = bisect_test(plan, "test_embedding_models", max_minutes=0.0001, **kw)   # 6 ms
    assert r.status == "inconclusive" and "time budget spent" in r.message, r.render()
    assert "--resume continues" in r.message
    lo, hi = (shas.index(s) for s in r.range)
    assert lo < 9 <= hi                                    # the range still holds the culprit
    first = r.runs
    r2 = bisect_test(plan, "test_embedding_models", resume=True, **kw)
    assert r2.status == "found" and r2.sha == shas[9] and r2.runs > first
    probes = json.loads(Path(r2.state).read_text())["probes"]
    keys = [(p["sha"], p["attempt"]) for p in probes]
    assert len(keys) == len(set(keys)) == r2.runs


def test_time_budget_also_bounds_measuring_the_ends(tmp_path):
    shas = make_repo(tmp_path / "repo", 8, step(5))
    kw = dict(good=shas[0], bad=shas[8], state_dir=tmp_path / "st", store=tmp_path / "x.db")
    plan = make_plan(tmp_path, tmp_path / "repo")
    r = bisect_test(plan, "test_embedding_models", max_minutes=1e-6, **kw)
    assert r.status == "inconclusive" and "time budget spent" in r.message, r.render()
    assert r.runs <= 1 and r.end_runs == r.runs    # one round at most, at the failing end
    assert f"{r.runs} runs: {r.runs} at the ends, 0 in the range" in r.render()
    untouched(tmp_path / "repo", shas[8])    # worktrees gone, checkout as it was
    saved = json.loads(Path(r.state).read_text())
    assert saved["result"]["verdict"] == "inconclusive"
    r2 = bisect_test(plan, "test_embedding_models", resume=True, **kw)
    assert r2.status == "found" and r2.sha == shas[5]


def test_a_bad_end_that_never_fails_is_no_culprit(tmp_path):
    # No sweeps, and the "bad" commit passes like every other: the posterior says so.
    shas = make_repo(tmp_path / "repo", 8, lambda i: 1.0)
    r = bisect(tmp_path, shas, 0, 8)
    assert r.status == "no-culprit" and r.sha is None, r.render()
    assert "the bad commit does not reproduce the failure" in r.message
    assert f"/{r.evidence[-1]['runs']} at {shas[8][:10]}" in r.message
    assert r.end_runs > 0 and f"{r.runs} runs: {r.end_runs} at the ends" in r.render()


def test_setup_and_run_durations_set_the_setup_cost(tmp_path):
    # The setup sleeps 0.6 s, a run of the toy takes ~0.05-0.2 s: the search's setup cost is
    # their measured ratio, kept in state.json and in the store for the next bisection.
    from pcgbot.bisect.timing import RUN, SETUP, stored
    shas = make_repo(tmp_path / "repo", 10, step(6))
    plan = make_plan(tmp_path, tmp_path / "repo")
    plan.setup = "sleep 0.6 && grep -qx ok build.txt"
    store_path = tmp_path / "store.db"
    Store(store_path).close()                                  # a store with no sweeps
    r = bisect_test(plan, "test_embedding_models", good=shas[0], bad=shas[10],
                    store=store_path, state_dir=tmp_path / "st")
    assert r.status == "found" and r.sha == shas[6], r.render()
    state = json.loads(Path(r.state).read_text())
    setup_s = [s["duration_s"] for s in state["setups"].values()]
    assert setup_s and all(s >= 0.6 for s in setup_s)
    cost = state["cost"]
    assert cost["setup_s"] >= 0.6 and 0 < cost["run_s"] < cost["setup_s"]
    assert cost["setup_cost"] == pytest.approx(cost["setup_s"] / cost["run_s"], rel=0.01)
    assert "setups here" in cost["from"] and "runs here" in cost["from"]
    st = Store(store_path)
    assert len(stored(st, "toy", TEST_PATH, SETUP)) == len(setup_s)
    assert len(stored(st, "toy", TEST_PATH, RUN)) == r.runs
    st.close()
    # The next bisection of that plan starts from the store's figures, before any setup of its own.
    from pcgbot.bisect.timing import measure
    t = measure({"setups": {}, "probes": []}, Store(store_path), "toy", TEST_PATH, 60.0)
    assert t.ratio == pytest.approx(cost["setup_s"] / cost["run_s"], rel=0.3)
    assert t.source == "setups from the store, runs from the store"
    t = measure({"setups": {}, "probes": []}, None, "toy", TEST_PATH, 30.0)
    assert t.ratio is None and t.run_s == 30.0 and "est_time" in t.source


def test_fix_without_sweeps_whose_good_end_still_fails(tmp_path):
    # --fix with a "good" (newer) commit that fails like the old one: nothing fixed it.
    shas = make_repo(tmp_path / "repo", 6, lambda i: 0.0)
    r = bisect(tmp_path, shas, 6, 0, fix=True)
    assert r.status == "no-culprit" and r.kind == "fix", r.render()
    assert "the good commit does not show the fix" in r.message
