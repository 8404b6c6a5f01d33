"""The contract every model client keeps: what a model is, what a call returns, how calls fail."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from orchestra.egress import AllowPrivate


@dataclass(frozen=True)
class Backend:
    """A kind of model client: the one list the API serves, the editor offers and specs are checked against."""

    name: str
    title: str
    options: frozenset[str]  # anything else in a spec's options is a typo worth an error, not a no-op
    needs_base_url: bool


BACKEND_LIST = (
    Backend(
        "openai",
        "OpenAI-compatible HTTP",
        frozenset({"timeout_s", "max_retries", "max_tokens", "token_ids"}),
        needs_base_url=True,
    ),
    # constrained_decoding (default true): false leaves tools and response_format to the model's own
    # skill (its tool calls are still parsed), for comparing with and without (bench/agent.py).
    Backend(
        "transformers",
        "transformers in-process",
        frozenset({"device", "dtype", "max_tokens", "constrained_decoding"}),
        needs_base_url=False,
    ),
)
BACKEND_OPTIONS = {backend.name: backend.options for backend in BACKEND_LIST}
BACKENDS = tuple(BACKEND_OPTIONS)


_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")


def is_local_path(model: str) -> bool:
    """A folder on disk rather than a Hugging Face hub id ("org/name")."""
    return model.startswith(("/", "./", "../", "~")) or Path(model).expanduser().exists()


def is_hub_id(model: str) -> bool:
    """An "org/name" Hugging Face id that names no folder here: loading it reads the hub cache only."""
    return bool(_HUB_ID.match(model)) and ".." not in model and not is_local_path(model)


class InferenceError(Exception):
    """A model call that could not be made or did not finish; the message names the model and why.

    `status` is the HTTP status that fits: the one an OpenAI-compatible server answered with, or
    400 when the call's own arguments were at fault; None when nobody answered (connection
    refused, timeout). A gateway can pass it through instead of flattening everything into a 502.
    """

    def __init__(self, message: str, *, model: str | None = None, status: int | None = None, param: str | None = None):
        super().__init__(message)
        self.model = model
        self.status = status
        self.param = param  # the request parameter at fault, for an OpenAI-shaped 400


class CallAbandoned(InferenceError):
    """The caller gave up on the call (its `abandoned()` turned true) and the backend stopped it."""


ABANDONED_POLL_S = 0.1  # how often a call that is not streamed asks whether its caller still waits


@dataclass(frozen=True)
class ModelSpec:
    """One registered model: where it lives, how to reach it, and what its tokens cost."""

    name: str
    backend: str
    model: str
    base_url: str | None = None
    api_key: str | None = None
    price_in: float = 0.0  # per million input tokens
    price_out: float = 0.0  # per million output tokens
    options: dict = field(default_factory=dict)
    # The egress guard for an `openai` backend's server (orchestra/egress.py): None leaves it off,
    # for an operator's own CLI; the platform always sets its policy, so a tenant's base_url reaches
    # only public addresses and the servers the operator allowed.
    allow_private: "AllowPrivate | None" = None

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise InferenceError(
                f"model {self.name!r}: unknown backend {self.backend!r}; valid backends are {', '.join(BACKENDS)}",
                model=self.name,
            )
        if self.backend == "openai" and not self.base_url:
            raise InferenceError(
                f"model {self.name!r}: the openai backend needs a base_url, e.g. http://127.0.0.1:8001/v1",
                model=self.name,
            )
        unknown = sorted(set(self.options) - BACKEND_OPTIONS[self.backend])
        if unknown:
            raise InferenceError(
                f"model {self.name!r}: unknown option(s) {', '.join(unknown)} for the "
                f"{self.backend} backend; valid options are "
                f"{', '.join(sorted(BACKEND_OPTIONS[self.backend]))}",
                model=self.name,
            )
        if self.price_in < 0 or self.price_out < 0:
            raise InferenceError(
                f"model {self.name!r}: prices must be >= 0, got price_in={self.price_in}, price_out={self.price_out}",
                model=self.name,
            )

    def cost(self, tokens_in: int, tokens_out: int) -> float:
        """What a call with these token counts costs, in the currency the prices are in."""
        return (tokens_in * self.price_in + tokens_out * self.price_out) / 1_000_000


@dataclass(frozen=True)
class ToolCall:
    """A function call the model made, in OpenAI's terms: `arguments` is JSON text."""

    id: str
    name: str
    arguments: str

    def as_openai(self) -> dict:
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}

    @classmethod
    def from_openai(cls, call: dict) -> "ToolCall":
        return cls(id=call["id"], name=call["function"]["name"], arguments=call["function"]["arguments"])


@dataclass
class Completion:
    """One model answer with the real numbers of the call that produced it."""

    text: str
    model: str  # the spec's registry name
    tokens_in: int
    tokens_out: int
    latency_ms: float
    finish_reason: str  # "stop" | "length" | "tool_calls"
    # Per generated token, the top-k (token, log-prob) pairs: token ids from the transformers
    # backend, token strings from an OpenAI-compatible server (ids if it was asked for them).
    top_logprobs: list[list[tuple[int | str, float]]] | None = None
    cost: float = 0.0
    # Per generated token, the token that was chosen and its log-prob (set with top_logprobs).
    token_logprobs: list[tuple[int | str, float]] | None = None
    tool_calls: list[ToolCall] | None = None  # set (non-empty) when finish_reason is "tool_calls"


