"""Failure signatures: fingerprints stable across noise, distinct across bugs, root before cascade."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pcgbot.cli.main import main
from pcgbot.errors import UsageError
from pcgbot.signatures.normalize import clean_for_title, normalize, strip_prefix
from pcgbot.signatures.patterns import load_rules
from pcgbot.signatures.signature import render_title, signature_of_log

IMA_TB = """[{ts} TP{rank}] Scheduler hit an exception: Traceback (most recent call last):
  File "{root}/python/sglang/srt/managers/scheduler.py", line {n1}, in run_scheduler_process
    scheduler.event_loop_overlap()
  File "{root}/python/sglang/srt/model_executor/model_runner.py", line {n2}, in forward_extend
    return self.model.forward(batch)
  File "{root}/python/sglang/srt/distributed/device_communicators/pynccl.py", line {n3}, in outplace_all_reduce
    self.nccl.ncclAllReduce(buf, 0x{addr:x})
RuntimeError: CUDA error: an illegal memory access was encountered
CUDA kernel errors might be asynchronously reported at some other API call, so the stacktrace below might be incorrect.
"""

DYNAMO_TB = """Traceback (most recent call last):
  File "/w/python/sglang/srt/model_executor/piecewise_cuda_graph_runner.py", line 210, in warmup_compile
    self.model.forward(x)
  File "/w/python/sglang/srt/layers/quantization/fp8_kernel.py", line 88, in bmm_fp8
    handle = torch.cuda.current_blas_handle()
