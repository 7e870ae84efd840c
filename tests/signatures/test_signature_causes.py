"""Where the fingerprint comes from when the log's first error line is not the bug: the phase of
a coarse crash, NCCL's own diagnosis, dynamo's "raised:" cause, a symbol, a compiler line."""

from __future__ import annotations

from pathlib import Path

from pcgbot.signatures.normalize import Frame
from pcgbot.signatures.phase import phase_before, phase_of_frames
from pcgbot.signatures.signature import signature_of_log


def sig(tmp_path: Path, name: str, text: str):
    p = tmp_path / name
    p.write_text(text)
    return signature_of_log(p)


OOM = "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB.\n"


def test_an_oom_while_capturing_is_not_an_oom_while_loading(tmp_path: Path) -> None:
    load = sig(tmp_path, "a.log", "[TP0] Load weight begin. avail mem=70.1 GB\n" + OOM)
    cap = sig(tmp_path, "b.log", "[TP0] Load weight end.\n[TP0] Capture cuda graph begin.\n" + OOM)
    cap2 = sig(tmp_path, "c.log", "[TP3] Capture cuda graph begin. This can take minutes.\n"
               "Capturing batches (bs=8 avail_mem=3.2 GB):  20%|##  | 8/36\n" + OOM)
    bare = sig(tmp_path, "d.log", OOM)
    assert load.fingerprint != cap.fingerprint == cap2.fingerprint != bare.fingerprint
    assert cap.title == "CUDA out of memory during CUDA graph capture"
    assert load.title == "CUDA out of memory during weight loading"
    assert bare.title == "CUDA out of memory"


def test_the_phase_comes_from_the_frames_first() -> None:
    frames = [Frame("sglang.srt.model_executor.model_runner", "forward_decode", True),
              Frame("sglang.srt.layers.x", "apply", True)]
    assert phase_of_frames(frames) == "decode"
    assert phase_of_frames([Frame("torch.nn.modules", "forward", False)]) is None
    assert phase_before("[TP0] Capture cuda graph end. Time elapsed: 3.1 s") == ""
    assert phase_before("[TP0] Capture cuda graph begin. This can take up to several minutes.") == "capture"
    assert phase_before("Prefill batch. #new-seq: 1") is None      # timing, not a phase


NCCL_A = """[rank0]: torch.distributed.DistBackendError: NCCL error in: /pytorch/torch/csrc/distributed/c10d/NCCLUtils.cpp:77, unhandled cuda error (run with NCCL_DEBUG=INFO for details), NCCL version 2.26.2
[rank0]: ncclUnhandledCudaError: Call to CUDA function failed.
[rank0]: Last error:
[rank0]: Cuda failure 'operation not supported'
"""
NCCL_B = "node-7:95209:95228 [0] init.cc:416 NCCL WARN Cuda failure 'operation not supported'\n"
NCCL_C = NCCL_A.replace("operation not supported", "invalid argument")


def test_nccl_errors_are_keyed_by_nccls_own_diagnosis(tmp_path: Path) -> None:
    a, b, c = (sig(tmp_path, n, t) for n, t in (("a", NCCL_A), ("b", NCCL_B), ("c", NCCL_C)))
    assert a.fingerprint == b.fingerprint != c.fingerprint
    assert a.title == b.title == "NCCL error: Cuda failure 'operation not supported'"


def test_dynamo_raised_takes_the_cause_on_the_next_line(tmp_path: Path) -> None:
    head = '  File "/x/torch/_inductor/codecache.py", line 166, in get_system\n'
    cause = ("ImportError: cannot import name 'triton_key' from 'triton.compiler.compiler' "
             "(/opt/{}/triton/compiler/compiler.py)\n")
    a = sig(tmp_path, "a.log", head + "torch._dynamo.exc.BackendCompilerFailed: backend='inductor' "
            "raised:\n" + cause.format("a"))
    b = sig(tmp_path, "b.log", "Traceback (most recent call last):\n" + head +
            "torch._dynamo.exc.BackendCompilerFailed: backend='inductor' raised:\n"
            "node-3:1:1 [0] NCCL INFO Channel 00/02 : 0 1\n" + "LoweringException: " + cause.format("b"))
    assert a.rule == b.rule == "import-error"
    assert a.fingerprint == b.fingerprint
    assert "triton_key" in a.title


