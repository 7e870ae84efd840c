"""The signatures stage: one failure log -> one fingerprint, title, rule and category.

``signature_of_log`` reads a log (streamed, bounded memory) and returns a ``Signature``: the
fingerprint that names one bug across runs, tests and machines, a maintainer's title, the rule
that matched, PCG evidence and a redacted excerpt.  Rules are data (``patterns.yaml``, loaded into
a ``RuleSet`` by ``load_rules`` / ``default_rules``; ``rules_with`` adds a user's files).
``redact`` / ``redact_lines`` remove secrets from every text pcgbot publishes, and
``detect_pcg`` tells from a log whether PCG really ran (a run record's ``pcg_active``).

Modules: ``signature`` (the fingerprint), ``scan`` (events in a log), ``stream`` (reading a log),
``normalize`` (pure text normalisation), ``patterns`` (the rules), ``pcg`` (PCG evidence),
``secrets`` (redaction).
"""

from .signature import signature_of_log, Signature, rules_with
from .pcg import detect_pcg
from .patterns import RuleSet, load_rules, default_rules
from .secrets import redact, redact_lines

__all__ = ["detect_pcg", "signature_of_log", "Signature", "rules_with", "RuleSet", "load_rules", "default_rules", "redact", "redact_lines"]
