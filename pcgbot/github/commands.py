"""``/pcgbot`` commands in issue comments (an ``issue_comment`` event).

The comment job never runs GPU work and never hands comment text to a shell: the line is split
into words, every word is checked against a strict pattern (SHA = 7-40 hex, issue = #digits, a
test = a test of the issue or of the plan), and GPU work is a ``workflow_dispatch`` of the
bisect or sweep workflow with those checked words as inputs.  Only OWNER / MEMBER / COLLABORATOR
(or a collaborator with write access, asked through the API) may change state or start GPU work.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from ..errors import UsageError
from ..model import short_name
from . import overrides as ov
from .author import issues_of_thread
from .backend import Backend, dispatch_compatible
from .render import IssueState, event_marker, replace_state
from .sync import label_specs, post_once

BISECT_WORKFLOW = "pcgbot-bisect.yml"
SWEEP_WORKFLOW = "pcgbot-sweep.yml"
TRUSTED = {"OWNER", "MEMBER", "COLLABORATOR"}
WRITE_PERMISSIONS = {"admin", "maintain", "write"}
SHA_RE = re.compile(r"^[0-9a-fA-F]{7,40}$")
ISSUE_RE = re.compile(r"^#([0-9]{1,9})$")
TEST_RE = re.compile(r"^(?!.*\.\.)[A-Za-z0-9_][A-Za-z0-9_./-]{0,199}$")
GPU_CONFIGS = {1: "1-gpu", 2: "2-gpu", 4: "4-gpu"}

HELP = """pcgbot commands (one per comment, on a line of its own):

