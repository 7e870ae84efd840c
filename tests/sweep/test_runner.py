"""The runner kills whole process trees: group members, setsid escapees, SIGTERM ignorers."""

from __future__ import annotations

import os
import socket
import sys
import time

import psutil

from pcgbot.procs import find_marked, run_process
from pcgbot.signatures.pcg import detect_pcg

# A test whose child starts a setsid grandchild that ignores SIGTERM and holds a TCP port,
# then the test itself hangs: the report's leaked-server scenario.
CHILD = (
    "import os, signal, socket, sys, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "if os.fork() == 0:\n"
    "    os.setsid()  # escapes the process group\n"
    "    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "    s.bind(('127.0.0.1', 0)); s.listen(1)\n"
    "    open(sys.argv[1], 'w').write('%d %d' % (s.getsockname()[1], os.getpid()))\n"
    "    while True: time.sleep(1)\n"
    "while True: time.sleep(1)\n")
LEAKER = (
    "import subprocess, sys, time\n"
    f"subprocess.Popen([sys.executable, '-c', {CHILD!r}, sys.argv[1]])\n"
    "time.sleep(60)\n")


def _port_free(port: int) -> bool:
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def test_timeout_kills_setsid_sigterm_ignoring_grandchild(tmp_path):
    script = tmp_path / "leaker.py"
    script.write_text(LEAKER)
    port_file = tmp_path / "port"
    run_id = f"test-{os.getpid()}-{time.time()}"
    t0 = time.monotonic()
    res = run_process([sys.executable, str(script), str(port_file)], cwd=tmp_path,
                      env=dict(os.environ), log_path=tmp_path / "log", timeout=2.0,
                      run_id=run_id, grace=0.5)
    assert res.timed_out and res.exit_code is not None and res.exit_code < 0
    assert time.monotonic() - t0 < 15
    port, gpid = (int(x) for x in port_file.read_text().split())
    assert not psutil.pid_exists(gpid) or psutil.Process(gpid).status() == psutil.STATUS_ZOMBIE
    assert find_marked("PCGBOT_RUN_ID", run_id) == []
    assert _port_free(port)
    assert res.killed >= 3   # test, child, setsid grandchild
    assert "TIMEOUT after 2s" in (tmp_path / "log").read_text()


def test_normal_exit_still_reaps_daemon_left_in_group(tmp_path):
    # The test exits 0 but leaves a background child in its group: it must not survive.
    script = tmp_path / "t.py"
    script.write_text("import subprocess, sys\n"
                      "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
                      "open(sys.argv[1], 'w').write(str(p.pid))\n")
    pid_file = tmp_path / "pid"
    res = run_process([sys.executable, str(script), str(pid_file)], cwd=tmp_path,
                      env=dict(os.environ), log_path=tmp_path / "log", timeout=20,
                      run_id="rid-normal-exit", grace=1.0)
    assert res.exit_code == 0 and not res.timed_out
    pid = int(pid_file.read_text())
    time.sleep(0.1)
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_missing_program_is_an_error_not_a_crash(tmp_path):
    res = run_process(["/nonexistent/python9"], cwd=tmp_path, env=dict(os.environ),
                      log_path=tmp_path / "log", timeout=5, run_id="rid-missing")
    assert res.exit_code is None and "cannot start" in res.error


def test_log_gets_output_and_marker_env(tmp_path):
    res = run_process([sys.executable, "-c", "import os; print('id=' + os.environ['PCGBOT_RUN_ID'])"],
                      cwd=tmp_path, env=dict(os.environ), log_path=tmp_path / "l.log",
                      timeout=10, run_id="abc123")
    assert res.exit_code == 0
    assert "id=abc123" in (tmp_path / "l.log").read_text()


def test_detect_pcg(tmp_path):
    on = tmp_path / "on.log"
    on.write_bytes(b"x" * (1 << 20) + b"Compiling num" + b" tokens (num_tokens=4)\n")
    off = tmp_path / "off.log"
    off.write_text("server_args=ServerArgs(disable_piecewise_cuda_graph=True, ...)\n")
    none = tmp_path / "none.log"
    none.write_text("Capturing batches (bs=4 avail_mem=70 GB)\n")
    assert detect_pcg(on) is True
    assert detect_pcg(off) is False
    assert detect_pcg(none) is None
    assert detect_pcg(tmp_path / "missing.log") is None
