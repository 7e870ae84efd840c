"""The scheduler's sentinels: one run for a PCG-inert test, its first runs at once when that run
shows PCG, adaptive repeats after that, and a resumed sweep that remembers."""

from __future__ import annotations

from pcgbot.model import RunRecord
from pcgbot.plan.schema import parse_plan
from pcgbot.sweep.pools import SweepPolicy
from pcgbot.sweep.scheduler import Scheduler

PLAN = parse_plan("name: s\nrepeats: 10\ntests:\n  - {path: a.py}\n  - {path: b.py}\n", "s.yaml")


def rec(test: str, attempt: int, outcome: str = "pass", pcg=None) -> RunRecord:
    return RunRecord(test=test, attempt=attempt, mode="pcg", outcome=outcome, exit_code=0,
                     duration_s=1.0, commit=None, log=None, started_at="t", pcg_active=pcg)


def drain(s: Scheduler) -> list[tuple[str, int]]:
    out = []
    for t, a in s.ready():          # the caller takes each pair as it comes (the sweep's loop)
        s.take(t, a)
        out.append((t.path, a))
    return out


def test_inert_sentinel_runs_once():
    s = Scheduler(PLAN, PLAN.tests, "pcg", 10, {}, None, {}, {}, sentinels={"b.py"})
    first = drain(s)
    assert sorted(first) == [("a.py", a) for a in range(10)] + [("b.py", 0)]
    s.finish(PLAN.tests[1], rec("b.py", 0, pcg=False))
    assert drain(s) == [] and s.woken == []


def test_sentinel_that_sees_pcg_gets_its_runs_then_adaptive_continues():
    policy = SweepPolicy.for_plan(PLAN)          # min_runs 3, max_runs 20
    s = Scheduler(PLAN, PLAN.tests, "pcg", 10, {}, policy, {"b.py": (20, 20)}, {},
                  sentinels={"b.py"})
    assert ("b.py", 0) in drain(s)
    s.finish(PLAN.tests[1], rec("b.py", 0, "fail", pcg=True))
    assert s.woken == ["b.py"]
    assert [x for x in drain(s) if x[0] == "b.py"] == [("b.py", 1), ("b.py", 2)]  # first runs
    s.finish(PLAN.tests[1], rec("b.py", 1, "fail", pcg=True))
    s.finish(PLAN.tests[1], rec("b.py", 2, "pass", pcg=True))
    # 1/3 vs a 20/20 baseline is ambiguous for the SPRT: the adaptive rule, not the sentinel,
    # decides from here and asks for a 4th run
    assert [x for x in drain(s) if x[0] == "b.py"] == [("b.py", 3)]


def test_resumed_sweep_whose_sentinel_saw_pcg_runs_in_full():
    done = {("b.py", "pcg", 0): rec("b.py", 0, pcg=True)}
    s = Scheduler(PLAN, PLAN.tests, "pcg", 10, done, None, {}, {}, sentinels={"b.py"})
    assert [a for t, a in drain(s) if t == "b.py"] == list(range(1, 10))
    done = {("b.py", "pcg", 0): rec("b.py", 0, pcg=False)}
    s = Scheduler(PLAN, PLAN.tests, "pcg", 10, done, None, {}, {}, sentinels={"b.py"})
    assert [a for t, a in drain(s) if t == "b.py"] == []
