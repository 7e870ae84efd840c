"""Pure rendering: markers, the state block, titles, fences, change sentences."""

from __future__ import annotations

from fakegithub import make_signature
from pcgbot.github.render import (IssueState, change_lines, facts, issue_body, issue_title, marker_of,
                                  replace_state)


def state_for(sig: dict) -> IssueState:
    st = IssueState(fp=sig["fingerprint"])
    for t in sig["tests"]:
        st.tests[t["test"]] = dict(t)
    return st


def test_state_round_trips_even_with_comment_terminators_inside():
    st = IssueState(fp="abcd1234", fixed_by="abc1234")
    st.tests["a-->b.py"] = {"statistic": "p --> 0 <!-- x -->", "current": [1, 2]}
    body = "intro\n" + f"<!-- pcgbot:sig=abcd1234 -->\n{st.dump()}\noutro"
    assert "-->b.py" not in st.dump()
    back = IssueState.load(body)
    assert back == st and marker_of(body) == "abcd1234"
    st.reopens = 2
    body2 = replace_state(body, st)
    assert IssueState.load(body2).reopens == 2 and body2.startswith("intro") and body2.endswith("outro")


def test_mangled_state_keeps_the_marker_and_unknown_keys_are_ignored():
    assert IssueState.load("<!-- pcgbot:sig=ffff0000 -->\n<!-- pcgbot:state {broken -->") == IssueState(fp="ffff0000")
    body = '<!-- pcgbot:sig=ffff0000 -->\n<!-- pcgbot:state {"reopens": 1, "future_field": 3} -->'
    assert IssueState.load(body).reopens == 1
    assert IssueState.load("no marker here") is None


def test_title_names_tests_and_fits():
    assert issue_title("Boom", ["registered/a/test_x.py"]) == "[pcgbot] Boom (test_x)"
    t = issue_title("B" * 300, [f"t/test_{i}.py" for i in range(9)])
    assert len(t) == 256 and t.endswith("…")
    assert "+6 more" in issue_title("Boom", [f"t/test_{i}.py" for i in range(9)])


def test_excerpt_with_backticks_gets_a_longer_fence():
    sig = make_signature(excerpt=["```", "inside"])
    body = issue_body(sig, state_for(sig))
    assert "````text\n```\ninside\n````" in body


def test_change_lines_name_what_a_human_should_know():
    sig = make_signature(tests=("t/test_a.py",))
    st = state_for(sig)
    old = facts(st)
    assert change_lines({}, old, st) == []            # a new issue says it all in its body
    st.tests["t/test_b.py"] = {"baseline": [10, 10], "current": [0, 10]}
    st.tests["t/test_a.py"]["current"] = [4, 10]
    st.culprit = {"status": "found", "sha": "d" * 40, "subject": "Refactor", "confidence": 0.8}
    lines = change_lines(old, facts(st), st)
    assert any("New test hit: `t/test_b.py`" in x for x in lines)
    assert any("`t/test_a.py` now flaky (fails before)" in x for x in lines)
    assert any("Culprit found: `dddddddddddd` Refactor (confidence 80%)" in x for x in lines)
    st2 = state_for(sig)
    st2.tests["t/test_a.py"]["current"] = [1, 10]      # 0/10 -> 1/10 ... still "flaky" vs "fails"
    st3 = state_for(sig)
    st3.tests["t/test_a.py"]["current"] = [2, 10]
    assert change_lines(facts(st2), facts(st3), st3) == []   # a wobble inside "flaky" is not news


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st_  # noqa: E402

from pcgbot.github.render import BODY_BUDGET  # noqa: E402


@settings(max_examples=60, deadline=None)
@given(text=st_.text(max_size=200), tests=st_.lists(st_.text(min_size=1, max_size=120), max_size=30),
       excerpt=st_.lists(st_.text(max_size=5000), max_size=40))
def test_any_signature_renders_a_body_that_fits_and_round_trips(text, tests, excerpt):
    sig = make_signature(tests=tuple(tests) or ("t/test_a.py",), excerpt=excerpt, title=text or "x",
                         statistic=text)
    st = state_for(sig)
    body = issue_body(sig, st)
    assert len(body) <= BODY_BUDGET
    back = IssueState.load(body)
    assert back is not None and back.tests == st.tests and marker_of(body) == st.fp


def test_a_quoted_state_block_in_the_excerpt_does_not_fool_the_bot():
    fake = IssueState(fp="a1b2c3d4e5f6", ignored=True, reopens=9).dump()
    sig = make_signature(excerpt=[fake, "<!-- pcgbot:sig=000000000000 -->"], title=fake)
    st = state_for(sig)
    body = issue_body(sig, st)
    back = IssueState.load(body)
    assert back.ignored is False and back.reopens == 0 and back.fp == "a1b2c3d4e5f6"
    st.reopens = 1
    assert IssueState.load(replace_state(body, st)).reopens == 1
    assert fake in replace_state(body, st)
