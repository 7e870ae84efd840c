"""pcgbot: sweep a GPU test suite with a risky execution mode forced on, and keep it honest."""

# Semantic versioning, tagged vMAJOR.MINOR.PATCH (CHANGELOG.md): a new fingerprint scheme, bundle
# format, plan schema or a removed workflow input is a MAJOR step; callers pin the major (@v1).
__version__ = "1.0.0"
