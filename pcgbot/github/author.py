"""Telling the culprit's author: one comment on the pull request that merged the culprit commit.

A bisection that finds a culprit (status ``found``: it reached the confidence it was asked for,
the same answer that puts the culprit into the issue) is worth nothing if nobody who can fix it
hears of it.  Like syzbot mailing the author and Chromium's Findit commenting on the CL, pcgbot
comments once on the pull request that merged the commit (``GET /commits/SHA/pulls``; with squash
merges, the norm in SGLang, the commit *is* the merge commit), mentioning the commit's GitHub
author, with the signature, the evidence table, the issue link and how to reproduce.  Without a
pull request (a direct push) it comments on the commit.

Never twice for the same signature and commit: the comment carries
``<!-- pcgbot:culprit sig=FP sha=SHA -->``, looked up in the thread before posting.  It also
carries ``<!-- pcgbot:issue=N -->``, which lets ``/pcgbot`` commands in the pull request act on
the signature's issue (``issues_of_thread``).  Everything that comes from a log or from git
(titles, subjects, test names) sits in code spans it cannot end, so it cannot @mention anyone;
the only mention is the author's login as GitHub's API returns it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Optional

from .backend import Backend, Comment
from .brake import code
from .client import GitHubError
from .render import IssueState
from .sync import post_once

CULPRIT_MARKER = "<!-- pcgbot:culprit sig={fp} sha={sha} -->"
CULPRIT_RE = re.compile(r"<!-- pcgbot:culprit sig=([A-Za-z0-9_.:-]+) sha=([0-9a-f]{7,40}) -->")
ISSUE_MARKER_RE = re.compile(r"<!-- pcgbot:issue=([0-9]{1,9}) -->")
SHA_RE = re.compile(r"^[0-9a-f]{7,40}$")
LOGIN_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")     # GitHub user names; bots never match
MAX_EVIDENCE_ROWS = 20


@dataclass
class Told:
    where: str               # "pull request #12" | "commit abc123def456"
    posted: bool             # False: the thread already had this note


def pick_pull(pulls: list[dict], sha: str) -> Optional[dict]:
    """The pull request that merged ``sha``: the one whose merge commit it is, else a merged one,
    else None (an open PR that merely contains the commit did not bring it in)."""
    merged = [p for p in pulls if p.get("merged_at")]
    exact = [p for p in merged if str(p.get("merge_commit_sha") or "").startswith(sha)]
    chosen = sorted(exact or merged, key=lambda p: p["number"])
    return chosen[0] if chosen else None


def note(st: IssueState, sig: dict, issue: int, mention: Optional[str], in_pull: bool) -> str:
    """The comment's text (without the culprit marker, which ``post_once`` appends)."""
    c = st.culprit or {}
    sha = str(c["sha"])
    who = f"@{mention} " if mention else ""
    lines = [f"<!-- pcgbot:issue={int(issue)} -->",
             f"{who}pcgbot's bisection found commit {sha} to be the first bad commit for the failure "
             f"tracked in #{int(issue)} (confidence **{float(c.get('confidence') or 0):.0%}**), with "
             "Piecewise CUDA Graph forced on.", "",
             f"- **Signature** {code(st.fp)}: {code(sig.get('title') or st.fp)}",
             f"- **Commit** {sha} {code(c.get('subject') or '')}"]
    tests = sorted(st.tests)
    shown = ", ".join(code(t) for t in tests[:5]) + (f" and {len(tests) - 5} more" if len(tests) > 5 else "")
    if tests:
        lines.append(f"- **Tests** ({len(tests)}): {shown}")
    rng = [str(x) for x in (c.get("range") or []) if SHA_RE.match(str(x))]
    if len(rng) == 2:
        lines.append(f"- **Searched** {rng[0]} (good) .. {rng[1]} (bad)")
    ev = [e for e in c.get("evidence") or [] if isinstance(e, dict) and SHA_RE.match(str(e.get("sha") or ""))]
    if ev:
        lines += ["", "| Commit | Passed | Runs |", "|---|---|---|"]
        lines += [f"| {e['sha']} | {int(e.get('passed') or 0)} | {int(e.get('runs') or 0)} |"
                  for e in ev[:MAX_EVIDENCE_ROWS]]
        if len(ev) > MAX_EVIDENCE_ROWS:
            lines.append(f"| … {len(ev) - MAX_EVIDENCE_ROWS} more in #{int(issue)} | | |")
    if sig.get("reproduce"):
        cmd = " ".join(str(sig["reproduce"]).split())
        fence = "`" * max(3, max((len(m) for m in re.findall(r"`+", cmd)), default=0) + 1)
        lines += ["", "To reproduce (with a pcgbot checkout and the plan):", f"{fence}sh", cmd, fence]
    where = "here or on" if in_pull else "on"
    lines += ["", f"If this is wrong, comment `/pcgbot invalid` or `/pcgbot not-pcg` {where} #{int(issue)}; "
              "`/pcgbot help` lists the commands. Once fixed, `/pcgbot fixed-by SHA` closes the issue "
              "when a sweep confirms it."]
    return "\n".join(lines)


def tell_author(b: Backend, st: IssueState, sig: dict, issue: int,
                log: Callable[[str], None] = lambda s: None) -> Optional[Told]:
    """Comment once on the pull request that merged the culprit (or on the commit).  None when
    there is nothing to tell (no culprit found); a GitHub refusal is logged, not raised: the
    issue itself is already up to date."""
    c = st.culprit or {}
    sha = str(c.get("sha") or "").lower()
    if c.get("status") != "found" or not SHA_RE.match(sha):
        return None
    marker = CULPRIT_MARKER.format(fp=st.fp, sha=sha)
    try:
        pull = pick_pull(b.commit_pulls(sha), sha)
        login = b.commit_author(sha) or (pull or {}).get("user")
        mention = login if login and LOGIN_RE.match(login) else None
        text = note(st, sig, issue, mention, pull is not None)
        if pull is not None:
            return Told(f"pull request #{pull['number']}", post_once(b, int(pull["number"]), marker, text))
        if any(marker in x.body for x in b.list_commit_comments(sha)):
            return Told(f"commit {sha[:12]}", False)
        b.add_commit_comment(sha, f"{text}\n\n{marker}")
        return Told(f"commit {sha[:12]}", True)
    except GitHubError as e:
        log(f"github: could not tell the author of {sha[:12]} ({e}); the culprit is in #{issue}")
        return None


def issues_of_thread(comments: list[Comment]) -> dict[int, tuple[str, str]]:
    """Issue number -> (fingerprint, sha) of the culprit notes that pcgbot posted in a thread.
    Only comments by a bot account count: anyone can type the markers."""
    out: dict[int, tuple[str, str]] = {}
    for c in comments:
        if not c.user.endswith("[bot]"):
            continue
        m, i = CULPRIT_RE.search(c.body), ISSUE_MARKER_RE.search(c.body)
        if m and i:
            out[int(i.group(1))] = (m.group(1), m.group(2))
    return out
