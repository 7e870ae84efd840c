"""pcgbot report: Markdown sections, JSON, JUnit, the job summary, from real sweep folders."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Optional

import pytest

from conftest import run_cli
from pcgbot.model import RunRecord
from pcgbot.cli.report import SUMMARY_LIMIT, step_summary
from pcgbot.report.markdown import collect, render_markdown
from pcgbot.report.junit import render_junit
from pcgbot.results.sweepdir import RunWriter, log_name, write_meta

SECRET = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"


def make_sweep(d: Path, commit: str, tests: dict[str, tuple[str, int, list[str]]], *,
               mode: str = "pcg", reasons: Optional[dict[str, str]] = None,
               log_text: str = "", sweep_id: Optional[str] = None,
               started: str = "2026-07-20T10:00:00+00:00") -> Path:
    """A sweep folder written through the real sweepdir API: tests = {path: (suite, gpus,
    outcomes per attempt)}; failing runs get a log with ``log_text``."""
    d.mkdir(parents=True, exist_ok=True)
    write_meta(d, {"sweep_id": sweep_id or f"demo:{mode}:{commit}", "plan": "demo",
                   "plan_file": "", "mode": mode, "commit": commit, "branch": "main",
                   "started_at": started, "finished_at": started, "complete": True,
                   "repeats": 10, "host": "ci-1", "shard": None, "tests": sorted(tests)})
    w = RunWriter(d)
    for test, (suite, gpus, outcomes) in tests.items():
        for a, oc in enumerate(outcomes):
            log = log_name(test, mode, a)
            (d / log).parent.mkdir(parents=True, exist_ok=True)
            (d / log).write_text(f"run {a}\n" + (log_text if oc == "fail" else "ok\n"))
            w.append(RunRecord(test=test, attempt=a, mode=mode, outcome=oc,
                               exit_code=0 if oc == "pass" else 1, duration_s=1.5,
                               commit=commit, log=log, started_at=started, plan="demo",
                               suite=suite, gpus_needed=gpus,
                               signature="sig111" if oc == "fail" else None,
                               reason=(reasons or {}).get(test) if oc in ("infra", "timeout")
                               else None))
    return d


P, F = "pass", "fail"
TESTS = {
    "registered/models/test_embedding.py": ("stage-b-small", 1, [F] * 10),
    "registered/core/test_generate.py": ("stage-a", 1, [P] * 10),
    "registered/scheduler/test_retract.py": ("stage-b-small", 1, [P, F] * 5),
    "registered/lora/test_lora_tp.py": ("stage-b-2gpu", 2, [P] * 10),
    "registered/lora/test_lora_update.py": ("stage-b-2gpu", 2, ["infra"] * 3),
    "registered/tokenizer/test_tok.py": ("stage-a", 1, [F] * 10),
}


def analysis_for(head: Path, base: Path) -> dict:
    culprit = {"status": "found", "sha": "c" * 40, "subject": "piecewise: slice to bucket",
               "author": "Ada <ada@x>", "confidence": 0.97, "range": ["a" * 40, "b" * 40],
               "evidence": [{"sha": "c" * 40, "passed": 0, "runs": 10}]}
    a = {"sweep": json.loads((head / "sweep.json").read_text()),
         "baseline": json.loads((base / "sweep.json").read_text()), "config": "1-gpu",
         "run_url": None, "totals": {},
         "tests": [
             {"test": "registered/models/test_embedding.py", "suite": "stage-b-small", "gpus": 1,
              "verdict": "regression", "baseline": [10, 10], "current": [0, 10],
              "statistic": "Fisher exact one-sided p=1.1e-05", "category": "pcg-bug",
              "signature": "sig111", "pcg_active": True},
             {"test": "registered/scheduler/test_retract.py", "suite": "stage-b-small",
              "gpus": 1, "verdict": "flaky", "baseline": [6, 10], "current": [5, 10],
              "statistic": "p=0.5", "category": "flaky", "signature": None,
              "pcg_active": True},
             {"test": "registered/tokenizer/test_tok.py", "suite": "stage-a", "gpus": 1,
              "verdict": "still-failing", "baseline": [0, 10], "current": [0, 10],
              "statistic": "", "category": "not-pcg", "signature": None, "pcg_active": None}],
         "signatures": [{"fingerprint": "sig111",
                         "title": f"RuntimeError: size mismatch token={SECRET}",
                         "rule": "tensor-size-mismatch", "category": "pcg-bug",
                         "pcg_specific": True, "excerpt": [f"Authorization: token {SECRET}"],
                         "gpus": 1, "culprit": culprit, "fix": None,
                         "issue": {"number": 7, "url": "https://github.com/o/r/issues/7"},
                         "tests": [{"test": "registered/models/test_embedding.py",
                                    "verdict": "regression", "baseline": [10, 10],
                                    "current": [0, 10], "statistic": "p=1e-5", "log": "x"}],
                         "reproduce": "pcgbot run-one pcgbot/demo/plan.yaml test_embedding"}],
         "healthy_tests": ["registered/core/test_generate.py"]}
    (head / "analysis.json").write_text(json.dumps(a))
    return a


@pytest.fixture
def sweeps(tmp_path):
    base = make_sweep(tmp_path / "base", "b" * 40, {
        k: (s, g, [P] * 10 if "embedding" in k else o) for k, (s, g, o) in TESTS.items()},
        started="2026-07-19T10:00:00+00:00")
    head = make_sweep(tmp_path / "head", "h" * 40, TESTS,
                      reasons={"registered/lora/test_lora_update.py":
                               "GPU 1 held by pid 4242 (python3)"},
                      log_text=f"Traceback\nRuntimeError: size mismatch\nHF_TOKEN={SECRET}\n")
    return base, head


def test_markdown_has_the_seed_sections_with_right_numbers(sweeps):
    base, head = sweeps
    analysis_for(head, base)
    md = render_markdown(collect(head))
    # Results Summary: 1-GPU 4 tests (1 passed, 3 failed); 2-GPU 2 tests (1 passed, 1 no verdict)
    assert "| 1-GPU | 4 | 1 | 3 | 0 | 25.0% |" in md
    assert "| 2-GPU | 2 | 1 | 0 | 1 | 50.0% |" in md
    assert "| **Total** | **6** | **2** | **3** | 1 | **33.3%** |" in md
    assert "### 1-GPU Breakdown by Suite" in md and "| stage-b-small | 2 | 0 | 2 |" in md
    # triage categories from analysis.json, culprit in the PCG-bug table
    assert "### Category 1: Confirmed PCG bugs (need fix)" in md
    pcg = md.split("### Category 1")[1].split("###")[0]
    assert "`registered/models/test_embedding.py`" in pcg and "0/10" in pcg
    assert "cccccccccc piecewise: slice to bucket (P = 0.970)" in pcg
    assert "### Category 2: Not PCG-related" in md and "test_tok.py" in md.split(
        "### Category 2")[1].split("###")[0]
    assert "### Category 5: Flaky" in md
    assert "## Changes Against the Baseline" in md and "| regression | 10/10 | 0/10 |" in md
    assert "## Key Patterns Seen" in md and "tensor-size-mismatch" in md
    # infra: the holder process from the run record's reason
    infra = md.split("## Known Infrastructure Issues")[1].split("##")[0]
    assert "GPU 1 held by pid 4242 (python3)" in infra and "x3" in infra
    steps = md.split("## Next Steps")[1]
    assert "Fix regression" in steps and "cccccccccc" in steps
    assert "Rerun 1 test(s)" in steps and "test_lora_update.py" in steps
    assert SECRET not in md and "[REDACTED]" in md


def test_without_analysis_everything_failing_is_untriaged(sweeps):
    _, head = sweeps
    data = collect(head)
    assert not data["analysed"]
    md = render_markdown(data)
    assert "### Category 6: Not yet triaged" in md
    untriaged = md.split("### Category 6")[1].split("## ")[0]
    assert "- `registered/scheduler/test_retract.py` (5/10)" in untriaged
    assert "Run `pcgbot analyze`" in md
    assert "(fingerprint)" in md       # raw fingerprints still listed as key patterns


def test_folder_of_config_sweeps_is_merged_and_duplicates_refused(tmp_path):
    one = {k: v for k, v in TESTS.items() if v[1] == 1}
    two = {k: v for k, v in TESTS.items() if v[1] == 2}
    make_sweep(tmp_path / "all" / "1gpu", "h" * 40, one, sweep_id="s1")
    make_sweep(tmp_path / "all" / "2gpu", "h" * 40, two, sweep_id="s2")
    data = collect(tmp_path / "all")
    assert [c["config"] for c in data["configs"]] == ["1-GPU", "2-GPU"]
    assert len(data["tests"]) == 6
    make_sweep(tmp_path / "all" / "again", "h" * 40, one, sweep_id="s3")
    r = run_cli("report", str(tmp_path / "all"))
    assert r.returncode == 2 and "pass one sweep directory" in r.stderr
    assert "Traceback" not in r.stderr


def test_cli_formats_and_bad_dir(sweeps, tmp_path):
    base, head = sweeps
    analysis_for(head, base)
    r = run_cli("report", str(head), "--format", "json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert {t["test"]: t["category"] for t in data["tests"]}[
        "registered/models/test_embedding.py"] == "pcg-bug"
    out = tmp_path / "r.xml"
    r = run_cli("report", str(head), "--format", "junit", "-o", str(out))
    assert r.returncode == 0 and out.read_text().startswith("<?xml")
    r = run_cli("report", str(tmp_path / "nope"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "no such directory" in r.stderr


def test_step_summary_appends_and_truncates(sweeps, tmp_path):
    _, head = sweeps
    summary = tmp_path / "summary.md"
    summary.write_text("# earlier step\n")
    r = run_cli("report", str(head), env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert r.returncode == 0
    text = summary.read_text()
    assert text.startswith("# earlier step\n") and "## Results Summary" in text
    assert text.endswith(r.stdout)
    big = tmp_path / "big.md"
    big.write_text("x" * (SUMMARY_LIMIT - 500))
    step_summary("y" * 5000, str(big))
    assert big.stat().st_size <= SUMMARY_LIMIT
    assert "Report truncated" in big.read_text()


# --- JUnit: checked against the rules of the common schema (Jenkins junit-10.xsd) -------------
_SUITES_ATTRS = {"name", "time", "tests", "failures", "disabled", "errors"}
_SUITE_ATTRS = {"name", "tests", "failures", "errors", "time", "disabled", "skipped",
                "timestamp", "hostname", "id", "package", "file", "log", "url", "version"}
_CASE_ATTRS = {"name", "assertions", "time", "classname", "status", "class", "file", "line"}
_SUITE_ORDER = ["properties", "testcase", "system-out", "system-err"]


def _check_junit(xml: str) -> ET.Element:
    root = ET.fromstring(xml)
    assert root.tag == "testsuites" and set(root.attrib) <= _SUITES_ATTRS
    n_tests = 0
    for s in root:
        assert s.tag == "testsuite", s.tag
        assert {"name", "tests"} <= set(s.attrib) <= _SUITE_ATTRS
        kids = [c.tag for c in s]
        assert kids == sorted(kids, key=_SUITE_ORDER.index), kids  # schema's sequence
        cases = s.findall("testcase")
        assert int(s.get("tests")) == len(cases)
        assert int(s.get("failures")) == sum(1 for c in cases if c.find("failure") is not None)
        assert int(s.get("errors")) == sum(1 for c in cases if c.find("error") is not None)
        float(s.get("time"))
        for p in s.find("properties"):
            assert p.tag == "property" and set(p.attrib) == {"name", "value"}
        for c in cases:
            assert "name" in c.attrib and set(c.attrib) <= _CASE_ATTRS
            assert float(c.get("time")) >= 0
            assert len([k for k in c if k.tag in ("failure", "error", "skipped")]) <= 1
            for k in c:
                assert k.tag in ("skipped", "error", "failure", "system-out", "system-err")
                assert set(k.attrib) <= {"message", "type"}
        n_tests += len(cases)
    assert int(root.get("tests")) == n_tests
    return root


def test_junit_one_case_per_test_with_redacted_excerpt(sweeps, monkeypatch):
    base, head = sweeps
    analysis_for(head, base)
    monkeypatch.setenv("HF_TOKEN", SECRET)
    root = _check_junit(render_junit(collect(head)))
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert len(cases) == len(TESTS)
    fail = cases["registered/models/test_embedding.py"].find("failure")
    assert fail.get("message").startswith("0/10 runs passed (regression): RuntimeError")
    assert fail.get("type") == "pcg-bug"
    assert "RuntimeError: size mismatch" in fail.text and SECRET not in fail.text
    assert SECRET not in fail.get("message")
    assert cases["registered/lora/test_lora_update.py"].find("error").get("type") == "infra"
    assert not list(cases["registered/core/test_generate.py"])
    assert root.get("failures") == "3" and root.get("errors") == "1"


def test_junit_survives_control_characters(tmp_path):
    d = make_sweep(tmp_path / "s", "h" * 40, {"t/test_x.py": ("s", 1, [F])},
                   log_text="bad \x00\x1b[31m bytes\n")
    _check_junit(render_junit(collect(d)))


def test_differential_reruns_show_as_other_modes(sweeps):
    base, head = sweeps
    analysis_for(head, base)
    make_sweep(head / "differential-nopcg", "h" * 40, {
        "registered/models/test_embedding.py": ("stage-b-small", 1, [P, P, P]),
        "registered/tokenizer/test_tok.py": ("stage-a", 1, [F, F, P])}, mode="nopcg",
        sweep_id="diff-nopcg")
    data = collect(head)
    assert len(data["tests"]) == len(TESTS)          # the reruns are not tests of their own
    md = render_markdown(data)
    pcg = md.split("### Category 1")[1].split("###")[0]
    assert "| nopcg 3/3 |" in pcg
    assert "| nopcg 1/3 |" in md.split("### Category 2")[1].split("###")[0]
