"""Tiny local models, built once per test session, and a loopback server that serves them."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from orchestra.inference import ModelSpec
from orchestra.inference.server import serve
from tests.support.tiny_models import build_tiny_family, teach_reply

torch.set_num_threads(1)  # tiny shapes: more threads only fight the other tests for 2 cores

CHAT = [
    {"role": "system", "content": "You answer briefly."},
    {"role": "user", "content": "write a blog post about the water"},
]

# Bounded schemas: a random model stops a string or a number only when the grammar makes it, so
# unbounded ones would run to max_tokens (and rightly end as "length").
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city now.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "maxLength": 12}, "unit": {"enum": ["celsius", "fahrenheit"]}},
            "required": ["city", "unit"],
        },
    },
}
ADD = {
    "type": "function",
    "function": {
        "name": "add",
        "description": "Add two small numbers.",
        "parameters": {
            "type": "object",
            "properties": {
                "a": {"type": "integer", "minimum": 0, "maximum": 99},
                "b": {"type": "integer", "minimum": 0, "maximum": 99},
            },
            "required": ["a", "b"],
        },
    },
}
TOOLS = [WEATHER, ADD]
WEATHER_QUESTION = [{"role": "user", "content": "what is the weather in paris"}]
PARIS_CALL = {
    "id": "call_paris",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city": "paris", "unit": "celsius"}'},
}


@pytest.fixture(scope="session")
def tiny_family(tmp_path_factory) -> dict[str, Path]:
    return build_tiny_family(tmp_path_factory.mktemp("tiny_models"))


@pytest.fixture(scope="session")
def teacher_spec(tiny_family) -> ModelSpec:
    return ModelSpec(
        name="tiny-teacher",
        backend="transformers",
        model=str(tiny_family["teacher"]),
        price_in=2.0,
        price_out=6.0,
        options={"device": "cpu"},
    )


@pytest.fixture(scope="session")
def student_spec(tiny_family) -> ModelSpec:
    return ModelSpec(
        name="tiny-student", backend="transformers", model=str(tiny_family["student"]), options={"device": "cpu"}
    )


@pytest.fixture(scope="session")
def tool_caller(tiny_family, tmp_path_factory) -> Path:
    """The student, taught to answer the weather question with a call to get_weather (2 s)."""
    return teach_reply(
        tiny_family["student"],
        tmp_path_factory.mktemp("tool_caller"),
        messages=WEATHER_QUESTION,
        reply={"role": "assistant", "content": "", "tool_calls": [PARIS_CALL]},
        tools=TOOLS,
    )


@pytest.fixture(scope="session")
def tool_caller_spec(tool_caller) -> ModelSpec:
    return ModelSpec(name="tool-caller", backend="transformers", model=str(tool_caller), options={"device": "cpu"})


@pytest.fixture(scope="session")
def model_server(tiny_family):
    server, thread = serve(
        {"teacher": str(tiny_family["teacher"]), "student": str(tiny_family["student"])}, options={"device": "cpu"}
    )
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture
def remote_spec(model_server) -> ModelSpec:
    """The served teacher, reached through the openai backend over loopback HTTP."""
    return ModelSpec(
        name="remote-teacher",
        backend="openai",
        model="teacher",
        base_url=model_server.base_url,
        price_in=1.0,
        price_out=3.0,
        options={"max_retries": 0, "timeout_s": 30},
    )