- `/pcgbot rerun [TEST]`: sweep TEST again on a GPU runner (default: this issue's test)
- `/pcgbot bisect [TEST] [--good SHA] [--bad SHA]`: find the culprit commit
- `/pcgbot fixed-by SHA`: record the fix; the issue closes when the next sweep confirms it
- `/pcgbot dup #N`: this signature is tracked in #N from now on
- `/pcgbot invalid`: close, and never file this signature again
- `/pcgbot not-pcg`: close as not PCG-related
- `/pcgbot help`: this text

State changes and GPU work need an owner, member or collaborator."""

STATEFUL = {"rerun", "bisect", "fixed-by", "dup", "invalid", "not-pcg"}


class CommandError(Exception):
    """A command that cannot run as written; the text is the reply (no secrets, no echo of input)."""


@dataclass
class Outcome:
    command: str            # the parsed verb, or "" when the comment held none
    status: str             # done | refused | invalid | ignored | help | duplicate-event
    reply: Optional[str]    # text posted back (None: a reaction was enough)
    effect: Optional[dict] = None


def parse(body: str) -> Optional[list[str]]:
    """The words of the first line starting with /pcgbot (without it), or None."""
    for line in (body or "").splitlines():
        s = line.strip()
        if s == "/pcgbot" or s.startswith("/pcgbot "):
            return s.split()[1:]
    return None


def _sha(word: str) -> str:
    if not SHA_RE.match(word):
        raise CommandError("a commit must be 7-40 hexadecimal digits")
    return word.lower()


class Handler:
    def __init__(self, backend: Backend, event: dict, *, store: Any = None, plan: Any = None,
                 log: Optional[Callable[[str], None]] = None) -> None:
        self.b = backend
        self.event = event
        self.store = store
        self.plan = plan
        self.log = log or (lambda s: None)
        check_event(event)
        self.comment = event.get("comment") or {}
        self.issue = event.get("issue") or {}
        repo = event.get("repository") or {}
        self.repo = str(repo.get("full_name") or "")
        self.ref = str(repo.get("default_branch") or "main")
        self.number = int(self.issue.get("number") or 0)    # the thread the comment is in
        self.target = self.number    # the issue whose state a command changes (see _resolve_target)
        self.comment_id = int(self.comment.get("id") or 0)
        self.actor = str((self.comment.get("user") or {}).get("login") or "")

    # --- replies --------------------------------------------------------------------------------
    def reply(self, text: str) -> None:
        """One reply per command comment, even if the event is handled twice."""
        marker = event_marker(hashlib.sha256(f"cmd:{self.comment_id}".encode()).hexdigest()[:16])
        post_once(self.b, self.number, marker, f"@{self.actor} {text}")

    def allowed(self) -> bool:
        if str(self.comment.get("author_association") or "").upper() in TRUSTED:
            return True
        try:
            return self.b.permission(self.actor) in WRITE_PERMISSIONS
        except Exception as e:    # noqa: BLE001  (a failed lookup must refuse, not crash)
            self.log(f"github: permission lookup for {self.actor} failed: {e}")
            return False

    # --- the issue's state ----------------------------------------------------------------------
    def state(self) -> tuple[Any, IssueState]:
        issue = self.b.get_issue(self.target)
        st = IssueState.load(issue.body)
        if st is None:
            raise CommandError("this issue was not filed by pcgbot, so it has no failure signature to act on")
        return issue, st

    def _test(self, word: Optional[str], st: Optional[IssueState]) -> str:
        if word is not None and not TEST_RE.match(word):
            raise CommandError("a test is a path or a short name from the plan (letters, digits, `_./-`)")
        known = sorted(st.tests) if st else []
        if word is None:
            failing = [t for t in known if (st.tests[t].get("current") or [0, 1])[0] < (st.tests[t].get("current") or [0, 1])[1]]
            if not (failing or known):
                raise CommandError("name the test: this issue lists none")
            return (failing or known)[0]
        if self.plan is not None:
            try:
                return str(self.plan.find_test(word).path)
            except Exception:   # noqa: BLE001  (the plan's own error names the plan file; keep the reply short)
                raise CommandError(f"`{word}` is not a test of plan `{getattr(self.plan, 'name', 'the plan')}`") from None
        for t in known:
            if word in (t, short_name(t)):
                return t
        if not known:
            raise CommandError("this issue has no pcgbot signature, so its tests are unknown (comment on a pcgbot issue)")
        raise CommandError(f"`{word}` is not one of this issue's tests ({', '.join(short_name(t) for t in known)})")

    def _save(self, issue: Any, st: IssueState, **edit: Any) -> None:
        self.b.edit_issue(self.target, body=replace_state(issue.body, st), **edit)

    def _resolve_target(self) -> None:
        """A command in a pull request's conversation acts on the issue of the culprit note that
        pcgbot posted there (author.py), checked against that issue's own culprit."""
        if not self.issue.get("pull_request"):
            return
        found = []
        for number, (fp, sha) in sorted(issues_of_thread(self.b.list_comments(self.number)).items()):
            try:
                st = IssueState.load(self.b.get_issue(number).body)
            except Exception:   # noqa: BLE001  (a deleted or foreign issue is simply not a target)
                continue
            culprit = str((st.culprit or {}).get("sha") or "") if st else ""
            if st is not None and st.fp == fp and culprit.lower().startswith(sha):
                found.append(number)
        if not found:
            raise CommandError("this pull request has no pcgbot culprit report; comment on the pcgbot issue")
        if len(found) > 1:
            raise CommandError("this pull request is the culprit of several pcgbot issues ("
                               + ", ".join(f"#{n}" for n in found) + "); comment on the one you mean")
        self.target = found[0]

    # --- commands -------------------------------------------------------------------------------
    def rerun(self, args: list[str]) -> Outcome:
        if len(args) > 1 or any(a.startswith("-") for a in args):
            raise CommandError("usage: `/pcgbot rerun [TEST]`")
        st = self._maybe_state()
        if args or not (st and st.tests):
            test = self._test(args[0] if args else None, st)
        else:
            test = ",".join(sorted(st.tests))   # every test of the issue (sweep --tests globs)
        self.b.dispatch(SWEEP_WORKFLOW, self.ref, {"tests": test})
        self.b.react(self.number, self.comment_id, "rocket")
        return Outcome("rerun", "done", None, {"workflow": SWEEP_WORKFLOW, "inputs": {"tests": test}})

    def bisect(self, args: list[str]) -> Outcome:
        test_word, good, bad = None, None, None
        it = iter(args)
        for a in it:
            flag, _, val = a.partition("=")
            if flag in ("--good", "--bad"):
                val = val or next(it, "")
                if not val:
                    raise CommandError(f"`{flag}` needs a commit")
                if flag == "--good":
                    good = _sha(val)
                else:
                    bad = _sha(val)
            elif a.startswith("-") or test_word is not None:
                raise CommandError("usage: `/pcgbot bisect [TEST] [--good SHA] [--bad SHA]`")
            else:
                test_word = a
        st = self._maybe_state()
        test = self._test(test_word, st)
        runs = [r.get("commit") for r in (st.runs if st else []) if r.get("commit")]
        good = good or (st.last_good if st else None)
        bad = bad or (runs[0] if runs else None)
        if not good or not bad:
            raise CommandError("give both ends: `/pcgbot bisect TEST --good SHA --bad SHA`")
        inputs = {"test": test, "good": good, "bad": bad}
        if st and st.fp and test in st.tests:   # the issue's failure, for one of its tests
            inputs["signature"] = st.fp
        if st and st.gpus in GPU_CONFIGS:
            inputs["config"] = GPU_CONFIGS[st.gpus]
        inputs = dispatch_compatible(self.b, BISECT_WORKFLOW, self.ref, inputs,
                                     warn=lambda m: print(f"pcgbot: warning: {m}",
                                                          file=sys.stderr))
        self.b.react(self.number, self.comment_id, "rocket")
        return Outcome("bisect", "done", None, {"workflow": BISECT_WORKFLOW, "inputs": inputs})

    def _maybe_state(self) -> Optional[IssueState]:
        issue = self.b.get_issue(self.target)
        return IssueState.load(issue.body)

    def fixed_by(self, args: list[str]) -> Outcome:
        if len(args) != 1:
            raise CommandError("usage: `/pcgbot fixed-by SHA`")
        sha = _sha(args[0])
        issue, st = self.state()
        st.fixed_by = sha
        self._save(issue, st)
        self._record(st.fp, "fixed_by", sha)
        self.b.react(self.number, self.comment_id, "+1")
        return Outcome("fixed-by", "done", None, {"fixed_by": sha})

    def dup(self, args: list[str]) -> Outcome:
        m = ISSUE_RE.match(args[0]) if len(args) == 1 else None
        if not m:
            raise CommandError("usage: `/pcgbot dup #N`")
        target = int(m.group(1))
        if target == self.target:
            raise CommandError("an issue cannot be a duplicate of itself")
        try:
            self.b.get_issue(target)
        except Exception:   # noqa: BLE001
            raise CommandError(f"#{target} does not exist") from None
        issue, st = self.state()
        st.redirect = target
        self._save(issue, st, state="closed", state_reason="not_planned")
        self._record(st.fp, "redirect", target)
        self.reply(f"Marked as a duplicate of #{target}; new occurrences of `{st.fp}` will be reported there.")
        return Outcome("dup", "done", "reply", {"redirect": target})

    def invalid(self, args: list[str]) -> Outcome:
        if args:
            raise CommandError("usage: `/pcgbot invalid`")
        issue, st = self.state()
        st.ignored = True
        self._save(issue, st, state="closed", state_reason="not_planned")
        self._record(st.fp, "ignored", True)
        self.b.react(self.number, self.comment_id, "+1")
        return Outcome("invalid", "done", None, {"ignored": True})

    def not_pcg(self, args: list[str]) -> Outcome:
        if args:
            raise CommandError("usage: `/pcgbot not-pcg`")
        issue, st = self.state()
        st.not_pcg = True
        st.category = "not-pcg"
        specs = label_specs(st)
        self.b.ensure_labels(specs)
        labels = [x for x in issue.labels if x not in ("pcg-bug", "unknown", "untriaged")] + \
            [x for x in specs if x not in issue.labels]
        self._save(issue, st, state="closed", state_reason="not_planned", labels=labels)
        self._record(st.fp, "not_pcg", True)
        self.b.react(self.number, self.comment_id, "+1")
        return Outcome("not-pcg", "done", None, {"not_pcg": True})

    def _record(self, fp: str, key: str, value: Any) -> None:
        if self.store is not None:
            ov.record(self.store, self.repo, fp, key, value, self.actor)

    # --- entry ----------------------------------------------------------------------------------
    def handle(self) -> Outcome:
        if self.event.get("action") not in (None, "created"):
            return Outcome("", "ignored", None)          # edits and deletions: act once, on creation
        if (self.comment.get("user") or {}).get("type") == "Bot":
            return Outcome("", "ignored", None)          # never answer a bot (loops)
        words = parse(str(self.comment.get("body") or ""))
        if words is None or not self.number or not self.comment_id:
            return Outcome("", "ignored", None)
        if self.store is not None and ov.seen_command(self.store, self.repo, self.comment_id):
            return Outcome(words[0] if words else "", "duplicate-event", None)
        verb = words[0].lower() if words else "help"
        out = self._run(verb, words[1:])
        if self.store is not None:
            ov.log_command(self.store, self.repo, self.comment_id, self.number, self.actor, verb, out.status)
        return out

    def _run(self, verb: str, args: list[str]) -> Outcome:
        if verb not in STATEFUL:
            # The word is the commenter's: echo only its letters, digits, '-' and '_' (a
            # backtick would leave the code span and let the bot @mention people).
            word = re.sub(r"[^A-Za-z0-9_-]", "", verb)[:30]
            self.reply(HELP if verb == "help" else
                       f"I don't know {'`' + word + '`' if word else 'that command'}.\n\n{HELP}")
            return Outcome(verb, "help", HELP)
        if not self.allowed():
            text = ("thanks! Only repository owners, members and collaborators can run "
                    f"`/pcgbot {verb}`; a maintainer can run it for you.")
            self.reply(text)
            return Outcome(verb, "refused", text)
        try:
            self._resolve_target()
        except CommandError as e:
            self.reply(f"I could not run `/pcgbot {verb}`: {e}.")
            return Outcome(verb, "invalid", str(e))
        fn = {"rerun": self.rerun, "bisect": self.bisect, "fixed-by": self.fixed_by, "dup": self.dup,
              "invalid": self.invalid, "not-pcg": self.not_pcg}[verb]
        try:
            return fn(args)
        except CommandError as e:
            text = f"I could not run `/pcgbot {verb}`: {e}."
            self.reply(text)
            return Outcome(verb, "invalid", text)


def load_event(path: Optional[str]) -> dict:
    if not path:
        raise UsageError("--event: event: not given and $GITHUB_EVENT_PATH is not set")
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise UsageError(f"{path}:0: event: cannot read ({e.strerror})") from None
    except ValueError as e:
        raise UsageError(f"{path}:{getattr(e, 'lineno', 1)}: event: invalid JSON") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}:1: event: expected a JSON object")
    check_event(data, str(path))
    return data


# The fields of an issue_comment event pcgbot reads, and their JSON types (the event comes from
# outside: a wrong type is one line, never a traceback).
_EVENT_FIELDS = [("comment", dict), ("issue", dict), ("repository", dict),
                 ("comment.user", dict), ("comment.id", int), ("comment.body", str),
                 ("issue.number", int), ("repository.full_name", str),
                 ("repository.default_branch", str), ("comment.user.login", str)]


def check_event(event: dict, where: str = "event") -> None:
    for dotted, kind in _EVENT_FIELDS:
        v: Any = event
        for part in dotted.split("."):
            v = v.get(part) if isinstance(v, dict) else None
        if v is not None and (not isinstance(v, kind) or isinstance(v, bool)):
            raise UsageError(f"{where}: event: {dotted}: expected {kind.__name__}, "
                             f"got {type(v).__name__}")


def handle_event(backend: Backend, event: dict, **kw: Any) -> Outcome:
    return Handler(backend, event, **kw).handle()
