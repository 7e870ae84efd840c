"""The plan stage: which tests to run, how, how often, and in which modes.

A plan is YAML (``plans/*.yaml``); ``load_plan`` / ``parse_plan`` read and validate it into a
``Plan`` of ``TestSpec`` and ``Mode`` (with the PCG-inert thresholds, ``InertRule``),
``dump_plan`` writes one, ``validate_files`` checks that every test file exists in a checkout.
``scan_checkout`` and ``build_plan`` import SGLang's own CI
registrations (``register_cuda_ci(...)``) into a plan.

Modules: ``schema`` (the plan and its loader), ``sglang`` (the SGLang import).
"""

from .schema import (Plan, TestSpec, Mode, InertRule, load_plan, parse_plan, dump_plan,
                     validate_files)
from .sglang import scan_checkout, build_plan

__all__ = ["Plan", "TestSpec", "Mode", "InertRule", "load_plan", "parse_plan", "dump_plan", "validate_files", "scan_checkout", "build_plan"]
