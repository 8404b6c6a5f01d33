"""Constrained decoding in the transformers backend: random-weight models still answer in shape."""

import json

import jsonschema
import pytest
import torch
import xgrammar

from orchestra.inference import InferenceError, get_client
from orchestra.inference.grammar import Closing, ClosingTokens
from tests.inference.conftest import ADD, CHAT, PARIS_CALL, TOOLS, WEATHER, WEATHER_QUESTION

SCHEMAS = {
    "nested object": {
        "type": "object",
        "properties": {
            "user": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "maxLength": 8},
                    "age": {"type": "integer", "minimum": 0, "maximum": 120},
                },
                "required": ["name", "age"],
            }
        },
        "required": ["user"],
    },
    "enum": {
        "type": "object",
        "properties": {"priority": {"enum": ["low", "medium", "high"]}},
        "required": ["priority"],
    },
    "array": {
        "type": "object",
        "properties": {
            "tags": {"type": "array", "minItems": 1, "maxItems": 3, "items": {"enum": ["billing", "shipping"]}}
        },
        "required": ["tags"],
    },
    "integer bounds": {
        "type": "object",
        "properties": {"n": {"type": "integer", "minimum": 3, "maximum": 7}, "ok": {"type": "boolean"}},
        "required": ["n", "ok"],
    },
}


def json_schema(schema: dict) -> dict:
    return {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema, "strict": True}}


def assert_valid_calls(completion, tools: list[dict]) -> None:
    offered = {tool["function"]["name"]: tool["function"]["parameters"] for tool in tools}
    assert completion.tool_calls
    for call in completion.tool_calls:
        assert call.name in offered and call.id.startswith("call_")
        jsonschema.validate(json.loads(call.arguments), offered[call.name])


@pytest.fixture(params=["teacher", "student"])
def tiny(request, teacher_spec, student_spec):
    return get_client(teacher_spec if request.param == "teacher" else student_spec)


@pytest.mark.parametrize("name", SCHEMAS)
def test_json_schema_answers_validate_against_the_schema(tiny, name):
    completion = tiny.complete(CHAT, max_tokens=48, response_format=json_schema(SCHEMAS[name]))
    assert completion.finish_reason == "stop" and completion.tool_calls is None
    jsonschema.validate(json.loads(completion.text), SCHEMAS[name])


def test_json_object_answer_is_a_json_object(student_spec):
    completion = get_client(student_spec).complete(CHAT, max_tokens=32, response_format={"type": "json_object"})
    assert completion.finish_reason == "stop"
    assert isinstance(json.loads(completion.text), dict)


UNBOUNDED = {
    "type": "object",
    "properties": {"order_id": {"type": "string"}, "status": {"type": "string"}, "items": {"type": "integer"}},
    "required": ["order_id", "status", "items"],
    "additionalProperties": False,
}


def test_a_reply_whose_strings_run_on_is_steered_shut_before_the_budget_ends(teacher_spec):
    completion = get_client(teacher_spec).complete(
        [{"role": "user", "content": "Where is order 42?"}], max_tokens=60, response_format=json_schema(UNBOUNDED)
    )
    assert completion.finish_reason == "stop" and completion.tokens_out <= 60
    jsonschema.validate(json.loads(completion.text), UNBOUNDED)


def test_closing_knows_a_quote_inside_a_string_from_one_that_ends_it():
    vocab = [b'"', b"a", b"\\", b"}", b'"}', b"<end>"]
    tokens = ClosingTokens(
        vocab=vocab,
        ends=torch.tensor([False] * 5 + [True]),
        string_ends=torch.tensor([True, False, False, False, True, False]),
        closers=torch.tensor([False, False, False, True, False, False]),
        commas=torch.zeros(6, dtype=torch.bool),
    )
    closing = Closing(tokens, max_tokens=10)
    scores = torch.zeros(1, 6)
    for token in (0, 1, 2, 0):  # "a\" : an escaped quote, still inside the string
        closing.advance(token)
    assert closing.steer(scores.clone(), generated=4).isfinite().tolist() == [[True] * 6]  # not yet
    assert closing.steer(scores.clone(), generated=5).isfinite().tolist() == [[True, False, False, False, True, False]]
    closing.advance(0)
    assert closing.steer(scores.clone(), generated=5).isfinite().tolist() == [[False] * 5 + [True]]
    grammar_forbids_the_end = scores.clone()
    grammar_forbids_the_end[0, 5] = float("-inf")
    assert closing.steer(grammar_forbids_the_end, generated=5).isfinite().tolist() == [
        [False, False, False, True, False, False]
    ]


def test_a_reply_cut_off_mid_json_is_length_and_its_json_incomplete(teacher_spec):
    completion = get_client(teacher_spec).complete(
        CHAT, max_tokens=4, response_format=json_schema(SCHEMAS["nested object"])
    )
    assert completion.finish_reason == "length" and completion.tokens_out == 4
    assert completion.text.startswith("{")
    with pytest.raises(json.JSONDecodeError):
        json.loads(completion.text)


def test_streamed_json_deltas_join_to_the_answer(student_spec):
    deltas: list[str] = []
    client, response_format = get_client(student_spec), json_schema(SCHEMAS["enum"])
    streamed = client.complete(CHAT, max_tokens=48, response_format=response_format, on_token=deltas.append)
    plain = client.complete(CHAT, max_tokens=48, response_format=response_format)
    assert "".join(deltas) == streamed.text == plain.text


def test_required_tool_choice_calls_offered_tools_with_valid_arguments(tiny):
    completion = tiny.complete(WEATHER_QUESTION, max_tokens=100, tools=TOOLS, tool_choice="required")
    # Random weights would call again and again; past half its budget the reply ends after a call.
    assert completion.finish_reason == "tool_calls" and completion.text == ""
    assert_valid_calls(completion, TOOLS)


