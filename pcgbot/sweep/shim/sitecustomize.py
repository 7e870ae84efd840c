"""pcgbot mode shim: force a mode's ServerArgs values in every Python process of a run.

pcgbot puts this folder first on PYTHONPATH, so Python imports this file at start-up in the test
process and in every child it spawns (``sglang serve``, scheduler subprocesses, ...).  It installs
an import hook for the module that defines ``ServerArgs`` (``sglang.srt.server_args`` unless
``PCGBOT_SERVER_ARGS_MODULE`` names another) and wraps ``ServerArgs.__post_init__`` so the
mode's values are set *before* SGLang's own validation and auto-disable logic run -- as if they
had been given on the command line.

The PCG switch has a different name in each SGLang era; if the requested field does not exist,
the era's equivalent is used:
  cuda_graph_backend_prefill=tc_piecewise  (June 2026 on)
  enforce_piecewise_cuda_graph=True        (March-June 2026)
  enable_piecewise_cuda_graph=True         (before March 2026)
Finally any ``sitecustomize`` that this one shadows is imported, so nothing is lost.
This file must import nothing outside the standard library.
"""

import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
_TARGET = os.environ.get("PCGBOT_SERVER_ARGS_MODULE", "sglang.srt.server_args")
_CLASS = os.environ.get("PCGBOT_SERVER_ARGS_CLASS", "ServerArgs")
_MODE = os.environ.get("PCGBOT_MODE", "")


def _overrides():
    raw = os.environ.get("PCGBOT_SERVER_ARGS", "")
    if not raw:
        return {}
    try:
        val = json.loads(raw)
    except ValueError:
        sys.stderr.write("[pcgbot] PCGBOT_SERVER_ARGS is not JSON; mode not applied\n")
        return {}
    return val if isinstance(val, dict) else {}


def _fields(cls):
    names = set(getattr(cls, "__dataclass_fields__", {}) or ())
    names.update(k for k in vars(cls) if not k.startswith("_"))
    return names


def _translate(fields, key, value):
    """Map a requested field to what this era's ServerArgs has: list of (field, value)."""
    if key in fields:
        return [(key, value)]
    if key == "cuda_graph_backend_prefill":
        on = value == "tc_piecewise"
        if "enforce_piecewise_cuda_graph" in fields or "disable_piecewise_cuda_graph" in fields:
            out = []
            if "enforce_piecewise_cuda_graph" in fields:
                out.append(("enforce_piecewise_cuda_graph", on))
            if "disable_piecewise_cuda_graph" in fields:
                out.append(("disable_piecewise_cuda_graph", not on))
            return out
        if "enable_piecewise_cuda_graph" in fields:
            return [("enable_piecewise_cuda_graph", on)]
    if key in ("enforce_piecewise_cuda_graph", "enable_piecewise_cuda_graph") and \
            "cuda_graph_backend_prefill" in fields:
        return [("cuda_graph_backend_prefill", "tc_piecewise" if value else "disabled")]
    if key == "disable_piecewise_cuda_graph" and "cuda_graph_backend_prefill" in fields:
        return [("cuda_graph_backend_prefill", "disabled" if value else "tc_piecewise")]
    return []


_announced = set()


def _patch(module):
    cls = getattr(module, _CLASS, None)
    if cls is None or getattr(cls, "__pcgbot_patched__", False):
        return
    wanted = _overrides()
    if not wanted:
        return
    fields = _fields(cls)
    plan = []
    for k, v in wanted.items():
        mapped = _translate(fields, k, v)
        if not mapped:
            sys.stderr.write("[pcgbot] %s has no field %r (nor an era equivalent); ignored\n"
                             % (_CLASS, k))
        plan.extend(mapped)
    original = getattr(cls, "__post_init__", None)

    def __post_init__(self, *args, **kwargs):
        for name, value in plan:
            object.__setattr__(self, name, value)
        key = tuple(plan)
        if key not in _announced:
            _announced.add(key)
            sys.stderr.write("[pcgbot] mode %s applied to %s: %s\n" % (
                _MODE or "?", _CLASS, ", ".join("%s=%r" % nv for nv in plan)))
        if original is not None:
            return original(self, *args, **kwargs)
        return None

    cls.__post_init__ = __post_init__
    if original is None and hasattr(cls, "__dataclass_fields__"):
        # A dataclass without __post_init__ never calls one: wrap __init__ instead.
        init = cls.__init__

        def __init__(self, *args, **kwargs):
            init(self, *args, **kwargs)
            __post_init__(self)

        cls.__init__ = __init__
    cls.__pcgbot_patched__ = True


class _Loader(importlib.abc.Loader):
    def __init__(self, inner):
        self._inner = inner

    def create_module(self, spec):
        return self._inner.create_module(spec)

    def exec_module(self, module):
        self._inner.exec_module(module)
        _patch(module)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != _TARGET:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _Loader(spec.loader)
                return spec
        return None


def _install():
    if os.environ.get("PCGBOT_SERVER_ARGS"):
        if _TARGET in sys.modules:
            _patch(sys.modules[_TARGET])
        else:
            sys.meta_path.insert(0, _Finder())


def _chain():
    """Import the sitecustomize this file shadows, if there is one."""
    paths = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", paths)
    if spec is None or spec.origin is None:
        return
    if os.path.abspath(spec.origin) == os.path.abspath(__file__):
        return
    module = importlib.util.module_from_spec(spec)
    module.__pcgbot_chained__ = True
    spec.loader.exec_module(module)


_install()
_chain()
