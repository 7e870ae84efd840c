"""End to end: the workflows' own steps, executed by the local emulator against the demo repo.

The copyable caller `docs/examples/pcgbot-sweep.yml` is run (cut down to the 1-GPU
configuration and pointed at the demo plan: two shards on CPU slots), first at the demo's
baseline commit, then at its head.  Everything below the caller is the real reusable workflow:
pcgbot installed from this working tree into a venv per job, the plan's setup, `pcgbot sweep
--shard`, artifacts per shard, merge, the data branch pushed to and fetched from the demo
repository, `pcgbot analyze`, issues and statuses on the fake GitHub server, and the bisect
dispatch.  The dispatched bisect is then run through `docs/examples/pcgbot-bisect.yml`, the PR
check through `docs/examples/pcgbot-pr.yml` (same-repo labelled PR and a fork's PR), and a
`/pcgbot` comment through `docs/examples/pcgbot-command.yml`.

The tests share one world (demo repository, data branch, fake GitHub) and run in file order:
the PR check runs while only the baseline is on the data branch.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from actions_emulator import Emulator, RepoSource, load_workflow

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "docs" / "examples"
TARGET = "demo/tinyengine"
PCGBOT = "OWNER/pcgbot"


def _offline_install_env(tmp: Path) -> dict[str, str]:
    """Offline pip settings when the workflows' install step can build pcgbot without an index.

    The step builds in `python3 -m venv --system-site-packages`, i.e. with the *base*
    interpreter's packages, not those of the venv running pytest: only when that venv has
    setuptools >= 70.1 (`bdist_wheel` built in) or `wheel` can build isolation be turned off
    (`PIP_NO_BUILD_ISOLATION=0` means off) and the index left out.  Otherwise pip builds as on
    a real runner: in an isolated environment with setuptools from the index.
    """
    probe = tmp / "probe-venv"
    subprocess.run(["python3", "-m", "venv", "--system-site-packages", "--without-pip", str(probe)],
                   check=True)
    can_build = subprocess.run([str(probe / "bin" / "python"), "-c", (
        "import importlib.util as u, setuptools as s\n"
        "v = tuple(int(x) for x in s.__version__.split('.')[:2])\n"
        "raise SystemExit(0 if v >= (70, 1) or u.find_spec('wheel') else 1)")],
        capture_output=True).returncode == 0
    return {"PIP_NO_BUILD_ISOLATION": "0", "PIP_NO_INDEX": "1"} if can_build else {}


def demo_sweep_caller(tmp: Path) -> Path:
    """The example sweep caller, cut to one configuration on the demo plan."""
    doc = load_workflow(EXAMPLES / "pcgbot-sweep.yml")
    jobs = doc["jobs"]
    for j in ("sweep-2gpu", "sweep-4gpu"):
        jobs.pop(j)
    jobs["sweep-1gpu"]["with"].update(plan="pcgbot/demo/plan.yaml", shards=2, repeats="6", slots="2")
    jobs["analyze"]["needs"] = ["sweep-1gpu"]
    jobs["analyze"]["with"]["configs"] = "1-gpu pcgbot/demo/plan.yaml\n"
    out = tmp / "caller" / ".github" / "workflows" / "pcgbot-sweep.yml"
    out.parent.mkdir(parents=True)
    out.write_text(yaml.safe_dump(doc, sort_keys=False))
    return out


def demo_caller(tmp: Path, name: str, **with_: object) -> Path:
    """An example caller as is, or with some `with:` values of its one job replaced."""
    doc = load_workflow(EXAMPLES / name)
    for job in doc["jobs"].values():
        job.setdefault("with", {}).update(with_)
    out = tmp / "caller" / ".github" / "workflows" / name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(doc, sort_keys=False))
    return out


def _failures(jobs) -> str:
    lines = []
    for j in jobs:
        for s in j.steps:
            if s.outcome == "failure":
                lines.append(f"--- {j.id} / {s.name}\n{s.output[-3000:]}")
    return "\n".join(lines)


class World:
    """The demo repository with a baseline sweep on its data branch, and the fake GitHub."""

    def __init__(self, tmp: Path, gh) -> None:
        from pcgbot.demo.repo import build_demo_repo

        self.tmp, self.gh = tmp, gh
        self.info = build_demo_repo(tmp / "demo")
        self.demo = Path(self.info["repo"])
        subprocess.run(["git", "branch", "-M", "main"], cwd=self.demo, check=True)
        self.state = gh.repo(TARGET)
        for i, wf in enumerate(("pcgbot-bisect.yml", "pcgbot-sweep.yml")):
            self.state.workflows.setdefault(wf, 101 + i)
        self.sweep_wf = demo_sweep_caller(tmp)
        self.runs = 0
        env = dict(_offline_install_env(tmp), PCGBOT_GITHUB_NO_THROTTLE="1",
                   PCGBOT_GITHUB_BACKOFF="0.05", PIP_DISABLE_PIP_VERSION_CHECK="1")
        self.common = dict(
            repos={TARGET: RepoSource(self.demo), PCGBOT: RepoSource(REPO, worktree=True)},
            workflow_repos={PCGBOT: REPO}, env=env,
            # the bisect caller's plan map, overridden as a repository would
            vars={"PCGBOT_PLANS": json.dumps({"1-gpu": "pcgbot/demo/plan.yaml"})},
            secrets={"GITHUB_TOKEN": "ghs_emulatortoken000000000000000000000"})

    def run(self, wf: Path, sha: str, event_name: str, event: dict, inputs=None, ref=None):
        self.runs += 1
        github = {"repository": TARGET, "sha": sha, "ref": ref or "refs/heads/main",
                  "run_id": str(self.runs), "run_attempt": "1", "actor": "octocat",
                  "server_url": "http://github.invalid", "api_url": self.gh.url}
        emu = Emulator(self.tmp / f"run{self.runs}", github=github, **self.common)
        return emu.run(wf, event_name=event_name, event=event, inputs=inputs)

    def statuses(self, context: str, sha: str) -> list[str]:
        return [x["state"] for x in self.state.statuses
                if x.get("context") == context and x.get("sha", sha) == sha]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from fakegithub import FakeGitHub

    with FakeGitHub() as gh:
        w = World(tmp_path_factory.mktemp("e2e"), gh)
        # A sweep of the baseline commit starts the history on the data branch.
        jobs = w.run(w.sweep_wf, w.info["baseline"], "push", {"after": w.info["baseline"]})
        assert all(j.result in ("success", "called") for j in jobs), _failures(jobs)
        w.baseline_jobs = jobs
        yield w


@pytest.mark.slow
def test_baseline_sweep_shards_and_data_branch(world):
    shard_jobs = [j for j in world.baseline_jobs if "/sweep(" in j.id]
    assert len(shard_jobs) == 2
    assert all(j.runs_on == ["self-hosted", "linux", "x64", "gpu-1"] for j in shard_jobs)
    data = subprocess.run(["git", "ls-tree", "-r", "--name-only", "pcgbot-data"],
                          cwd=world.demo, capture_output=True, text=True)
    assert data.returncode == 0, data.stderr
    assert [p for p in data.stdout.split() if p.startswith("1-gpu/")
            and p.endswith(".tar.gz")], data.stdout
    # The first sweep has nothing to compare with: pending, "no baseline" (never a success
    # that claims 0 regressions), nothing filed or dispatched.
    assert world.statuses("pcg/1-gpu", world.info["baseline"]) == ["pending"]
    first = [s for s in world.state.statuses if s["sha"] == world.info["baseline"]][-1]
    assert first["description"].startswith("no baseline")
    assert not world.state.dispatches
    # Pages is not enabled yet: the dashboard job warns in its summary and does not fail.
    dash = next(j for j in world.baseline_jobs if j.id.endswith("/dashboard"))
    assert dash.result == "success" and "GitHub Pages is not enabled" in dash.summary
    assert not list((world.tmp / "run1").glob("pages/index.html"))


def _pr_event(world, fork: bool) -> dict:
    head_repo = "evil/fork" if fork else TARGET
    return {"number": 12, "pull_request": {
        "number": 12, "labels": [{"name": "run-pcg"}],
        "head": {"sha": world.info["head"], "ref": "feature", "repo": {"full_name": head_repo}},
        "base": {"sha": world.info["baseline"], "ref": "main",
                 "repo": {"full_name": TARGET}}}}


@pytest.mark.slow
def test_pr_check_runs_same_repo_smoke_and_never_a_fork(world):
    wf = demo_caller(world.tmp, "pcgbot-pr.yml", plan="pcgbot/demo/plan.yaml")
    smoke = "pcg/1-gpu-smoke"
    # A fork's PR, even labelled: no job starts, nothing is posted.
    jobs = world.run(wf, world.info["head"], "pull_request", _pr_event(world, fork=True),
                     ref="refs/pull/12/merge")
    assert [j.result for j in jobs] == ["skipped"]
    assert world.statuses(smoke, world.info["head"]) == []
    # The same PR from a branch of the repository runs the plan's smoke tests on a GPU runner
    # and the PCG-only regression in them fails the check against main's baseline.
    jobs = world.run(wf, world.info["head"], "pull_request", _pr_event(world, fork=False),
                     ref="refs/pull/12/merge")
    assert all(j.result in ("success", "called") for j in jobs), _failures(jobs)
    gpu = next(j for j in jobs if j.id.endswith("/smoke"))
    assert gpu.runs_on == ["self-hosted", "linux", "x64", "gpu-1"]
    assert gpu.permissions == {"contents": "read"}
    # only the plan's smoke tests ran, at the PR head
    from pcgbot.plan.schema import load_plan
    runs_file = next((world.tmp / f"run{world.runs}").glob("artifacts-*/pcgbot-pr-12-1/pr/runs.jsonl"))
    runs = [json.loads(x) for x in runs_file.read_text().splitlines()]
    assert {r["test"] for r in runs} == set(load_plan(REPO / "pcgbot" / "demo" / "plan.yaml").smoke)
    assert {r["commit"] for r in runs} == {world.info["head"]}
    assert world.statuses(smoke, world.info["head"]) == ["failure"]


@pytest.mark.slow
def test_head_sweep_files_statuses_and_bisects_to_the_culprit(world):
    info, state = world.info, world.state
    state.pages = "https://pages.example/demo/"      # Settings > Pages > Source: GitHub Actions
    jobs = world.run(world.sweep_wf, info["head"], "push", {"after": info["head"]})
    assert all(j.result in ("success", "called") for j in jobs), _failures(jobs)
    # The dashboard was published from the data branch, and the status and the issues link
    # to the pages of what they report.
    site = world.tmp / f"run{world.runs}" / "pages"
    assert (site / "index.html").is_file() and (site / "data" / "index.json").is_file()
    head_status = [s for s in state.statuses if s["sha"] == info["head"]][-1]
    page = head_status["target_url"].removeprefix("https://pages.example/demo/")
    assert head_status["target_url"].startswith("https://pages.example/demo/")
    assert (site / page).is_file(), page
    linked = [re.search(r"https://pages\.example/demo/(signatures/\S+\.html)", i["body"])
              for i in state.issues.values()]
    assert linked and all(m and (site / m.group(1)).is_file() for m in linked), linked
    analyze = next(j for j in jobs if j.id.endswith("/analyze"))
    assert analyze.concurrency == {"group": "pcgbot-data", "cancel-in-progress": False}
    assert 0 < len(analyze.summary.encode()) <= 1024 * 1024
    assert "Results Summary" in analyze.summary
    # The analysis the job pushed to the data branch names the regressions...
    pushed = json.loads(subprocess.run(
        ["git", "show", "pcgbot-data:analysis/1-gpu.json"], cwd=world.demo, check=True,
        capture_output=True, text=True).stdout)
    assert pushed["sweep"]["commit"] == info["head"]
    assert pushed["baseline"]["commit"] == info["baseline"]
    regressions = {t["test"] for t in pushed["tests"] if t["verdict"] == "regression"}
    assert info["tests"]["pcg_regression"] in regressions, pushed["tests"]
    # ... each became an issue, the head got a failure status ...
    titles = [i["title"] for i in state.issues.values()]
    for test in regressions:
        assert any(test.rsplit("/", 1)[-1][:-3] in t for t in titles), (test, titles)
    assert world.statuses("pcg/1-gpu", info["head"])[-1] == "failure"
    # ... and exactly one bisect per new regression, over baseline..head.
    dispatched = [d for d in state.dispatches if d["workflow"] == "pcgbot-bisect.yml"]
    assert {d["inputs"]["test"] for d in dispatched} == regressions
    assert len(dispatched) == len(regressions)
    assert all(d["inputs"]["good"] == info["baseline"] and d["inputs"]["bad"] == info["head"]
               and d["inputs"]["config"] == "1-gpu" for d in dispatched)
    # one per failure signature, which the bisection then counts
    sigs = {t["test"]: t["signature"] for t in pushed["tests"] if t["verdict"] == "regression"}
    assert all(d["inputs"]["signature"] == sigs[d["inputs"]["test"]] for d in dispatched)

    # The dispatched bisect of the PCG-only regression runs on a GPU runner and reports the
    # planted culprit on the signature's issue.
    d = next(d for d in dispatched if d["inputs"]["test"] == info["tests"]["pcg_regression"])
    before = len(state.comments)
    jobs = world.run(demo_caller(world.tmp, "pcgbot-bisect.yml"), info["head"],
                     "workflow_dispatch", {"inputs": d["inputs"]}, inputs=d["inputs"])
    assert all(j.result in ("success", "called") for j in jobs), _failures(jobs)
    assert next(j for j in jobs if j.id.endswith("/bisect")).runs_on == \
        ["self-hosted", "linux", "x64", "gpu-1"]
    assert next(j for j in jobs if j.id.endswith("/report")).runs_on == "ubuntu-latest"
    culprit = info["culprits"][d["inputs"]["test"]]
    # seeded by the sweeps the data branch holds (baseline and head), not re-measured
    result_file = next((world.tmp / f"run{world.runs}").glob(
        "artifacts-*/pcgbot-bisect-*/bisect.json"))
    result = json.loads(result_file.read_text())
    saved = json.loads((result_file.parent / "state.json").read_text())   # evidence kept
    assert len(saved["probes"]) == result["runs"] and saved["result"]["sha"] == result["sha"]
    assert result["seeds"].startswith("store: sweeps "), result["seeds"]
    # the analysis's fingerprint leads; faces new in the bad sweep would follow it
    assert result["signature"].split(",")[0] == d["inputs"]["signature"]
    assert result["sha"] == culprit
    comments = list(state.comments.values())[before:]
    assert any(culprit[:10] in c["body"] for c in comments), [c["body"] for c in comments]
    # the culprit's author is told once, on the commit (the demo repository has no pull requests)
    notes = [c for c in state.commit_comments.values() if c["commit_id"] == culprit]
    assert len(notes) == 1 and "<!-- pcgbot:culprit sig=" in notes[0]["body"], notes


def _comment_event(world, issue: dict, body: str) -> dict:
    """Post the comment on the fake (the bot reacts to it and replies), then its event."""
    import requests
    r = requests.post(f"{world.gh.url}/repos/{TARGET}/issues/{issue['number']}/comments",
                      json={"body": body}, timeout=10,
                      headers={"Authorization": "token ghs_maintainer0000000000000000000000"})
    r.raise_for_status()
    cid = r.json()["id"]
    return {"action": "created",
            "repository": {"full_name": TARGET, "default_branch": "main"},
            "issue": {"number": issue["number"], "title": issue["title"]},
            "comment": {"id": cid, "body": body, "author_association": "MEMBER",
                        "user": {"login": "maintainer", "type": "User"}}}


@pytest.mark.slow
def test_comment_command_dispatches_and_never_runs_the_comment(world):
    info, state = world.info, world.state
    wf = demo_caller(world.tmp, "pcgbot-command.yml")
    issue = next((i for i in state.issues.values() if "test_embedding" in i["title"]), None)
    if issue is None:                   # run alone: the head sweep files the issue first
        world.run(world.sweep_wf, info["head"], "push", {"after": info["head"]})
        issue = next(i for i in state.issues.values() if "test_embedding" in i["title"])
    before = len(state.dispatches)
    jobs = world.run(wf, info["head"], "issue_comment",
                     _comment_event(world, issue, "/pcgbot bisect"))
    assert all(j.result in ("success", "called") for j in jobs), _failures(jobs)
    job = next(j for j in jobs if j.id.endswith("/command"))
    assert job.runs_on == "ubuntu-latest"
    new = state.dispatches[before:]
    assert [d["workflow"] for d in new] == ["pcgbot-bisect.yml"]
    assert new[0]["inputs"]["test"] == info["tests"]["pcg_regression"]
    # A comment carrying shell: refused with a reply, and nothing of it executed anywhere.
    canary = world.tmp / "pwned"
    n_comments = len(state.comments)
    jobs = world.run(wf, info["head"], "issue_comment", _comment_event(
        world, issue, f"/pcgbot bisect $(touch {canary}) `touch {canary}`"))
    assert not canary.exists()
    replies = list(state.comments.values())[n_comments + 1:]     # after the comment itself
    assert replies and "@maintainer" in replies[-1]["body"], replies
    assert len(state.dispatches) == before + 1
    # A comment that is not a command starts no job at all.
    jobs = world.run(wf, info["head"], "issue_comment",
                     _comment_event(world, issue, "thanks, looking"))
    assert [j.result for j in jobs] == ["skipped"]


@pytest.mark.slow
def test_rerun_comment_sweeps_one_test_without_touching_the_baseline(world):
    info, state = world.info, world.state
    issue = next((i for i in state.issues.values() if "test_embedding" in i["title"]), None)
    if issue is None:
        world.run(world.sweep_wf, info["head"], "push", {"after": info["head"]})
        issue = next(i for i in state.issues.values() if "test_embedding" in i["title"])
    before = len(state.dispatches)
    jobs = world.run(demo_caller(world.tmp, "pcgbot-command.yml"), info["head"], "issue_comment",
                     _comment_event(world, issue, "/pcgbot rerun test_embedding"))
    assert all(j.result in ("success", "called") for j in jobs), _failures(jobs)
    rerun = state.dispatches[before:]
    assert [d["workflow"] for d in rerun] == ["pcgbot-sweep.yml"]

    def data_head() -> str:
        return subprocess.run(["git", "rev-parse", "pcgbot-data"], cwd=world.demo, check=True,
                              capture_output=True, text=True).stdout.strip()
    head_before, n_status, n_dispatch = data_head(), len(state.statuses), len(state.dispatches)
    jobs = world.run(world.sweep_wf, info["head"], "workflow_dispatch",
                     {"inputs": rerun[0]["inputs"]}, inputs=rerun[0]["inputs"])
    # a partial sweep publishes no dashboard (it never becomes the history the site shows)
    assert all(j.result in ("success", "called") or (j.id.endswith("/dashboard")
               and j.result == "skipped") for j in jobs), _failures(jobs)
    analyze = next(j for j in jobs if j.id.endswith("/analyze"))
    skipped = {s.name for s in analyze.steps if s.outcome == "skipped"}
    assert {"Push the new history to the data branch",
            "Dispatch one bisect per new regression"} <= skipped
    assert data_head() == head_before          # a partial sweep never becomes the baseline
    assert len(state.statuses) == n_status and len(state.dispatches) == n_dispatch