def test_a_named_tool_choice_makes_exactly_one_call_to_that_function(tiny):
    completion = tiny.complete(
        WEATHER_QUESTION, max_tokens=100, tools=TOOLS, tool_choice={"type": "function", "function": {"name": "add"}}
    )
    assert completion.finish_reason == "tool_calls" and completion.text == ""
    assert [call.name for call in completion.tool_calls] == ["add"]
    assert_valid_calls(completion, [ADD])


def test_auto_lets_a_model_that_does_not_call_answer_in_text_to_the_end_of_its_budget(teacher_spec):
    completion = get_client(teacher_spec).complete(CHAT, max_tokens=8, tools=TOOLS, tool_choice="auto")
    assert completion.tool_calls is None and completion.text
    assert completion.finish_reason == "length"  # free text is never steered shut


def test_auto_tool_call_from_a_model_that_calls_is_parsed_and_valid(tool_caller_spec):
    completion = get_client(tool_caller_spec).complete(WEATHER_QUESTION, max_tokens=100, tools=TOOLS)
    assert completion.finish_reason == "tool_calls" and completion.text == ""
    assert_valid_calls(completion, TOOLS)
    assert [call.name for call in completion.tool_calls] == ["get_weather"]


def test_none_leaves_calls_unparsed_even_when_the_model_writes_them(tool_caller_spec):
    completion = get_client(tool_caller_spec).complete(
        WEATHER_QUESTION, max_tokens=100, tools=TOOLS, tool_choice="none"
    )
    assert completion.tool_calls is None and completion.finish_reason == "stop"
    assert completion.text.startswith("<tool_call>")  # the model's habit, returned as the text it is


def test_streaming_with_tools_sends_plain_text_only(tool_caller_spec, teacher_spec):
    deltas: list[str] = []
    calling = get_client(tool_caller_spec).complete(
        WEATHER_QUESTION, max_tokens=100, tools=TOOLS, on_token=deltas.append
    )
    assert deltas == [] and calling.text == "" and calling.tool_calls
    talking = get_client(teacher_spec).complete(CHAT, max_tokens=8, tools=TOOLS, on_token=deltas.append)
    assert "".join(deltas) == talking.text and "<tool_call>" not in talking.text


def test_auto_with_a_response_format_answers_schema_json_or_calls(tiny):
    completion = tiny.complete(CHAT, max_tokens=100, tools=[WEATHER], response_format=json_schema(SCHEMAS["enum"]))
    if completion.tool_calls:
        assert_valid_calls(completion, [WEATHER])
    else:
        jsonschema.validate(json.loads(completion.text), SCHEMAS["enum"])


def test_a_conversation_with_tool_calls_and_results_is_answered(teacher_spec):
    conversation = [
        *WEATHER_QUESTION,
        {"role": "assistant", "content": None, "tool_calls": [PARIS_CALL]},
        {"role": "tool", "tool_call_id": "call_paris", "content": "sunny"},
    ]
    completion = get_client(teacher_spec).complete(conversation, max_tokens=4, tools=TOOLS)
    assert (
        completion.tokens_in > get_client(teacher_spec).complete(WEATHER_QUESTION, max_tokens=1, tools=TOOLS).tokens_in
    )


@pytest.mark.parametrize(
    "arguments, param",
    [
        ({"response_format": json_schema({"type": "strin"})}, "response_format.json_schema.schema"),
        (
            {"tools": [WEATHER, {"type": "function", "function": {"name": "bad", "parameters": {"type": "objekt"}}}]},
            "tools[1].function.parameters",
        ),
    ],
)
def test_a_schema_that_cannot_be_enforced_is_a_400_naming_the_field(student_spec, arguments, param):
    with pytest.raises(InferenceError, match="strin|objekt") as raised:
        get_client(student_spec).complete(CHAT, max_tokens=4, **arguments)
    assert raised.value.status == 400 and raised.value.param == param
    assert param in str(raised.value)


def test_length_bounded_strings_refuse_raw_control_characters(student_spec):
    """JSON wants a tab inside a string escaped; xgrammar's bounded-length strings let it through raw."""
    compiled = (
        get_client(student_spec)
        .loaded.grammars.compile(
            model="tiny-student", tools=None, tool_choice=None, response_format=json_schema(SCHEMAS["nested object"])
        )
        .compiled
    )
    assert xgrammar.GrammarMatcher(compiled).accept_string('{"user": {"name": "a b')
    assert not xgrammar.GrammarMatcher(compiled).accept_string('{"user": {"name": "a\tb')


def test_grammars_are_compiled_once_per_model_and_schema(student_spec):
    client = get_client(student_spec)
    client.complete(CHAT, max_tokens=2, response_format=json_schema(SCHEMAS["array"]))
    grammars = client.loaded.grammars
    cached = grammars.compiler.get_cache_size_bytes()
    client.complete(CHAT, max_tokens=2, response_format=json_schema(SCHEMAS["array"]))
    assert get_client(student_spec).loaded.grammars is grammars
    assert grammars.compiler.get_cache_size_bytes() == cached > 0


def test_constrained_decoding_can_be_switched_off_per_model(tiny_models):
    from orchestra.inference import ModelSpec, get_client

    free = get_client(
        ModelSpec(
            name="free",
            backend="transformers",
            model=str(tiny_models["student"]),
            options={"constrained_decoding": False},
        )
    )
    reply = free.complete(
        [{"role": "user", "content": "Give JSON"}], max_tokens=8, response_format={"type": "json_object"}
    )
    with pytest.raises(ValueError):  # the random model writes no JSON when nothing holds it to a grammar
        json.loads(reply.text)
