"""The OpenAI-compatible gateway: `/v1/chat/completions` on the workspace's registered models.

Every call becomes a Trace with no workflow or run and `metadata.source = "gateway"`, so traffic
from existing OpenAI-SDK apps can be filtered into distillation datasets like any node's traces.
Errors are OpenAI's shape, so the SDK raises its usual exception classes.
"""

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from orchestra import engine
from orchestra.inference import Completion, InferenceError
from orchestra.inference.base import MAX_TOP_LOGPROBS
from workflows.model_calls import gateway_call_answer, model_resolve, traced_complete
from workflows.models import ModelEndpoint, Trace, Workspace


class GatewayError(Exception):
    """An error as OpenAI reports it: {"error": {"message", "type", "param", "code"}}."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ):
        super().__init__(message)
        self.status, self.type, self.param, self.code = status, type, param, code

    def body(self) -> dict:
        return {"error": {"message": str(self), "type": self.type, "param": self.param, "code": self.code}}


@dataclass
class ChatRequest:
    model: str
    messages: list[dict]
    max_tokens: int | None = None
    temperature: float | None = None
    stop: list[str] | None = None
    stream: bool = False
    include_usage: bool = False
    metadata: dict = field(default_factory=dict)
    tools: list[dict] | None = None
    tool_choice: str | dict | None = None
    response_format: dict | None = None
    top_logprobs: int = 0  # with logprobs: true; recorded on the trace too (distillation's logit KD)


# Every request field the gateway honours; any other is refused by name, never dropped. `user` and
# `parallel_tool_calls` (true: several calls in a turn are allowed, as here) change nothing to honour.
REQUEST_FIELDS = {
    "model",
    "messages",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "stop",
    "stream",
    "stream_options",
    "metadata",
    "n",
    "tools",
    "tool_choice",
    "response_format",
    "user",
    "parallel_tool_calls",
    "logprobs",
    "top_logprobs",
}
ROLES = ("system", "developer", "user", "assistant", "tool")


def _text(content: Any, index: int) -> str:
    """OpenAI content is a string or a list of parts; only text parts are understood here."""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(p, dict) and p.get("type") == "text" for p in content):
        return "".join(str(p.get("text", "")) for p in content)
    if content is None:
        return ""
    raise GatewayError(
        'Only text content is supported (a string or a list of {type: "text"} parts).',
        param=f"messages[{index}].content",
    )


def _metadata(body_metadata: Any, header: str | None) -> dict:
    metadata: dict = {}
    if header:
        try:
            metadata = json.loads(header)
        except ValueError:
            metadata = None
        if not isinstance(metadata, dict):
            raise GatewayError("X-Orchestra-Metadata must be a JSON object.", param="X-Orchestra-Metadata")
    if body_metadata is not None and not isinstance(body_metadata, dict):
        raise GatewayError("metadata must be an object of key -> value.", param="metadata")
    return {**metadata, **(body_metadata or {}), "source": "gateway"}


def _tool_calls(calls: Any, index: int) -> list[dict]:
    """An assistant turn's tool calls, as OpenAI sends them back to continue a conversation."""
    if not isinstance(calls, list) or not calls:
        raise GatewayError("tool_calls is a non-empty list.", param=f"messages[{index}].tool_calls")
    for n, call in enumerate(calls):
        function = call.get("function") if isinstance(call, dict) else None
        if (
            not isinstance(call, dict)
            or not isinstance(call.get("id"), str)
            or call.get("type", "function") != "function"
            or not isinstance(function, dict)
            or not isinstance(function.get("name"), str)
            or not isinstance(function.get("arguments"), str)
        ):
            raise GatewayError(
                'A tool call is {id, type: "function", function: {name, arguments: JSON text}}.',
                param=f"messages[{index}].tool_calls[{n}]",
            )
    return [
        {
            "id": c["id"],
            "type": "function",
            "function": {"name": c["function"]["name"], "arguments": c["function"]["arguments"]},
        }
        for c in calls
    ]


