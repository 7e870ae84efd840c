"""The results stage: what runs happened and what they mean, compared with a baseline.

A sweep directory (``sweep.json``, ``runs.jsonl``, ``logs/``) is read by ``read_meta`` /
``read_runs`` and combined by ``merge_dirs``; the ``Store`` (SQLite, ``default_store_path``) keeps
every sweep and run.  ``find_baseline`` / ``auto_baseline`` choose what a sweep is compared with,
``diff_sweeps`` gives one verdict per test with the statistics of ``stats`` (flaky vs broken),
``adaptive`` decides when a test has run often enough, and ``estimate`` prices a sweep in GPU-hours
from the plan and the stored history.  ``inert_tests`` finds PCG-inert tests (PCG off in every
recent run: they run once per sweep as sentinels) and ``coverage_lost`` the tests that lost PCG.

Modules: ``sweepdir``, ``store``, ``baseline``, ``diff``, ``stats``, ``adaptive``, ``cost``,
``inert``.
"""

from .sweepdir import read_meta, read_runs, merge_dirs
from .store import Store, default_store_path
from .baseline import find_baseline, auto_baseline
from .diff import diff_sweeps
from .cost import estimate
from .inert import inert_tests, coverage_lost

__all__ = ["read_meta", "read_runs", "merge_dirs", "Store", "default_store_path", "find_baseline", "auto_baseline", "diff_sweeps", "estimate", "inert_tests", "coverage_lost"]
