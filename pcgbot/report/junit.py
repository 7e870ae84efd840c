"""JUnit XML of a report, for CI dashboards (GitHub test reporters, Jenkins, GitLab).

One ``<testcase>`` per test (not per run): CI dashboards track a test's status over builds,
and ten lines per test would drown the one that matters.  A test with any failed verdict run
gets ``<failure>`` (message: pass count, verdict and signature title; text: a redacted log
excerpt); a test whose runs were all lost to infrastructure or timeouts gets ``<error>``
(that is not a verdict on the code); a test never run gets ``<skipped>``.

The layout follows the common schema (Jenkins' junit-10.xsd, which GitHub test reporters, GitLab
and Jenkins read): ``<testsuites>`` carries only name/tests/failures/errors/time; every
``<testsuite>`` carries name, tests, failures, errors, skipped, time, timestamp, hostname, id,
package, then properties, test cases, system-out, system-err; a test case holds at most one of
skipped/error/failure.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Optional

from ..results.sweepdir import inside
from ..signatures.secrets import redact

EXCERPT_LINES = 40
# Characters XML 1.0 cannot carry (logs contain ANSI escapes and stray control bytes).
_BAD_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(text: str) -> str:
    return _BAD_XML.sub("?", text)


def log_excerpt(test: dict[str, Any], lines: int = EXCERPT_LINES) -> str:
    """The last lines of the first failing run's log, redacted."""
    ff = test.get("first_failure")
    if not ff or not ff.get("log"):
        return ""
    p = inside(test["dir"], ff["log"])
    if p is None:
        return ""
    try:
        with open(p, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - 64 * 1024))   # logs can be 100 MB; the tail is enough
            tail = f.read().decode(errors="replace").splitlines()[-lines:]
    except OSError:
        return f"(log {ff['log']} not available)"
    return redact("\n".join(tail))


def _ts(value: Optional[str]) -> str:
    # xs:dateTime without a zone offset is what the Ant schema's ISO8601 type allows.
    return (value or "1970-01-01T00:00:00")[:19]


def render_junit(data: dict[str, Any]) -> str:
    sweep = data["sweeps"][0] if data["sweeps"] else {}
    root = ET.Element("testsuites", name=f"pcgbot {sweep.get('plan')} {sweep.get('mode')}")
    suites: dict[str, list[dict]] = {}
    for t in data["tests"]:
        suites.setdefault(t["suite"], []).append(t)
    totals = dict(tests=0, failures=0, errors=0, skipped=0, time=0.0)
    for i, (suite, tests) in enumerate(sorted(suites.items())):
        s = ET.SubElement(root, "testsuite", name=suite, package="pcgbot", id=str(i),
                          timestamp=_ts(sweep.get("started_at")),
                          hostname=str(sweep.get("host") or "localhost"))
        props = ET.SubElement(s, "properties")
        for k in ("plan", "mode", "commit", "branch", "sweep_id"):
            ET.SubElement(props, "property", name=k, value=str(sweep.get(k) or ""))
        counts = dict(tests=0, failures=0, errors=0, skipped=0, time=0.0)
        for t in tests:
            counts["tests"] += 1
            counts["time"] += t["duration_s"]
            case = ET.SubElement(s, "testcase", name=t["test"],
                                 classname=f"{suite}.{t['gpus']}-gpu",
                                 time=f"{t['duration_s']:.3f}")
            kn = f"{t['passed']}/{t['runs']} runs passed"
            if t["status"] == "failed":
                counts["failures"] += 1
                what = t.get("title") or t.get("category") or "failed"
                msg = f"{kn} ({t.get('verdict') or 'failed'}): {what}"
                el = ET.SubElement(case, "failure", message=_clean(redact(msg)),
                                   type=t.get("category") or "failure")
                el.text = _clean(log_excerpt(t))
            elif t["status"] == "no-verdict" and (t["infra"] or t["timeout"]):
                counts["errors"] += 1
                ET.SubElement(case, "error", type="infra",
                              message=f"no verdict: {t['infra']} infra, {t['timeout']} "
                                      "timeout runs (see the report's infrastructure issues)")
            elif t["status"] == "no-verdict":
                counts["skipped"] += 1
                ET.SubElement(case, "skipped", message=f"{t['skip']} runs skipped")
        for k, v in counts.items():
            s.set(k, f"{v:.3f}" if k == "time" else str(v))
            totals[k] += v
        ET.SubElement(s, "system-out").text = ""
        ET.SubElement(s, "system-err").text = ""
    for k, v in totals.items():
        if k != "skipped":   # junit-10.xsd has no skipped attribute on <testsuites>
            root.set(k, f"{v:.3f}" if k == "time" else str(v))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") \
        + "\n"
