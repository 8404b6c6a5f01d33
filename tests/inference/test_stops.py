from hypothesis import given
from hypothesis import strategies as st

from orchestra.inference.stops import StopTrimmer


def run(deltas: list[str], stop: list[str]) -> tuple[list[str], str, bool]:
    passed_on: list[str] = []
    trimmer = StopTrimmer(stop, passed_on.append)
    for delta in deltas:
        if trimmer.feed(delta):
            break
    return passed_on, trimmer.finish(), trimmer.stopped


def test_text_is_cut_before_a_stop_string_split_across_deltas():
    passed_on, text, stopped = run(["hello <|e", "nd|> world"], ["<|end|>"])
    assert text == "hello "
    assert "".join(passed_on) == "hello "
    assert stopped


def test_a_possible_stop_prefix_is_held_back_then_released_when_it_is_not_one():
    passed_on, text, stopped = run(["ab<", "|x"], ["<|end|>"])
    assert passed_on[0] == "ab"  # "<" might have begun "<|end|>"
    assert text == "ab<|x" and "".join(passed_on) == text
    assert not stopped


def test_earliest_of_several_stop_strings_wins():
    _, text, _ = run(["one. two! three"], ["!", "."])
    assert text == "one"


def test_without_stop_strings_everything_passes_through_at_once():
    passed_on, text, stopped = run(["a", "b", "c"], [])
    assert passed_on == ["a", "b", "c"] and text == "abc" and not stopped


@given(
    st.lists(st.text(alphabet="ab<|>", max_size=6), max_size=8),
    st.lists(st.text(alphabet="ab<|>", min_size=1, max_size=3), max_size=3),
)
def test_deltas_passed_on_always_join_to_the_final_text_which_ends_where_a_stop_begins(deltas, stop):
    passed_on, text, stopped = run(deltas, stop)
    whole = "".join(deltas)
    assert "".join(passed_on) == text
    assert whole.startswith(text)
    assert not any(s in text for s in stop)
    if stopped:
        assert any(whole.startswith(s, len(text)) for s in stop)
    else:
        assert text == whole
