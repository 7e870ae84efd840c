"""The signatures stage: one failure log -> one fingerprint, title, rule and category.

``signature_of_log`` reads a log (streamed, bounded memory) and returns a ``Signature``: the
fingerprint that names one bug across runs, tests and machines, a maintainer's title, the rule
that matched, PCG evidence and a redacted excerpt.  Rules are data (``patterns.yaml``, loaded into
a ``RuleSet`` by ``load_rules`` / ``default_rules``; ``rules_with`` adds a user's files).
``redact`` / ``redact_lines`` remove secrets from every text pcgbot publishes.

Modules: ``signature`` (the fingerprint), ``scan`` (events in a log), ``stream`` (reading a log),
``normalize`` (pure text normalisation), ``patterns`` (the rules), ``redact`` (secrets).
"""

from .signature import signature_of_log, Signature, rules_with
from .patterns import RuleSet, load_rules, default_rules
from .redact import redact, redact_lines

__all__ = ["signature_of_log", "Signature", "rules_with", "RuleSet", "load_rules", "default_rules", "redact", "redact_lines"]
