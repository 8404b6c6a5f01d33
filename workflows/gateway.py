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

from orchestra.inference import Completion, InferenceError
from workflows import execution
from workflows.models import ModelEndpoint, Trace, Workspace
from workflows.traces import traced_complete


class GatewayError(Exception):
    """An error as OpenAI reports it: {"error": {"message", "type", "param", "code"}}."""

    def __init__(self, message: str, *, status: int = 400, type: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None):
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


def _text(content: Any, index: int) -> str:
    """OpenAI content is a string or a list of parts; only text parts are understood here."""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(p, dict) and p.get("type") == "text" for p in content):
        return "".join(str(p.get("text", "")) for p in content)
    if content is None:
        return ""
    raise GatewayError("Only text content is supported (a string or a list of {type: \"text\"} parts).",
                       param=f"messages[{index}].content")


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


def chat_request_parse(body: Any, *, metadata_header: str | None = None) -> ChatRequest:
    if not isinstance(body, dict):
        raise GatewayError("The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise GatewayError("model is required: a registered model name or \"auto\".", param="model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise GatewayError("messages is a non-empty list of {role, content}.", param="messages")
    parsed = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("system", "user", "assistant", "developer"):
            raise GatewayError("Each message needs a role of system, developer, user or assistant.",
                               param=f"messages[{index}].role")
        role = "system" if message["role"] == "developer" else message["role"]
        parsed.append({"role": role, "content": _text(message.get("content"), index)})
    if body.get("n", 1) != 1:
        raise GatewayError("Only n = 1 is supported.", param="n")
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
    return ChatRequest(model=model, messages=parsed, max_tokens=max_tokens, temperature=temperature, stop=stop,
                       stream=bool(body.get("stream")), include_usage=bool(stream_options.get("include_usage")),
                       metadata=_metadata(body.get("metadata"), metadata_header))


def endpoint_resolve(*, workspace: Workspace, name: str) -> ModelEndpoint:
    try:
        return execution.model_resolve(workspace=workspace, name=name)
    except LookupError as exc:
        raise GatewayError(str(exc), status=404, param="model", code="model_not_found") from None


def chat_complete(*, workspace: Workspace, request: ChatRequest,
                  on_token: Callable[[str], None] | None = None) -> tuple[Completion, Trace]:
    """Make the call and record it as a trace, whether it succeeds or fails."""
    endpoint = endpoint_resolve(workspace=workspace, name=request.model)
    trace = Trace(workspace=workspace, model=endpoint.name, messages=request.messages, metadata=request.metadata)
    try:
        completion = traced_complete(trace=trace, endpoint=endpoint, max_tokens=request.max_tokens,
                                     temperature=request.temperature, stop=request.stop, on_token=on_token)
    except InferenceError as exc:
        status = exc.status if exc.status and 400 <= exc.status < 600 else 502
        raise GatewayError(str(exc), status=status,
                           type="invalid_request_error" if status < 500 else "api_error") from None
    trace.save()
    return completion, trace


# --- OpenAI's wire format ---------------------------------------------------------------------


def completion_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex


def usage(completion: Completion) -> dict:
    return {"prompt_tokens": completion.tokens_in, "completion_tokens": completion.tokens_out,
            "total_tokens": completion.tokens_in + completion.tokens_out}


def completion_body(completion: Completion, trace: Trace) -> dict:
    return {"id": completion_id(), "object": "chat.completion", "created": int(time.time()), "model": trace.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": completion.text},
                         "finish_reason": completion.finish_reason, "logprobs": None}],
            "usage": usage(completion), "orchestra": {"trace_id": str(trace.id), "cost": trace.cost}}


def chunk_body(*, id: str, model: str, created: int, delta: dict | None = None, finish_reason: str | None = None,
               usage: dict | None = None) -> dict:
    chunk = {"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
             "choices": [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish_reason,
                                                   "logprobs": None}]}
    if usage is not None:
        chunk["usage"] = usage
    return chunk


def models_body(*, workspace: Workspace) -> dict:
    endpoints = ModelEndpoint.objects.filter(workspace=workspace).order_by("name")
    return {"object": "list", "data": [{"id": e.name, "object": "model", "created": int(e.created_at.timestamp()),
                                        "owned_by": "orchestra"} for e in endpoints]}