torch._dynamo.exc.Unsupported: current_blas_handle() returns int, not Tensor
"""


def noise(pid: int, port: int, ts: str, n: int = 40) -> str:
    out = [f"[{ts}] server_args=ServerArgs(port={port}, cuda_graph_backend_prefill='tc_piecewise')",
           f"[{ts}] INFO:     Started server process [{pid}]",
           f"Compiling num tokens (num_tokens=4096): {pid % 90}%|####      | 9/52 [00:0{pid % 9}<00:40]"]
    for i in range(n):
        out.append(f"[{ts} TP0] Decode batch. #running-req: {i % 7}, #token: {i * 31 + pid % 97}, "
                   f"token usage: 0.0{i % 9}, gen throughput (token/s): {pid % 1000}.{i:02d}")
        out.append(f'[{ts}] INFO:     127.0.0.1:{port + i} - "POST /generate HTTP/1.1" 200 OK')
    return "\n".join(out) + "\n"


def write(tmp: Path, name: str, text: str) -> Path:
    p = tmp / name
    p.write_text(text)
    return p


def ima_log(tmp: Path, name: str, *, pid: int, port: int, ts: str, rank: int, root: str,
            addr: int, lines: tuple[int, int, int]) -> Path:
    tb = IMA_TB.format(ts=ts, rank=rank, root=root, n1=lines[0], n2=lines[1], n3=lines[2], addr=addr)
    return write(tmp, name, noise(pid, port, ts) + tb + "Killed\n" +
                 f"Exception: Server process exited with code -9 (pid {pid})\n")


def test_same_bug_different_noise_same_fingerprint(tmp_path: Path) -> None:
    a = signature_of_log(ima_log(tmp_path, "a.log", pid=4242, port=30000, ts="2026-01-29 10:11:12",
                                 rank=0, root="/home/runner/_work/sglang/sglang", addr=0x7f00dead,
                                 lines=(2900, 1200, 130)))
    b = signature_of_log(ima_log(tmp_path, "b.log", pid=99811, port=41873, ts="2026-02-03 23:59:01",
                                 rank=1, root="/sgl-workspace/sglang", addr=0x5500beef00,
                                 lines=(3118, 1257, 141)))
    assert a.fingerprint == b.fingerprint
    assert a.title == b.title == "CUDA error: illegal memory access during prefill in pynccl.outplace_all_reduce"
    assert a.rule == "cuda-illegal-address" and a.pcg_active is True


def test_different_bugs_in_same_test_differ(tmp_path: Path) -> None:
    ima = signature_of_log(ima_log(tmp_path, "a.log", pid=1, port=2, ts="2026-01-01 00:00:00",
                                   rank=0, root="/r", addr=1, lines=(1, 2, 3)))
    dyn = signature_of_log(write(tmp_path, "b.log", noise(1, 2, "2026-01-01 00:00:00") + DYNAMO_TB))
    assert ima.fingerprint != dyn.fingerprint
    assert dyn.title == "torch._dynamo Unsupported: current_blas_handle() returns int, not Tensor" \
                        " in fp8_kernel.bmm_fp8"
    assert dyn.category == "pcg-bug"
    # Unknown errors: same type, different message or different frame => different bugs.
    base = "Traceback (most recent call last):\n  File \"/w/python/sglang/srt/{f}.py\", line 3, in {fn}\n    x\n{exc}\n"
    u1 = signature_of_log(write(tmp_path, "u1.log", base.format(f="a", fn="f", exc="ValueError: bad page size 16")))
    u2 = signature_of_log(write(tmp_path, "u2.log", base.format(f="a", fn="f", exc="ValueError: bad page size 64")))
    u3 = signature_of_log(write(tmp_path, "u3.log", base.format(f="a", fn="g", exc="ValueError: bad page size 16")))
    u4 = signature_of_log(write(tmp_path, "u4.log", base.format(f="a", fn="f", exc="ValueError: unknown dtype")))
    assert u1.rule is None and u1.fingerprint == u2.fingerprint      # numbers are noise
    assert len({u1.fingerprint, u3.fingerprint, u4.fingerprint}) == 3


def test_root_error_before_killed_and_teardown(tmp_path: Path) -> None:
    text = (noise(7, 8, "2026-01-01 00:00:00") + DYNAMO_TB +
            "[2026-01-01 00:00:01] Received sigquit from a child process. It usually means the child failed.\n"
            "Killed\n"
            "Traceback (most recent call last):\n"
            "  File \"/w/test/registered/eval/test_x.py\", line 9, in setUpClass\n"
            "    cls.process = popen_launch_server(m)\n"
            "requests.exceptions.ConnectionError: Max retries exceeded with url: /health (Connection refused)\n")
    sig = signature_of_log(write(tmp_path, "x.log", text))
    assert sig.rule == "dynamo-unsupported"
    assert any("SIGKILL" in t for t in sig.alt_titles)
    only_killed = signature_of_log(write(tmp_path, "k.log", noise(7, 8, "2026-01-01 00:00:00") + "Killed\n"))
    assert only_killed.rule == "killed-sigkill" and only_killed.category == "infra"


def test_first_real_error_wins_over_later_one(tmp_path: Path) -> None:
    first = "Traceback (most recent call last):\n  File \"/w/python/sglang/srt/a.py\", line 1, in f\n    x\nKeyError: 'x'\n"
    text = first + noise(1, 2, "2026-01-01 00:00:00") + "Traceback (most recent call last):\n" \
        "  File \"/w/python/sglang/srt/b.py\", line 1, in g\n    y\nValueError: later\n"
    sig = signature_of_log(write(tmp_path, "f.log", text))
    assert sig.title.startswith("KeyError: 'x'")
    assert any(t.startswith("ValueError: later") for t in sig.alt_titles)


def test_hard_crash_beats_earlier_handled_looking_error(tmp_path: Path) -> None:
    # An earlier unknown exception, then a CUDA IMA: the crash evidence names the failure.
    text = ("Traceback (most recent call last):\n  File \"/w/python/sglang/srt/a.py\", line 1, in f\n"
            "    x\nValueError: invalid request\n" + IMA_TB.format(
                ts="2026-01-01 00:00:00", rank=0, root="/w", n1=1, n2=2, n3=3, addr=1))
    assert signature_of_log(write(tmp_path, "h.log", text)).rule == "cuda-illegal-address"


def test_pcg_capture_ima_and_banner(tmp_path: Path) -> None:
    tb = IMA_TB.replace("model_runner.py", "piecewise_cuda_graph_runner.py").replace(
        "forward_extend", "warmup_compile").format(ts="2026-01-01 00:00:00", rank=0, root="/w",
                                                   n1=1, n2=2, n3=3, addr=1)
    sig = signature_of_log(write(tmp_path, "p.log", tb))
    assert sig.rule == "pcg-capture-illegal-address" and sig.category == "pcg-bug"
    # HEAD banner printed right after an otherwise unknown exception tags it as PCG's.
    text = ("Capture target prefill CUDA graph begin. backend=tc_piecewise, num_tokens=[4, 8]\n"
            "Traceback (most recent call last):\n  File \"/w/python/sglang/srt/layers/x.py\", line 5, in fwd\n"
            "    y\nRuntimeError: mode mismatch in split graph\n"
            "Fail when using backend: tc_piecewise for prefill runner.\n")
    sig = signature_of_log(write(tmp_path, "b.log", text))
    assert sig.rule == "pcg-backend-failed" and sig.category == "pcg-bug"
    assert sig.title == "PCG (tc_piecewise) failed: RuntimeError: mode mismatch in split graph in x.fwd"
    assert sig.excerpt[-1] == "Fail when using backend: tc_piecewise for prefill runner."


@pytest.mark.parametrize("text,expected", [
    ("Compiling num tokens (num_tokens=8): 100%\n", True),
    ("Capture target prefill CUDA graph begin. backend=tc_piecewise, num_tokens=[4]\n", True),
    ("server_args=ServerArgs(disable_piecewise_cuda_graph=True)\n", False),
    ("server_args=ServerArgs(cuda_graph_backend_prefill='disabled')\n", False),
    ("Capturing num tokens (num_tokens=8 avail_mem=70 GB)\n", True),
    ("Capture target prefill CUDA graph begin. backend=breakable\nCapturing num tokens (num_tokens=8)\n", False),
    ("nothing about graphs here\n", None),
])
def test_pcg_active_detection(tmp_path: Path, text: str, expected) -> None:
    sig = signature_of_log(write(tmp_path, "m.log", text + "RuntimeError: boom\n"))
    assert sig.pcg_active is expected


def test_pcg_bug_rule_on_pcg_off_log_is_not_pcg(tmp_path: Path) -> None:
    sig = signature_of_log(write(tmp_path, "o.log", "server_args=ServerArgs(disable_piecewise_cuda_graph=True)\n"
                                 + DYNAMO_TB))
    assert sig.rule == "dynamo-unsupported" and sig.category == "not-pcg"


def test_excerpt_is_bounded_and_redacted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_abcdefghijklmnopqrstuvwxyz0123")
    frames = "".join(f"  File \"/w/python/sglang/srt/m{i}.py\", line {i}, in f{i}\n    call()\n"
                     for i in range(60))
    text = ("Traceback (most recent call last):\n" + frames +
            "ValueError: refusing token hf_abcdefghijklmnopqrstuvwxyz0123\n")
    sig = signature_of_log(write(tmp_path, "r.log", text))
    assert len(sig.excerpt) <= 30
    assert not any("hf_abcdefghijklmnopqrstuvwxyz0123" in line for line in sig.excerpt)
    assert any("[REDACTED]" in line for line in sig.excerpt)
    assert "m59.f59" in sig.title                     # innermost frame, not the outermost


def test_handled_exception_is_ignored(tmp_path: Path) -> None:
    text = ("Exception ignored in: <function BaseEventLoop.__del__ at 0x7f3a2b1c9d30>\n"
            "Traceback (most recent call last):\n  File \"/usr/lib/python3.10/asyncio/base_events.py\", "
            "line 688, in __del__\nValueError: I/O operation on closed pipe\n" + DYNAMO_TB)
    assert signature_of_log(write(tmp_path, "i.log", text)).rule == "dynamo-unsupported"


def test_no_error_log_names_itself_and_shows_tail(tmp_path: Path) -> None:
    sig = signature_of_log(write(tmp_path, "n.log", noise(1, 2, "2026-01-01 00:00:00")))
    assert sig.rule == "no-error" and sig.title.startswith("no error line in log; it ends with: ")
    assert "Decode batch" in sig.title          # HTTP access lines are not "meaningful"
    assert sig.excerpt and "POST /generate" in sig.excerpt[-1]


def test_silent_logs_are_named_by_what_they_show_not_one_catch_all(tmp_path: Path) -> None:
    a = signature_of_log(write(tmp_path, "a.log", noise(1, 2, "2026-01-01 00:00:00")))
    a2 = signature_of_log(write(tmp_path, "a2.log", noise(77, 9, "2026-02-03 04:05:06")))
    b = signature_of_log(write(tmp_path, "b.log", noise(1, 2, "2026-01-01 00:00:00")
                               + "Capture cuda graph begin. This can take up to several minutes.\n"))
    c = signature_of_log(write(tmp_path, "c.log", noise(1, 2, "2026-01-01 00:00:00")
                               + "Capture cuda graph begin. This can take up to several minutes.\n"
                               + "Process exited with code -9\n"))
    assert a.fingerprint == a2.fingerprint      # same place, other run: one issue
    assert len({a.fingerprint, b.fingerprint, c.fingerprint}) == 3
    assert "(exited with code -9)" in c.title or "code -9" in c.title


def test_missing_log_is_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such log file"):
        signature_of_log(tmp_path / "nope.log")


# --- normalisation ---------------------------------------------------------------------------
def test_normalize_table() -> None:
    raw = ("[2026-01-29 10:11:12 TP3] RuntimeError at 0x7fabc0 pid=1234 port 30001 in "
           "/home/runner/_work/sglang/python/sglang/srt/x.py  45%|####5     | 9/20 [00:03<00:04, 2.5it/s] "
           "http://127.0.0.1:30000/generate rank 3 size 128 id 0123456789abcdef")
    got = normalize(raw)
    for gone in ("0x7fabc0", "1234", "30001", "/home/runner", "45%", "127.0.0.1", "128", "0123456789abcdef"):
        assert gone not in got
    assert "x.py" in got and "RuntimeError" in got
    assert normalize("a   b") == "a b"


def test_clean_title_and_prefixes() -> None:
    assert clean_for_title("size (128) vs (1536) at 0xdeadbeef in /a/b/c/d.py") == \
        "size (128) vs (1536) at ADDR in d.py"
    assert len(clean_for_title("x" * 300)) <= 113
    assert strip_prefix("[rank1]: RuntimeError: x") == "RuntimeError: x"
    assert strip_prefix("ERROR 10-11 12:27:29 engine.py:157] KeyError: 'a'") == "KeyError: 'a'"
    assert strip_prefix("2026-01-29T10:11:12.1234567Z   File \"a\"") == "  File \"a\""


def test_render_title_optional_segments() -> None:
    assert render_title("CUDA error[ in {where}]", {"where": ""}) == "CUDA error"
    assert render_title("CUDA error[ in {where}]", {"where": "a.b"}) == "CUDA error in a.b"
    assert render_title("{type}: {msg}", {"type": "E", "msg": ""}) == "E"


# --- patterns file --------------------------------------------------------------------------
def test_user_patterns_override_and_extend(tmp_path: Path) -> None:
    extra = write(tmp_path, "p.yaml", """
