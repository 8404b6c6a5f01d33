"""Tools and structured output through the loopback server, spoken to with the official openai SDK."""

import asyncio
import json
from typing import Literal

import httpx
import jsonschema
import openai
import pytest
from pydantic import BaseModel, Field

from orchestra.inference.server import serve
from tests.inference.conftest import ADD, CHAT, PARIS_CALL, TOOLS, WEATHER, WEATHER_QUESTION

NAMED_ADD = {"type": "function", "function": {"name": "add"}}


class Ticket(BaseModel):
    priority: Literal["low", "medium", "high"]
    team: Literal["billing", "shipping"]
    urgent: bool
    score: int = Field(ge=1, le=5)


class GetWeather(BaseModel):
    city: str = Field(max_length=12)
    unit: Literal["celsius", "fahrenheit"]


@pytest.fixture(scope="module")
def server(tiny_family, tool_caller):
    """The untrained teacher, and a student taught to call get_weather for the weather question."""
    server, thread = serve(
        {"teacher": str(tiny_family["teacher"]), "caller": str(tool_caller)}, options={"device": "cpu"}
    )
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture
def sdk(server):
    return openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)


@pytest.fixture
def http(server):
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        yield client


def arguments_of(message) -> list[tuple[str, dict]]:
    return [(call.function.name, json.loads(call.function.arguments)) for call in message.tool_calls]


def test_sdk_gets_tool_calls_with_finish_reason_tool_calls(sdk):
    response = sdk.chat.completions.create(
        model="teacher", messages=WEATHER_QUESTION, tools=TOOLS, tool_choice=NAMED_ADD, max_tokens=100
    )
    choice = response.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    [(name, arguments)] = arguments_of(choice.message)
    assert name == "add" and choice.message.tool_calls[0].id.startswith("call_")
    jsonschema.validate(arguments, ADD["function"]["parameters"])


def test_async_sdk_gets_the_same_calls(server, sdk):
    async def ask():
        async with openai.AsyncOpenAI(base_url=server.base_url, api_key="unused", max_retries=0) as client:
            return await client.chat.completions.create(
                model="caller", messages=WEATHER_QUESTION, tools=TOOLS, max_tokens=100
            )

    answer = asyncio.run(ask()).choices[0]
    plain = sdk.chat.completions.create(model="caller", messages=WEATHER_QUESTION, tools=TOOLS, max_tokens=100)
    assert answer.finish_reason == "tool_calls"
    assert (
        arguments_of(answer.message)
        == arguments_of(plain.choices[0].message)
        == [("get_weather", {"city": "paris", "unit": "celsius"})]
    )


def test_streamed_tool_calls_are_reassembled_by_the_sdk_stream_helper(sdk):
    with sdk.chat.completions.stream(model="caller", messages=WEATHER_QUESTION, tools=TOOLS, max_tokens=100) as stream:
        events = [event.type for event in stream]
        final = stream.get_final_completion()
    assert "tool_calls.function.arguments.delta" in events and "tool_calls.function.arguments.done" in events
    assert final.choices[0].finish_reason == "tool_calls"
    assert arguments_of(final.choices[0].message) == [("get_weather", {"city": "paris", "unit": "celsius"})]


def test_streamed_tool_call_chunks_are_in_openai_shape(http):
    request = {"model": "caller", "messages": WEATHER_QUESTION, "tools": TOOLS, "max_tokens": 100, "stream": True}
    with http.stream("POST", "/chat/completions", json=request) as response:
        chunks = [
            json.loads(line.removeprefix("data: ")) for line in response.iter_lines() if line.startswith("data: {")
        ]
    deltas = [
        chunk["choices"][0]["delta"]["tool_calls"] for chunk in chunks if "tool_calls" in chunk["choices"][0]["delta"]
    ]
    first, rest = deltas[0][0], [delta[0] for delta in deltas[1:]]
    assert first["index"] == 0 and first["id"].startswith("call_") and first["type"] == "function"
    assert first["function"] == {"name": "get_weather", "arguments": ""}
    assert len(rest) > 1 and all(set(piece) == {"index", "function"} and piece["index"] == 0 for piece in rest)
    assert json.loads("".join(piece["function"]["arguments"] for piece in rest)) == {"city": "paris", "unit": "celsius"}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_parse_with_a_pydantic_model_returns_a_parsed_instance(sdk):
    completion = sdk.chat.completions.parse(model="teacher", messages=CHAT, response_format=Ticket, max_tokens=60)
    message = completion.choices[0].message
    assert isinstance(message.parsed, Ticket)
    assert Ticket.model_validate_json(message.content) == message.parsed


