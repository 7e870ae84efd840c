"""The bisection stage: find the commit that broke (or fixed) a test, flaky tests included.

``bisect_test`` runs a flake-aware search on real git (worktrees, per-commit setup, probes on the
sweep's slots, saved state for ``--resume``) and returns a ``BisectResult``.  The search itself
(``Search``, ``SearchConfig``) is pure: no git, no processes, no clock.

Modules: ``engine`` (git, worktrees, probes, state), ``search`` (the pure search) and ``rates``
(its pass-rate arithmetic), ``seed`` (where a bisection starts: ends, signature, priors from
stored sweeps), ``ends`` (ends no sweep seeds: the signature from their failures), ``timing``
(setup and run durations -> the search's setup cost), ``result`` (the answer).
"""

from .engine import bisect_test
from .result import BisectResult
from .search import Search, SearchConfig

__all__ = ["bisect_test", "BisectResult", "Search", "SearchConfig"]
