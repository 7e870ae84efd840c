"""Secret redaction for every piece of log text pcgbot publishes (issues, reports, excerpts).

CI logs routinely echo environment dumps, ``curl -H "Authorization: ..."`` lines and HF download
URLs carrying tokens; anything we copy into a public GitHub issue must pass through ``redact``
first.  Two layers, because each misses what the other catches:

* shape-based patterns for tokens whose format is public (GitHub, Hugging Face, auth headers);
* value-based matching of the current environment's secrets (any variable whose *name* looks
  secret), which catches custom tokens with no recognisable shape.
"""

from __future__ import annotations

import os
import re
from typing import Mapping, Optional

REDACTED = "[REDACTED]"

# Env var names that hold secrets.  Substring match on the upper-cased name, so
# HF_TOKEN, GITHUB_TOKEN, AWS_SECRET_ACCESS_KEY, PGPASSWORD, OPENAI_API_KEY all count.
_SECRET_NAME_PARTS = ("TOKEN", "KEY", "SECRET", "PASSWORD")
# Shorter values would redact common words ("true", "1", "none") all over a log.
_MIN_SECRET_LEN = 6

_SHAPES: list[re.Pattern[str]] = [
    # GitHub: classic PAT / OAuth / user-to-server / server-to-server / refresh tokens.
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{16,255}\b"),
    # GitHub fine-grained PATs: github_pat_<22 chars>_<59 chars> (lengths vary; be lenient).
    re.compile(r"\bgithub_pat_[A-Za-z0-9_]{20,255}\b"),
    # Hugging Face user access tokens: hf_ followed by ~34 alphanumerics.
    re.compile(r"\bhf_[A-Za-z0-9]{20,}\b"),
    # Credentials in a URL: scheme://user:password@host (a clone or pip index URL in a log).
    re.compile(r"(?<=://)[^/\s:@]{1,256}:[^/\s@]{1,512}(?=@)"),
    # GitLab personal / project access tokens.
    re.compile(r"\bglpat-[A-Za-z0-9_\-]{20,}\b"),
]

# Authorization headers.  "Bearer X" / "Basic X" are unambiguous; a bare "token X" is common
# English in engine logs ("token usage", "token throughput"), so it only counts when X looks like
# a credential: long and mixing letters with digits.  The scheme word is kept (it tells the reader
# what was there); only the value is hidden.
_AUTH_STRONG = re.compile(
    r"(?i)(\bbearer|\bauthorization:\s*(?:basic|token|bearer)?)(\s*)([A-Za-z0-9._~+/\-]{6,}=*)"
)
_AUTH_TOKEN = re.compile(
    r"(?i)\b(token)(\s+|\s*[=:]\s*)(?=[A-Za-z0-9._~+/\-]*[0-9])(?=[A-Za-z0-9._~+/\-]*[A-Za-z])"
    r"([A-Za-z0-9._~+/\-]{16,}=*)"
)


# `NAME=value` / `NAME: value` / `"name": "value"` where the name ends in a secret word
# (HF_TOKEN=..., api_key: ..., "client_secret": ...), even when the value is not in this
# process's environment (the sweep host had it, the sync host does not).  Names that merely
# contain the word (tokenizer_path, max_tokens, KeyError) do not count, and the value must hold a
# letter, so counters such as max_new_tokens=128000 stay readable.
_NAMED = re.compile(
    r"(?i)\b([A-Za-z0-9_.-]*(?:token|key|secret|password|passwd))([\"']?\s*[=:]\s*[\"']?)"
    r"(?=[^\s\"',;]*[A-Za-z])([^\s\"',;]{6,})"
)


# Terminal control sequences a log can carry: OSC (hyperlinks, window titles, clipboard writes),
# CSI (colours, cursor moves, screen clears), other ESC sequences, and lone C0/C1 controls
# (bell, backspace, carriage return).  None of them belongs in an issue, a report or a terminal
# that shows pcgbot's output; newline and tab stay.
_CONTROL = re.compile(
    r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"      # OSC ... BEL / ST
    r"|\x1b\[[0-?]*[ -/]*[@-~]"                   # CSI
    r"|\x1b[@-Z\\-_]?"                            # other ESC sequences, or a lone ESC
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]"               # C0 and C1 controls but \t and \n
)


def strip_controls(text: str) -> str:
    """``text`` without terminal control sequences (see ``_CONTROL``)."""
    return _CONTROL.sub("", text) if text else text


def _looks_secret(name: str, sep: str, value: str) -> bool:
    """Is ``value`` after ``name`` + ``sep`` a credential, or ordinary text?

    ``NAME=value`` is an assignment: any value with a letter counts.  After a colon it is often
    prose or a message ("Unexpected key: lm_head.weight", "no GITHUB_TOKEN: writing to a dry-run
    folder"), so the value must look like a credential: hold a digit, or be long.  The bare words
    ``key`` and ``token`` are ordinary English: after them only a long letters-and-digits value
    without dots (not a module path) counts."""
    if value == REDACTED:
        return False
    if "=" in sep:
        return True
    has_digit = any(c.isdigit() for c in value)
    if name.lower() in ("key", "token"):
        return len(value) >= 16 and has_digit and "." not in value and \
            any(c.isalpha() for c in value)
    return has_digit or len(value) >= 16


def _named(m: re.Match) -> str:
    name, sep, value = m.group(1), m.group(2), m.group(3)
    return name + sep + (REDACTED if _looks_secret(name, sep, value) else value)


def _env_secrets(env: Mapping[str, str]) -> list[str]:
    values = {
        v for k, v in env.items()
        if v and len(v) >= _MIN_SECRET_LEN and any(p in k.upper() for p in _SECRET_NAME_PARTS)
    }
    # Longest first so a secret that contains another secret is replaced whole.
    return sorted(values, key=len, reverse=True)


def redact(text: str, env: Optional[Mapping[str, str]] = None) -> str:
    """Return ``text`` with tokens and secret env values replaced by ``[REDACTED]`` and
    terminal control sequences removed.

    ``env`` defaults to ``os.environ``; pass ``{}`` to use the shape rules only.
    """
    if not text:
        return text
    text = strip_controls(text)
    for secret in _env_secrets(os.environ if env is None else env):
        if secret in text:
            text = text.replace(secret, REDACTED)
    for pat in _SHAPES:
        text = pat.sub(REDACTED, text)
    text = _NAMED.sub(_named, text)

    text = _AUTH_STRONG.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    return _AUTH_TOKEN.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)


def redact_lines(lines: list[str], env: Optional[Mapping[str, str]] = None) -> list[str]:
    """Redact each line; the environment is snapshotted once for the whole list."""
    e = dict(os.environ if env is None else env)
    return [redact(line, e) for line in lines]
