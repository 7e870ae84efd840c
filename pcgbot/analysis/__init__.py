"""The analysis stage: one sweep -> ``analysis.json``, the input of GitHub sync and reports.

``analyze`` diffs a sweep against its baseline, fingerprints each failure, triages it
(``triage_sweep``: the seed report's categories) and ``write_analysis`` saves the result.
``bisect_targets`` picks the regressions to bisect (one per failure signature); a bisection's
answer comes back through ``load_culprit_files`` and ``attach_culprit``.

Modules: ``pipeline`` (``pcgbot analyze``), ``triage``.
"""

from .pipeline import analyze, attach_culprit, bisect_targets, load_culprit_files, write_analysis
from .triage import triage_sweep

__all__ = ["analyze", "attach_culprit", "bisect_targets", "load_culprit_files", "write_analysis", "triage_sweep"]
