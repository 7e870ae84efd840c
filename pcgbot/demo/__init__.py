"""The demo stage: the whole loop on a toy repository, on CPU, in under a minute.

``build_demo_repo`` makes a small real git repository with known bugs at known commits (also used
by the end-to-end tests); ``run_demo`` sweeps it, diffs, analyzes, bisects and files issues into a
dry-run folder.

Modules: ``repo`` (the toy repository), ``run`` (``pcgbot demo``).
"""

from .repo import build_demo_repo
from .run import run_demo

__all__ = ["build_demo_repo", "run_demo"]