rules:
  - id: my-engine-bug
    regex: 'ValueError: bad page size'
    title: "page size bug"
    category: pcg-bug
  - id: cuda-illegal-address
    regex: 'illegal memory access'
    title: "IMA (site rule)"
    category: infra
""")
    rules = load_rules([extra])
    assert rules.rules[0].id == "my-engine-bug"
    assert rules.by_id("cuda-illegal-address").title == "IMA (site rule)"
    log = write(tmp_path, "l.log", "ValueError: bad page size 16\n")
    assert signature_of_log(log, rules).rule == "my-engine-bug"
    ima = signature_of_log(write(tmp_path, "m.log", "RuntimeError: CUDA error: an illegal memory access\n"), rules)
    assert (ima.title, ima.category) == ("IMA (site rule)", "infra")


@pytest.mark.parametrize("body,msg", [
    ("rules:\n  - id: x\n    regex: '('\n", r"p\.yaml:3: regex: bad regex"),
    ("rules:\n  - id: x\n    regex: 'a'\n    colour: red\n", r"p\.yaml:4: colour: unknown rule key"),
    ("rules:\n  - id: x\n    regex: 'a'\n    category: maybe\n", r"p\.yaml:4: category: must be one of"),
    ("rules:\n  - id: x\n    regex: 'a'\n    phase: yes please\n", r"p\.yaml:4: phase: must be true or false"),
    ("rules:\n  - id: Bad Id\n    regex: 'a'\n", r"p\.yaml:2: id: must be a lowercase slug"),
    ("rules:\n  - id: x\n    regex: 'a'\n  - id: x\n    regex: 'b'\n", r"duplicate rule id 'x'"),
    ("rules: [\n", r"p\.yaml:\d+: yaml:"),
    ("pcg_markers:\n  sometimes: [a]\n", r"p\.yaml:2: pcg_markers.sometimes: unknown key"),
])
def test_bad_patterns_name_file_line_key(tmp_path: Path, body: str, msg: str) -> None:
    p = write(tmp_path, "p.yaml", body)
    with pytest.raises(UsageError, match=msg):
        load_rules([p])


def test_builtin_patterns_cover_the_key_patterns_table() -> None:
    rules = load_rules()
    ids = {r.id for r in rules.rules}
    for rid in ("private-ci-model-404", "eagle-context-length-mismatch", "resolve-language-model",
                "vectorized-gather-oob", "dynamo-unsupported", "pcg-backend-failed",
                "pcg-capture-failed", "pcg-capture-failed-legacy", "cuda-oom", "killed-sigkill",
                "address-in-use", "hf-404", "hf-401", "hf-gated-repo", "model-attribute-error",
                "accuracy-below-threshold", "timeout", "nccl-watchdog-timeout", "nccl-error",
                "tensor-size-mismatch", "cuda-graph-capture", "cudnn-version",
                "triton-compile-error", "weights-keyerror", "missing-fake-kernel"):
        assert rid in ids, rid
    assert "Compiling num tokens" in rules.active
    assert "disable_piecewise_cuda_graph=True" in rules.inactive


@pytest.mark.parametrize("line,rule", [
    ("OSError: lmsys/sglang-ci-dsv3-test is not a local folder and is not a valid model identifier",
     "private-ci-model-404"),
    ("ValueError: The draft model context_length 2048 is smaller than target context_length 131072",
     "eagle-context-length-mismatch"),
    ("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB.", "cuda-oom"),
    ("RuntimeError: Triton Error [CUDA]: operation not permitted when stream is capturing",
     "cuda-graph-capture"),
    ("RuntimeError: The size of tensor a (128) must match the size of tensor b (1536) at "
     "non-singleton dimension 1", "tensor-size-mismatch"),
    ("Fatal Python error: Segmentation fault", "segfault"),
    ("ModuleNotFoundError: No module named 'flashinfer'", "import-error"),
])
def test_single_line_families(tmp_path: Path, line: str, rule: str) -> None:
    assert signature_of_log(write(tmp_path, "s.log", line + "\n")).rule == rule


def test_resolve_language_model_needs_its_frame(tmp_path: Path) -> None:
    tb = ("Traceback (most recent call last):\n"
          "  File \"/w/python/sglang/srt/model_loader/utils.py\", line 40, in resolve_language_model\n"
          "    return model.model\n"
          "AttributeError: 'Gemma3ForConditionalGeneration' object has no attribute 'model'\n")
    assert signature_of_log(write(tmp_path, "g.log", tb)).rule == "resolve-language-model"
    other = tb.replace("resolve_language_model", "load_weights")
    assert signature_of_log(write(tmp_path, "h.log", other)).rule == "model-attribute-error"


# --- CLI ------------------------------------------------------------------------------------
def test_cli_signature_json_and_text(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    a = write(tmp_path, "a.log", DYNAMO_TB)
    b = write(tmp_path, "b.log", "Killed\n")
    assert main(["signature", "--json", str(a), str(b)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [d["rule"] for d in out] == ["dynamo-unsupported", "killed-sigkill"]
    assert set(out[0]) >= {"log", "fingerprint", "title", "rule", "category", "pcg_active", "excerpt"}
    assert main(["signature", str(a)]) == 0
    text = capsys.readouterr().out
    assert re.search(r"^  [0-9a-f]{12}  torch._dynamo Unsupported", text, re.M)
    assert main(["signature", str(tmp_path / "missing.log")]) == 2
    assert "no such log file" in capsys.readouterr().err


def test_explain_shows_the_line_rule_frames_and_key(tmp_path: Path, capsys) -> None:
    log = write(tmp_path, "w.log", noise(5, 6, "2026-01-01 00:00:00") + (
        "[rank0]:[E1206 18:44:12.715298746 ProcessGroupNCCL.cpp:607] [Rank 0] Watchdog caught "
        "collective operation timeout: WorkNCCL(SeqNum=7753, OpType=_REDUCE_SCATTER_BASE, "
        "NumelIn=5, NumelOut=1, Timeout(ms)=600000) ran for 600061 milliseconds before timing out.\n"))
    assert main(["signature", "--explain", str(log)]) == 0
    out = capsys.readouterr().out
    assert "NCCL watchdog timeout in _REDUCE_SCATTER_BASE" in out
    assert "root line: [rank0]:[E1206" in out
    assert "rule: nccl-watchdog-timeout (" in out and "patterns.yaml:" in out
    assert "    rule:nccl-watchdog-timeout\n    op=_REDUCE_SCATTER_BASE" in out
    assert "scheme 2; older schemes: `" in out
    assert main(["signature", "--explain", "--json", str(log)]) == 0
    d = json.loads(capsys.readouterr().out)[0]
    assert d["explain"]["key"][:2] == ["rule:nccl-watchdog-timeout", "op=_REDUCE_SCATTER_BASE"]
    assert d["scheme"] == 2 and len(d["explain"]["aliases"]) == 1


# --- scheme v2: the classes of misses of issue 16 ----------------------------------------------
@pytest.mark.parametrize("line", [
    "2025-07-25T07:53:08.21748708+08:00 stdout F [2025-07-25 07:53:08 TP2] RuntimeError: boom",
    "Dec 09 13:35:40 host deepseek-ocr[206214]: (EngineCore_DP0 pid=86) RuntimeError: boom",
    "[80746] [rank0]:RuntimeError: boom",
    "  | [2025-02-23T04:29:50Z] RuntimeError: boom",
    "│ ERROR 09-27 06:46:46 engine.py:157] RuntimeError: boom      │",
    "(VllmWorker rank=1 pid=477) ERROR 07-22 12:55:39 [multiproc_executor.py:618] RuntimeError: boom",
    "ubuntu-xllm-stream-1-1  | 2024-08-27 12:54:55 | ERROR | stderr | RuntimeError: boom",
    "[BASH] RuntimeError: boom",
    "^[[31mRuntimeError: boom^[[0m",
    "E               RuntimeError: boom",
    "> [2025-11-06T02:10:00.702Z] RuntimeError: boom",
])
def test_stacked_prefixes_are_stripped(line: str) -> None:
    from pcgbot.signatures.normalize import strip_prefix
    assert strip_prefix(line).strip() == "RuntimeError: boom"


def test_prefix_stripping_keeps_the_indentation_of_frames() -> None:
    from pcgbot.signatures.normalize import strip_prefix
    assert strip_prefix("(WorkerDict pid=1)     seq = x.cpu()") == "    seq = x.cpu()"
    assert strip_prefix("12:34:56 a time, not a grep line number") == "12:34:56 a time, not a grep line number"


def test_wrapped_errors_share_the_innermost_cause(tmp_path: Path) -> None:
    from pcgbot.signatures.signature import innermost
    assert innermost("torch._dynamo.exc.InternalTorchDynamoError", "RuntimeError: x") == ("RuntimeError", "x")
    assert innermost("ray.exceptions.RayTaskError(ValueError)", "y") == ("ValueError", "y")
    assert innermost("RuntimeError", "Worker failed with error 'CUDA error: z") == ("RuntimeError", "CUDA error: z")
    assert innermost("KeyError", "RuntimeError: not a wrapper") == ("KeyError", "RuntimeError: not a wrapper")
    a = signature_of_log(write(tmp_path, "a.log", "torch._inductor.exc.InductorError: ValueError: bad shape 3\n"))
    b = signature_of_log(write(tmp_path, "b.log", "ValueError: bad shape 7\n"))
    assert a.fingerprint == b.fingerprint and a.title.startswith("torch.compile failed: ValueError")


def test_pytest_failed_lines_join_parametrisations_of_one_bug(tmp_path: Path) -> None:
    a = signature_of_log(write(tmp_path, "a.log", "FAILED t/test_m.py::test_acc[model-a] - AssertionError: "
                               "GSM8K too low: 0.0000 < 0.6700\n"))
    b = signature_of_log(write(tmp_path, "b.log", "FAILED t/test_m.py::test_acc[model-b] - AssertionError: "
                               "GSM8K too low: 0.0114 < 0.7700\n"))
    c = signature_of_log(write(tmp_path, "c.log", "E       assert 68 > 70\n"))
    assert a.rule == b.rule == c.rule == "pytest-assert"
    assert a.fingerprint == b.fingerprint != c.fingerprint
    assert a.title == "test assertion failed in t/test_m.py::test_acc: GSM8K too low: 0.0000 < 0.6700"
    src = signature_of_log(write(tmp_path, "d.log", "assert x is not None\n    ^^^^\nAssertionError: x unset\n"))
    assert src.rule is None           # a bare assert at column 0 is a source line, not pytest


def kernel_assert(file: str, kernel: str, cond: str, n: int = 40) -> str:
    return "".join(f"/pytorch/aten/src/ATen/native/cuda/{file}:{100 + n}: {kernel}: block: [{i // 8},0,0], "
                   f"thread: [{i},0,0] Assertion `{cond}` failed.\n" for i in range(n))


def test_kernel_asserts_are_named_by_file_kernel_and_condition(tmp_path: Path) -> None:
    a = signature_of_log(write(tmp_path, "a.log", kernel_assert("Loss.cu", "nll_loss_forward", "t >= 0 && t < n")))
    b = signature_of_log(write(tmp_path, "b.log", kernel_assert("Loss.cu", "nll_loss_forward", "t >= 0 && t < n", 3)))
    c = signature_of_log(write(tmp_path, "c.log", kernel_assert("Sort.cu", "sort_kernel", "t >= 0 && t < n")))
    assert a.rule == "cuda-kernel-assert" and a.fingerprint == b.fingerprint != c.fingerprint
    assert a.title == "CUDA kernel assert `t >= 0 && t < n` failed in nll_loss_forward (Loss.cu)"


def cut_stack(funcs: list[str], prefix: str = "") -> str:
    return "".join(f'{prefix}  File "/x/sglang/srt/layers/m{i}.py", line {10 + i}, in {f}\n{prefix}    y = {f}()\n'
                   for i, f in enumerate(funcs))


def test_a_stack_cut_before_its_error_line_is_named_by_its_innermost_frames(tmp_path: Path) -> None:
    a = signature_of_log(write(tmp_path, "a.log", cut_stack(["run", "forward", "all_gather"])))
    b = signature_of_log(write(tmp_path, "b.log", cut_stack(["run", "forward", "all_gather"], "(Worker pid=9) ")))
    c = signature_of_log(write(tmp_path, "c.log", cut_stack(["run", "forward", "all_reduce"])))
    assert a.rule == "truncated-traceback" and a.title == "traceback without its error line in m2.all_gather"
    assert a.fingerprint == b.fingerprint != c.fingerprint
    real = signature_of_log(write(tmp_path, "d.log", cut_stack(["run"]) + "\nValueError: real error\n"
                                  + cut_stack(["later", "cut"])))
    assert real.title.startswith("ValueError: real error")   # a stack without its error never wins


def test_watchdog_timeouts_are_told_apart_by_collective(tmp_path: Path) -> None:
    line = ("[rank{r}]:[E1206 18:44:12.7 ProcessGroupNCCL.cpp:607] [Rank {r}] Watchdog caught collective "
            "operation timeout: WorkNCCL(SeqNum={s}, OpType={op}, NumelIn=5, NumelOut=5, Timeout(ms)=600000) "
            "ran for 600061 milliseconds before timing out.\n")
    a = signature_of_log(write(tmp_path, "a.log", line.format(r=0, s=7, op="ALLREDUCE")))
    b = signature_of_log(write(tmp_path, "b.log", line.format(r=3, s=9000, op="ALLREDUCE")))
    c = signature_of_log(write(tmp_path, "c.log", line.format(r=0, s=7, op="BROADCAST")))
    assert a.fingerprint == b.fingerprint != c.fingerprint
    assert a.title == "NCCL watchdog timeout in ALLREDUCE (collective hang)"
