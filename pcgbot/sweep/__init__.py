"""The sweep stage: every test of a plan, times its repeats, in one mode, on a pool of slots.

``run_sweep`` runs a plan (sharded, resumable, adaptive) into a sweep directory; ``run_one`` runs
one test once; ``check_repo`` and ``parse_shard`` check its inputs.  The ``Scheduler`` decides which
run starts next, ``choose_pool`` where runs execute (the GPU pool or CPU slots), and the
``ProgressPrinter`` shows progress.  Each run is one process tree (``pcgbot.procs``) with the mode
injected by the ``shim`` folder's ``sitecustomize``.

Modules: ``sweep``, ``scheduler``, ``slots``, ``pools``, ``progress``, ``shim/``.
"""

from .sweep import run_sweep, run_one, check_repo, parse_shard
from .scheduler import Scheduler
from .pools import choose_pool
from .progress import ProgressPrinter

__all__ = ["run_sweep", "run_one", "check_repo", "parse_shard", "Scheduler", "choose_pool", "ProgressPrinter"]
