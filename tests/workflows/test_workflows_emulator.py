"""The Actions emulator itself: expressions, job order, outputs, env files, artifacts, `if:`.

The end-to-end workflow test trusts this emulator, so its semantics are pinned here against
what GitHub documents (loose equality, `||` returning an operand, artifacts immutable per name,
`success() &&` implied in `if:`)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from actions_emulator import Emulator, RepoSource
from actions_expr import ExprError, evaluate, interpolate

CTX = {"github": {"repository": "o/r", "event": {"pull_request": {
    "labels": [{"name": "run-pcg"}, {"name": "bug"}]}}},
    "inputs": {"empty": "", "n": 3, "s": "Hello"}, "vars": {}}


@pytest.mark.parametrize("expr, want", [
    ("inputs.empty || 'default'", "default"),
    ("inputs.s || 'default'", "Hello"),
    ("inputs.s && inputs.n", 3),
    ("inputs.empty && inputs.n", ""),
    ("inputs.s == 'hello'", True),                 # case-insensitive
    ("inputs.n == '3'", True),                     # coerced to numbers
    ("inputs.n > 2 && !(inputs.n >= 4)", True),
    ("inputs.missing.deeper", None),
    ("github.event.pull_request.labels.*.name", ["run-pcg", "bug"]),
    ("contains(github.event.pull_request.labels.*.name, 'RUN-PCG')", True),
    ("contains('abc', 'B')", True),
    ("startsWith('/pcgbot bisect x', '/pcgbot')", True),
    ("format('{0}-{1}-{{x}}', 'a', 1)", "a-1-{x}"),
    ("fromJSON('{\"a\":[1,2]}').a[1]", 2),
    ("join(fromJSON('[1,2,3]'), '+')", "1+2+3"),
    ("'it''s'", "it's"),
])
def test_expressions(expr, want):
    assert evaluate(expr, CTX) == want


def test_interpolation_keeps_type_of_a_whole_expression():
    assert interpolate("${{ fromJSON('[1,2]') }}", CTX) == [1, 2]
    assert interpolate("n=${{ inputs.n }} ${{ inputs.s }}", CTX) == "n=3 Hello"
    with pytest.raises(ExprError):
        evaluate("inputs.n ===", CTX)


def _emu(tmp: Path, repo: Path) -> Emulator:
    return Emulator(tmp / "run", repos={"o/r": RepoSource(repo)},
                    github={"repository": "o/r", "sha": "HEAD", "ref": "refs/heads/main",
                            "run_id": "1", "api_url": "http://127.0.0.1:1"})


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    r = tmp_path / "repo"
    r.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=r, check=True)
    (r / "hello.txt").write_text("hi\n")
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "add", "."], cwd=r,
                   check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"],
                   cwd=r, check=True)
    return r


def _write(tmp: Path, text: str) -> Path:
    p = tmp / "wf" / ".github" / "workflows" / "w.yml"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


def test_outputs_matrix_env_files_artifacts(tmp_path, repo):
    wf = _write(tmp_path, """
on: push
jobs:
  plan:
    runs-on: ubuntu-latest
    outputs:
      list: ${{ steps.l.outputs.list }}
    steps:
      - id: l
        run: echo "list=[1,2]" >> "$GITHUB_OUTPUT"
  work:
    needs: plan
    runs-on: [self-hosted, gpu-1]
    strategy:
      matrix:
        shard: ${{ fromJSON(needs.plan.outputs.list) }}
    env:
      SHARD: ${{ matrix.shard }}
    steps:
      - uses: actions/checkout@v4
        with: {path: src}
      - run: |
          mkdir -p "$RUNNER_TEMP/bin" out
          printf '#!/bin/sh\\necho tool-ran\\n' > "$RUNNER_TEMP/bin/mytool" && chmod +x "$RUNNER_TEMP/bin/mytool"
          echo "$RUNNER_TEMP/bin" >> "$GITHUB_PATH"
          echo "FROM_ENV=x$SHARD" >> "$GITHUB_ENV"
          cp src/hello.txt "out/hello-$SHARD.txt"
      - run: |
          test "$(mytool)" = tool-ran
          test "$FROM_ENV" = "x$SHARD"
          echo "shard $SHARD" >> "$GITHUB_STEP_SUMMARY"
      - uses: actions/upload-artifact@v4
        with: {name: "res-${{ matrix.shard }}", path: out/}
  join:
    needs: work
    runs-on: ubuntu-latest
    steps:
      - uses: actions/download-artifact@v4
        with: {pattern: "res-*", merge-multiple: true, path: all}
      - run: ls all; test -f all/hello-1.txt && test -f all/hello-2.txt
""")
    jobs = _emu(tmp_path, repo).run(wf, event_name="push")
    assert [j.result for j in jobs] == ["success"] * 4, [(j.id, s.output) for j in jobs
                                                         for s in j.steps]
    assert jobs[1].runs_on == ["self-hosted", "gpu-1"]
    assert jobs[1].summary == "shard 1\n"


def test_artifact_names_are_immutable_and_failures_skip_later_steps(tmp_path, repo):
    wf = _write(tmp_path, """
on: push
jobs:
  a:
    runs-on: ubuntu-latest
    steps:
      - run: mkdir -p o && echo 1 > o/f
      - uses: actions/upload-artifact@v4
        with: {name: same, path: o/}
      - uses: actions/upload-artifact@v4
        with: {name: same, path: o/}
      - run: echo never
      - if: failure()
        run: echo cleanup
  b:
    needs: a
    runs-on: ubuntu-latest
    steps: [{run: echo never}]
  c:
    needs: a
    if: ${{ !cancelled() }}
    runs-on: ubuntu-latest
    steps: [{run: echo runs anyway}]
""")
    jobs = _emu(tmp_path, repo).run(wf, event_name="push")
    a, b, c = jobs
    assert [s.outcome for s in a.steps] == ["success", "success", "failure", "skipped", "success"]
    assert "already exists" in a.steps[2].output
    assert (a.result, b.result, c.result) == ("failure", "skipped", "success")


def test_reusable_workflow_gets_typed_inputs_and_unknown_action_fails(tmp_path, repo):
    _write(tmp_path, "")
    called = tmp_path / "wf" / ".github" / "workflows" / "_called.yml"
    called.write_text("""
on:
  workflow_call:
    inputs:
      n: {type: number, default: 1}
      who: {type: string, required: true}
jobs:
  inner:
    runs-on: ubuntu-latest
    env: {N: "${{ inputs.n }}", WHO: "${{ inputs.who }}"}
    steps:
      - run: test "$N" = 2 && test "$WHO" = octo
      - uses: someone/else@v1
""")
    wf = _write(tmp_path, """
on: workflow_dispatch
jobs:
  call:
    uses: ./.github/workflows/_called.yml
    with: {n: 2, who: octo}
""")
    jobs = _emu(tmp_path, repo).run(wf, event_name="workflow_dispatch")
    inner = jobs[-1]
    assert inner.id == "call/inner"
    assert [s.outcome for s in inner.steps] == ["success", "failure"]
    assert "not emulated" in inner.steps[1].output