class ModelClient(Protocol):
    spec: ModelSpec

    def complete(
        self,
        messages: list[dict],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stop: list[str] | None = None,
        on_token: Callable[[str], None] | None = None,
        top_logprobs: int = 0,
        tools: list[dict] | None = None,
        tool_choice: str | dict | None = None,
        response_format: dict | None = None,
        abandoned: Callable[[], bool] | None = None,
    ) -> Completion:
        """Answer a chat; `on_token` receives each text delta as it is generated.

        `abandoned`, asked while the call runs, turns true once nobody waits for the reply (a node's
        timeout, a cancel): a backend that can stops the call then (closes the request, ends the
        generation) and raises CallAbandoned. A streamed call also stops when `on_token` raises.

        `tools`, `tool_choice` and `response_format` are OpenAI's shapes (see check_structured).
        A backend honours them or refuses the call (InferenceError, status 400); it never drops
        one silently. Messages may hold assistant turns with `tool_calls` (content None) and
        `tool` turns with `tool_call_id`.
        """
        ...


MAX_TOP_LOGPROBS = 20  # OpenAI's limit, kept for every backend so callers see one rule


def check_call(
    spec: ModelSpec, *, max_tokens: int | None, temperature: float | None, top_logprobs: int, messages: list[dict]
) -> int:
    """Validate the arguments every backend shares; return the max_tokens to use."""
    if not isinstance(messages, list) or not messages:
        raise InferenceError(
            f"model {spec.name!r}: messages must be a non-empty list of {{'role', 'content'}} dicts",
            model=spec.name,
            status=400,
        )
    for index, message in enumerate(messages):
        calls_tools = isinstance(message, dict) and message.get("role") == "assistant" and message.get("tool_calls")
        if not isinstance(message, dict) or "role" not in message or ("content" not in message and not calls_tools):
            raise InferenceError(
                f"model {spec.name!r}: messages[{index}] must be a dict with 'role' and 'content', got {message!r}",
                model=spec.name,
                status=400,
            )
    if max_tokens is None:
        max_tokens = spec.options.get("max_tokens", 256)
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise InferenceError(
            f"model {spec.name!r}: max_tokens must be a positive integer, got {max_tokens!r}",
            model=spec.name,
            status=400,
        )
    if temperature is not None and temperature < 0:
        raise InferenceError(
            f"model {spec.name!r}: temperature must be >= 0, got {temperature!r}", model=spec.name, status=400
        )
    if not 0 <= top_logprobs <= MAX_TOP_LOGPROBS:
        raise InferenceError(
            f"model {spec.name!r}: top_logprobs must be between 0 and {MAX_TOP_LOGPROBS}, got {top_logprobs!r}",
            model=spec.name,
            status=400,
        )
    return max_tokens


TOOL_CHOICES = ("auto", "none", "required")
RESPONSE_FORMATS = ("text", "json_object", "json_schema")


def tool_name(tool: dict) -> str:
    return tool["function"]["name"]


def check_structured(
    spec: ModelSpec, *, tools: list[dict] | None, tool_choice: str | dict | None, response_format: dict | None
) -> str | None:
    """Validate OpenAI's `tools`, `tool_choice` and `response_format`; return the tool choice in
    force ("auto", "none", "required", a function name, or None when no tools are offered).

    tools: [{"type": "function", "function": {"name", "description"?, "parameters"?: JSON Schema}}]
    tool_choice: "auto" (the default with tools) | "none" | "required" |
                 {"type": "function", "function": {"name": ...}}
    response_format: {"type": "text"} | {"type": "json_object"} |
                     {"type": "json_schema", "json_schema": {"name", "schema", "strict"?}}
    """

    def refuse(message: str) -> InferenceError:
        param = next((p for p in ("tool_choice", "tools", "response_format") if message.startswith(p)), None)
        return InferenceError(f"model {spec.name!r}: {message}", model=spec.name, status=400, param=param)

    names: list[str] = []
    for index, tool in enumerate(tools or []):
        function = tool.get("function") if isinstance(tool, dict) else None
        if (
            not isinstance(tool, dict)
            or tool.get("type") != "function"
            or not isinstance(function, dict)
            or not isinstance(function.get("name"), str)
            or not function["name"]
        ):
            raise refuse(f"tools[{index}] must be {{'type': 'function', 'function': {{'name', 'parameters'}}}}")
        if not isinstance(function.get("parameters", {}), dict):
            raise refuse(f"tools[{index}].function.parameters must be a JSON Schema object")
        names.append(function["name"])
    if len(set(names)) != len(names):
        raise refuse("tools must have unique names")
    if response_format is not None:
        kind = response_format.get("type") if isinstance(response_format, dict) else None
        if kind not in RESPONSE_FORMATS:
            raise refuse(f"response_format.type must be one of {', '.join(RESPONSE_FORMATS)}")
        schema = (response_format.get("json_schema") or {}).get("schema") if kind == "json_schema" else {}
        if not isinstance(schema, dict):
            raise refuse("response_format.json_schema.schema must be a JSON Schema object")
    if not names:
        if tool_choice not in (None, "none", "auto"):
            raise refuse("tool_choice needs tools")
        return None
    if tool_choice is None:
        return "auto"
    if tool_choice in TOOL_CHOICES:
        return tool_choice
    chosen = tool_choice.get("function", {}).get("name") if isinstance(tool_choice, dict) else None
    if not isinstance(tool_choice, dict) or tool_choice.get("type") != "function" or chosen not in names:
        raise refuse(
            f"tool_choice must be one of {', '.join(TOOL_CHOICES)} or "
            f"{{'type': 'function', 'function': {{'name': one of {', '.join(names)}}}}}"
        )
    return chosen
