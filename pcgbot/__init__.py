"""pcgbot: sweep a GPU test suite with a risky execution mode forced on, and keep it honest."""

__version__ = "0.1.0"
