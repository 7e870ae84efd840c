"""Triage categories: pure classification table + a real sweep with a differential nopcg re-run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import pytest

from pcgbot.cli.main import main
from pcgbot.errors import UsageError
from pcgbot.model import RunRecord
from pcgbot.plan.schema import load_plan
from pcgbot.signatures.signature import Signature
from pcgbot.sweep.sweep import run_sweep
from pcgbot.analysis.triage import DIFF_DIR, classify, poisoned_by, triage_sweep


def rec(test: str, attempt: int, outcome: str, *, t: int, gpus=(0,), log: Optional[str] = None,
        pcg: Optional[bool] = True, leaked: Optional[float] = None, mode: str = "pcg") -> RunRecord:
    return RunRecord(test=test, attempt=attempt, mode=mode, outcome=outcome,
                     exit_code=0 if outcome == "pass" else (None if outcome == "infra" else 1),
                     duration_s=1.0, commit="c" * 40, log=log or f"logs/{test}.{mode}.{attempt}.log",
                     started_at=f"2026-01-29T10:{t // 60:02d}:{t % 60:02d}Z", gpus=list(gpus),
                     pcg_active=pcg, leaked_mib=leaked)


def sig(fp: str, rule: Optional[str], category: str, title: str = "") -> Signature:
    return Signature(fingerprint=fp, title=title or f"title {fp}", rule=rule, category=category,
                     pcg_active=True, excerpt=["line"])


def sigs_for(runs: list[RunRecord], s: Signature) -> dict[str, Signature]:
    return {r.log: s for r in runs if r.outcome in ("fail", "timeout")}


def test_oom_after_leaking_timeout_is_infra() -> None:
    # Seed Category 4: test_lora_update timed out and left its server on GPU 0; the next tests
    # on GPU 0 OOM.  The same OOM on GPU 1 (clean) is not explained by the leak.
    leak = rec("lora/test_lora_update.py", 0, "timeout", t=0, gpus=(0,))
    victim = [rec("models/test_vlm.py", a, "fail", t=10 + a, gpus=(0,)) for a in range(3)]
    other = rec("models/test_vlm.py", 3, "fail", t=20, gpus=(1,))
    history = [leak, *victim, other]
    oom = sig("oom1", "cuda-oom", "unknown", "CUDA out of memory")
    e = classify("models/test_vlm.py", victim, sigs_for(victim, oom), history=history)
    assert e.category == "infra"
    assert "after lora/test_lora_update.py timed out on GPU 0" in e.reason
    e2 = classify("models/test_vlm.py", victim + [other], sigs_for(victim + [other], oom), history=history)
    assert e2.category != "infra"


def test_leaked_memory_poisons_until_a_clean_pass() -> None:
    leaker = rec("a.py", 0, "pass", t=0, leaked=63.7 * 1024)
    fail1 = rec("b.py", 0, "fail", t=5)
    clean = rec("c.py", 0, "pass", t=8, leaked=0.0)
    fail2 = rec("d.py", 0, "fail", t=9)
    hist = [leaker, fail1, clean, fail2]
    assert "left 63.7 GiB on GPU 0" in poisoned_by(fail1, hist, 1024)
    assert poisoned_by(fail2, hist, 1024) is None
    small = rec("a.py", 1, "pass", t=0, leaked=100.0)
    assert poisoned_by(fail1, [small, fail1], 1024) is None


@pytest.mark.parametrize("rule,title", [("address-in-use", "port conflict: address already in use"),
                                        ("private-ci-model-404", "404 on private CI model x")])
def test_infra_signatures(rule: str, title: str) -> None:
    runs = [rec("t.py", a, "fail", t=a) for a in range(3)]
    e = classify("t.py", runs, sigs_for(runs, sig("p", rule, "infra", title)), history=runs)
    assert (e.category, e.reason) == ("infra", title)


def test_infra_outcome_only_is_infra() -> None:
    runs = [rec("t.py", 0, "infra", t=0), rec("t.py", 1, "infra", t=1)]
    runs[0].reason = runs[1].reason = "GPU 1 held by pid 4242 (python3)"
    e = classify("t.py", runs, {}, history=runs)
    assert e.category == "infra" and e.reason.startswith("GPU 1 held by pid 4242")


def test_resolved_on_rerun() -> None:
    runs = [rec("t.py", a, "fail", t=a) for a in range(10)]
    rerun = [rec("t.py", a, "pass", t=100 + a) for a in range(10)]
    e = classify("t.py", runs, sigs_for(runs, sig("u", None, "unknown")), history=runs, rerun=rerun)
    assert e.category == "resolved-on-rerun" and e.rerun == [10, 10]
    half = rerun[:5] + [rec("t.py", 11, "fail", t=200)]
    e = classify("t.py", runs, sigs_for(runs, sig("u", None, "unknown")), history=runs, rerun=half)
    assert e.category != "resolved-on-rerun"


def test_pcg_never_active_is_not_a_pcg_result() -> None:
    runs = [rec("vlm/t.py", a, "fail" if a < 3 else "pass", t=a, pcg=False) for a in range(10)]
    e = classify("vlm/t.py", runs, sigs_for(runs, sig("d", "dynamo-unsupported", "pcg-bug")),
                 history=runs)
    assert (e.category, e.reason) == ("not-pcg", "PCG not active: auto-disabled")
    assert e.pcg_active is False


def test_differential_verdicts() -> None:
    runs = [rec("t.py", a, "fail", t=a) for a in range(4)]
    s = sigs_for(runs, sig("u", None, "unknown"))
    ok = [rec("t.py", a, "pass", t=50 + a, mode="nopcg", pcg=False) for a in range(3)]
    bad = ok[:2] + [rec("t.py", 2, "fail", t=60, mode="nopcg", pcg=False)]
    e = classify("t.py", runs, s, history=runs, nopcg=ok)
    assert (e.category, e.pcg_specific, e.nopcg) == ("pcg-bug", True, [3, 3])
    e = classify("t.py", runs, s, history=runs, nopcg=bad)
    assert (e.category, e.pcg_specific) == ("not-pcg", False)
    assert e.reason == "fails without PCG too: nopcg passed 2/3"


def test_signature_category_then_flaky_then_untriaged() -> None:
    runs = [rec("t.py", a, "fail" if a == 0 else "pass", t=a) for a in range(10)]
    e = classify("t.py", runs, sigs_for(runs, sig("g", "vectorized-gather-oob", "pcg-bug")), history=runs)
    assert e.category == "pcg-bug" and e.passed == 9 and e.runs == 10
    e = classify("t.py", runs, sigs_for(runs, sig("u", None, "unknown")), history=runs)
    assert e.category == "flaky" and e.reason == "passed 9/10 with no known cause"
    allfail = [rec("t.py", a, "fail", t=a) for a in range(10)]
    e = classify("t.py", allfail, sigs_for(allfail, sig("u", None, "unknown", "ValueError: x")),
                 history=allfail)
    assert e.category == "untriaged" and e.signature == "u" and "ValueError: x" in e.reason


def test_timeouts_are_not_failures_unless_plan_says() -> None:
    runs = [rec("slow.py", a, "timeout", t=a) for a in range(10)]
    e = classify("slow.py", runs, {}, history=runs)
    assert (e.passed, e.runs, e.timeouts) == (0, 0, 10)
    assert e.category == "untriaged" and e.reason.startswith("10 timeouts")
    e = classify("slow.py", runs, {}, history=runs, timeout_is_failure=True)
    assert (e.passed, e.runs) == (0, 10)


# --- a real sweep dir, re-run in nopcg mode ---------------------------------------------------
TESTS = {
    # Fails only under PCG: passes in the nopcg re-run => pcg-bug.
    "test_pcg_only.py": ("import os, sys\npcg = os.environ['MODE'] == 'pcg'\n"
                         "print('Compiling num tokens (num_tokens=8)' if pcg else "
                         "'cuda_graph_backend_prefill=\\'disabled\\'')\n"
                         "if pcg:\n    raise RuntimeError('shape mismatch in split graph 7')\n"),
    # Fails in both modes => not-pcg.
    "test_always.py": ("import os\nprint('Compiling num tokens (num_tokens=8)' if os.environ['MODE'] "
                       "== 'pcg' else '')\nraise ValueError('tokenizer config missing eos')\n"),
    # PCG auto-disabled: never active => not-pcg without a re-run.
    "test_vlm.py": ("print('server_args=ServerArgs(disable_piecewise_cuda_graph=True)')\n"
                    "raise AssertionError('0.8984 not greater than or equal to 0.9')\n"),
    "test_ok.py": "print('Compiling num tokens (num_tokens=8)')\n",
    # Passes, but PCG was auto-disabled: reported as such, not as a PCG pass.
    "test_spec.py": "print('server_args=ServerArgs(disable_piecewise_cuda_graph=True)')\n",
}


def make_plan(tmp: Path, with_nopcg: bool = True) -> Path:
    repo = tmp / "repo"
    (repo / "t").mkdir(parents=True)
    for name, body in TESTS.items():
        (repo / "t" / name).write_text(body)
    modes = "  pcg: {env: {MODE: pcg}, server_args: {cuda_graph_backend_prefill: tc_piecewise}}\n"
    if with_nopcg:
        modes += "  nopcg: {env: {MODE: nopcg}, server_args: {cuda_graph_backend_prefill: disabled}}\n"
    tests = "".join(f"  - {{path: {n}, est_time: 1}}\n" for n in TESTS)
    plan = tmp / "plan.yaml"
    plan.write_text(f"name: tri\nrepo: {repo}\nworkdir: t\ncommand: '{{python}} {{path}}'\n"
                    f"timeout: 30\nrepeats: 2\nmodes:\n{modes}tests:\n{tests}")
    return plan


def test_triage_sweep_differential_end_to_end(tmp_path: Path) -> None:
    plan = load_plan(make_plan(tmp_path))
    out = run_sweep(plan, tmp_path / "sweep", slots=4)
    plain = {e.test: e for e in triage_sweep(out)}
    assert set(plain) == {"test_pcg_only.py", "test_always.py", "test_vlm.py"}
    assert plain["test_vlm.py"].category == "not-pcg"
    assert plain["test_pcg_only.py"].category == "untriaged"
    assert plain["test_pcg_only.py"].title.startswith("RuntimeError: shape mismatch in split graph")

    entries = {e.test: e for e in triage_sweep(out, differential=True, repeats=2)}
    assert entries["test_pcg_only.py"].category == "pcg-bug"
    assert entries["test_pcg_only.py"].nopcg == [2, 2]
    assert entries["test_always.py"].category == "not-pcg"
    assert entries["test_always.py"].reason == "fails without PCG too: nopcg passed 0/2"
    assert entries["test_vlm.py"].reason == "PCG not active: auto-disabled"
    diff_runs = (out / DIFF_DIR / "runs.jsonl").read_text().splitlines()
    assert len(diff_runs) == 4 and all('"mode": "nopcg"' in r for r in diff_runs)
    # Idempotent: the second differential triage re-uses the nopcg runs instead of re-running.
    again = {e.test: e.category for e in triage_sweep(out, differential=True, repeats=2)}
    assert again == {t: e.category for t, e in entries.items()}
    assert len((out / DIFF_DIR / "runs.jsonl").read_text().splitlines()) == 4

    # The CLI prints the same, as JSON for machines.
    assert main(["triage", str(out), "--json"]) == 0


def test_triage_cli_text_and_rerun(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    plan = load_plan(make_plan(tmp_path))
    out = run_sweep(plan, tmp_path / "sweep", slots=4)
    rerun = run_sweep(plan, tmp_path / "rerun", slots=2, tests=[plan.find_test("test_ok.py"),
                                                                plan.find_test("test_vlm.py")])
    # Pretend test_always was fixed in the rerun by feeding a rerun dir where it passed.
    (rerun / "runs.jsonl").write_text((rerun / "runs.jsonl").read_text() + "".join(
        rec("test_always.py", a, "pass", t=a).to_json() + "\n" for a in range(2)))
    assert main(["triage", str(out), "--rerun", str(rerun)]) == 0
    text = capsys.readouterr().out
    assert "resolved-on-rerun  test_always.py" in text
    assert "not-pcg            test_vlm.py" in text
    assert "PCG not active: auto-disabled (1 passing tests, not PCG passes): test_spec.py" in text
    assert main(["triage", str(out), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {d["test"] for d in data} == {"test_pcg_only.py", "test_always.py", "test_vlm.py"}


def test_differential_needs_a_nopcg_mode(tmp_path: Path) -> None:
    plan = load_plan(make_plan(tmp_path, with_nopcg=False))
    out = run_sweep(plan, tmp_path / "sweep", slots=4)
    with pytest.raises(UsageError, match="--differential needs a 'nopcg' mode"):
        triage_sweep(out, differential=True)
