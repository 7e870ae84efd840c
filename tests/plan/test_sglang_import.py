"""import-sglang reads register_cuda_ci(...) with ast: both forms, disabled skipped, nightly honoured."""

from __future__ import annotations

from pathlib import Path

from conftest import run_cli
from pcgbot.plan.schema import load_plan


def make_checkout(tmp: Path) -> Path:
    reg = tmp / "sglang" / "test" / "registered"
    files = {
        "models/test_embedding_models.py":
            'from sglang.test.ci.ci_register import register_cuda_ci\n'
            'register_cuda_ci(est_time=300, suite="base-b-test-1-gpu-large")\n'
            'register_amd_ci(est_time=10, suite="stage-b-test-1-gpu-large-amd")\n'
            'if __name__ == "__main__":\n    main()\n',
        "lora/test_lora_tp.py":
            'register_cuda_ci(120, stage="base-b", runner_config="2-gpu-large")\n',
        "spec/test_disabled.py":
            'register_cuda_ci(est_time=50, suite="base-b-test-1-gpu-small", disabled="flaky #123")\n',
        "perf/test_nightly.py":
            'register_cuda_ci(est_time=900, suite="nightly-1-gpu", nightly=True)\n',
        "unit/test_small.py":
            'import x\nregister_cuda_ci(est_time=7, suite="base-b-test-1-gpu-small")\n',
        "conftest.py": 'register_cuda_ci(est_time=1, suite="base-b-test-1-gpu-small")\n',
    }
    for rel, text in files.items():
        f = reg / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text)
    return tmp / "sglang"


def test_import_per_commit_both_forms(tmp_path):
    co = make_checkout(tmp_path)
    out = tmp_path / "p.yaml"
    r = run_cli("plan", "import-sglang", str(co), "-o", str(out))
    assert r.returncode == 0, r.stderr
    plan = load_plan(out)
    got = {t.path: (t.gpus, t.suite, t.est_time) for t in plan.tests}
    assert got == {
        "registered/models/test_embedding_models.py": (1, "base-b-test-1-gpu-large", 300.0),
        "registered/lora/test_lora_tp.py": (2, "base-b-test-2-gpu-large", 120.0),
        "registered/unit/test_small.py": (1, "base-b-test-1-gpu-small", 7.0),
    }
    assert plan.workdir == "test" and plan.modes["pcg"].server_args == {
        "cuda_graph_backend_prefill": "tc_piecewise"}


def test_import_filters_suite_gpus_nightly(tmp_path):
    co = make_checkout(tmp_path)
    r = run_cli("plan", "import-sglang", str(co), "--suite", "base-b-test-2-gpu-large")
    assert r.returncode == 0 and "test_lora_tp.py" in r.stdout and "embedding" not in r.stdout
    r = run_cli("plan", "import-sglang", str(co), "--nightly")
    assert "test_nightly.py" in r.stdout and "test_small" not in r.stdout
    r = run_cli("plan", "import-sglang", str(co), "--gpus", "1")
    assert "sglang-1gpu" in r.stdout and "test_lora_tp" not in r.stdout


def test_non_literal_argument_is_one_clear_error(tmp_path):
    co = make_checkout(tmp_path)
    (co / "test/registered/unit/test_bad.py").write_text("T = 5\nregister_cuda_ci(est_time=T, suite='x')\n")
    r = run_cli("plan", "import-sglang", str(co))
    assert r.returncode == 2
    assert "test_bad.py:2: register_cuda_ci: argument is not a literal" in r.stderr
    assert "Traceback" not in r.stderr


def test_not_a_checkout(tmp_path):
    r = run_cli("plan", "import-sglang", str(tmp_path))
    assert r.returncode == 2 and "not an SGLang checkout" in r.stderr
