"""Hold GPU memory like a leaked server: allocate GIB GiB on cuda:0, say so, sleep.

Usage: hold_memory.py GIB SECONDS [--orphan]
With --orphan the allocating process is a setsid grandchild whose parent exits at once (the
shape of the seed report's leak: the test's parent died, its server kept 63.7 GB).  Prints
"HOLDER <pid>" for the process that holds the memory.
"""

import os
import subprocess
import sys
import time


def hold(gib: float, seconds: float) -> None:
    import torch
    x = torch.empty(int(gib * (1 << 30)), dtype=torch.uint8, device="cuda")
    x.fill_(1)
    torch.cuda.synchronize()
    print(f"HOLDING {os.getpid()} {gib} GiB", flush=True)
    time.sleep(seconds)


if __name__ == "__main__":
    gib, seconds = float(sys.argv[1]), float(sys.argv[2])
    if "--orphan" in sys.argv:
        p = subprocess.Popen([sys.executable, __file__, str(gib), str(seconds)],
                             start_new_session=True, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        print(f"HOLDER {p.pid}", flush=True)
        sys.exit(0)
    print(f"HOLDER {os.getpid()}", flush=True)
    hold(gib, seconds)
