"""The analysis stage: one sweep -> ``analysis.json``, the input of GitHub sync and reports.

``analyze`` diffs a sweep against its baseline, fingerprints each failure, triages it
(``triage_sweep``: the seed report's categories) and ``write_analysis`` saves the result.

Modules: ``analyze``, ``triage``.
"""

from .analyze import analyze, write_analysis
from .triage import triage_sweep

__all__ = ["analyze", "write_analysis", "triage_sweep"]
