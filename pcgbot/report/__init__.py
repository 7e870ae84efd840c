"""The report stage: what a sweep found, for people and for other CI tools.

``collect`` gathers sweeps, their analysis and the store; ``render_markdown`` writes the seed's
REPORT.md, ``render_junit`` JUnit XML, and ``dashboard_for_dir`` the static HTML dashboard (a
heatmap of tests x commits; its template is ``dashboard.html``).  ``render_pcg_markdown`` is the
PCG coverage section (coverage lost, PCG-inert sentinels, auto-disabled tests) of both.

Modules: ``markdown``, ``junit``, ``dashboard``, ``pcg``.
"""

from .markdown import collect, render_markdown
from .junit import render_junit
from .dashboard import dashboard_for_dir
from .pcg import render_pcg_markdown

__all__ = ["collect", "render_markdown", "render_junit", "dashboard_for_dir", "render_pcg_markdown"]