def test_an_undefined_symbol_names_the_bug_wherever_it_is_printed(tmp_path: Path) -> None:
    a = sig(tmp_path, "a.log", "ImportError: /usr/lib/x/common_ops.abi3.so: undefined symbol: cuGreenCtxDestroy\n")
    b = sig(tmp_path, "b.log", "[sgl_kernel] CRITICAL: Could not load any common_ops library!\n"
            "Error details from previous import attempts:\n"
            "- ImportError: /venv/sgl_kernel/common_ops.abi3.so: undefined symbol: cuGreenCtxDestroy\n")
    assert a.rule == b.rule == "undefined-symbol" and a.fingerprint == b.fingerprint
    assert a.category == "infra"


def test_compiler_diagnostics_and_critical_lines_are_errors(tmp_path: Path) -> None:
    cu = sig(tmp_path, "a.log", "building...\n/src/csrc/green_ctx.cu(59): error: identifier "
             '"CUgreenCtx" is undefined\n1 error detected\n')
    assert cu.rule == "compiler-error" and "green_ctx.cu" in cu.title
    gcc = sig(tmp_path, "b.log", "/tmp/tmpab/main.c:5:10: fatal error: Python.h: No such file or directory\n")
    assert gcc.rule == "compiler-error" and "Python.h" in gcc.title
    crit = sig(tmp_path, "c.log", "loading\n[kernels] CRITICAL: Could not load the library!\ndone\n")
    assert crit.rule == "logged-critical"
    assert sig(tmp_path, "d.log", "all good\nINFO ready\n").rule == "no-error"


def test_other_ci_timestamps_and_a_bare_numeric_assert(tmp_path: Path) -> None:
    a = sig(tmp_path, "a.log", "Dec 03 17:59:26 Traceback (most recent call last):\n"
            'Dec 03 17:59:26   File "test_distributed.py", line 2082, in _run\n'
            "Dec 03 17:59:26 RuntimeError: Address already in use\n")
    assert a.rule == "address-in-use"
    b = sig(tmp_path, "b.log", "04-20 13:32:25.784 Traceback (most recent call last):\n"
            '04-20 13:32:25.784  File "/app/sglang/python/sglang/srt/managers/scheduler.py", line 3770, in run\n'
            "04-20 13:32:25.784 ValueError: bad quantization config\n")
    assert b.title.startswith("ValueError: bad quantization config")
    c = sig(tmp_path, "c.log", "assert 3826.477541588247 <= 3769.186069071293\n"
            "==== 1 failed, 1 deselected in 250.59s ====\n")
    assert c.rule == "pytest-assert"


def test_a_pcg_hint_tags_the_error_and_never_stands_alone(tmp_path: Path) -> None:
    hint = ("Piecewise CUDA Graph is enabled by default as an experimental feature.\n"
            "To work around this error, add --disable-piecewise-cuda-graph to your launch command.\n")
    err = ("Traceback (most recent call last):\n"
           '  File "/w/python/sglang/srt/compilation/backend.py", line 10, in compile\n'
           "RuntimeError: shape mismatch in fused op\n")
    s = sig(tmp_path, "a.log", hint + err + hint)    # a previous rank's hint before the error
    assert s.category == "pcg-bug" and "shape mismatch" in s.title
    assert sig(tmp_path, "b.log", hint).rule == "no-error"


def test_a_stack_cut_before_its_first_frame_is_named_by_the_line_above(tmp_path: Path) -> None:
    a = sig(tmp_path, "a.log", "ERROR 05-07 18:53:47 [worker.py:926] Error executing method 'execute_model'.\n"
            "ERROR 05-07 18:53:47 [worker.py:926] Traceback (most recent call last):\n")
    b = sig(tmp_path, "b.log", "ERROR 05-07 18:53:47 [worker.py:926] Error executing method 'load_model'.\n"
            "ERROR 05-07 18:53:47 [worker.py:926] Traceback (most recent call last):\n")
    assert a.rule == b.rule == "truncated-traceback"
    assert a.fingerprint != b.fingerprint and "execute_model" in a.title


def test_other_cuda_errors_cpp_aborts_and_tool_errors_are_named(tmp_path: Path) -> None:
    mis = sig(tmp_path, "a.log", "step 3\nCUDA error: misaligned address at /src/kernels/topk.cu:88\n")
    bad = sig(tmp_path, "b.log", "step 3\nCUDA error: invalid configuration argument\n")
    assert mis.rule == bad.rule == "cuda-error" and mis.fingerprint != bad.fingerprint
    assert mis.title == "CUDA error: misaligned address"
    term = sig(tmp_path, "c.log", "terminate called after throwing an instance of 'c10::DistBackendError'\n"
               "Aborted (core dumped)\n")
    assert term.rule == "cpp-terminate" and "c10::DistBackendError" in term.title
    tool = sig(tmp_path, "d.log", "Building wheel\nerror: command '/usr/bin/gcc' failed with exit code 1\n")
    assert tool.rule == "tool-error"
    logged = sig(tmp_path, "e.log", "2025-01-01 10:00:00,123 - vllm.worker - ERROR - x\n"
                 "2025-01-01 10:00:00,124 - vllm.worker - ERROR - ValueError: bad rope scaling\n")
    assert logged.title.startswith("ValueError: bad rope scaling")


