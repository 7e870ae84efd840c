"""pcgbot.results.diff and `pcgbot diff`: counting rules, verdicts, JSON shape, exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import pytest

from conftest import run_cli
from pcgbot.cli.main import main
from pcgbot.results import stats
from pcgbot.results.diff import counts_by_test, diff_sweeps, render_text
from pcgbot.model import RunRecord

ANALYSIS_KEYS = {"test", "suite", "gpus", "verdict", "baseline", "current", "statistic"}


def rec(test: str, attempt: int, outcome: str, *, mode: str = "pcg", suite: str = "s",
        gpus: int = 1) -> RunRecord:
    return RunRecord(test=test, attempt=attempt, mode=mode, outcome=outcome,
                     exit_code=0 if outcome == "pass" else 1, duration_s=1.0, commit="c" * 40,
                     log=f"logs/{test}.{mode}.{attempt}.log", started_at="2026-01-01T00:00:00Z",
                     suite=suite, gpus_needed=gpus)


def runs(test: str, *outcomes: str, **kw) -> list[RunRecord]:
    return [rec(test, i, o, **kw) for i, o in enumerate(outcomes)]


def rate(test: str, k: int, n: int) -> list[RunRecord]:
    return runs(test, *(["pass"] * k + ["fail"] * (n - k)))


def write_sweep(d: Path, records: list[RunRecord], *, sweep_id: str, commit: Optional[str] = None,
                started: str = "2026-01-01T00:00:00+00:00", plan_file: Optional[str] = None,
                branch: str = "main", complete: bool = True, mode: str = "pcg") -> Path:
    d.mkdir(parents=True, exist_ok=True)
    meta = {"sweep_id": sweep_id, "plan": "p", "plan_file": plan_file, "mode": mode,
            "commit": commit, "branch": branch, "started_at": started,
            "finished_at": started if complete else None, "complete": complete, "repeats": 10,
            "host": "h", "shard": None, "tests": sorted({r.test for r in records})}
    (d / "sweep.json").write_text(json.dumps(meta))
    (d / "runs.jsonl").write_text("".join(r.to_json() + "\n" for r in records))
    return d


def cli(capsys, *args: str) -> tuple[int, str, str]:
    """The real entry point, in process (run_cli's subprocess costs ~1 s per call)."""
    capsys.readouterr()
    rc = main(list(args))
    out, err = capsys.readouterr()
    return rc, out, err


def by_test(diffs):
    return {d.test: d for d in diffs}


def test_issue_examples() -> None:
    base = rate("a", 10, 10) + rate("b", 10, 10) + rate("c", 0, 10) + rate("d", 9, 10) \
        + rate("e", 10, 10)
    cur = rate("a", 9, 10) + rate("b", 3, 10) + rate("c", 10, 10) + rate("d", 4, 10) \
        + rate("e", 10, 10) + rate("f", 2, 2)
    d = by_test(diff_sweeps(base, cur))
    assert d["a"].verdict == stats.FLAKY          # 10/10 -> 9/10 is not a regression
    assert d["b"].verdict == stats.REGRESSION     # 10/10 -> 3/10 is
    assert d["c"].verdict == stats.FIXED          # 0/10 -> 10/10
    assert d["d"].verdict == stats.REGRESSION     # 9/10 -> 4/10, a drop of rate
    assert d["e"].verdict == stats.UNCHANGED
    assert d["f"].verdict == stats.NEW_TEST and d["f"].baseline is None
    assert d["b"].baseline == (10, 10) and d["b"].current == (3, 10)
    assert "Fisher exact one-sided" in d["b"].statistic and "p<0.05" in d["b"].statistic


def test_timeouts_and_infra_are_not_fails_unless_plan_says() -> None:
    base = rate("t", 10, 10)
    cur = runs("t", "pass", "pass", "pass", "timeout", "timeout", "timeout", "timeout",
               "timeout", "timeout", "infra", "skip")
    d = diff_sweeps(base, cur)[0]
    assert d.current == (3, 3) and d.verdict == stats.UNCHANGED
    assert d.timeouts == 6 and d.infra == 1 and d.skipped == 1
    assert "not counted: 6 timeouts, 1 infra, 1 skipped" in d.statistic
    d = diff_sweeps(base, cur, timeout_is_failure=True)[0]
    assert d.current == (3, 9) and d.verdict == stats.REGRESSION
    assert "not counted: 1 infra, 1 skipped" in d.statistic        # infra never a fail


def test_infra_only_and_empty_baseline() -> None:
    cur = runs("t", "infra", "infra", "timeout")
    d = diff_sweeps(rate("t", 10, 10), cur)[0]
    assert d.verdict == stats.INFRA_ONLY and d.current == (0, 0)
    # a baseline holding only infra runs is no baseline
    d = diff_sweeps(runs("t", "infra", "infra"), rate("t", 3, 3))[0]
    assert d.verdict == stats.NEW_TEST and d.baseline is None


def test_mode_filter_and_suite() -> None:
    cur = rate("t", 0, 5) + runs("t", "pass", "pass", mode="nopcg")
    assert counts_by_test(cur, mode="pcg") == {"t": (0, 5)}
    assert counts_by_test(cur) == {"t": (2, 7)}
    d = diff_sweeps(rate("t", 10, 10), runs("t", "fail", "fail", "fail", suite="stage-b", gpus=2),
                    mode="pcg")[0]
    assert (d.suite, d.gpus, d.verdict) == ("stage-b", 2, stats.REGRESSION)


def test_pooled_counts_override() -> None:
    d = diff_sweeps(rate("t", 3, 3), rate("t", 1, 4), pooled={"t": (20, 20)})[0]
    assert d.baseline == (20, 20) and d.verdict == stats.REGRESSION
    d = diff_sweeps(rate("t", 3, 3), rate("t", 1, 4))[0]
    assert d.verdict == stats.FLAKY   # 3/3 alone is too weak to call 1/4 a regression


def test_to_dict_matches_analysis_entry() -> None:
    d = diff_sweeps(rate("t", 10, 10), rate("t", 3, 10))[0].to_dict()
    assert ANALYSIS_KEYS <= set(d)
    assert d["baseline"] == [10, 10] and d["current"] == [3, 10]
    assert d["verdict"] in stats.VERDICTS
    json.dumps(d)  # serialisable


def test_render_text_hides_unchanged() -> None:
    diffs = diff_sweeps(rate("a", 10, 10) + rate("b", 10, 10), rate("a", 10, 10) + rate("b", 0, 10))
    text = render_text(diffs)
    assert "b" in text and "regression" in text and "1 unchanged" in text
    assert "\na " not in text
    assert "\na " in render_text(diffs, show_all=True)


def test_cli_diff_explicit_baseline(tmp_path: Path, capsys) -> None:
    base = write_sweep(tmp_path / "base", rate("x.py", 10, 10) + rate("y.py", 10, 10),
                       sweep_id="b")
    cur = write_sweep(tmp_path / "cur", rate("x.py", 3, 10) + rate("y.py", 10, 10), sweep_id="c",
                      started="2026-01-02T00:00:00+00:00")
    r = run_cli("diff", str(cur), "--baseline", str(base))
    assert r.returncode == 0, r.stderr
    assert "x.py" in r.stdout and "regression" in r.stdout and "Fisher" in r.stdout
    rc, _, _ = cli(capsys, "diff", str(cur), "--baseline", str(base), "--fail-on-regression")
    assert rc == 1
    rc, out, _ = cli(capsys, "diff", str(cur), "--baseline", str(base), "--json")
    data = json.loads(out)
    assert data["totals"]["regression"] == 1 and data["totals"]["unchanged"] == 1
    assert {t["test"]: t["verdict"] for t in data["tests"]} == {"x.py": "regression",
                                                                "y.py": "unchanged"}


def test_cli_diff_plan_timeout_is_failure(tmp_path: Path, capsys) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text("name: p\ntimeout_is_failure: true\nmodes: {pcg: {}}\n"
                    "tests:\n  - {path: x.py}\n")
    base = write_sweep(tmp_path / "base", rate("x.py", 10, 10), sweep_id="b")
    cur = write_sweep(tmp_path / "cur", runs("x.py", *["timeout"] * 5), sweep_id="c",
                      plan_file=str(plan))
    data = json.loads(cli(capsys, "diff", str(cur), "--baseline", str(base), "--json")[1])
    assert data["tests"][0]["verdict"] == "regression" and data["timeout_is_failure"] is True
    plan.write_text(plan.read_text().replace("true", "false"))
    data = json.loads(cli(capsys, "diff", str(cur), "--baseline", str(base), "--json")[1])
    assert data["tests"][0]["verdict"] == "infra-only"


def test_cli_diff_errors(tmp_path: Path, capsys) -> None:
    r = run_cli("diff", str(tmp_path / "nope"))
    assert r.returncode == 2 and "sweep.json" in r.stderr and "Traceback" not in r.stderr
    cur = write_sweep(tmp_path / "cur", rate("x.py", 1, 1), sweep_id="c")
    rc, _, err = cli(capsys, "diff", str(cur), "--plan", str(tmp_path / "missing.yaml"))
    assert rc == 2 and "missing.yaml" in err


def test_cli_diff_no_baseline(tmp_path: Path, capsys) -> None:
    cur = write_sweep(tmp_path / "cur", rate("x.py", 3, 3), sweep_id="c")
    rc, out, err = cli(capsys, "diff", str(cur))          # auto, empty store
    assert rc == 0, err
    assert "no baseline" in out and "new-test" in out


@pytest.mark.parametrize("bad", ["{", "[]"])
def test_cli_diff_bad_sweep_json(tmp_path: Path, bad: str, capsys) -> None:
    d = tmp_path / "cur"
    d.mkdir()
    (d / "sweep.json").write_text(bad)
    rc, _, err = cli(capsys, "diff", str(d), "--baseline", "none")
    assert rc == 2 and "sweep.json:1" in err