def test_parse_with_a_strict_pydantic_tool_parses_its_arguments(sdk):
    completion = sdk.chat.completions.parse(
        model="teacher",
        messages=WEATHER_QUESTION,
        max_tokens=100,
        tools=[openai.pydantic_function_tool(GetWeather, name="get_weather")],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    [call] = completion.choices[0].message.tool_calls
    assert isinstance(call.function.parsed_arguments, GetWeather)


def test_tool_results_go_back_to_the_model(sdk):
    conversation = [
        *WEATHER_QUESTION,
        {"role": "assistant", "content": None, "tool_calls": [PARIS_CALL]},
        {"role": "tool", "tool_call_id": "call_paris", "content": "sunny"},
    ]
    with_results = sdk.chat.completions.create(model="teacher", messages=conversation, tools=TOOLS, max_tokens=2)
    without = sdk.chat.completions.create(model="teacher", messages=WEATHER_QUESTION, tools=TOOLS, max_tokens=2)
    assert with_results.usage.prompt_tokens > without.usage.prompt_tokens


def test_tool_choice_none_with_a_schema_answers_json_and_calls_nothing(sdk):
    response = sdk.chat.completions.create(
        model="teacher",
        messages=CHAT,
        tools=[WEATHER],
        tool_choice="none",
        response_format={"type": "json_schema", "json_schema": {"name": "t", "schema": Ticket.model_json_schema()}},
        max_tokens=60,
    )
    choice = response.choices[0]
    assert choice.message.tool_calls is None and choice.finish_reason == "stop"
    Ticket.model_validate_json(choice.message.content)


BAD_TOOL = {"type": "function", "function": {"parameters": {}}}


@pytest.mark.parametrize(
    "fields, param",
    [
        ({"tools": [BAD_TOOL]}, "tools"),
        ({"tools": {"type": "function"}}, "tools"),
        ({"tools": [WEATHER, WEATHER]}, "tools"),
        ({"tools": TOOLS, "tool_choice": "sometimes"}, "tool_choice"),
        ({"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "nope"}}}, "tool_choice"),
        ({"tool_choice": "required"}, "tool_choice"),
        ({"response_format": {"type": "yaml"}}, "response_format"),
        (
            {"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": "object"}}},
            "response_format",
        ),
        (
            {"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "strin"}}}},
            "response_format.json_schema.schema",
        ),
        (
            {"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "objekt"}}}]},
            "tools[0].function.parameters",
        ),
        ({"tools": TOOLS, "parallel_tool_calls": False}, "parallel_tool_calls"),
        ({"messages": [{"role": "tool", "content": "sunny"}]}, "messages[0].tool_call_id"),
        (
            {"messages": [{"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f"}}]}]},
            "messages[0].tool_calls[0]",
        ),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_what_the_server_cannot_honour_is_a_400_naming_the_param(http, fields, param, stream):
    response = http.post(
        "/chat/completions", json={"model": "teacher", "messages": CHAT, "max_tokens": 4, "stream": stream, **fields}
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param and error["type"] == "invalid_request_error" and error["message"]


def test_the_sdk_raises_bad_request_for_a_bad_tool_choice(sdk):
    with pytest.raises(openai.BadRequestError) as raised:
        sdk.chat.completions.create(model="teacher", messages=CHAT, tools=TOOLS, tool_choice="sometimes")
    assert raised.value.param == "tool_choice"
