"""The fleet simulator: GitHub's concurrency rule read from the real workflow, commit streams,
and seeded replays whose numbers move the way a fleet does."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from conftest import run_cli
from pcgbot.errors import UsageError
from pcgbot.fleet import (DEFAULT_COMMITS, FleetConfig, Group, git_times, load_times, rescale,
                          simulate, simulate_trials, workflow_concurrency)
from pcgbot.fleet.commits import rate_per_day
from pcgbot.fleet.concurrency import Concurrency
from pcgbot.plan.schema import parse_plan

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / "docs" / "examples" / "pcgbot-sweep.yml"


def test_sweep_workflow_coalesces_one_running_one_pending():
    rule = workflow_concurrency(WORKFLOW)
    assert rule.group == "pcgbot-sweep-${{ github.ref }}" and rule.cancel_in_progress is False
    g = Group(rule)
    assert g.trigger("c1") == "c1"             # idle group: runs at once
    assert g.trigger("c2") is None             # c1 running: c2 waits
    assert g.trigger("c3") is None             # c3 replaces the pending c2
    assert g.trigger("c4") is None
    assert (g.running, g.pending, g.cancelled) == ("c1", "c4", ["c2", "c3"])
    assert g.finish() == "c4"                  # the running one finished; the newest starts
    assert g.finish() is None and g.running is None


def test_other_concurrency_settings(tmp_path):
    wf = tmp_path / "w.yml"
    wf.write_text("on: push\nconcurrency:\n  group: pr\n  cancel-in-progress: true\njobs: {}\n")
    g = Group(workflow_concurrency(wf))
    g.trigger(1)
    assert g.trigger(2) == 2 and g.cancelled == [1]    # cancel-in-progress replaces the running
    wf.write_text("on: push\njobs: {}\n")
    g = Group(workflow_concurrency(wf))
    assert [g.trigger(i) for i in range(3)] == [0, 1, 2]   # no group: nothing coalesces
    wf.write_text("concurrency:\n  group: g\n  cancel-in-progress: ${{ github.ref != 'main' }}\n")
    with pytest.raises(UsageError, match="only true/false"):
        workflow_concurrency(wf)


def test_commit_streams(tmp_path):
    times = load_times(DEFAULT_COMMITS)
    assert len(times) > 500 and times == sorted(times)
    fast = rescale(times, 40.2)
    assert fast[0] == 0 and rate_per_day(fast) == pytest.approx(40.2)
    bad = tmp_path / "c.txt"
    bad.write_text("# header\n100\nnot-a-time\n")
    with pytest.raises(UsageError, match=r"c.txt:3: commits: expected a unix time"):
        load_times(bad)
    repo = tmp_path / "r"
    repo.mkdir()
    env = {"GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@x", "GIT_COMMITTER_NAME": "a",
           "GIT_COMMITTER_EMAIL": "a@x", "PATH": "/usr/bin:/bin"}
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True, env=env)
    for i, when in enumerate(("2026-01-01T00:00:00Z", "2026-01-01T06:00:00Z",
                              "2026-01-02T00:00:00Z")):
        subprocess.run(["git", "commit", "-q", "--allow-empty", "-m", str(i)], cwd=repo,
                       check=True, env={**env, "GIT_COMMITTER_DATE": when, "GIT_AUTHOR_DATE": when})
    assert [t - git_times(repo)[0] for t in git_times(repo)] == [0, 6 * 3600, 24 * 3600]


def _plan(n_tests: int = 40, est: float = 600) -> object:
    tests = "\n".join(f"  - {{path: t{i}.py, est_time: {est}}}" for i in range(n_tests))
    return parse_plan(f"name: f\nrepeats: 10\ntests:\n{tests}\n", "f.yaml")


def _stream(days: int = 10, per_day: int = 24) -> list[float]:
    return [i * 86400 / per_day for i in range(days * per_day)]


def test_more_runners_shorter_time_to_culprit_and_every_hard_break_caught():
    plan, times = _plan(), _stream()
    rule = Concurrency("g")
    res = {n: simulate_trials(plan, times, FleetConfig(runners=n, regressions_per_day=2), rule, 3)
           for n in (1, 4)}
    # 40 tests x 4 runs x 600 s = 26.7 GPU-h a sweep: 26.7 h on 1 runner, 6.7 h on 4
    assert res[1].gpu_hours_per_sweep == pytest.approx(40 * 4 * 600 / 3600)
    assert res[4].sweep_wall_hours == pytest.approx(res[1].sweep_wall_hours / 4)
    assert res[4].ttc_median_hours < res[1].ttc_median_hours / 2
    # a hard break (every run fails) is caught and its culprit named every time
    assert res[4].caught_share == 1.0 and res[4].culprit_share == 1.0
    # coalescing: a sweep covers every commit since the last one, so the busy fleet runs
    # back-to-back and GPU-h/day is about its capacity, not one sweep per commit
    assert res[4].commits_per_sweep > 3
    assert res[4].gpu_hours_per_day == pytest.approx(4 * 24, rel=0.1)
    again = simulate_trials(plan, times, FleetConfig(runners=4, regressions_per_day=2), rule, 3)
    assert again.ttc_hours == res[4].ttc_hours           # seeded


def test_flaky_regressions_are_missed_sometimes_and_sentinels_shorten_sweeps():
    plan, times = _plan(), _stream()
    rule = Concurrency("g")
    low = simulate_trials(plan, times, FleetConfig(runners=4, failure_rate=0.2,
                                                   regressions_per_day=3), rule, 3)
    assert low.caught_share < 1.0 or low.culprit_share < 1.0
    inert = frozenset(f"t{i}.py" for i in range(20))     # half the plan is PCG-inert
    cfg = FleetConfig(runners=4, regressions_per_day=2, inert=inert)
    with_s = simulate_trials(plan, times, cfg, rule, 3)
    full = simulate_trials(plan, times, FleetConfig(runners=4, regressions_per_day=2), rule, 3)
    assert with_s.gpu_hours_per_sweep == pytest.approx((20 * 4 + 20) * 600 / 3600)
    assert with_s.ttc_median_hours < full.ttc_median_hours
    assert with_s.culprit_share == 1.0


def test_cli_simulate(tmp_path):
    plan = tmp_path / "p.yaml"
    plan.write_text("name: p\nrepeats: 10\ntests:\n"
                    + "".join(f"  - {{path: vlm/t{i}.py, est_time: 300}}\n" for i in range(10))
                    + "".join(f"  - {{path: t{i}.py, est_time: 300}}\n" for i in range(10)))
    r = run_cli("plan", "simulate", str(plan), "--runners", "1,2", "--trials", "1",
                "--commits-per-day", "40", "--target-hours", "12", "--json",
                "--assume-inert", "vlm/*")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["concurrency"] == {"group": "pcgbot-sweep-${{ github.ref }}",
                                "cancel_in_progress": False}
    assert d["inert_tests"] == 10 and [x["runners"] for x in d["results"]] == [1, 2]
    assert d["runners_for_target"] == 1 and d["results"][0]["ttc_median_hours"] <= 12
    r = run_cli("plan", "simulate", str(plan), "--runners", "0")
    assert r.returncode != 0 and "--runners" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("plan", "simulate", str(plan), "--commits", str(tmp_path / "none.txt"))
    assert r.returncode != 0 and "none.txt:1: commits: cannot read" in r.stderr


def test_store_durations_price_the_sweep():
    plan, times = _plan(n_tests=4, est=600), _stream(days=3)
    rule = Concurrency("g")
    slow = {f"t{i}.py": 1200.0 for i in range(4)}
    a = simulate(plan, times, FleetConfig(runners=1), rule)
    b = simulate(plan, times, FleetConfig(runners=1, durations=slow), rule)
    assert b.gpu_hours_per_sweep == pytest.approx(2 * a.gpu_hours_per_sweep)
    c = simulate(plan, times, FleetConfig(runners=1, flaky=frozenset({"t0.py"})), rule)
    assert c.gpu_hours_per_sweep == pytest.approx((3 * 4 + 10) * 600 / 3600)
