"""The %%kling body grammar: shots, joining, interpolation, escapes, and its UsageErrors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from IPython.core.error import UsageError

from kling_nb.body import Body, ShotText, interpolate, parse_body, starts_like_shot


def test_a_body_without_markers_is_one_prompt_kept_as_written_but_trimmed() -> None:
    body = parse_body("\n  A puppy runs\n\n  through a park  \n\n", {})
    assert body == Body(prompt="A puppy runs\n\n  through a park")


def test_only_newline_ends_a_line() -> None:
    assert parse_body("a\u2028[5s] b\x0c", {}) == Body(prompt="a\u2028[5s] b")


def test_a_blank_body_has_no_prompt() -> None:
    assert parse_body(" \n\t\n", {}) == Body()


def test_markers_start_shots_and_later_lines_continue_them() -> None:
    body = parse_body("[5s] @Image1 walks\ntoward the camera\n\n[10s]\nShe turns\n", {})
    assert body.prompt is None
    assert body.shots == (
        ShotText("@Image1 walks\ntoward the camera", 5),
        ShotText("She turns", 10),
    )


def test_a_marker_may_be_indented_and_any_number_of_seconds() -> None:
    body = parse_body("   [3s]a\n[0s] b\n[007s] c", {})
    assert [(s.prompt, s.duration) for s in body.shots] == [("a", 3), ("b", 0), ("c", 7)]


def test_a_marker_alone_makes_a_shot_with_an_empty_prompt() -> None:
    # The request model, not the parser, says an empty prompt is wrong (in the seeds' words).
    assert parse_body("[5s]", {}).shots == (ShotText("", 5),)


def test_a_marker_later_in_a_line_is_prompt_text() -> None:
    assert parse_body("a shot [5s] of a cat", {}) == Body(prompt="a shot [5s] of a cat")


def test_text_before_the_first_marker_is_an_error_that_says_so() -> None:
    with pytest.raises(UsageError, match=r"Text before the first \[Ns\] shot marker: 'intro'"):
        parse_body("intro\n[5s] a cat", {})


@pytest.mark.parametrize("near", ["[5 s]", "[5sec]", "[5]", "[ 5s ]", "[5S]", "[5 seconds]"])
def test_a_near_marker_is_an_error_showing_the_right_form(near: str) -> None:
    with pytest.raises(UsageError, match=r"Line 2 starts with .* write it as \[Ns\]"):
        parse_body(f"[5s] a cat\n{near} a dog", {})


def test_interpolation_uses_the_namespace_and_str() -> None:
    namespace = {"style": "film noir", "n": 3}
    body = parse_body("[5s] {n} cats, {style}\n[5s] {style}", namespace)
    assert [s.prompt for s in body.shots] == ["3 cats, film noir", "film noir"]


def test_double_braces_are_literal_and_not_interpolated() -> None:
    assert interpolate("{{style}} and {{ }} {x}", {"x": "y", "style": "no"}) == "{style} and { } y"


def test_interpolated_text_never_starts_a_shot() -> None:
    body = parse_body("{value}", {"value": "[5s] not a marker\n[3s] nor this"})
    assert body == Body(prompt="[5s] not a marker\n[3s] nor this")


def test_an_unknown_name_is_an_error_naming_it() -> None:
    with pytest.raises(UsageError, match=r"Name 'missing' in the cell body is not defined"):
        parse_body("[5s] a {missing} cat", {"other": 1})


@pytest.mark.parametrize("text", ["a { b", "a } b", "{x}}", "}{"])
def test_an_unmatched_brace_is_an_error_suggesting_doubling(text: str) -> None:
    with pytest.raises(UsageError, match=r"Unmatched '[{}]' .* write '(\{\{|\}\})'"):
        parse_body(text, {"x": 1})


@pytest.mark.parametrize("field", ["{}", "{a b}", "{x.y}", "{x[0]}", "{1}", "{x!r}"])
def test_a_field_that_is_not_a_name_is_an_error(field: str) -> None:
    with pytest.raises(UsageError, match=r"is not a variable name"):
        parse_body(f"a {field} b", {"x": 1})


def test_a_value_whose_str_fails_is_a_usage_error() -> None:
    class Broken:
        def __str__(self) -> str:
            raise RuntimeError("no text\nhere")

    with pytest.raises(UsageError, match=r"Could not turn \{b\} into text: RuntimeError: no text"):
        parse_body("{b}", {"b": Broken()})


def test_usage_errors_are_one_line() -> None:
    class Broken:
        def __str__(self) -> str:
            raise RuntimeError("two\nlines")

    for text in ["x\n[5s] y", "{nope}", "{", "{a b}", "[5]", "{b}"]:
        with pytest.raises(UsageError) as info:
            parse_body(text, {"b": Broken()})
        assert "\n" not in str(info.value)


_NAMES = st.from_regex(r"[a-z_][a-z0-9_]{0,6}", fullmatch=True)


@given(text=st.text(), namespace=st.dictionaries(_NAMES, st.text() | st.integers()))
def test_arbitrary_text_parses_or_raises_only_usage_error(
    text: str, namespace: dict[str, object]
) -> None:
    try:
        body = parse_body(text, namespace)
    except UsageError as exc:
        assert "\n" not in str(exc)
        return
    assert (body.prompt is None) or not body.shots


_LINE = st.text(st.characters(blacklist_characters="{}[\n"))


@given(shots=st.lists(st.tuples(st.integers(0, 10_000), _LINE), min_size=1, max_size=5))
def test_marked_lines_round_trip_into_shots(shots: list[tuple[int, str]]) -> None:
    text = "\n".join(f"[{seconds}s] {prompt}" for seconds, prompt in shots)
    body = parse_body(text, {})
    assert [(s.duration, s.prompt) for s in body.shots] == [(n, p.strip()) for n, p in shots]


@given(words=st.lists(st.from_regex(r"[A-Za-z0-9,.!?'@ ]{1,12}", fullmatch=True), min_size=1))
def test_escaped_braces_round_trip(words: list[str]) -> None:
    text = " ".join(words)
    escaped = text.replace("{", "{{").replace("}", "}}")
    assert interpolate("{{" + escaped + "}}", {}) == "{" + text + "}"


_NO_BRACES = st.characters(exclude_characters="{}\n")


@given(line=st.text(st.sampled_from("[]0123456789sSecondx \t")) | st.text(_NO_BRACES))
def test_starts_like_shot_says_exactly_which_lines_are_not_prompt_text(line: str) -> None:
    if starts_like_shot(line):
        with pytest.raises(UsageError, match="shot marker"):
            parse_body(f"intro\n{line}", {})
    else:
        assert parse_body(f"intro\n{line}", {}) == Body(prompt=f"intro\n{line}".strip())
