"""Static rules for the workflows: schema-valid, least privilege, no injection, gated GPU jobs.

`lint()` returns every broken rule as a line; each rule is also shown to fire on a mutated
workflow, so a rule that can never fail would be caught here.
"""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from actions_emulator import load_workflow
from actions_expr import evaluate, truthy

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
EXAMPLES = sorted((REPO / "docs" / "examples").glob("*.yml"))
ALL = WORKFLOWS + EXAMPLES

# Untrusted or caller-controlled values must reach the shell via env:, never be pasted into the
# script text where a crafted value becomes code.  Any ${{ }} in run: is refused outright.
EXPR_IN_RUN = re.compile(r"\$\{\{")
# Write scopes a job may hold, by what the job is for (least privilege).
WRITE_ALLOWED = {"contents", "issues", "statuses", "actions", "checks", "pull-requests"}
# Only the job that deploys the dashboard to GitHub Pages may hold these.
DEPLOY_ONLY = {"pages", "id-token"}
HOSTED = {"ubuntu-latest", "ubuntu-24.04", "ubuntu-22.04"}


def _jobs(doc: dict) -> dict:
    return doc.get("jobs") or {}


def _triggers(doc: dict) -> dict:
    on = doc.get("on")
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return {k: None for k in on}
    return on or {}


def self_hosted(job: dict) -> bool:
    """True unless the job provably runs on a GitHub-hosted runner."""
    ro = job.get("runs-on")
    if "uses" in job:
        return False
    if isinstance(ro, str) and ro in HOSTED:
        return False
    return True


def lint(doc: dict, name: str) -> list[str]:
    errs: list[str] = []
    trig = _triggers(doc)
    if "pull_request_target" in trig:
        errs.append(f"{name}: pull_request_target runs with a write token; never use it")
    if "permissions" not in doc:
        errs.append(f"{name}: no top-level permissions (default token scope is too wide)")
    for jid, job in _jobs(doc).items():
        where = f"{name}: jobs.{jid}"
        perms = job.get("permissions")
        if perms is None:
            errs.append(f"{where}: no permissions")
        elif isinstance(perms, str):
            errs.append(f"{where}: permissions: {perms} (list scopes one by one)")
        else:
            # a call of the reusable analyze workflow grants what its deploy job needs (the
            # reusable workflow's own jobs are linted here too)
            deploys = any("actions/deploy-pages@" in (s.get("uses") or "")
                          for s in job.get("steps") or []) \
                or "_pcgbot-analyze.yml" in str(job.get("uses") or "")
            for scope, level in perms.items():
                if level == "write" and scope in DEPLOY_ONLY:
                    if not deploys:
                        errs.append(f"{where}: permissions: {scope}: write outside the job "
                                    "that deploys Pages")
                    continue
                if level == "write" and scope not in WRITE_ALLOWED:
                    errs.append(f"{where}: permissions: {scope}: write is not needed")
                if level == "write" and self_hosted(job):
                    errs.append(f"{where}: self-hosted GPU job holds {scope}: write")
        for i, step in enumerate(job.get("steps") or []):
            run = step.get("run")
            if isinstance(run, str) and EXPR_IN_RUN.search(run):
                errs.append(f"{where}.steps[{i}]: ${{{{ }}}} inside run: (pass it via env:)")
            uses = step.get("uses", "")
            if self_hosted(job) and uses.startswith("actions/checkout") and \
                    (step.get("with") or {}).get("persist-credentials") is not False:
                errs.append(f"{where}.steps[{i}]: checkout on a GPU runner must set "
                            "persist-credentials: false")
        matrix = (job.get("strategy") or {}).get("matrix")
        if matrix is not None and (job.get("strategy") or {}).get("fail-fast") is not False:
            errs.append(f"{where}: matrix without fail-fast: false")
        if ("pull_request" in trig or "pull_request" in str(job.get("if", ""))
                or name.endswith("pr-check.yml")) and (self_hosted(job) or "uses" in job):
            cond = str(job.get("if", ""))
            if "head.repo.full_name == github.repository" not in cond or "labels" not in cond:
                errs.append(f"{where}: GPU job of a PR workflow not gated on same-repo + label")
    return errs


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_workflow_follows_the_rules(path):
    assert lint(load_workflow(path), path.name) == []