def test_native_asserts_nvshmem_gtest_and_kernel_timeouts(tmp_path: Path) -> None:
    a = sig(tmp_path, "a.log", "Assertion failed: /mnt/DeepEP/csrc/kernels/internode_ll.cu:259, "
            "condition: num_recv_tokens != 0      \n")
    b = sig(tmp_path, "b.log", "Assertion failed: /x/y/internode_ll.cu:262, condition: num_recv_tokens != 0\n")
    assert a.rule == "native-assert" and a.fingerprint == b.fingerprint   # line numbers move
    glibc = sig(tmp_path, "c.log", "python: /src/alloc.cpp:42: void f(): Assertion `ptr != nullptr' failed.\n")
    assert glibc.rule == "native-assert" and "ptr != nullptr" in glibc.title
    nv = sig(tmp_path, "d.log", "/dvs/p4/nvshmem/src/host/mem/mem_heap.cpp:212: non-zero status: 2 "
             "cuMemCreate failed\n")
    assert nv.rule == "nvshmem-error" and "status 2" in nv.title
    g1 = sig(tmp_path, "e.log", "/w/test/cpp/rpc/test_e2e_tensorpipe.cpp:59\nExpected equality of these values:\n"
             "  0\n  agent->timeoutMapSize()\n    Which is: 2\n")
    g2 = sig(tmp_path, "f.log", "/v/test/cpp/rpc/test_e2e_tensorpipe.cpp:59: Failure\nExpected equality of "
             "these values:\n  0\n  agent->timeoutMapSize()\n    Which is: 4\n")
    assert g1.rule == g2.rule == "gtest-failure" and g1.fingerprint == g2.fingerprint
    t = sig(tmp_path, "g.log", "DeepEP timeout check failed: rank = 2, thread = 0)\n")
    assert t.rule == "kernel-timeout-check"


def test_pytest_sections_failed_lines_and_pytest_frames(tmp_path: Path) -> None:
    cut = sig(tmp_path, "a.log", "____________ test_parallel_sampling[True] ____________\n\n"
              "    def test_parallel_sampling(vllm_model) -> None:\n        model = vllm_model.model\n")
    assert cut.rule == "pytest-failure-cut" and "test_parallel_sampling" in cut.title
    bare = sig(tmp_path, "b.log", "FAILED test_flash_attn.py::test_splitkv[1-339-True] \n"
               "FAILED test_flash_attn.py::test_splitkv[2-128-False] \n")
    other = sig(tmp_path, "c.log", "FAILED test_flash_attn.py::test_output[1] \n")
    assert bare.rule == other.rule == "pytest-failed" and bare.fingerprint != other.fingerprint
    frames = sig(tmp_path, "d.log", "tests/spec/test_x.py:88: in test_accept\n    run()\n"
                 "vllm/engine.py:120: in run\n    step()\n")
    assert frames.rule == "truncated-traceback" and "run" in frames.title


def test_cpp_terminate_takes_its_what_line_and_engine_dead_is_a_cascade(tmp_path: Path) -> None:
    t = sig(tmp_path, "a.log", "terminate called after throwing an instance of 'std::runtime_error'\n"
            "  what():  NCCL Error 5: invalid usage (run with NCCL_DEBUG=WARN for details)\n")
    assert t.rule == "nccl-error"
    dead = sig(tmp_path, "b.log", "ERROR x MQEngineDeadError: Engine loop is not running. Inspect the "
               "stacktrace to find the original error.\n")
    assert dead.rule == "engine-dead"
    both = sig(tmp_path, "c.log", "ValueError: Attempted to assign 119 = 119 multimodal tokens to 120 "
               "placeholders\nMQEngineDeadError: Engine loop is not running.\n")
    assert both.title.startswith("ValueError: Attempted to assign")


