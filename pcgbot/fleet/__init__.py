"""The fleet stage: how many runners a plan needs, from a replay of real commit times.

``simulate`` replays a commit stream (``load_times`` from a file such as ``DEFAULT_COMMITS``,
``git_times`` from a checkout, ``rescale`` to a target rate) against runners: sweeps coalesced
by the workflow's concurrency rule (``workflow_concurrency``, ``Group``: one running, one
pending), the plan's durations with
adaptive repeats and PCG-inert sentinels (``plan cost``), planted regressions found by the real
adaptive rule and verdict, culprits by the real bisection search.  ``simulate_trials`` pools
seeded replays into a ``SimResult`` (time from bad commit to filed culprit, GPU-hours per day,
share caught) configured by ``FleetConfig``; ``runners_for_target`` finds the smallest fleet
that meets a median time-to-culprit.

Modules: ``commits`` (the commit stream), ``concurrency`` (GitHub's rule), ``simulate``.
"""

from .commits import DEFAULT_COMMITS, git_times, load_times, rescale
from .concurrency import Group, workflow_concurrency
from .simulate import FleetConfig, SimResult, runners_for_target, simulate, simulate_trials

__all__ = ["DEFAULT_COMMITS", "load_times", "git_times", "rescale", "workflow_concurrency",
           "Group", "FleetConfig", "SimResult", "simulate", "simulate_trials",
           "runners_for_target"]
