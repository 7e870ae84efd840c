"""One issue per failure signature: file, update, close on health, reopen on recurrence.

Invariants (each has a test in tests/test_github_sync.py):
- An issue is found by listing ``labels=pcgbot,sig:FP`` (state=all) and checking the hidden
  marker in its body; never by title, never through search (its index lags new issues).
- Running sync twice on the same analysis changes nothing: bodies are compared before editing,
  and every comment carries an event key that is looked up before posting.
- Two syncs at once make one issue per fingerprint: the one that creates the ``sig:FP`` label
  (GitHub creates a label once) files the issue, the others wait for it and update it.  As a
  second line of defence (a label left by a crashed sync), the list is read again after
  creating; if several live issues share a fingerprint, the lowest number wins and the others
  are closed as duplicates (every process picks the same winner).
- A failure part-way leaves nothing the next sync cannot finish: comments go out before the
  body that records them, and a posted comment is recognised by its key, so a retry neither
  loses nor doubles it.
- A new fingerprint scheme never files an issue twice: a signature with no issue of its own is
  looked up by its ``aliases`` (its fingerprints under older schemes).  The issue found is
  adopted (new marker and ``sig:`` label; old fingerprint kept in its state and labels); when
  one old fingerprint splits, the largest part keeps the issue and the others are filed with a
  link to it; when several merge, the oldest issue survives and the others close as duplicates.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from .analysis import sig_failing, sig_regressed
from .backend import Backend, Issue
from .brake import HELD_LABEL, Caps, Gate
from .render import (EVENT_RE, IssueState, change_lines, event_marker, facts, issue_body, issue_title,
                     marker_of, rate, replace_state)
from .rescheme import resolve_schemes

BOT_LABEL = "pcgbot"
KIND_LABEL = "pcg-regression"
CATEGORY_COLORS = {"pcg-bug": "d93f0b", "not-pcg": "0e8a16", "infra": "fbca04", "unknown": "cccccc",
                   "flaky": "fef2c0", "untriaged": "cccccc", "resolved-on-rerun": "c2e0c6"}
AUTOCLOSE_REOPENS = 2      # after this many reopens a human closes the issue
MAX_STATE_TESTS = 100      # tests remembered per issue (the body, state included, must fit 65,536)


# How long a sync waits for the issue of a signature whose label another sync just claimed.
CLAIM_WAIT_S = float(os.environ.get("PCGBOT_GITHUB_CLAIM_WAIT", "20"))


def sig_label(fp: str) -> str:
    return f"sig:{fp}"[:50]


def _safe_label(name: str) -> str:
    # A comma would split the `labels=` list filter; GitHub caps names at 50.
    return name.replace(",", "-").strip()[:50] or "unknown"


def label_specs(state: IssueState) -> dict[str, tuple[str, str]]:
    specs = {BOT_LABEL: ("5319e7", "Filed by pcgbot"),
             KIND_LABEL: ("b60205", "Failure found with Piecewise CUDA Graph forced on"),
             sig_label(state.fp): ("c5def5", "pcgbot failure signature")}
    for alias in state.aliases:       # the fingerprints it was known by under earlier schemes
        specs[sig_label(alias)] = ("c5def5", "pcgbot failure signature (earlier scheme)")
    cat = _safe_label(state.category)
    specs[cat] = (CATEGORY_COLORS.get(cat, "cccccc"), "pcgbot triage category")
    if state.gpus:
        specs[f"{int(state.gpus)}-gpu"] = ("1d76db", "GPUs the failing tests need")
    return specs


def same(a: Optional[str], b: Optional[str]) -> bool:
    """Equal up to what GitHub may normalise (CRLF line ends, trailing whitespace)."""
    def norm(x: Optional[str]) -> str:
        return "\n".join(line.rstrip() for line in (x or "").replace("\r\n", "\n").split("\n")).strip()
    return norm(a) == norm(b)


def _managed(name: str) -> bool:
    return name in CATEGORY_COLORS or name.endswith("-gpu") and name[:-4].isdigit()


@dataclass
class SyncResult:
    created: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    commented: list[int] = field(default_factory=list)
    closed: list[int] = field(default_factory=list)
    reopened: list[int] = field(default_factory=list)
    duplicates: list[int] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)      # fingerprints left alone (and why)

    def lines(self) -> list[str]:
        out = []
        for name in ("created", "updated", "commented", "closed", "reopened", "duplicates"):
            nums = getattr(self, name)
            if nums:
                out.append(f"{name}: " + ", ".join(f"#{n}" for n in nums))
        out += [f"skipped: {s}" for s in self.skipped]
        return out or ["no changes"]


def post_once(b: Backend, number: int, marker: str, text: str) -> bool:
    """Post `text` + `marker` unless a comment carrying `marker` exists; True if ours is the one
    that stays.  After posting, every copy but the oldest is deleted: copies come from a
    concurrent bot, or from our own retry of a POST whose answer was lost after GitHub wrote it."""
    if any(marker in c.body for c in b.list_comments(number)):
        return False
    mine = b.add_comment(number, f"{text}\n\n{marker}")
    same = sorted(c.id for c in b.list_comments(number) if marker in c.body)
    for extra in same[1:]:
        b.delete_comment(number, extra)
    return not same or same[0] == mine.id


class Syncer:
    def __init__(self, backend: Backend, analysis: dict, *, overrides: Optional[dict] = None,
                 close_after: int = 1, log: Optional[Callable[[str], None]] = None,
                 caps: Optional[Caps] = None,
                 on_culprit: Optional[Callable[[int, IssueState, dict], Any]] = None) -> None:
        self.b = backend
        self.a = analysis
        self.overrides = overrides or {}
        self.close_after = max(close_after, 1)
        self.log = log or (lambda s: None)
        self.result = SyncResult()
        sweep = analysis.get("sweep") or {}
        self.sweep_id = str(sweep.get("sweep_id") or sweep.get("commit") or "sweep")
        self.commit = sweep.get("commit")
        self.run_url = analysis.get("run_url")
        self._index: Optional[dict[str, list[Issue]]] = None
        self._all: list[Issue] = []
        self.caps = caps          # None: no cap (the library default; the CLI applies Caps())
        # called once when an issue first gets a found culprit (author.tell_author, from the CLI)
        self.on_culprit = on_culprit
        self.touched: set[int] = set()    # issues this run adopted or merged (skip their close)

    # --- finding --------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, list[Issue]]:
        """Every pcgbot issue (open and closed) by fingerprint, listed once per sync: a few pages
        instead of one request per signature."""
        if self._index is None:
            self._index = {}
            self._all = self.b.list_issues([BOT_LABEL], "all")
            for i in self._all:
                fp = marker_of(i.body)
                if fp:
                    self._index.setdefault(fp, []).append(i)
        return self._index

    def all_issues(self) -> list[Issue]:
        """Every issue labelled pcgbot (the snapshot's listing, the summary issue included)."""
        self.snapshot()
        return self._all

    def find(self, fp: str, fresh: bool = False) -> Optional[tuple[Issue, IssueState]]:
        """The live issue of a fingerprint; closes extra live ones as duplicates of the lowest.
        `fresh` lists `sig:FP` again instead of using the snapshot (right after creating)."""
        found = []
        issues = self.b.list_issues([BOT_LABEL, sig_label(fp)], "all") if fresh else self.snapshot().get(fp, [])
        for i in issues:
            st = IssueState.load(i.body)
            if st is not None and marker_of(i.body) == fp:
                found.append((i, st))
        if not found:
            return None
        live = sorted((x for x in found if not x[1].superseded_by), key=lambda x: x[0].number)
        if not live:      # all superseded (a crash mid-resolution): follow the chain's lowest target
            live = sorted(found, key=lambda x: x[0].number)[:1]
        winner = live[0]
        for issue, st in live[1:]:
            self._close_duplicate(issue, st, winner[0].number)
        return winner

    def _close_duplicate(self, issue: Issue, st: IssueState, winner: int) -> None:
        st.superseded_by = winner
        self.comment_once(issue.number, f"dup:{st.fp}:{winner}",
                          f"Duplicate of #{winner} (filed concurrently for the same signature `{st.fp}`).")
        self.b.edit_issue(issue.number, body=replace_state(issue.body, st), state="closed",
                          state_reason="not_planned")
        self.result.duplicates.append(issue.number)

    # --- comments -------------------------------------------------------------------------------
    def comment_once(self, number: int, key_src: str, text: str) -> bool:
        """Post `text` on issue `number` unless a comment with its event key is there."""
        key = hashlib.sha256(key_src.encode()).hexdigest()[:16]
        posted = post_once(self.b, number, event_marker(key), text)
        if posted:
            self.result.commented.append(number)
        return posted

    # --- merging evidence -----------------------------------------------------------------------
    def merge(self, st: IssueState, sig: dict) -> None:
        for t in sig["tests"]:
            st.tests[t["test"]] = {k: t.get(k) for k in ("verdict", "baseline", "current", "statistic", "log")}
            st.tests[t["test"]]["statistic"] = str(t.get("statistic") or "")[:160]
        if len(st.tests) > MAX_STATE_TESTS:
            # The state lives in a 65,536-character body: keep the tests that fail now, then by name.
            now = {t["test"] for t in sig["tests"]}
            keep = sorted(st.tests, key=lambda t: (t not in now, t))[:MAX_STATE_TESTS]
            st.tests = {t: st.tests[t] for t in sorted(keep)}
        for k in ("culprit", "fix"):
            if sig.get(k):
                st.__setattr__(k, sig[k])
        st.category = "not-pcg" if st.not_pcg else str(sig.get("category") or "unknown")
        if sig.get("pcg_specific") is not None:
            st.pcg_specific = sig["pcg_specific"]
        st.gpus = sig.get("gpus") or st.gpus
        if st.last_good is None:
            st.last_good = (self.a.get("baseline") or {}).get("commit")
        if not any(r.get("sweep") == self.sweep_id for r in st.runs):
            st.runs = (st.runs + [{"sweep": self.sweep_id, "commit": self.commit, "url": self.run_url}])[-10:]

    def apply_overrides(self, st: IssueState) -> None:
        for k, v in self.overrides.get(st.fp, {}).items():
            setattr(st, k, v)

    def labels(self, st: IssueState, current: list[str]) -> list[str]:
        specs = label_specs(st)
        self.b.ensure_labels(specs)
        keep = [x for x in current if not _managed(x) and x not in specs]
        return keep + list(specs)

    # --- the three cases ------------------------------------------------------------------------
    def file(self, sig: dict, split_from: Optional[int] = None) -> None:
        fp = sig["fingerprint"]
        st = IssueState(fp=fp, scheme=int(sig.get("scheme") or 1), split_from=split_from)
        self.apply_overrides(st)
        if st.ignored:
            self.result.skipped.append(f"{fp} (marked invalid)")
            return
        # The sig: label is created once by GitHub (422 after): whoever creates it files the
        # issue; a concurrent sync that finds it taken waits for that issue and updates it.
        label = sig_label(fp)
        if not self.b.claim_label(label, *label_specs(st)[label]):
            found = self._await_issue(fp)
            if found is not None:
                self.update(sig, *found)
                return
            self.log(f"github: {label} exists but no issue appeared; filing it")
        self.merge(st, sig)
        st.announced = facts(st)
        issue = self.b.create_issue(issue_title(sig.get("title") or fp, list(st.tests)),
                                    issue_body(sig, st), self.labels(st, []))
        self.result.created.append(issue.number)
        self.log(f"github: filed #{issue.number} for {fp}")
        if st.announced.get("culprit") and self.on_culprit:
            self.on_culprit(issue.number, st, sig)
        if split_from:
            self.comment_once(split_from, f"scheme-split:{fp}:{issue.number}",
                              f"Fingerprint scheme {st.scheme} splits this signature: the failure "
                              f"`{fp}` is now tracked in #{issue.number}.")
        self.find(fp, fresh=True)   # a concurrent bot may have filed the same fingerprint: settle it now

    def _await_issue(self, fp: str) -> Optional[tuple[Issue, IssueState]]:
        """Poll for the issue another sync is filing (bounded: it may have crashed)."""
        deadline = time.monotonic() + CLAIM_WAIT_S
        delay = 0.2
        while True:
            found = self.find(fp, fresh=True)
            if found is not None or time.monotonic() >= deadline:
                return found
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, 3.0)

    def update(self, sig: dict, issue: Issue, st: IssueState) -> None:
        fp = sig["fingerprint"]
        self.apply_overrides(st)
        if st.ignored:
            self.result.skipped.append(f"{fp} (marked invalid in #{issue.number})")
            return
        old = dict(st.announced)
        self.merge(st, sig)
        st.healthy = []
        new = facts(st)
        lines = change_lines(old, new, st)
        # A human closing as "not planned" means "won't fix": recurrence is recorded, not reopened.
        reopen = (issue.state == "closed" and sig_regressed(sig) and not st.not_pcg and not st.redirect
                  and issue.state_reason != "not_planned")
        text = ""
        if reopen:
            st.reopens += 1
            st.closed_by_bot = False
            text = f"Reopened: the failure is back in sweep `{self.sweep_id}` at `{(self.commit or '?')[:12]}`."
            if st.reopens >= AUTOCLOSE_REOPENS and st.autoclose:
                st.autoclose = False
                text += (f"\n\nThis issue has been reopened {st.reopens} times, so pcgbot will no longer "
                         "close it automatically; please close it by hand once it is fixed.")
        elif lines:
            text = f"New evidence from sweep `{self.sweep_id}` at `{(self.commit or '?')[:12]}`:"
        if text:
            if lines:
                text += "\n\n" + "\n".join(lines)
            if self.run_url:
                text += f"\n\nRun: {self.run_url}"
            # Keyed by the state's comment counter, not by the sweep: if the body edit below fails,
            # the next sync (of this sweep or a later one) finds this comment and does not repeat it.
            self.comment_once(st.redirect or issue.number, f"{fp}:{st.seq}", text)
            st.seq += 1
        if new.get("culprit") and new["culprit"] != old.get("culprit") and self.on_culprit:
            # before the body records it: a crash in between tells again, and the note's marker
            # keeps that to one comment
            self.on_culprit(issue.number, st, sig)     # the issue whose state holds this culprit
        st.announced = new
        body = issue_body(sig, st)
        title = issue_title(sig.get("title") or fp, list(st.tests))
        labels = self.labels(st, issue.labels)
        changed_labels = set(labels) != set(issue.labels)
        body_changed = not same(self.b.clean(body), issue.body) or not same(title, issue.title)
        if reopen:
            self.b.edit_issue(issue.number, title=title, body=body, state="open", state_reason="reopened",
                              labels=labels if changed_labels else None)
            self.result.reopened.append(issue.number)
        elif body_changed or changed_labels:
            self.b.edit_issue(issue.number, title=None if same(title, issue.title) else title,
                              body=body if body_changed else None, labels=labels if changed_labels else None)
            self.result.updated.append(issue.number)

    def close_if_healthy(self, issue: Issue, sigs_by_fp: dict[str, dict]) -> None:
        st = IssueState.load(issue.body)
        if st is None or st.superseded_by or not st.tests:
            return
        healthy = set(self.a.get("healthy_tests") or [])
        if not all(t in healthy for t in st.tests):
            return
        self.apply_overrides(st)
        sig = sigs_by_fp.get(st.fp)
        if sig:      # present but passing: take its fix / fresh rates silently, the close comment says it
            self.merge(st, sig)
            st.announced = facts(st)
        if self.sweep_id not in st.healthy:
            st.healthy.append(self.sweep_id)
        current = {t["test"]: t.get("current") for t in self.a.get("tests") or [] if isinstance(t, dict)}
        evidence = "\n".join(f"- `{t}`: {rate(current.get(t))}" for t in sorted(st.tests))
        if not st.autoclose:
            self.comment_once(issue.number, f"healthy-noclose:{st.fp}",
                              f"All tests of this signature pass again (sweep `{self.sweep_id}`), "
                              f"but auto-close is off after {st.reopens} reopens:\n\n{evidence}")
            new_body = replace_state(issue.body, st)
            if not same(self.b.clean(new_body), issue.body):
                self.b.edit_issue(issue.number, body=new_body)
            return
        if len(st.healthy) < self.close_after:
            new_body = replace_state(issue.body, st)
            if not same(self.b.clean(new_body), issue.body):
                self.b.edit_issue(issue.number, body=new_body)
                self.result.updated.append(issue.number)
            return
        fix = st.fix if (st.fix or {}).get("status") == "found" else None
        text = (f"All {len(st.tests)} tests of this signature are healthy again in sweep `{self.sweep_id}` "
                f"at `{(self.commit or '?')[:12]}` ({len(st.healthy)} healthy sweep(s)):\n\n{evidence}")
        if fix:
            text += f"\n\nFixed by `{fix['sha'][:12]}` {fix.get('subject') or ''} (confidence {(fix.get('confidence') or 0):.0%})."
        elif st.fixed_by:
            text += f"\n\nReported fixed by `{st.fixed_by[:12]}` (confirmed by this sweep)."
        if self.run_url:
            text += f"\n\nRun: {self.run_url}"
        self.comment_once(issue.number, f"{st.fp}:{st.seq}", text + "\n\nClosing.")
        st.seq += 1
        st.closed_by_bot = True
        self.b.edit_issue(issue.number, body=replace_state(issue.body, st), state="closed",
                          state_reason="completed")
        self.result.closed.append(issue.number)

    def run(self) -> SyncResult:
        sigs = {s["fingerprint"]: s for s in self.a["signatures"]}
        failing = {fp for fp, s in sigs.items() if sig_failing(s)}
        gate = Gate(self, self.caps, [BOT_LABEL, HELD_LABEL])
        new = []
        adopted, splits = resolve_schemes(self, sigs, failing)
        for fp in sorted(failing):
            sig = sigs[fp]
            got = adopted.get(fp) or self.find(fp)
            if got is None and fp in splits:
                self.file(sig, split_from=splits[fp])
                continue
            if got is None:
                # a signature the caps held back is filed later although no longer "new"
                if sig_regressed(sig) or gate.is_held(fp):
                    new.append(sig)
                else:
                    self.result.skipped.append(f"{fp} (failing, but not a new regression)")
            else:
                gate.removed.add(fp)     # has its issue (filed by hand or by another sync): not held
                self.update(sig, *got)
        gate.file_all(new)
        gate.drop_settled(failing, bool((self.a.get("sweep") or {}).get("partial")))
        gate.save()
        if (self.a.get("sweep") or {}).get("partial"):
            self.post_rates()
        for fp, issues in sorted(self.snapshot().items()):
            if fp in failing:
                continue
            for issue in issues:
                if issue.state == "open" and issue.number not in self.touched:
                    self.close_if_healthy(issue, sigs)
        return self.result

    def post_rates(self) -> None:
        """A partial sweep is a re-run (``/pcgbot rerun``): every open issue whose tests it ran
        gets the pass rates it measured, once per sweep, changed or not -- someone asked."""
        rows = {t["test"]: t for t in self.a.get("tests") or []}
        for fp, issues in sorted(self.snapshot().items()):
            for issue in issues:
                st = IssueState.load(issue.body)
                if issue.state != "open" or st is None or st.superseded_by:
                    continue
                hit = [rows[t] for t in sorted(st.tests) if t in rows]
                if not hit:
                    continue
                lines = [f"Re-run `{self.sweep_id}` at `{(self.commit or '?')[:12]}`:", "",
                         "| test | passed | verdict |", "|---|---|---|"]
                for t in hit:
                    k, n = (t.get("current") or [0, 0])[:2]
                    lines.append(f"| `{t['test']}` | {k}/{n} | {t.get('verdict') or '-'} |")
                if self.run_url:
                    lines += ["", f"Run: {self.run_url}"]
                self.comment_once(issue.number, f"rates:{fp}:{self.sweep_id}", "\n".join(lines))


def sync(backend: Backend, analysis: dict, **kw: Any) -> SyncResult:
    return Syncer(backend, analysis, **kw).run()


__all__ = ["sync", "Syncer", "SyncResult", "label_specs", "post_once", "EVENT_RE"]