def test_workflows_pass_the_github_schema():
    exe = shutil.which("check-jsonschema")
    assert exe, "check-jsonschema is a test dependency (pip install check-jsonschema)"
    p = subprocess.run([exe, "--builtin-schema", "vendor.github-workflows",
                        *map(str, ALL)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr


def test_schema_check_rejects_a_broken_workflow(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    stepz: []\n")
    p = subprocess.run([shutil.which("check-jsonschema") or "check-jsonschema",
                        "--builtin-schema", "vendor.github-workflows", str(bad)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode != 0


def _wf(name: str) -> dict:
    return load_workflow(REPO / ".github" / "workflows" / name)


@pytest.mark.parametrize("mutate, expect", [
    (lambda d: d["jobs"]["sweep"]["steps"][5].__setitem__("run", "echo ${{ inputs.tests }}"),
     "inside run:"),
    (lambda d: d["jobs"]["sweep"]["steps"][5].__setitem__(
        "run", "echo ${{ github.event.head_commit.message }}"), "inside run:"),
    (lambda d: d["jobs"]["sweep"].pop("permissions"), "no permissions"),
    (lambda d: d["jobs"]["sweep"].__setitem__("permissions", "write-all"), "one by one"),
    (lambda d: d["jobs"]["sweep"]["permissions"].__setitem__("issues", "write"),
     "holds issues: write"),
    (lambda d: d["jobs"]["sweep"]["strategy"].pop("fail-fast"), "fail-fast"),
    (lambda d: d["jobs"]["sweep"]["steps"][0]["with"].pop("persist-credentials"),
     "persist-credentials"),
    (lambda d: d.__setitem__("on", {"pull_request_target": None}), "pull_request_target"),
])
def test_each_rule_fires_on_a_broken_copy(mutate, expect):
    doc = copy.deepcopy(_wf("_pcgbot-sweep.yml"))
    mutate(doc)
    assert any(expect in e for e in lint(doc, "x.yml")), lint(doc, "x.yml")


def test_pr_gate_ungated_gpu_job_is_flagged():
    doc = copy.deepcopy(_wf("_pcgbot-pr-check.yml"))
    doc["jobs"]["smoke"]["if"] = "github.event_name == 'pull_request'"
    assert any("not gated" in e for e in lint(doc, "_pcgbot-pr-check.yml"))


def _pr_event(fork: bool, labels: list[str]) -> dict:
    head = "someone/fork" if fork else "o/r"
    return {"pull_request": {"number": 7, "head": {"sha": "a" * 40, "repo": {"full_name": head}},
                             "base": {"sha": "b" * 40}, "labels": [{"name": x} for x in labels]}}


@pytest.mark.parametrize("fork, labels, runs", [
    (False, ["run-pcg"], True),
    (False, ["RUN-PCG", "bug"], True),      # label comparison is case-insensitive on GitHub
    (False, [], False),
    (True, ["run-pcg"], False),             # a fork's code never reaches a GPU runner
    (True, [], False),
])
def test_pr_gate_evaluates_like_github(fork, labels, runs):
    """Evaluate the real `if:` of the GPU job (and of the copyable caller) on PR events."""
    ctx = {"github": {"event_name": "pull_request", "repository": "o/r",
                      "event": _pr_event(fork, labels)},
           "inputs": {"label": "run-pcg"}}
    gpu_if = _wf("_pcgbot-pr-check.yml")["jobs"]["smoke"]["if"]
    caller_if = load_workflow(REPO / "docs" / "examples" / "pcgbot-pr.yml")["jobs"]["smoke"]["if"]
    assert truthy(evaluate(gpu_if, ctx)) is runs
    assert truthy(evaluate(caller_if, ctx)) is runs


def test_pr_workflow_is_pull_request_only():
    trig = _triggers(load_workflow(REPO / "docs" / "examples" / "pcgbot-pr.yml"))
    assert set(trig) == {"pull_request"}


def test_sweep_caller_coalesces_and_analysis_serialises_the_data_branch():
    sweep = load_workflow(REPO / "docs" / "examples" / "pcgbot-sweep.yml")
    assert set(_triggers(sweep)) == {"push", "schedule", "workflow_dispatch"}
    assert sweep["concurrency"] == {"group": "pcgbot-sweep-${{ github.ref }}",
                                    "cancel-in-progress": False}
    analyze = _wf("_pcgbot-analyze.yml")["jobs"]["analyze"]
    assert analyze["concurrency"] == {"group": "pcgbot-data", "cancel-in-progress": False}
    # one matrix per GPU count, each on its own labels
    labels = {j: job["with"]["runs_on"] for j, job in sweep["jobs"].items() if j.startswith("sweep")}
    assert {"gpu-1", "gpu-2", "gpu-4"} == {re.search(r"gpu-\d", v).group(0) for v in labels.values()}


def test_shard_artifacts_have_one_name_each_and_are_downloaded_by_pattern():
    up = [s for s in _wf("_pcgbot-sweep.yml")["jobs"]["sweep"]["steps"]
          if s.get("uses", "").startswith("actions/upload-artifact")]
    assert len(up) == 1 and "matrix.shard" in up[0]["with"]["name"] \
        and "inputs.config" in up[0]["with"]["name"]
    down = [s for s in _wf("_pcgbot-analyze.yml")["jobs"]["analyze"]["steps"]
            if s.get("uses", "").startswith("actions/download-artifact")]
    assert down[0]["with"]["pattern"] == "pcgbot-results-*"
    assert down[0]["with"]["merge-multiple"] is True


def test_comment_command_runs_hosted_with_least_privilege():
    job = _wf("_pcgbot-command.yml")["jobs"]["command"]
    assert job["runs-on"] == "ubuntu-latest"
    writes = {k for k, v in job["permissions"].items() if v == "write"}
    assert writes == {"issues", "actions", "pull-requests"}   # replies in a culprit's pull request
    assert "contents" not in job["permissions"]
    # the comment body reaches pcgbot only as the event file
    assert all("comment" not in str(s.get("run", "")) for s in job["steps"])


def test_gpu_jobs_hold_no_write_token():
    for path in WORKFLOWS:
        for jid, job in _jobs(load_workflow(path)).items():
            if self_hosted(job):
                perms = job.get("permissions") or {}
                assert "write" not in perms.values(), f"{path.name}: {jid}"


def _run_scripts():
    for path in ALL:
        for jid, job in _jobs(load_workflow(path)).items():
            for i, step in enumerate(job.get("steps") or []):
                if isinstance(step.get("run"), str):
                    yield f"{path.name}:{jid}:{i}", step["run"]


@pytest.mark.parametrize("where, script", list(_run_scripts()), ids=lambda x: x
                         if isinstance(x, str) and ":" in x and "\n" not in x else "")
def test_run_scripts_parse_as_bash(where, script, tmp_path):
    f = tmp_path / "s.sh"
    f.write_text(script)
    p = subprocess.run(["bash", "-n", str(f)], capture_output=True, text=True)
    assert p.returncode == 0, f"{where}: {p.stderr}"


def test_the_dashboard_is_published_with_least_privilege_and_never_races():
    doc = load_workflow(REPO / ".github" / "workflows" / "_pcgbot-analyze.yml")
    jobs = doc["jobs"]
    dash = jobs["dashboard"]
    assert dash["permissions"] == {"contents": "read", "pages": "write", "id-token": "write"}
    assert dash["concurrency"] == {"group": "pcgbot-pages", "cancel-in-progress": False}
    assert dash["needs"] == "analyze" and dash["environment"]["name"] == "github-pages"
    assert "pages" not in {k for k, v in jobs["analyze"]["permissions"].items() if v == "write"}
    steps = dash["steps"]
    # Pages off: a warning in the job summary, and every later step is skipped (no failure)
    assert "GITHUB_STEP_SUMMARY" in steps[0]["run"] and "::warning::" in steps[0]["run"]
    assert all("steps.pages.outputs.enabled == 'true'" in s.get("if", "") for s in steps[1:])
    assert any("pcgbot site _site" in (s.get("run") or "") for s in steps)
    assert doc["on"]["workflow_call"]["inputs"]["dashboard_sweeps"]["default"] == 60

