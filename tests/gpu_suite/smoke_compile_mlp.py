"""1-GPU: torch.compile(mode="reduce-overhead") (CUDA graphs) of an MLP matches eager."""

import sys
import time
import unittest

import _common  # noqa: F401  (sets the env before torch loads)
import torch


class TestCompileMlp(unittest.TestCase):
    def test_reduce_overhead_matches_eager(self) -> None:
        t0 = time.time()
        self.assertEqual(torch.cuda.device_count(), 1, "expected exactly one visible GPU")
        torch.manual_seed(0)
        model = torch.nn.Sequential(
            torch.nn.Linear(1024, 4096), torch.nn.GELU(), torch.nn.Linear(4096, 1024),
        ).cuda().eval()
        compiled = torch.compile(model, mode="reduce-overhead")
        with torch.no_grad():
            for step in range(200):           # warm-up, graph capture, then replays
                x = torch.randn(64, 1024, device="cuda")
                out = compiled(x).clone()
                if step % 50 == 0:
                    torch.testing.assert_close(out, model(x), rtol=2e-3, atol=2e-3)
        torch.cuda.synchronize()
        _common.report("compile_mlp", t0, device=torch.cuda.get_device_name(0))


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0]] + [a for a in sys.argv[1:] if a == "-f"])