def test_vllm_logged_keyerror_and_tgi_shard_prefix(tmp_path: Path) -> None:
    k = sig(tmp_path, "a.log", "ERROR 12-09 00:49:29 engine.py:366] 'layers.0.mlp.down_proj.weight.absmax'\n"
            "ERROR 12-09 00:49:29 engine.py:366] Traceback (most recent call last):\n")
    assert k.rule == "weights-keyerror-param"
    p = sig(tmp_path, "b.log", 'Shard 0: Traceback (most recent call last):\nShard 0:   File "/srv/x.py", '
            "line 3, in load\nShard 0: RuntimeError: weight lm_head.weight does not exist\n")
    assert p.title.startswith("RuntimeError: weight lm_head.weight does not exist")
    px = sig(tmp_path, "c.log", "ptxas /tmp/tmpxft_1a7b-6_paged_attention_v1.ptx, line 110299; error   : "
             "Feature 'f16 arithemetic and compare instructions' requires .target sm_53 or higher\n")
    assert px.rule == "ptxas-line-error"


def test_a_line_that_says_it_failed_is_named_when_nothing_better_is(tmp_path: Path) -> None:
    a = sig(tmp_path, "a.log", "step 1\n[kv] transfer of block 7 FAILED on peer node-3\nstep 2\n")
    assert a.rule == "error-line" and "FAILED on peer" in a.title
    b = sig(tmp_path, "b.log", "request 1 failed with a transient error, retrying\nall done, 0 errors\n")
    assert b.rule == "no-error"                       # benign words never stand for an error
    c = sig(tmp_path, "c.log", "[kv] transfer FAILED\nTraceback (most recent call last):\n"
            '  File "/w/python/sglang/srt/x.py", line 3, in f\nValueError: bad block\n')
    assert c.title.startswith("ValueError: bad block")   # a real error wins


def test_a_unittest_header_names_a_cut_test_only_when_nothing_else_does(tmp_path: Path) -> None:
    h = sig(tmp_path, "a.log", "ERROR: test_rms_norm (__main__.TestRMSNorm)\n------\n")
    assert h.rule == "unittest-error-header" and "test_rms_norm" in h.title
    t = sig(tmp_path, "b.log", "ERROR: test_rms_norm (__main__.TestRMSNorm)\nTraceback (most recent call last):\n"
            '  File "/w/test_norm.py", line 9, in test_rms_norm\n    run()\n')
    assert t.rule == "truncated-traceback"


def test_unittests_summary_is_no_pytest_failure(tmp_path: Path) -> None:
    s = sig(tmp_path, "a.log", "Ran 3 tests in 0.2s\n\nFAILED (errors=1)\n")
    assert s.rule != "pytest-failed"


def test_rocm_trtllm_and_library_specific_errors(tmp_path: Path) -> None:
    fault = sig(tmp_path, "a.log", "Memory access fault by GPU node-2 (Agent handle: 0x55) on address 0x7f00. "
                "Reason: Page not present or supervisor privilege.\n")
    assert fault.rule == "rocm-memory-fault" and "Page not present" in fault.title
    dmesg = sig(tmp_path, "b.log", "amdgpu 0000:c6:00.0: amdgpu: [gfxhub] page fault (src_id:0 ring:24)\n")
    assert dmesg.rule == "rocm-memory-fault"
    trt = sig(tmp_path, "c.log", "[TensorRT-LLM][ERROR] Assertion failed: mNextBlocks.empty() "
              "(/src/cpp/tensorrt_llm/batch_manager/kvCacheManager.cpp:213)\n")
    assert trt.rule == "native-assert" and "kvCacheManager.cpp" in trt.title
    lm = [sig(tmp_path, f"l{i}.log", f"  what():  [TM][ERROR] CUDA runtime error: an illegal memory access was "
              f"encountered /lmdeploy/src/turbomind/models/llama/LlamaBatch.h:{n} \n") for i, n in ((1, 136), (2, 143))]
    other = sig(tmp_path, "o.log", "RuntimeError: CUDA error: an illegal memory access was encountered\n")
    assert lm[0].fingerprint == lm[1].fingerprint != other.fingerprint
    assert "LlamaBatch.h" in lm[0].title
    bnb = sig(tmp_path, "d.log", "Error named symbol not found at line 116 in file /mmfs1/bnb/csrc/ops.cu\n")
    assert bnb.rule == "cuda-runtime-line" and "ops.cu" in bnb.title
    hip = sig(tmp_path, "e.log", "ggml_cuda_compute_forward: MUL_MAT failed\nROCm error: invalid device function\n")
    assert hip.rule == "cuda-error" and "invalid device function" in hip.title
    miopen = sig(tmp_path, "f.log", "MIOpen(HIP): Error [Compile] 'hiprtcCompileProgram(prog.get(), ...)' failed\n"
                 "MIOpen Error: /long/path/handlehip.cpp:123: Code object build failed. Source: x.cl\n")
    assert miopen.rule == "miopen-error"


