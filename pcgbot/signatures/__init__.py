"""The signatures stage: one failure log -> one fingerprint, title, rule and category.

``signature_of_log`` reads a log (streamed, bounded memory) and returns a ``Signature``: the
fingerprint that names one bug across runs, tests and machines, a maintainer's title, the rule
that matched, PCG evidence and a redacted excerpt.  Rules are data (``patterns.yaml``, loaded into
a ``RuleSet`` by ``load_rules`` / ``default_rules``; ``rules_with`` adds a user's files).
``redact`` / ``redact_lines`` remove secrets from every text pcgbot publishes, and
``detect_pcg`` tells from a log whether PCG really ran (a run record's ``pcg_active``) from the
same ``pcg_markers`` and rule the scanner uses for a signature's.
Fingerprints carry their scheme (``SCHEME``; v1 is frozen): ``signer`` gives a scheme's function,
``fingerprints_of_log`` / ``aliases_of_log`` a log's fingerprint under every other scheme, and
``fingerprint_in_scheme`` re-fingerprints a stored one so sweeps are compared under one scheme.

Modules: ``signature`` (the fingerprint), ``scan`` (events in a log), ``stream`` (reading a log),
``normalize`` (pure text normalisation), ``patterns`` (the rules), ``pcg`` (PCG evidence),
``secrets`` (redaction), ``schemes`` (fingerprints across scheme changes; ``v1`` is the frozen
scheme 1), ``corpus`` (the golden corpus and its measures).
"""

from .signature import SCHEME, signature_of_log, Signature, rules_with
from .schemes import aliases_of_log, fingerprint_in_scheme, fingerprints_of_log, signer
from .pcg import detect_pcg
from .patterns import RuleSet, load_rules, default_rules
from .secrets import redact, redact_lines

__all__ = ["SCHEME", "aliases_of_log", "fingerprint_in_scheme", "fingerprints_of_log", "signer",
           "detect_pcg", "signature_of_log", "Signature", "rules_with", "RuleSet", "load_rules", "default_rules", "redact", "redact_lines"]