def _message(message: Any, index: int) -> dict:
    if not isinstance(message, dict) or message.get("role") not in ROLES:
        raise GatewayError(f"Each message needs a role of {', '.join(ROLES)}.", param=f"messages[{index}].role")
    role = "system" if message["role"] == "developer" else message["role"]
    parsed = {"role": role, "content": _text(message.get("content"), index)}
    if role == "assistant" and message.get("tool_calls") is not None:
        parsed["tool_calls"] = _tool_calls(message["tool_calls"], index)
    if role == "tool":
        if not isinstance(message.get("tool_call_id"), str) or not message["tool_call_id"]:
            raise GatewayError(
                "A tool message names the call it answers: tool_call_id.", param=f"messages[{index}].tool_call_id"
            )
        parsed["tool_call_id"] = message["tool_call_id"]
    return parsed


def chat_request_parse(body: Any, *, metadata_header: str | None = None) -> ChatRequest:
    if not isinstance(body, dict):
        raise GatewayError("The request body must be a JSON object.")
    unknown = sorted(set(body) - REQUEST_FIELDS)
    if unknown:
        raise GatewayError(
            f"{', '.join(unknown)}: not supported by this gateway; supported parameters are "
            f"{', '.join(sorted(REQUEST_FIELDS))}.",
            param=unknown[0],
            code="unsupported_parameter",
        )
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise GatewayError('model is required: a registered model name or "auto".', param="model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise GatewayError("messages is a non-empty list of {role, content}.", param="messages")
    parsed = [_message(message, index) for index, message in enumerate(messages)]
    if body.get("n", 1) != 1:
        raise GatewayError("Only n = 1 is supported.", param="n")
    if body.get("parallel_tool_calls", True) is not True:
        raise GatewayError(
            "parallel_tool_calls false is not supported: a turn may call several tools.", param="parallel_tool_calls"
        )
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None and (not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1):
        raise GatewayError("max_tokens is a positive integer.", param="max_tokens")
    temperature = body.get("temperature")
    if temperature is not None and (not isinstance(temperature, (int, float)) or not 0 <= temperature <= 2):
        raise GatewayError("temperature is a number between 0 and 2.", param="temperature")
    stop = body.get("stop")
    if isinstance(stop, str):
        stop = [stop]
    if stop is not None and not (isinstance(stop, list) and all(isinstance(s, str) for s in stop)):
        raise GatewayError("stop is a string or a list of strings.", param="stop")
    stream_options = body.get("stream_options") or {}
    if not isinstance(stream_options, dict):
        raise GatewayError('stream_options is an object, e.g. {"include_usage": true}.', param="stream_options")
    tools = body.get("tools")
    if tools is not None and not isinstance(tools, list):
        raise GatewayError('tools is a list of {type: "function", function: {name, parameters}}.', param="tools")
    response_format = body.get("response_format")
    if response_format is not None and not isinstance(response_format, dict):
        raise GatewayError('response_format is an object, e.g. {"type": "json_object"}.', param="response_format")
    top_logprobs = body.get("top_logprobs") or 0
    if not isinstance(top_logprobs, int) or isinstance(top_logprobs, bool) or not 0 <= top_logprobs <= MAX_TOP_LOGPROBS:
        raise GatewayError(f"top_logprobs is an integer between 0 and {MAX_TOP_LOGPROBS}.", param="top_logprobs")
    if top_logprobs and body.get("logprobs") is not True:
        raise GatewayError("top_logprobs needs logprobs: true.", param="logprobs")
    return ChatRequest(
        model=model,
        messages=parsed,
        max_tokens=max_tokens,
        temperature=temperature,
        stop=stop,
        stream=bool(body.get("stream")),
        include_usage=bool(stream_options.get("include_usage")),
        metadata=_metadata(body.get("metadata"), metadata_header),
        tools=tools or None,
        tool_choice=body.get("tool_choice"),
        response_format=response_format,
        # logprobs alone asks for the chosen tokens' log-probs: one alternative each
        top_logprobs=max(top_logprobs, 1) if body.get("logprobs") is True else 0,
    )


def endpoint_resolve(*, workspace: Workspace, name: str) -> ModelEndpoint:
    try:
        return model_resolve(workspace=workspace, name=name)
    except LookupError as exc:
        raise GatewayError(str(exc), status=404, param="model", code="model_not_found") from None


def chat_complete(
    *, workspace: Workspace, request: ChatRequest, on_token: Callable[[str], None] | None = None
) -> tuple[Completion, Trace]:
    """Make the call (through the gateway's model-selection seam: a router may answer `auto`) and
    record it as a trace, whether it succeeds or fails."""
    completions: dict = {}  # trace id -> its completion, for the answer's wire format

    def make_trace(*, model: str, call_key: str, stream: bool) -> Trace:
        endpoint = endpoint_resolve(workspace=workspace, name=model)
        trace = Trace(
            workspace=workspace, model=endpoint.name, messages=request.messages, metadata=dict(request.metadata)
        )
        completions[trace.id] = traced_complete(
            trace=trace,
            endpoint=endpoint,
            max_tokens=request.max_tokens,
            temperature=request.temperature,
            stop=request.stop,
            on_token=on_token if stream else None,
            tools=request.tools,
            tool_choice=request.tool_choice,
            response_format=request.response_format,
            top_logprobs=request.top_logprobs,
        )
        return trace

    call = engine.ModelCall(
        node_id="",
        call_key="",
        model=request.model,
        messages=request.messages,
        temperature=request.temperature,
        max_tokens=request.max_tokens,
        stop=request.stop,
        metadata=request.metadata,
        on_token=on_token,
        tools=request.tools,
        tool_choice=request.tool_choice,
        response_format=request.response_format,
        top_logprobs=request.top_logprobs,
    )
    try:
        trace = gateway_call_answer(workspace=workspace, call=call, make_trace=make_trace)
    except InferenceError as exc:
        status = exc.status if exc.status and 400 <= exc.status < 600 else 502
        raise GatewayError(
            str(exc), status=status, param=exc.param, type="invalid_request_error" if status < 500 else "api_error"
        ) from None
    return completions[trace.id], trace


# --- OpenAI's wire format ---------------------------------------------------------------------


def completion_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex


def usage(completion: Completion) -> dict:
    return {
        "prompt_tokens": completion.tokens_in,
        "completion_tokens": completion.tokens_out,
        "total_tokens": completion.tokens_in + completion.tokens_out,
    }


def message_body(completion: Completion) -> dict:
    """The assistant message: content null when the turn is only tool calls, as OpenAI sends it."""
    calls = [call.as_openai() for call in completion.tool_calls or []]
    message: dict = {"role": "assistant", "content": completion.text if completion.text or not calls else None}
    if calls:
        message["tool_calls"] = calls
    return message


def completion_body(completion: Completion, trace: Trace) -> dict:
    return {
        "id": completion_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": trace.model,
        "choices": [
            {
                "index": 0,
                "message": message_body(completion),
                "finish_reason": completion.finish_reason,
                "logprobs": logprobs_body(completion),
            }
        ],
        "usage": usage(completion),
        "orchestra": {"trace_id": str(trace.id), "cost": trace.cost},
    }


def logprobs_body(completion: Completion) -> dict | None:
    """OpenAI's {"content": [{token, logprob, bytes, top_logprobs}]}, when the request asked for log-probs."""
    if completion.top_logprobs is None:
        return None

    def entry(token, logprob: float) -> dict:
        return {"token": str(token), "logprob": logprob, "bytes": None}

    return {
        "content": [
            {**entry(*chosen), "top_logprobs": [entry(*pair) for pair in top]}
            for chosen, top in zip(completion.token_logprobs or [], completion.top_logprobs)
        ]
    }


def tool_call_deltas(completion: Completion) -> list[dict]:
    """Streamed tool calls in OpenAI's delta form: each call once, whole, by index."""
    return [{"index": index, **call.as_openai()} for index, call in enumerate(completion.tool_calls or [])]


def chunk_body(
    *,
    id: str,
    model: str,
    created: int,
    delta: dict | None = None,
    finish_reason: str | None = None,
    usage: dict | None = None,
) -> dict:
    chunk = {
        "id": id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": []
        if delta is None
        else [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
    }
    if usage is not None:
        chunk["usage"] = usage
    return chunk


def models_body(*, workspace: Workspace) -> dict:
    endpoints = ModelEndpoint.objects.filter(workspace=workspace).order_by("name")
    return {
        "object": "list",
        "data": [
            {"id": e.name, "object": "model", "created": int(e.created_at.timestamp()), "owned_by": "orchestra"}
            for e in endpoints
        ],
    }
