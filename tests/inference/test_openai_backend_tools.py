"""The openai backend passes tools and response_format through and reads the calls back, streamed or not."""

import json

import pytest

from orchestra.inference import InferenceError, ModelSpec, get_client
from orchestra.inference.server import serve
from tests.inference.conftest import CHAT, PARIS_CALL, TOOLS, WEATHER_QUESTION

NAMED_ADD = {"type": "function", "function": {"name": "add"}}


@pytest.fixture
def remote_caller(tool_caller):
    """The student taught to call get_weather, served: with "auto" it really calls."""
    server, thread = serve({"caller": str(tool_caller)}, options={"device": "cpu"})
    yield ModelSpec(
        name="remote-caller",
        backend="openai",
        model="caller",
        base_url=server.base_url,
        options={"max_retries": 0, "timeout_s": 30},
    )
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def calls_of(completion) -> list[tuple[str, dict]]:
    return [(call.name, json.loads(call.arguments)) for call in completion.tool_calls]


def test_tool_calls_come_back_as_the_local_model_made_them(remote_spec, teacher_spec):
    remote = get_client(remote_spec).complete(WEATHER_QUESTION, max_tokens=100, tools=TOOLS, tool_choice=NAMED_ADD)
    local = get_client(teacher_spec).complete(WEATHER_QUESTION, max_tokens=100, tools=TOOLS, tool_choice=NAMED_ADD)
    assert remote.finish_reason == local.finish_reason == "tool_calls"
    assert calls_of(remote) == calls_of(local) and remote.text == local.text == ""
    assert remote.tool_calls[0].id.startswith("call_")


def test_streamed_tool_call_deltas_are_joined_into_whole_calls(remote_caller):
    client = get_client(remote_caller)
    deltas: list[str] = []
    streamed = client.complete(WEATHER_QUESTION, max_tokens=100, tools=TOOLS, on_token=deltas.append)
    assert deltas == [] and streamed.finish_reason == "tool_calls"
    assert (
        calls_of(streamed)
        == calls_of(client.complete(WEATHER_QUESTION, max_tokens=100, tools=TOOLS))
        == [("get_weather", {"city": "paris", "unit": "celsius"})]
    )


def test_response_format_is_passed_through(remote_spec, teacher_spec):
    schema = {"type": "object", "properties": {"priority": {"enum": ["low", "high"]}}, "required": ["priority"]}
    response_format = {"type": "json_schema", "json_schema": {"name": "t", "schema": schema}}
    remote = get_client(remote_spec).complete(CHAT, max_tokens=32, response_format=response_format)
    local = get_client(teacher_spec).complete(CHAT, max_tokens=32, response_format=response_format)
    assert remote.text == local.text and json.loads(remote.text)["priority"] in ("low", "high")


def test_assistant_and_tool_messages_are_sent_as_they_are(remote_spec):
    conversation = [
        *WEATHER_QUESTION,
        {"role": "assistant", "content": None, "tool_calls": [PARIS_CALL]},
        {"role": "tool", "tool_call_id": "call_paris", "content": "sunny"},
    ]
    answer = get_client(remote_spec).complete(conversation, max_tokens=3, tools=TOOLS)
    assert answer.tokens_in > get_client(remote_spec).complete(WEATHER_QUESTION, max_tokens=1, tools=TOOLS).tokens_in


def test_bad_tool_choice_is_refused_before_any_request(remote_spec):
    with pytest.raises(InferenceError, match="tool_choice must be one of") as raised:
        get_client(remote_spec).complete(CHAT, tools=TOOLS, tool_choice={"type": "function", "function": {"name": "x"}})
    assert raised.value.status == 400


def test_a_schema_the_server_cannot_enforce_comes_back_as_its_400(remote_spec):
    with pytest.raises(InferenceError, match="HTTP 400.*response_format.json_schema.schema") as raised:
        get_client(remote_spec).complete(
            CHAT, response_format={"type": "json_schema", "json_schema": {"name": "t", "schema": {"type": "strin"}}}
        )
    assert raised.value.status == 400