def test_escaped_and_windows_frames_and_a_header_without_a_body(tmp_path: Path) -> None:
    esc = sig(tmp_path, "a.log", 'Traceback (most recent call last):\n  File \\"/app/triton_decoder.py\\", line 9, '
              "in _exec\n    raise X()\n")
    assert esc.rule == "truncated-traceback" and "triton_decoder._exec" in esc.title
    win = sig(tmp_path, "b.log", 'Traceback (most recent call last):\n  File "C:\\\\sd\\\\venv\\\\x\\\\attn.py", '
              "line 3, in forward\nRuntimeError: CUDA error: invalid configuration argument\n")
    assert win.title == "CUDA error: invalid configuration argument in attn.forward"
    noise = "\n".join(f"line {i} of a log that is not a stack" for i in range(30))
    hdr = sig(tmp_path, "c.log", "Traceback (most recent call last):\n" + noise +
              "\nValueError: checkpoint shard 3 is missing\n")
    assert hdr.title.startswith("ValueError: checkpoint shard 3 is missing")
    above = sig(tmp_path, "d.log", "Error executing method 'execute_model'.\n"
                "node-3:4242:4242 [0] NCCL INFO Channel 00/02 : 0 1\nTraceback (most recent call last):\n")
    assert "execute_model" in above.title


TB_X = 'Traceback (most recent call last):\n  File "/w/tests/test_x.py", line 4, in test_x\n    f()\n'


def test_a_bare_exception_does_not_take_the_next_line_as_its_message(tmp_path: Path) -> None:
    a, b = (sig(tmp_path, f"{h}.log", TB_X + f"AssertionError\nrun finished on host {h} in 12.5s\n")
            for h in ("gpu-node-a17", "gpu-node-b23"))
    assert a.fingerprint == b.fingerprint and "gpu-node" not in a.title
    chain = sig(tmp_path, "c.log", TB_X + "StopIteration\n\nDuring handling of the above exception, "
                "another exception occurred:\n\n")
    assert chain.title == "StopIteration in test_x.test_x"
    multi = sig(tmp_path, "d.log", TB_X + "RuntimeError: \nCUDA Setup failed despite GPU being available.\n")
    assert "CUDA Setup failed" in multi.title          # a message that starts on the next line


def test_which_rank_prints_first_does_not_change_an_nccl_fingerprint(tmp_path: Path) -> None:
    head = ("[rank{r}]: torch.distributed.DistBackendError: NCCL error in: /pytorch/ProcessGroupNCCL.cpp:3356, "
            "unhandled cuda error, NCCL version 2.21.5\n[rank{r}]: Last error:\n[rank{r}]: {cause}\n")
    peer = head.format(r=0, cause="socketProgress: Connection closed by remote peer 10.0.0.2<1234>")
    real = head.format(r=1, cause="transport/net_ib.cc:123 ibv_modify_qp failed with 110 Connection timed out")
    a, b = sig(tmp_path, "a.log", peer + real), sig(tmp_path, "b.log", real + peer)
    assert a.fingerprint == b.fingerprint and "ibv_modify_qp" in a.title
    only_peer = sig(tmp_path, "c.log", peer)
    assert "10.0.0.2" not in only_peer.title


def test_the_phase_does_not_depend_on_chatter_or_scheduler_timing(tmp_path: Path) -> None:
    chatter = lambda n: "node-3:4242:4242 [0] NCCL INFO Channel 00/02 :    0   1\n" * n
    oom = ('Traceback (most recent call last):\n  File "/w/python/sglang/srt/mem.py", line 3, in empty\n'
           "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB.\n")
    a, b = (sig(tmp_path, f"{n}.log", "Capture cuda graph begin.\n" + chatter(n) + oom) for n in (100, 2000))
    assert a.fingerprint == b.fingerprint and "during CUDA graph capture" in a.title
    p, d = (sig(tmp_path, f"{w}.log", f"[TP0] {w} batch. #running-req: 1\n" + oom) for w in ("Prefill", "Decode"))
    assert p.fingerprint == d.fingerprint


def test_both_scan_paths_agree_on_carriage_return_lines(tmp_path: Path, monkeypatch) -> None:
    text = "server starting\nLoading shards 10%\rLoading shards 100%\rTraceback (most recent call last):\n"
    grep = sig(tmp_path, "a.log", text)
    monkeypatch.setenv("PCGBOT_NO_GREP", "1")
    python = sig(tmp_path, "b.log", text)
    assert grep.fingerprint == python.fingerprint and grep.title == python.title
