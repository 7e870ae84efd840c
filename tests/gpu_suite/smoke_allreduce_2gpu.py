"""2-GPU: NCCL all-reduce across both visible GPUs gives the exact sum (NVLS off)."""

import os
import socket
import sys
import time
import unittest

import _common  # noqa: F401  (sets NCCL_NVLS_ENABLE=0 before torch loads)
import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def _worker(rank: int, world: int, port: int) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.cuda.set_device(rank)
    dist.init_process_group("nccl", rank=rank, world_size=world,
                            device_id=torch.device("cuda", rank))
    try:
        for n in (1 << 10, 1 << 20, 1 << 26):
            t = torch.full((n,), float(rank + 1), device="cuda")
            dist.all_reduce(t)
            expect = world * (world + 1) / 2
            if not bool((t == expect).all()):
                raise AssertionError(f"rank {rank}: all_reduce of {n} gave {t[0].item()}")
        torch.cuda.synchronize()
    finally:
        dist.destroy_process_group()


class TestAllReduce2Gpu(unittest.TestCase):
    def test_nccl_all_reduce(self) -> None:
        t0 = time.time()
        world = torch.cuda.device_count()
        self.assertEqual(world, 2, "expected exactly two visible GPUs")
        self.assertEqual(os.environ.get("NCCL_NVLS_ENABLE"), "0")
        with socket.socket() as s:    # a free port for the rendezvous
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        mp.spawn(_worker, args=(world, port), nprocs=world, join=True)
        _common.report("allreduce_2gpu", t0)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0]] + [a for a in sys.argv[1:] if a == "-f"])
