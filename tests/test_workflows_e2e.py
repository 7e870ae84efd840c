"""End to end: the workflows' own steps, executed by the local emulator against the demo repo.

The copyable caller `docs/examples/pcgbot-sweep.yml` is run (cut down to the 1-GPU
configuration and pointed at the demo plan: two shards on CPU slots), first at the demo's
baseline commit, then at its head.  Everything below the caller is the real reusable workflow:
pcgbot installed from this working tree into a venv per job, the plan's setup, `pcgbot sweep
--shard`, artifacts per shard, merge, the data branch pushed to and fetched from the demo
repository, `pcgbot analyze`, issues and statuses on the fake GitHub server, and the bisect
dispatch.  The dispatched bisect is then run through `docs/examples/pcgbot-bisect.yml`.
"""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path

import pytest
import yaml

from actions_emulator import Emulator, RepoSource, load_workflow

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "docs" / "examples"
TARGET = "demo/tinyengine"
PCGBOT = "OWNER/pcgbot"


def _have_wheel_building() -> dict[str, str]:
    """Offline pip settings when the local setuptools can build wheels, else let pip fetch."""
    p = subprocess.run(["python3", "-c", "import wheel"], capture_output=True)
    if p.returncode == 0:
        return {"PIP_NO_BUILD_ISOLATION": "0", "PIP_NO_INDEX": "1"}
    return {}


def demo_sweep_caller(tmp: Path) -> Path:
    """The example sweep caller, cut to one configuration on the demo plan."""
    doc = load_workflow(EXAMPLES / "pcgbot-sweep.yml")
    jobs = doc["jobs"]
    for j in ("sweep-2gpu", "sweep-4gpu"):
        jobs.pop(j)
    jobs["sweep-1gpu"]["with"].update(plan="plans/demo.yaml", shards=2, repeats="6", slots="2")
    jobs["analyze"]["needs"] = ["sweep-1gpu"]
    jobs["analyze"]["with"]["configs"] = "1-gpu plans/demo.yaml\n"
    out = tmp / "caller" / ".github" / "workflows" / "pcgbot-sweep.yml"
    out.parent.mkdir(parents=True)
    out.write_text(yaml.safe_dump(doc, sort_keys=False))
    return out


def demo_bisect_caller(tmp: Path) -> Path:
    doc = load_workflow(EXAMPLES / "pcgbot-bisect.yml")
    out = tmp / "caller" / ".github" / "workflows" / "pcgbot-bisect.yml"
    out.write_text(yaml.safe_dump(doc, sort_keys=False))
    return out


def _failures(jobs) -> str:
    lines = []
    for j in jobs:
        for s in j.steps:
            if s.outcome == "failure":
                lines.append(f"--- {j.id} / {s.name}\n{s.output[-3000:]}")
    return "\n".join(lines)


