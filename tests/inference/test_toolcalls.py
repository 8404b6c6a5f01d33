"""The Hermes tool-call format: what templates write is what the splitter reads back."""

import json

import pytest
from transformers import AutoTokenizer

from orchestra.inference.toolcalls import ToolCallSplitter, template_messages
from tests.inference.conftest import PARIS_CALL, TOOLS, WEATHER_QUESTION

CALL_TEXT = '<tool_call>\n{"name": "add", "arguments": {"a": 1, "b": 2}}\n</tool_call>'


def split(text: str, *, piece: int, cut_off: bool = False) -> tuple[list[str], str, list]:
    """Feed `text` in pieces of `piece` characters; return the deltas passed on, the text and the calls."""
    deltas: list[str] = []
    splitter = ToolCallSplitter(deltas.append)
    for at in range(0, len(text), piece):
        splitter.feed(text[at : at + piece])
    text, calls = splitter.finish(cut_off=cut_off)
    return deltas, text, calls


@pytest.mark.parametrize("piece", [1, 3, 1000])
def test_text_and_calls_come_apart_however_the_deltas_are_cut(piece):
    deltas, text, calls = split(f"Let me add.\n{CALL_TEXT}\n{CALL_TEXT}", piece=piece)
    assert text == "".join(deltas) == "Let me add."
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [("add", {"a": 1, "b": 2})] * 2
    assert len({c.id for c in calls}) == 2 and all(c.id.startswith("call_") for c in calls)


def test_markup_is_never_passed_on_even_half_written():
    deltas, text, calls = split(CALL_TEXT, piece=1)
    assert deltas == [] and text == "" and len(calls) == 1


def test_text_that_only_looks_like_the_start_of_a_call_is_passed_on_at_the_end():
    deltas, text, calls = split("a <tool", piece=1)
    assert text == "".join(deltas) == "a <tool" and calls == []


@pytest.mark.parametrize("unfinished", ['<tool_call>\n{"name": "add", "argu', "<tool"])
def test_a_cut_off_reply_drops_the_unfinished_call_and_keeps_the_finished_ones(unfinished):
    deltas, text, calls = split(f"{CALL_TEXT}\n{unfinished}", piece=4, cut_off=True)
    assert deltas == [] and text == ""
    assert [(c.name, c.arguments) for c in calls] == [("add", '{"a": 1, "b": 2}')]


def test_assistant_tool_calls_and_tool_results_render_in_the_template_and_parse_back(tiny_family):
    tokenizer = AutoTokenizer.from_pretrained(tiny_family["teacher"])
    conversation = [
        *WEATHER_QUESTION,
        {"role": "assistant", "content": None, "tool_calls": [PARIS_CALL]},
        {"role": "tool", "tool_call_id": "call_paris", "content": "sunny, 21 degrees"},
    ]
    rendered = tokenizer.apply_chat_template(
        template_messages(conversation), tools=TOOLS, tokenize=False, add_generation_prompt=True
    )
    assert '"name": "get_weather"' in rendered.split("<|im_end|>")[0]  # the tools, listed in the system turn
    assistant_turn = rendered.split("<|im_start|>assistant\n")[1].split("<|im_end|>")[0]
    _, text, calls = split(assistant_turn, piece=5)
    assert text == ""
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [
        ("get_weather", json.loads(PARIS_CALL["function"]["arguments"]))
    ]
    assert "<|im_start|>user\n<tool_response>\nsunny, 21 degrees\n</tool_response><|im_end|>" in rendered


def test_template_messages_turn_argument_text_into_objects_and_leave_the_rest_alone():
    broken = {**PARIS_CALL, "function": {"name": "get_weather", "arguments": "{not json"}}
    messages = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "", "tool_calls": [PARIS_CALL, broken]},
    ]
    converted = template_messages(messages)
    assert converted[0] is messages[0]
    assert converted[1]["tool_calls"][0]["function"]["arguments"] == {"city": "paris", "unit": "celsius"}
    assert converted[1]["tool_calls"][1]["function"]["arguments"] == "{not json"
    assert messages[1]["tool_calls"][0]["function"]["arguments"].startswith("{")  # the caller's list is untouched
