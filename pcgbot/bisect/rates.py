"""Pass-rate arithmetic of the search: Beta / beta-binomial in closed form, and the probability
that a rate moved by at least ``min_effect``, on a grid.  Pure and cached (``search`` calls these
for every class of hypotheses at every step)."""

from __future__ import annotations

import math
from functools import lru_cache


def lbeta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def bb_pmf(m: int, a: float, b: float) -> list[float]:
    """Beta-binomial P(k passes of m | Beta(a, b)), k = 0..m, by the ratio recurrence."""
    p0 = 1.0
    for i in range(m):
        p0 *= (b + i) / (a + b + i)
    out = [p0]
    for k in range(m):
        out.append(out[-1] * (m - k) / (k + 1) * (a + k) / (b + m - k - 1))
    return out


_GRID = 128
_P = [(i + 0.5) / _GRID for i in range(_GRID)]
_LP = [math.log(x) for x in _P]
_LQ = [math.log(1.0 - x) for x in _P]


@lru_cache(maxsize=8192)
def _grid_pdf(a: float, b: float) -> tuple[float, ...]:
    """Beta(a, b) as weights on a fixed grid (normalised by their sum, so grid error cancels).
    Cached: between two runs most classes keep their parameters."""
    lw = [(a - 1.0) * lp + (b - 1.0) * lq for lp, lq in zip(_LP, _LQ)]
    top = max(lw)
    w = [math.exp(x - top) for x in lw]
    z = sum(w)
    return tuple(x / z for x in w)


@lru_cache(maxsize=8192)
def _grid_cdf(a: float, b: float) -> tuple[float, ...]:
    acc, out = 0.0, []
    for x in _grid_pdf(a, b):
        acc += x
        out.append(acc)
    return tuple(out)


@lru_cache(maxsize=16384)
def prob_shift(before: tuple[float, float], after: tuple[float, float], delta: float,
               direction: int) -> float:
    """P(p_after <= p_before - delta) for direction -1 (>= p_before + delta for +1), with
    independent Beta distributions, integrated on a grid."""
    if direction > 0:        # mirror p -> 1 - p: "rose by delta" becomes "fell by delta"
        before, after = before[::-1], after[::-1]
    wb, cdf = _grid_pdf(*before), _grid_cdf(*after)
    shift = int(round(delta * _GRID))
    return sum(w * c for w, c in zip(wb[shift:], cdf))


def xlogx(x: float) -> float:
    return x * math.log(x) if x > 0.0 else 0.0