@pytest.mark.slow
def test_sweep_analyze_file_status_and_bisect(tmp_path):
    from fakegithub import FakeGitHub
    from pcgbot.demo_repo import build_demo_repo

    info = build_demo_repo(tmp_path / "demo")
    demo = Path(info["repo"])
    subprocess.run(["git", "branch", "-M", "main"], cwd=demo, check=True)
    sweep_wf = demo_sweep_caller(tmp_path)
    bisect_wf = demo_bisect_caller(tmp_path)

    with FakeGitHub() as gh:
        state = gh.repo(TARGET)
        state.workflows.setdefault("pcgbot-bisect.yml", 101)
        emu_env = dict(_have_wheel_building(), PCGBOT_GITHUB_NO_THROTTLE="1",
                       PCGBOT_GITHUB_BACKOFF="0.05", PIP_DISABLE_PIP_VERSION_CHECK="1")
        common = dict(repos={TARGET: RepoSource(demo), PCGBOT: RepoSource(REPO, worktree=True)},
                      workflow_repos={PCGBOT: REPO}, env=emu_env,
                      # the bisect caller's plan map, overridden as a repository would
                      vars={"PCGBOT_PLANS": json.dumps({"1-gpu": "plans/demo.yaml"})},
                      secrets={"GITHUB_TOKEN": "ghs_emulatortoken000000000000000000000"})

        def github(sha: str, run_id: int) -> dict:
            return {"repository": TARGET, "sha": sha, "ref": "refs/heads/main",
                    "run_id": str(run_id), "run_attempt": "1", "actor": "octocat",
                    "server_url": "http://github.invalid", "api_url": gh.url}

        # 1. A sweep of the baseline commit starts the history on the data branch.
        emu = Emulator(tmp_path / "run1", github=github(info["baseline"], 1), **common)
        jobs = emu.run(sweep_wf, event_name="push", event={"after": info["baseline"]})
        assert all(j.result in ("success", "called") for j in jobs), _failures(jobs)
        shard_jobs = [j for j in jobs if "/sweep(" in j.id]
        assert len(shard_jobs) == 2
        assert all(j.runs_on == ["self-hosted", "linux", "x64", "gpu-1"] for j in shard_jobs)
        assert (demo / ".git").exists()
        data = subprocess.run(["git", "ls-tree", "-r", "--name-only", "pcgbot-data"], cwd=demo,
                              capture_output=True, text=True)
        assert data.returncode == 0 and "1-gpu/" in data.stdout, data.stderr

        # 1b. A green baseline: success status on the baseline commit, nothing filed.
        first = [x for x in state.statuses if x.get("context") == "pcg/1-gpu"]
        assert [x["state"] for x in first] == ["success"], state.statuses
        assert not [d for d in state.dispatches if d["workflow"] == "pcgbot-bisect.yml"]

        # 2. A sweep of the head commit finds the planted regression.
        emu = Emulator(tmp_path / "run2", github=github(info["head"], 2), **common)
        jobs = emu.run(sweep_wf, event_name="push", event={"after": info["head"]})
        assert all(j.result in ("success", "called") for j in jobs), _failures(jobs)
        analyze = next(j for j in jobs if j.id.endswith("/analyze"))
        assert analyze.concurrency == {"group": "pcgbot-data", "cancel-in-progress": False}
        assert 0 < len(analyze.summary.encode()) <= 1024 * 1024
        assert "Results Summary" in analyze.summary
        # The analysis the job pushed to the data branch names the regressions...
        pushed = json.loads(subprocess.run(
            ["git", "show", "pcgbot-data:analysis/1-gpu.json"], cwd=demo, check=True,
            capture_output=True, text=True).stdout)
        assert pushed["sweep"]["commit"] == info["head"]
        assert pushed["baseline"]["commit"] == info["baseline"]
        regressions = {t["test"] for t in pushed["tests"] if t["verdict"] == "regression"}
        assert info["tests"]["pcg_regression"] in regressions, pushed["tests"]
        # ... each signature became an issue, the head got a failure status ...
        titles = [i["title"] for i in state.issues.values()]
        for test in regressions:
            short = test.rsplit("/", 1)[-1][:-3]
            assert any(short in t for t in titles), (test, titles)
        head = [x for x in state.statuses if x.get("context") == "pcg/1-gpu" and
                x.get("sha", info["head"]) == info["head"]]
        assert head[-1]["state"] in ("failure", "error"), state.statuses
        # ... and exactly one bisect per new regression, over baseline..head.
        dispatched = [d for d in state.dispatches if d["workflow"] == "pcgbot-bisect.yml"]
        assert {d["inputs"]["test"] for d in dispatched} == regressions
        assert len(dispatched) == len(regressions)
        assert all(d["inputs"]["good"] == info["baseline"] and d["inputs"]["bad"] == info["head"]
                   and d["inputs"]["config"] == "1-gpu" for d in dispatched)

        # 3. The dispatched bisect of the embedding regression runs on a GPU runner and reports
        #    the planted culprit on the signature's issue.
        d = next(d for d in dispatched if d["inputs"]["test"] == info["tests"]["pcg_regression"])
        before = len(state.comments)
        emu = Emulator(tmp_path / "run3", github=github(info["head"], 3), **common)
        jobs = emu.run(bisect_wf, event_name="workflow_dispatch",
                       event={"inputs": d["inputs"]}, inputs=d["inputs"])
        assert all(j.result in ("success", "called") for j in jobs), _failures(jobs)
        bisect_job = next(j for j in jobs if j.id.endswith("/bisect"))
        assert bisect_job.runs_on == ["self-hosted", "linux", "x64", "gpu-1"]
        report_job = next(j for j in jobs if j.id.endswith("/report"))
        assert report_job.runs_on == "ubuntu-latest"
        culprit = info["culprits"][d["inputs"]["test"]]
        comments = list(state.comments.values())[before:]
        assert comments, "no comment on the issue after the bisect"
        assert any(culprit[:10] in c["body"] for c in comments), [c["body"] for c in comments]
