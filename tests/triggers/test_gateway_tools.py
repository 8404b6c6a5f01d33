"""The gateway speaks tools and structured output to the official `openai` SDK, on the tiny
random-weight model: constrained decoding makes every tool call and JSON reply well-formed."""

import asyncio
import json

import jsonschema
import openai
import pytest
from pydantic import BaseModel

from tests.triggers.test_gateway import sdk, v1
from workflows.models import Trace

LOOKUP = {
    "type": "function",
    "function": {
        "name": "lookup_order",
        "description": "Look up an order by its id.",
        "parameters": {
            "type": "object",
            "properties": {"order_id": {"type": "string", "maxLength": 12}},
            "required": ["order_id"],
            "additionalProperties": False,
        },
    },
}
REFUND = {
    "type": "function",
    "function": {
        "name": "refund",
        "description": "Refund an order.",
        "parameters": {
            "type": "object",
            "properties": {
                "order_id": {"type": "string", "maxLength": 12},
                "amount": {"type": "integer", "minimum": 1, "maximum": 500},
            },
            "required": ["order_id", "amount"],
            "additionalProperties": False,
        },
    },
}
TOOLS = [LOOKUP, REFUND]
SCHEMAS = {tool["function"]["name"]: tool["function"]["parameters"] for tool in TOOLS}
ASK = [{"role": "user", "content": "Where is order 42?"}]


def assert_well_formed(calls) -> None:
    assert calls, "no tool calls"
    for call in calls:
        assert call.type == "function" and call.id
        jsonschema.validate(json.loads(call.function.arguments), SCHEMAS[call.function.name])


def test_required_tool_choice_gives_tool_calls_that_name_an_offered_tool_with_valid_arguments(api):
    completion = sdk(api).chat.completions.create(
        model="tiny", messages=ASK, tools=TOOLS, tool_choice="required", max_tokens=80
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    assert_well_formed(choice.message.tool_calls)
    trace = Trace.objects.get(workspace=api.workspace)
    assert trace.tools == TOOLS
    assert trace.tool_calls == [call.model_dump() for call in choice.message.tool_calls]


def test_a_named_function_is_the_one_called(api):
    completion = sdk(api).chat.completions.create(
        model="tiny",
        messages=ASK,
        tools=TOOLS,
        max_tokens=80,
        tool_choice={"type": "function", "function": {"name": "refund"}},
    )
    calls = completion.choices[0].message.tool_calls
    assert_well_formed(calls)
    assert {call.function.name for call in calls} == {"refund"}


def test_a_conversation_continues_after_a_tool_result(api):
    client = sdk(api)
    first = (
        client.chat.completions.create(model="tiny", messages=ASK, tools=TOOLS, tool_choice="required", max_tokens=80)
        .choices[0]
        .message
    )
    messages = (
        ASK
        + [first.model_dump(exclude_none=True)]
        + [{"role": "tool", "tool_call_id": call.id, "content": '{"status": "shipped"}'} for call in first.tool_calls]
    )
    reply = client.chat.completions.create(
        model="tiny", messages=messages, tools=TOOLS, tool_choice="none", max_tokens=8
    )
    assert reply.choices[0].message.tool_calls is None and reply.choices[0].finish_reason in ("stop", "length")
    assert Trace.objects.filter(workspace=api.workspace).latest("created_at").messages[-1]["role"] == "tool"


def test_streamed_tool_calls_reassemble_into_well_formed_calls(api):
    with sdk(api).chat.completions.stream(
        model="tiny", messages=ASK, tools=TOOLS, tool_choice="required", max_tokens=80
    ) as stream:
        for _ in stream:
            pass
        final = stream.get_final_completion()
    assert final.choices[0].finish_reason == "tool_calls"
    assert_well_formed(final.choices[0].message.tool_calls)


class Order(BaseModel):
    order_id: str
    status: str
    items: int


def test_parse_with_a_pydantic_model_returns_a_validated_object(api):
    completion = sdk(api).chat.completions.parse(model="tiny", messages=ASK, response_format=Order, max_tokens=60)
    message = completion.choices[0].message
    assert completion.choices[0].finish_reason == "stop", message.content
    assert isinstance(message.parsed, Order)


def test_async_sdk_gets_json_objects(api):
    async def ask():
        async with openai.AsyncOpenAI(base_url=v1(api), api_key=api.key, max_retries=0) as client:
            return await client.chat.completions.create(
                model="tiny", messages=ASK, max_tokens=40, response_format={"type": "json_object"}
            )

    reply = asyncio.run(ask())
    if reply.choices[0].finish_reason == "stop":
        assert isinstance(json.loads(reply.choices[0].message.content), dict)


@pytest.mark.parametrize(
    "extra, param",
    [
        ({"n": 2}, "n"),
        ({"top_logprobs": 3}, "logprobs"),  # top_logprobs without logprobs: true
        ({"seed": 7}, "seed"),
        ({"parallel_tool_calls": False}, "parallel_tool_calls"),
        ({"tool_choice": {"type": "function", "function": {"name": "nope"}}, "tools": TOOLS}, "tool_choice"),
        ({"tools": [{"type": "function"}]}, "tools"),
        ({"response_format": {"type": "yaml"}}, "response_format"),
        ({"stream_options": ["include_usage"]}, "stream_options"),
    ],
)
def test_a_parameter_the_gateway_cannot_honour_is_refused_by_name(api, extra, param):
    with pytest.raises(openai.BadRequestError) as raised:
        sdk(api).chat.completions.create(model="tiny", messages=ASK, max_tokens=4, **extra)
    assert raised.value.status_code == 400 and raised.value.body["param"] == param
    assert not Trace.objects.filter(workspace=api.workspace, status="ok").exists()
