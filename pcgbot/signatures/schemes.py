"""Fingerprint schemes: which function made a stored fingerprint, and the same log under another.

Fingerprints are stored in run records, sweep stores, data-branch bundles, analysis.json, GitHub
issues (hidden marker, ``sig:`` labels) and bisection seeds.  When the fingerprint function
improves, a stored fingerprint must not turn into "a new bug" or "a regression" by itself.  So
every fingerprint says its scheme (``RunRecord.signature_scheme``; records written before schemes
existed are scheme 1), comparisons re-fingerprint old records from their logs under the current
scheme, and the current signature carries the fingerprints older schemes gave the same log
(``aliases``), which is how an issue filed under v1 is found again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional, Union

from .signature import SCHEME, signature_of_log

LEGACY = 1                 # records with no scheme were written by scheme 1


def signer(scheme: int) -> Callable[[Union[str, Path]], Any]:
    """The signature function of ``scheme`` (1: the frozen copy, 2: the current one)."""
    if scheme == SCHEME:
        return signature_of_log
    if scheme == 1:
        from .v1 import signature_of_log as v1
        return v1
    raise ValueError(f"unknown fingerprint scheme {scheme} (known: 1..{SCHEME})")


def fingerprints_of_log(path: Union[str, Path]) -> dict[int, str]:
    """Every scheme's fingerprint of one log: {1: v1, 2: v2}.  Bisection seeds and issue lookups
    match a fingerprint of any scheme against this."""
    return {s: signer(s)(path).fingerprint for s in range(1, SCHEME + 1)}


def aliases_of_log(path: Union[str, Path], scheme: int = SCHEME) -> list[str]:
    """The fingerprints the other schemes give ``path`` (what issues filed by them carry)."""
    return [signer(s)(path).fingerprint for s in range(1, SCHEME + 1) if s != scheme]


def fingerprint_in_scheme(signature: Optional[str], signature_scheme: Optional[int],
                          log: Optional[Path], scheme: int = SCHEME) -> Optional[str]:
    """A stored fingerprint under ``scheme``: as stored when it already is, else recomputed from
    the run's log; None when the log is gone (an unknown fingerprint is better than a fake one:
    it can neither open an issue nor match one)."""
    if signature and (signature_scheme or LEGACY) == scheme:
        return signature
    if log is not None and log.is_file():
        return signer(scheme)(log).fingerprint
    return None
