"""The PCG coverage section: real sweeps, `pcgbot analyze`, `pcgbot report` (md and html).

Passing tests with PCG auto-disabled get a section with the reason, inert tests list their
evidence, a sentinel's failure with PCG off files no PCG signature, and lost coverage is named."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import run_cli
from pcgbot.analysis.triage import auto_disabled
from pcgbot.results.sweepdir import read_runs

SPEC = ("print(\"server_args=ServerArgs(speculative_algorithm='EAGLE', "
        "cuda_graph_backend_prefill='disabled')\")\n")
# PCG runs while pcg_on exists; otherwise SGLang disables it for the multimodal model, and the
# test fails when broken exists (a non-PCG failure of an inert test)
FLIP = ("import os, sys\nhere = os.path.join(os.path.dirname(__file__), '..')\n"
        "if os.path.exists(os.path.join(here, 'pcg_on')):\n"
        "    print('Compiling num tokens (num_tokens=8)')\nelse:\n"
        "    print('Disable prefill CUDA graph because the model is not a language model')\n"
        "    print(\"ServerArgs(cuda_graph_backend_prefill='disabled')\")\n"
        "    print('AssertionError: boom in vision tower', file=sys.stderr)\n"
        "sys.exit(1 if os.path.exists(os.path.join(here, 'broken')) else 0)\n")


def setup(tmp: Path, repeats: int = 2) -> tuple[Path, Path]:
    repo = tmp / "repo"
    (repo / "t").mkdir(parents=True)
    (repo / "t" / "test_on.py").write_text("print('Compiling num tokens (num_tokens=8)')\n")
    (repo / "t" / "test_spec.py").write_text(SPEC)
    (repo / "t" / "test_flip.py").write_text(FLIP)
    plan = tmp / "plan.yaml"
    plan.write_text(f"name: sec\nrepo: {repo}\nworkdir: t\ncommand: '{{python}} {{path}}'\n"
                    f"timeout: 30\nrepeats: {repeats}\nmodes: {{pcg: {{}}}}\n"
                    "pcg_inert: {sweeps: 1, min_runs: 1}\n"
                    "tests:\n  - {path: test_on.py}\n  - {path: test_spec.py}\n"
                    "  - {path: test_flip.py}\n")
    return repo, plan


def sweep(plan: Path, out: Path, db: str) -> None:
    r = run_cli("sweep", str(plan), "--out", str(out), "--store", db, "-q", "--cpu",
                "--no-adaptive", "--slots", "3")
    assert r.returncode in (0, 1), r.stderr
    r = run_cli("analyze", str(out), "--store", db)
    assert r.returncode in (0, 1), r.stderr


def test_auto_disabled_lists_passing_tests_with_reason(tmp_path):
    repo, plan = setup(tmp_path)
    db = str(tmp_path / "db.sqlite")
    sweep(plan, tmp_path / "s1", db)
    items = {a["test"]: a for a in auto_disabled(tmp_path / "s1", read_runs(tmp_path / "s1"))}
    assert sorted(items) == ["test_flip.py", "test_spec.py"]
    assert items["test_spec.py"]["status"] == "passed"
    assert items["test_spec.py"]["reason"] == "speculative decoding"
    assert items["test_flip.py"]["reason"] == "multimodal"
    md = run_cli("report", str(tmp_path / "s1"), "--store", db).stdout
    assert "### PCG auto-disabled" in md
    section = md.split("### PCG auto-disabled", 1)[1].split("\n## ", 1)[0]
    row = next(l for l in section.splitlines() if l.startswith("| `test_spec.py`"))
    assert "passed" in row and "speculative decoding" in row and "EAGLE" in row


def test_inert_sentinel_quiet_and_coverage_lost(tmp_path):
    # 10 runs a sweep: a pooled 20/20 baseline makes one failing sentinel run a regression
    repo, plan = setup(tmp_path, repeats=10)
    db = str(tmp_path / "db.sqlite")
    (repo / "pcg_on").write_text("")
    sweep(plan, tmp_path / "s1", db)
    (repo / "pcg_on").unlink()
    sweep(plan, tmp_path / "s2", db)          # test_flip lost PCG here
    a2 = json.loads((tmp_path / "s2" / "analysis.json").read_text())
    assert [c["test"] for c in a2["pcg"]["coverage_lost"]] == ["test_flip.py"]
    assert a2["pcg"]["coverage_lost"][0]["reason"] == "multimodal"
    md = run_cli("report", str(tmp_path / "s2"), "--store", db).stdout
    lost = md.split("### PCG coverage lost", 1)[1].split("\n### ", 1)[0]
    assert "| `test_flip.py`" in lost and "multimodal" in lost
    # one GitHub issue for the sweep, listing the test; a re-run files nothing more
    gh = tmp_path / "gh"
    for want in ("filed", "exists"):
        r = run_cli("github", "coverage", str(tmp_path / "s2"), "--dry-run", str(gh), "--json",
                    env={"GITHUB_TOKEN": ""})
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["result"] == want
    issues = sorted((gh / "issues").glob("*.json"))
    assert len(issues) == 1
    issue = json.loads(issues[0].read_text())
    assert issue["labels"] == ["pcg-coverage-lost"] and "1 test(s)" in issue["title"]
    assert "| `test_flip.py`" in issue["body"] and a2["sweep"]["sweep_id"] in issue["body"]

    (repo / "broken").write_text("")          # now test_flip fails, with PCG still off
    sweep(plan, tmp_path / "s3", db)
    meta = json.loads((tmp_path / "s3" / "sweep.json").read_text())
    assert meta["sentinels"] == ["test_flip.py", "test_spec.py"]
    assert len([r for r in read_runs(tmp_path / "s3") if r.test == "test_flip.py"]) == 1
    a3 = json.loads((tmp_path / "s3" / "analysis.json").read_text())
    # a sentinel failing with PCG off is not a PCG regression: no signature group for it, and
    # the commit status's count of regressions leaves it out
    flip = next(t for t in a3["tests"] if t["test"] == "test_flip.py")
    assert flip["verdict"] == "regression" and a3["totals"]["regressions"] == 0
    assert not any(t["test"] == "test_flip.py" for s in a3["signatures"] for t in s["tests"])
    inert = {e["test"]: e for e in a3["pcg"]["inert"]}
    assert sorted(inert) == ["test_flip.py", "test_spec.py"]
    assert inert["test_flip.py"]["sweeps"] == [meta["sweep_id"]]
    html = run_cli("report", str(tmp_path / "s3"), "--store", db, "--format", "html").stdout
    assert 'id="pcg-inert"' in html and "test_spec.py" in html and "speculative decoding" in html
    md = run_cli("report", str(tmp_path / "s3"), "--store", db).stdout
    assert "### PCG-inert tests (one sentinel run per sweep)" in md
    assert "This sweep ran 2 sentinel(s); 0 showed PCG active" in md
    r = run_cli("github", "coverage", str(tmp_path / "s3"), "--dry-run", str(tmp_path / "gh3"),
                "--json")
    assert json.loads(r.stdout) == {"result": "none", "tests": 0, "issue": None}
