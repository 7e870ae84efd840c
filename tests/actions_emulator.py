"""A small local runner for GitHub Actions workflows: enough to execute pcgbot's for real.

It runs jobs in `needs` order (matrix expanded, `if:` evaluated, reusable workflows called with
their inputs), and each `run:` step in bash exactly as the runner does (`bash --noprofile --norc
-eo pipefail`), with GITHUB_OUTPUT / GITHUB_ENV / GITHUB_PATH / GITHUB_STEP_SUMMARY files, a fresh
workspace and RUNNER_TEMP per job.  Four actions are emulated: checkout (a local clone of a
mapped repository, or a copy of a working tree), upload-artifact (immutable per name, like v4),
download-artifact (`name`, or `pattern` + `merge-multiple`) and setup-python (the current Python
is used).  Anything else fails loudly, so a workflow cannot silently depend on it.

Not emulated: runner selection (``runs-on`` is evaluated and recorded), concurrency (recorded),
services, containers, caches, composite actions.
"""

from __future__ import annotations

import fnmatch
import itertools
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from actions_expr import evaluate, interpolate, to_str, truthy  # noqa: E402


@dataclass
class RepoSource:
    path: Path
    worktree: bool = False      # copy the working tree (uncommitted files too) instead of cloning


@dataclass
class StepRecord:
    job: str
    name: str
    outcome: str                # success | failure | skipped
    output: str = ""


@dataclass
class JobRecord:
    id: str                     # "caller/called" path, with the matrix values
    result: str                 # success | failure | skipped
    runs_on: Any = None
    permissions: Any = None
    concurrency: Any = None
    outputs: dict = field(default_factory=dict)
    summary: str = ""
    steps: list[StepRecord] = field(default_factory=list)


def load_workflow(path: Path) -> dict:
    doc = yaml.safe_load(path.read_text())
    if True in doc:             # YAML 1.1 reads the key `on` as boolean true
        doc["on"] = doc.pop(True)
    on = doc.get("on")          # `on: push` / `on: [push, pull_request]` -> mapping form
    if isinstance(on, str):
        doc["on"] = {on: None}
    elif isinstance(on, list):
        doc["on"] = {k: None for k in on}
    return doc


def _parse_kv_file(path: Path) -> dict[str, str]:
    """GITHUB_OUTPUT / GITHUB_ENV format: `k=v` lines and `k<<DELIM` ... `DELIM` blocks."""
    out: dict[str, str] = {}
    if not path.exists():
        return out
    lines = path.read_text().splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            key, delim = line.split("<<", 1)
            body = []
            i += 1
            while i < len(lines) and lines[i] != delim:
                body.append(lines[i])
                i += 1
            out[key] = "\n".join(body)
        elif "=" in line:
            k, v = line.split("=", 1)
            out[k] = v
        i += 1
    return out


