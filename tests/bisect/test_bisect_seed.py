"""Seeds from the store: older healthy sweeps sharpen the good end's prior (bisect_seed)."""

from __future__ import annotations

from pathlib import Path

from bisect_repo import make_plan, make_repo, step
from test_bisect_git import _sweep
from pcgbot.bisect.seed import HISTORY_SWEEPS, seeds_for
from pcgbot.model import FAIL, PASS
from pcgbot.results.store import Store

SIG = "sig-emb"


def _seeds(tmp: Path, sweeps: list[tuple[str, int, list[str]]], shas: list[str]):
    """Import sweeps (name, commit index, outcomes); names sort by length = age."""
    st = Store(tmp / "store.db")
    for name, i, outs in sweeps:
        st.import_sweep(_sweep(tmp, name, shas[i], outs, SIG))
    st.close()
    plan = make_plan(tmp, tmp / "repo")
    return seeds_for(plan, plan.find_test("test_embedding_models"), "pcg", tmp / "repo",
                     good=None, bad=None, signature=None, fix=False, store=tmp / "store.db")


def test_history_adds_healthy_sweeps_until_an_older_regression(tmp_path):
    shas = make_repo(tmp_path / "repo", 8, step(5))
    s = _seeds(tmp_path, [("a", 0, [PASS] * 5 + [FAIL] * 5),       # older regression: stop
                          ("bb", 1, [PASS] * 9 + [FAIL]),           # healthy: counted
                          ("ccc", 2, [PASS] * 10),                  # the good sweep
                          ("dddd", 8, [PASS] * 2 + [FAIL] * 8)],    # the bad sweep
               shas)
    assert (s.good, s.bad) == (shas[2], shas[8])
    assert s.before == (19, 20) and s.after == (2, 10)
    assert "1 older healthy sweep (9/10)" in s.source and not s.measure


def test_history_skips_non_ancestors_and_is_capped(tmp_path):
    shas = make_repo(tmp_path / "repo", 10, step(8))
    sweeps = [("a" * (i + 1), i, [PASS] * 10) for i in range(HISTORY_SWEEPS + 2)]
    # Newer than the good sweep but older than the bad one, at a descendant of good: not history.
    sweeps.append(("g" * (HISTORY_SWEEPS + 3), 7, [PASS] * 10))
    sweeps.append(("h" * (HISTORY_SWEEPS + 4), 10, [FAIL] * 10))
    s = _seeds(tmp_path, sweeps, shas)
    assert (s.good, s.bad) == (shas[7], shas[10])
    # Good = the sweep at 7; history = the newest HISTORY_SWEEPS sweeps at its ancestors.
    assert s.before == (10 * (HISTORY_SWEEPS + 1), 10 * (HISTORY_SWEEPS + 1))
    assert f"{HISTORY_SWEEPS} older healthy sweeps" in s.source
