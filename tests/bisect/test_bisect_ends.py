"""The ends of a bisection with no stored sweeps, on real git (issue 19): run by the search only
while that pays, the signature learned from their failures, the answers that blame no commit,
the time budget, and the measured setup cost."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bisect_repo import TEST_PATH, bisect_toy as bisect, make_plan, make_repo, step
from bisect_repo import sigs, two_faced as _two_faced, untouched  # noqa: F401 (sigs: a fixture)
from pcgbot.bisect.engine import bisect_test
from pcgbot.results.store import Store


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
