"""Fingerprint scheme v1, frozen: the signature code and rules exactly as they were when scheme
v2 replaced them.

Issues, stores and bisection seeds written before v2 carry v1 fingerprints.  To find them again
(and to compare an old sweep with a new one) pcgbot must recompute a log's v1 fingerprint, so
this package is a copy that nobody edits: ``tests/signatures/test_scheme_v1.py`` pins its output
on the golden corpus.  Improvements go to ``pcgbot.signatures`` (scheme v2).
"""

from .signature import Signature, signature_of_log, v1_rules

SCHEME = 1

__all__ = ["SCHEME", "Signature", "signature_of_log", "v1_rules"]