class Emulator:
    def __init__(self, root: Path, *, repos: dict[str, RepoSource], github: dict[str, Any],
                 workflow_repos: Optional[dict[str, Path]] = None,
                 env: Optional[dict[str, str]] = None, secrets: Optional[dict[str, str]] = None,
                 vars: Optional[dict[str, str]] = None, step_timeout: float = 600):
        self.root = root
        self.repos = repos
        self.github = dict(github)
        self.workflow_repos = workflow_repos or {}   # "owner/name" -> checkout holding workflows
        self.env = env or {}
        self.secrets = secrets or {}
        self.vars = vars or {}
        self.step_timeout = step_timeout
        self.jobs: list[JobRecord] = []
        self._n = itertools.count(1)
        self.artifacts = root / "artifacts"

    # -- workflows and jobs ----------------------------------------------------------------
    def run(self, workflow: Path, *, event_name: str, event: Optional[dict] = None,
            inputs: Optional[dict] = None) -> list[JobRecord]:
        """Run one workflow run; returns the records of its jobs (called workflows included)."""
        self.github.update(event_name=event_name, event=event or {})
        self.artifacts = self.root / f"artifacts-{next(self._n)}"
        self.artifacts.mkdir(parents=True)
        self.jobs = []
        doc = load_workflow(workflow)
        ins = dict(inputs or {})
        if event_name == "workflow_dispatch":
            ins = self._inputs((doc["on"] or {}).get("workflow_dispatch") or {}, ins)
        self._run_jobs(doc, ins, prefix="", wf_dir=workflow.parent)
        return self.jobs

    @staticmethod
    def _inputs(trigger: dict, given: dict) -> dict:
        out = {}
        for name, spec in ((trigger or {}).get("inputs") or {}).items():
            spec = spec or {}
            if name in given:
                val = given[name]
            elif spec.get("required") and "default" not in spec:
                raise ValueError(f"input {name} is required")
            else:
                val = spec.get("default", "" if spec.get("type") != "boolean" else False)
            if spec.get("type") == "number" and val != "":
                val = float(val) if "." in str(val) else int(val)
            out[name] = val
        unknown = set(given) - set(out)
        if unknown:
            raise ValueError(f"unknown inputs: {sorted(unknown)}")
        return out

    def _ctx(self, inputs: dict, needs: dict, env: dict, matrix: Optional[dict] = None,
             steps: Optional[dict] = None, job_env: Optional[dict] = None) -> dict:
        gh = dict(self.github)
        gh["token"] = self.secrets.get("GITHUB_TOKEN", "")
        return {"github": gh, "inputs": inputs, "needs": needs, "env": env, "matrix": matrix or {},
                "strategy": {}, "steps": steps or {}, "secrets": self.secrets, "vars": self.vars,
                "runner": {"os": "Linux", "temp": (job_env or {}).get("RUNNER_TEMP", "")},
                "job": {}}

    def _run_jobs(self, doc: dict, inputs: dict, prefix: str, wf_dir: Path) -> str:
        jobs: dict[str, dict] = doc.get("jobs") or {}
        results: dict[str, dict] = {}
        pending = list(jobs)
        wf_env = {k: to_str(v) for k, v in (doc.get("env") or {}).items()}
        while pending:
            ready = [j for j in pending if all(n in results for n in self._needs(jobs[j]))]
            if not ready:
                raise ValueError(f"cycle or unknown job in needs: {pending}")
            for jid in ready:
                pending.remove(jid)
                results[jid] = self._run_job(prefix + jid, jobs[jid], inputs,
                                             {n: results[n] for n in self._needs(jobs[jid])},
                                             wf_env, wf_dir)
        bad = [r for r in results.values() if r["result"] == "failure"]
        return "failure" if bad else "success"

    @staticmethod
    def _needs(job: dict) -> list[str]:
        n = job.get("needs") or []
        return [n] if isinstance(n, str) else list(n)

    def _cond(self, expr: Any, ctx: dict, ok: bool, default_ok: bool = True) -> bool:
        """An `if:`; without a status function it means `success() && (expr)`."""
        if expr is None:
            return ok if default_ok else True
        text = str(expr).strip()
        if text.startswith("${{") and text.endswith("}}"):
            text = text[3:-2]
        uses_status = any(f in text for f in ("always()", "failure()", "cancelled()", "success()"))

        def status(name: str) -> bool:
            return {"always": True, "success": ok, "failure": not ok, "cancelled": False}[name]
        v = truthy(evaluate(text, ctx, status))
        return v if uses_status else (ok and v)

    def _run_job(self, jid: str, job: dict, inputs: dict, needs: dict, wf_env: dict,
                 wf_dir: Path) -> dict:
        ok = all(n["result"] == "success" for n in needs.values())
        ctx = self._ctx(inputs, needs, wf_env)
        if not self._cond(job.get("if"), ctx, ok):
            self.jobs.append(JobRecord(jid, "skipped"))
            return {"result": "skipped", "outputs": {}}
        matrix = interpolate((job.get("strategy") or {}).get("matrix"), ctx)
        combos = self._expand(matrix) if matrix else [None]
        result, outputs = "success", {}
        for combo in combos:
            mctx = self._ctx(inputs, needs, wf_env, matrix=combo)
            name = jid + ("" if combo is None else "(" + ",".join(
                f"{k}={to_str(v)}" for k, v in combo.items()) + ")")
            if "uses" in job:
                r = self._call(name, job, mctx, wf_dir)
            else:
                r, outs = self._run_steps(name, job, mctx, wf_env)
                outputs.update(outs)
            if r == "failure":
                result = "failure"
        return {"result": result, "outputs": outputs}

    @staticmethod
    def _expand(matrix: dict) -> list[dict]:
        include = matrix.pop("include", []) or []
        exclude = matrix.pop("exclude", []) or []
        keys = list(matrix)
        combos = [dict(zip(keys, vals)) for vals in itertools.product(*(matrix[k] for k in keys))] \
            if keys else []
        combos = [c for c in combos
                  if not any(all(c.get(k) == v for k, v in e.items()) for e in exclude)]
        return combos + [dict(i) for i in include]

    def _call(self, jid: str, job: dict, ctx: dict, wf_dir: Path) -> str:
        uses = job["uses"]
        if uses.startswith("./"):       # relative to the root of the caller's repository
            path = wf_dir.parent.parent / uses[2:]
        else:
            repo_path, _, _ref = uses.partition("@")
            owner_repo = "/".join(repo_path.split("/")[:2])
            if owner_repo not in self.workflow_repos:
                raise ValueError(f"{jid}: no local copy of {owner_repo} for {uses}")
            path = self.workflow_repos[owner_repo] / "/".join(repo_path.split("/")[2:])
        called = load_workflow(path)
        spec = (called["on"] or {}).get("workflow_call")
        if spec is None:
            raise ValueError(f"{uses} is not a reusable workflow (no on.workflow_call)")
        given = {k: v for k, v in interpolate(job.get("with") or {}, ctx).items()}
        ins = self._inputs(spec, given)
        self.jobs.append(JobRecord(jid, "called", permissions=job.get("permissions")))
        return self._run_jobs(called, ins, prefix=jid + "/", wf_dir=path.parent)

    # -- steps -----------------------------------------------------------------------------
    def _run_steps(self, jid: str, job: dict, ctx: dict, wf_env: dict) -> tuple[str, dict]:
        safe = jid.replace("/", "__").replace("(", "_").replace(")", "").replace(",", "_")
        base = self.root / "jobs" / f"{next(self._n):03d}-{safe}"
        ws, temp = base / "workspace", base / "temp"
        ws.mkdir(parents=True)
        temp.mkdir()
        rec = JobRecord(jid, "success", runs_on=interpolate(job.get("runs-on"), ctx),
                        permissions=job.get("permissions"),
                        concurrency=interpolate(job.get("concurrency"), ctx))
        self.jobs.append(rec)
        runner_env = {"GITHUB_WORKSPACE": str(ws), "RUNNER_TEMP": str(temp), "CI": "true",
                      "GITHUB_ACTIONS": "true", "RUNNER_OS": "Linux"}
        ctx["github"]["workspace"] = str(ws)
        ctx["runner"]["temp"] = str(temp)
        env = dict(wf_env)
        for k, v in (job.get("env") or {}).items():
            env[k] = to_str(interpolate(v, dict(ctx, env=env)))
        added_env: dict[str, str] = {}
        added_path: list[str] = []
        steps: dict[str, dict] = {}
        ok = True
        for i, step in enumerate(job.get("steps") or []):
            sctx = dict(ctx, env=dict(env, **added_env), steps=steps)
            name = step.get("name") or step.get("id") or step.get("uses") or f"step {i + 1}"
            if not self._cond(step.get("if"), sctx, ok):
                rec.steps.append(StepRecord(jid, to_str(interpolate(name, sctx)), "skipped"))
                continue
            step_env = {k: to_str(interpolate(v, sctx)) for k, v in (step.get("env") or {}).items()}
            full_env = dict(os.environ, **self.env, **self._gh_env(), **runner_env, **env,
                            **added_env, **step_env)
            full_env["PATH"] = os.pathsep.join(added_path[::-1] + [full_env.get("PATH", "")])
            files = {k: temp / f"_{k.lower()}_{i}" for k in
                     ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH", "GITHUB_STEP_SUMMARY")}
            for k, f in files.items():
                f.write_text("")
                full_env[k] = str(f)
            try:
                if "run" in step:
                    out = self._bash(step, full_env, ws)
                else:
                    out = self._action(step["uses"], interpolate(step.get("with") or {}, sctx),
                                       ws, jid)
                outcome = "success"
            except StepFailed as e:
                out, outcome = str(e), "failure"
            outputs = _parse_kv_file(files["GITHUB_OUTPUT"])
            added_env.update(_parse_kv_file(files["GITHUB_ENV"]))
            added_path += [p for p in files["GITHUB_PATH"].read_text().splitlines() if p]
            rec.summary += files["GITHUB_STEP_SUMMARY"].read_text()
            if outcome == "failure" and truthy(step.get("continue-on-error")):
                outcome_conclusion = "success"
            else:
                outcome_conclusion = outcome
            if "id" in step:
                steps[step["id"]] = {"outputs": outputs, "outcome": outcome,
                                     "conclusion": outcome_conclusion}
            rec.steps.append(StepRecord(jid, to_str(interpolate(name, sctx)), outcome, out))
            if outcome_conclusion == "failure":
                ok = False
        rec.result = "success" if ok else "failure"
        octx = dict(ctx, steps=steps, env=dict(env, **added_env))
        rec.outputs = {k: to_str(interpolate(v, octx)) for k, v in (job.get("outputs") or {}).items()}
        return rec.result, rec.outputs

    def _gh_env(self) -> dict[str, str]:
        g = self.github
        keys = {"GITHUB_REPOSITORY": "repository", "GITHUB_SHA": "sha", "GITHUB_REF": "ref",
                "GITHUB_RUN_ID": "run_id", "GITHUB_RUN_ATTEMPT": "run_attempt",
                "GITHUB_EVENT_NAME": "event_name", "GITHUB_SERVER_URL": "server_url",
                "GITHUB_API_URL": "api_url", "GITHUB_ACTOR": "actor"}
        env = {k: to_str(g.get(v)) for k, v in keys.items() if g.get(v) is not None}
        ev = self.root / f"event-{g.get('run_id', 0)}.json"
        ev.write_text(json.dumps(g.get("event") or {}))
        env["GITHUB_EVENT_PATH"] = str(ev)
        return env

    def _bash(self, step: dict, env: dict, ws: Path) -> str:
        wd = ws / step.get("working-directory", "")
        script = Path(env["RUNNER_TEMP"]) / f"_step_{abs(hash(step['run']))}.sh"
        script.write_text(step["run"])
        shell = step.get("shell", "bash")
        if shell != "bash":
            raise StepFailed(f"unsupported shell {shell!r}")
        p = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
                           cwd=wd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=self.step_timeout)
        if p.returncode != 0:
            raise StepFailed(f"exit {p.returncode}\n{p.stdout}")
        return p.stdout

    # -- the emulated actions ---------------------------------------------------------------
    def _action(self, uses: str, w: dict, ws: Path, jid: str) -> str:
        name = uses.split("@")[0]
        if name == "actions/setup-python":
            return f"using {sys.executable}"
        if name == "actions/checkout":
            return self._checkout(w, ws)
        if name == "actions/upload-artifact":
            return self._upload(w, ws)
        if name == "actions/download-artifact":
            return self._download(w, ws)
        if name == "actions/upload-pages-artifact":
            src = ws / to_str(w.get("path") or "_site")
            if not (src / "index.html").is_file():
                raise StepFailed(f"upload-pages-artifact: no index.html in {src}")
            shutil.copytree(src, self.artifacts / "github-pages")
            return "uploaded github-pages"
        if name == "actions/deploy-pages":
            # what GitHub serves: the site of the newest deployment
            site = self.root / "pages"
            shutil.rmtree(site, ignore_errors=True)
            shutil.copytree(self.artifacts / "github-pages", site)
            return "deployed"
        raise StepFailed(f"{jid}: action {uses} is not emulated")

    def _checkout(self, w: dict, ws: Path) -> str:
        repo = to_str(w.get("repository")) or self.github["repository"]
        src = self.repos.get(repo)
        if src is None:
            raise StepFailed(f"checkout: no local repository for {repo}")
        dest = ws / to_str(w.get("path", ""))
        ref = to_str(w.get("ref")) or self.github.get("sha") or ""
        if src.worktree:
            files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"],
                                   cwd=src.path, capture_output=True, text=True, check=True)
            for rel in filter(None, files.stdout.split("\0")):
                if (src.path / rel).is_file():
                    (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(src.path / rel, dest / rel)
            return f"copied the working tree of {src.path}"
        self._git(["clone", "-q", "--no-hardlinks", str(src.path), str(dest)], ws)
        if ref:
            self._git(["-c", "advice.detachedHead=false", "checkout", "-q", ref], dest)
        return f"checked out {repo}@{ref}"

    @staticmethod
    def _git(args: list[str], cwd: Path) -> None:
        p = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
        if p.returncode:
            raise StepFailed(f"git {' '.join(args)}: {p.stderr.strip()}")

    def _upload(self, w: dict, ws: Path) -> str:
        name = to_str(w.get("name")) or "artifact"
        dest = self.artifacts / name
        if dest.exists():        # v4: an artifact name is immutable within a run
            raise StepFailed(f"upload-artifact: an artifact named {name!r} already exists")
        src = ws / to_str(w["path"])
        missing = not src.exists() or (src.is_dir() and not any(src.iterdir()))
        if missing:
            if to_str(w.get("if-no-files-found", "warn")) == "error":
                raise StepFailed(f"upload-artifact: no files found at {w['path']}")
            return "no files found"
        if src.is_dir():
            shutil.copytree(src, dest)
        else:
            dest.mkdir(parents=True)
            shutil.copy2(src, dest / src.name)
        return f"uploaded {name}"

    def _download(self, w: dict, ws: Path) -> str:
        dest = ws / to_str(w.get("path", ""))
        name, pattern = to_str(w.get("name")), to_str(w.get("pattern"))
        if name:
            found = [self.artifacts / name] if (self.artifacts / name).exists() else []
            if not found:
                raise StepFailed(f"download-artifact: artifact {name!r} not found")
            shutil.copytree(found[0], dest, dirs_exist_ok=True)
            return f"downloaded {name}"
        found = sorted(p for p in self.artifacts.iterdir()
                       if not pattern or fnmatch.fnmatch(p.name, pattern))
        merge = truthy(w.get("merge-multiple")) and to_str(w.get("merge-multiple")) != "false"
        for p in found:
            shutil.copytree(p, dest if merge else dest / p.name, dirs_exist_ok=True)
        return f"downloaded {len(found)} artifact(s)"


class StepFailed(Exception):
    pass
