"""GitHub Actions expressions (`${{ ... }}`) for the local workflow emulator.

Covers the language the pcgbot workflows use and a little more: literals, context property
access (`a.b`, `a['b']`, `a.*.b`), `! == != < <= > >= && ||`, parentheses, and the functions
contains, startsWith, endsWith, format, join, toJSON, fromJSON, always, success, failure,
cancelled.  Semantics follow GitHub's docs: `||`/`&&` return an operand, string comparison is
case-insensitive, mixed types compare as numbers, a missing property is null.
"""

from __future__ import annotations

import json
from pathlib import Path
import math
import re
from typing import Any, Callable

_TOKEN = re.compile(r"""\s*(?:
    (?P<num>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|0x[0-9a-fA-F]+)
  | (?P<str>'(?:[^']|'')*')
  | (?P<op>==|!=|<=|>=|&&|\|\||[!<>()\[\].,*])
  | (?P<ident>[A-Za-z_][A-Za-z0-9_-]*)
)""", re.X)


class ExprError(Exception):
    pass


def tokenize(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ExprError(f"cannot parse expression at {text[pos:]!r}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def truthy(v: Any) -> bool:
    if isinstance(v, (list, dict)):
        return True                    # even empty ones, as in GitHub
    if isinstance(v, float) and math.isnan(v):
        return False
    return v is not None and v is not False and v != 0 and v != ""


def _num(v: Any) -> float:
    if v is None:
        return 0.0
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v.strip() or 0)
        except ValueError:
            return math.nan
    return math.nan


def loose_eq(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.lower() == b.lower()
    if isinstance(a, (list, dict)) or isinstance(b, (list, dict)):
        return a is b                  # objects and arrays are equal only to themselves
    if type(a) is type(b):
        return a == b
    return _num(a) == _num(b)


def to_str(v: Any) -> str:
    """How an expression value is written into a string (env values, with:, names)."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, (list, dict)):
        return json.dumps(v, indent=2)
    return str(v)


def _format(fmt: str, *args: Any) -> str:
    return re.sub(r"\{\{|\}\}|\{(\d+)\}",
                  lambda m: m.group(0)[0] if m.group(1) is None else to_str(args[int(m.group(1))]),
                  fmt)


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]], ctx: dict[str, Any],
                 status: Callable[[str], bool]):
        self.t, self.i, self.ctx, self.status = tokens, 0, ctx, status

    def peek(self) -> tuple[str, str]:
        return self.t[self.i] if self.i < len(self.t) else ("end", "")

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if value is not None and tok[1] != value:
            raise ExprError(f"expected {value!r}, got {tok[1]!r}")
        self.i += 1
        return tok

    def parse(self) -> Any:
        v = self.or_()
        if self.peek()[0] != "end":
            raise ExprError(f"unexpected {self.peek()[1]!r}")
        return v

    def or_(self) -> Any:
        v = self.and_()
        while self.peek()[1] == "||":
            self.take()
            rhs = self.and_()
            v = v if truthy(v) else rhs
        return v

    def and_(self) -> Any:
        v = self.eq()
        while self.peek()[1] == "&&":
            self.take()
            rhs = self.eq()
            v = rhs if truthy(v) else v
        return v

    def eq(self) -> Any:
        v = self.cmp()
        while self.peek()[1] in ("==", "!="):
            op = self.take()[1]
            r = self.cmp()
            v = loose_eq(v, r) if op == "==" else not loose_eq(v, r)
        return v

    def cmp(self) -> Any:
        v = self.unary()
        while self.peek()[1] in ("<", "<=", ">", ">="):
            op = self.take()[1]
            a, b = v, self.unary()
            if isinstance(a, str) and isinstance(b, str):
                a, b = a.lower(), b.lower()
            else:
                a, b = _num(a), _num(b)
            v = {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
        return v

    def unary(self) -> Any:
        if self.peek()[1] == "!":
            self.take()
            return not truthy(self.unary())
        return self.postfix()

    def postfix(self) -> Any:
        v = self.primary()
        while self.peek()[1] in (".", "["):
            if self.take()[1] == ".":
                kind, name = self.take()
                if name == "*":
                    v = list(v.values()) if isinstance(v, dict) else (v if isinstance(v, list) else [])
                    continue
                if kind != "ident":
                    raise ExprError(f"bad property {name!r}")
                v = self._prop(v, name)
            else:
                key = self.or_()
                self.take("]")
                v = self._prop(v, key)
        return v

    @staticmethod
    def _prop(v: Any, key: Any) -> Any:
        if isinstance(v, list) and not isinstance(key, (int, float)):   # after `.*`
            return [_Parser._prop(x, key) for x in v]
        if isinstance(v, list):
            i = int(key)
            return v[i] if 0 <= i < len(v) else None
        if isinstance(v, dict):
            lk = str(key).lower()
            for k, val in v.items():
                if str(k).lower() == lk:
                    return val
        return None

    def primary(self) -> Any:
        kind, val = self.take()
        if kind == "num":
            n = float(int(val, 16)) if val.startswith("0x") else float(val)
            return int(n) if n.is_integer() else n
        if kind == "str":
            return val[1:-1].replace("''", "'")
        if val == "(":
            v = self.or_()
            self.take(")")
            return v
        if kind != "ident":
            raise ExprError(f"unexpected {val!r}")
        if val in ("true", "false"):
            return val == "true"
        if val == "null":
            return None
        if self.peek()[1] == "(":
            self.take()
            args = []
            while self.peek()[1] != ")":
                args.append(self.or_())
                if self.peek()[1] == ",":
                    self.take()
            self.take(")")
            return self.call(val, args)
        return self._prop(self.ctx, val)

    def call(self, name: str, args: list[Any]) -> Any:
        n = name.lower()
        if n in ("always", "success", "failure", "cancelled"):
            return self.status(n)
        if n == "contains":
            hay, needle = args
            if isinstance(hay, list):
                return any(loose_eq(x, needle) for x in hay)
            return to_str(needle).lower() in to_str(hay).lower()
        if n == "startswith":
            return to_str(args[0]).lower().startswith(to_str(args[1]).lower())
        if n == "endswith":
            return to_str(args[0]).lower().endswith(to_str(args[1]).lower())
        if n == "format":
            return _format(to_str(args[0]), *args[1:])
        if n == "join":
            sep = to_str(args[1]) if len(args) > 1 else ","
            return sep.join(to_str(x) for x in args[0]) if isinstance(args[0], list) else to_str(args[0])
        if n == "tojson":
            return json.dumps(args[0], indent=2)
        if n == "fromjson":
            return json.loads(to_str(args[0]))
        if n == "hashfiles":
            # as on a runner: a SHA-256 over the matching files under the workspace, '' if none
            import glob
            import hashlib
            ws = (self.ctx.get("github") or {}).get("workspace") or "."
            files = sorted({p for pat in args for p in glob.glob(str(Path(ws) / to_str(pat)),
                                                                 recursive=True)
                            if Path(p).is_file()})
            if not files:
                return ""
            h = hashlib.sha256()
            for p in files:
                h.update(hashlib.sha256(Path(p).read_bytes()).digest())
            return h.hexdigest()
        raise ExprError(f"unsupported function {name}()")


def evaluate(text: str, ctx: dict[str, Any], status: Callable[[str], bool] | None = None) -> Any:
    """Value of one expression (without the `${{ }}`)."""
    def default_status(name: str) -> bool:
        return name in ("always", "success")
    return _Parser(tokenize(text), ctx, status or default_status).parse()


_INTERP = re.compile(r"\$\{\{(.*?)\}\}", re.S)


def interpolate(value: Any, ctx: dict[str, Any]) -> Any:
    """A YAML value with its `${{ }}` evaluated: a string that is one whole expression keeps
    the expression's type (so `${{ fromJSON(...) }}` can be a list); otherwise text."""
    if isinstance(value, dict):
        return {k: interpolate(v, ctx) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, ctx) for v in value]
    if not isinstance(value, str) or "${{" not in value:
        return value
    m = _INTERP.fullmatch(value.strip())
    if m and value.count("${{") == 1:
        return evaluate(m.group(1), ctx)
    return _INTERP.sub(lambda mm: to_str(evaluate(mm.group(1), ctx)), value)
