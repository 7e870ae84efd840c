"""Where things live on the published dashboard (``pcgbot site``): the URL scheme that statuses
and issues link into and that the site builder writes.  Stable: a test's or a signature's page
never moves when new sweeps arrive."""

from __future__ import annotations

import hashlib
import re
from typing import Any, Optional

from ..model import short_name

_SAFE = re.compile(r"[A-Za-z0-9_.-]{1,80}")


def slug(text: str) -> str:
    """A file name for ``text`` that is stable, unique and readable: ``test_embedding-1a2b3c4d``."""
    base = re.sub(r"[^A-Za-z0-9_.-]+", "_", short_name(text))[:60].strip("._") or "x"
    return f"{base}-{hashlib.sha1(text.encode()).hexdigest()[:8]}"


def page_of_config(plan: Optional[str], mode: Optional[str]) -> str:
    """One GPU configuration's heatmap: ``<plan>.<mode>/index.html`` (slugged if not plain)."""
    name = f"{plan}.{mode}"
    return f"{name if _SAFE.fullmatch(name) and '..' not in name else slug(name)}/index.html"


def page_of_test(test: str) -> str:
    return f"tests/{slug(test)}.html"


def page_of_signature(fingerprint: str) -> Optional[str]:
    """None for a fingerprint that cannot name a file (it is never published)."""
    return f"signatures/{fingerprint}.html" if _SAFE.fullmatch(fingerprint or "") \
        and ".." not in fingerprint else None


def add_dashboard_links(analysis: dict[str, Any], base: str) -> None:
    """Put the dashboard's URLs on an analysis: the configuration's page (a status's link) and
    each signature's page (its issue's link)."""
    base = base.rstrip("/")
    sweep = analysis.get("sweep") or {}
    analysis["dashboard"] = base
    analysis["dashboard_url"] = f"{base}/{page_of_config(sweep.get('plan'), sweep.get('mode'))}"
    for sig in analysis.get("signatures") or []:
        page = page_of_signature(str(sig.get("fingerprint") or ""))
        if page:
            sig["dashboard_url"] = f"{base}/{page}"
