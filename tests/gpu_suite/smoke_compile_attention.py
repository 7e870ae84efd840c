"""1-GPU: torch.compile(mode="reduce-overhead") of an attention block matches eager (bf16)."""

import sys
import time
import unittest

import _common  # noqa: F401  (sets the env before torch loads)
import torch
import torch.nn.functional as F


class Block(torch.nn.Module):
    def __init__(self, d: int = 512, heads: int = 8) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = torch.nn.Linear(d, 3 * d)
        self.out = torch.nn.Linear(d, d)
        self.norm = torch.nn.LayerNorm(d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.norm(x)).view(b, t, 3, self.heads, d // self.heads).unbind(2)
        y = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2),
                                           v.transpose(1, 2), is_causal=True)
        return x + self.out(y.transpose(1, 2).reshape(b, t, d))


class TestCompileAttention(unittest.TestCase):
    def test_reduce_overhead_matches_eager(self) -> None:
        t0 = time.time()
        self.assertEqual(torch.cuda.device_count(), 1, "expected exactly one visible GPU")
        torch.manual_seed(0)
        model = Block().cuda().to(torch.bfloat16).eval()
        compiled = torch.compile(model, mode="reduce-overhead")
        with torch.no_grad():
            for step in range(200):
                x = torch.randn(8, 256, 512, device="cuda", dtype=torch.bfloat16)
                out = compiled(x).clone()
                if step % 50 == 0:
                    torch.testing.assert_close(out, model(x), rtol=5e-2, atol=5e-2)
        torch.cuda.synchronize()
        _common.report("compile_attention", t0, device=torch.cuda.get_device_name(0))


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0]] + [a for a in sys.argv[1:] if a == "-f"])
