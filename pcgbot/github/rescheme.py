"""A new fingerprint scheme meets the issues filed under an older one (see sync's docstring).

A failing signature that has no issue of its own is looked up by its ``aliases`` (the
fingerprints older schemes gave the same logs).  The issue found is adopted: its marker, state
and ``sig:`` label move to the new fingerprint and its state keeps the old one.  When one old
fingerprint splits, the part with the most tests keeps the issue and the others are filed with a
link to it; when several old fingerprints merge, the oldest issue survives and the others are
closed as duplicates with a link.  A scheme change alone therefore files nothing twice.
"""

from __future__ import annotations

from typing import Any

from .backend import Issue
from .render import IssueState, replace_state

# ``syncer`` is the sync.Syncer (typed Any: sync imports this module, not the reverse).


def _by_alias(syncer: Any, sigs: dict[str, dict], failing: set[str]) -> dict[str, list[Issue]]:
    """For each failing signature without an issue of its own: the live issues filed under
    one of its aliases (marker = alias, never adopted yet), oldest first."""
    out: dict[str, list[Issue]] = {}
    for fp in sorted(failing):
        if syncer.find(fp) is not None:
            continue
        hits: list[Issue] = []
        for alias in sigs[fp].get("aliases") or []:
            for i in syncer.snapshot().get(alias, []):
                st = IssueState.load(i.body)
                if st is not None and not st.superseded_by and i not in hits:
                    hits.append(i)
        if hits:
            out[fp] = sorted(hits, key=lambda i: i.number)
    return out


def resolve_schemes(syncer: Any, sigs: dict[str, dict], failing: set[str]
                    ) -> tuple[dict[str, tuple[Issue, IssueState]], dict[str, int]]:
    """Adopt, split and merge the issues of older schemes (see the module docstring).
    Returns the adopted issues by new fingerprint (their bodies are rewritten by ``update``)
    and {fingerprint: issue to link} for the signatures filed as splits."""
    claims = _by_alias(syncer, sigs, failing)
    owner: dict[int, str] = {}        # old issue -> the signature that keeps it
    for fp, issues in claims.items():
        for i in issues:
            best = owner.get(i.number)
            size = (len(sigs[fp]["tests"]), fp)
            if best is None or size > (len(sigs[best]["tests"]), best):
                owner[i.number] = fp
    splits: dict[str, int] = {}
    adopted: dict[str, tuple[Issue, IssueState]] = {}
    for fp, issues in sorted(claims.items()):
        mine = [i for i in issues if owner[i.number] == fp]
        if not mine:
            splits[fp] = issues[0].number
            continue
        keep, rest = mine[0], mine[1:]
        st = IssueState.load(keep.body)
        assert st is not None
        for other in rest:        # several old signatures are one bug now
            ost = IssueState.load(other.body)
            assert ost is not None
            st.aliases += [a for a in [ost.fp] + ost.aliases if a not in st.aliases]
            ost.superseded_by = keep.number
            syncer.comment_once(other.number, f"scheme-merge:{ost.fp}:{keep.number}",
                              f"Duplicate of #{keep.number}: fingerprint scheme "
                              f"{sigs[fp].get('scheme') or '?'} sees one bug in both "
                              f"(signature `{fp}`).")
            syncer.b.edit_issue(other.number, body=replace_state(other.body, ost), state="closed",
                              state_reason="not_planned")
            syncer.result.duplicates.append(other.number)
            syncer.touched.add(other.number)
        if st.fp not in st.aliases:
            st.aliases.append(st.fp)
        st.fp, st.scheme = fp, int(sigs[fp].get("scheme") or st.scheme)
        syncer.touched.add(keep.number)
        syncer.log(f"github: #{keep.number} now tracks {fp} (was {', '.join(st.aliases)})")
        adopted[fp] = (keep, st)          # update() writes the new marker, state and label
    for fp, number in splits.items():     # the split-off tests leave the old issue's table
        for keep, st in adopted.values():
            if keep.number == number:
                for t in sigs[fp]["tests"]:
                    st.tests.pop(t["test"], None)
    return adopted, splits
