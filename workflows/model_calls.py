"""Model calls, in one home for workflow nodes, the gateway and distillation: which registered model
a name means (`model_resolve`), which model answers a node's or a gateway call (the model-selection
seams, which other apps plug into), and the one place a model is called and the call recorded as a Trace."""

import time
from typing import Callable, Protocol

from django.conf import settings

from orchestra import engine
from orchestra.inference import CallAbandoned, Completion, get_client
from workflows import services
from workflows.models import ModelEndpoint, Run, Trace, Workspace
from workflows.recorder import json_safe


def model_resolve(*, workspace: Workspace, name: str) -> ModelEndpoint:
    """`auto` is the workspace's default model (a router registered on the seam may choose instead)."""
    endpoints = ModelEndpoint.objects.filter(workspace=workspace)
    if name == "auto":
        endpoint = endpoints.filter(is_default=True).first()
        if endpoint is None and settings.ORCHESTRA_DEFAULT_MODEL:
            endpoint = endpoints.filter(name=settings.ORCHESTRA_DEFAULT_MODEL).first()
        if endpoint is None:
            raise LookupError(
                "Model 'auto' needs a default model: register one with is_default: true (POST /api/models)."
            )
        return endpoint
    endpoint = endpoints.filter(name=name).first()
    if endpoint is None:
        known = ", ".join(sorted(endpoints.values_list("name", flat=True))) or "none registered"
        raise LookupError(f"Unknown model {name!r} (known: {known}).")
    return endpoint


# --- Which model answers a node's call ------------------------------------------------------


class MakeTrace(Protocol):
    def __call__(self, *, model: str, call_key: str, stream: bool) -> Trace:
        """Ask `model` for the call's reply; the trace comes back unsaved (a failed call's is saved)."""


class ModelSelector(Protocol):
    def __call__(self, *, run: Run, call: engine.ModelCall, make_trace: MakeTrace) -> Trace | None:
        """The saved trace whose reply the node uses, or None to leave the call to the next selector."""


_selectors: list[ModelSelector] = []


def model_selector_register(selector: ModelSelector) -> None:
    """Plug a selector in (distillation's deployments; a router): asked in order for every node call."""
    if selector not in _selectors:
        _selectors.append(selector)


def node_call_answer(*, run: Run, call: engine.ModelCall, make_trace: MakeTrace) -> Trace:
    """The trace answering a node's model call: the first selector that decides, else the node's model."""
    for selector in _selectors:
        trace = selector(run=run, call=call, make_trace=make_trace)
        if trace is not None:
            return trace
    trace = make_trace(model=call.model, call_key=call.call_key, stream=True)
    trace.save()
    return trace


# --- Which model answers a gateway call --------------------------------------------------------


class GatewaySelector(Protocol):
    def __call__(self, *, workspace: Workspace, call: engine.ModelCall, make_trace: MakeTrace) -> Trace | None:
        """The saved trace whose reply the gateway returns, or None to leave the call to the next selector."""


_gateway_selectors: list[GatewaySelector] = []


def gateway_selector_register(selector: GatewaySelector) -> None:
    """Plug a selector into the gateway (a router answering `model: "auto"` or its own name)."""
    if selector not in _gateway_selectors:
        _gateway_selectors.append(selector)


def gateway_call_answer(*, workspace: Workspace, call: engine.ModelCall, make_trace: MakeTrace) -> Trace:
    """The trace answering a gateway call (no node, no run): the first selector that decides, else the
    model the request names."""
    for selector in _gateway_selectors:
        trace = selector(workspace=workspace, call=call, make_trace=make_trace)
        if trace is not None:
            return trace
    trace = make_trace(model=call.model, call_key=call.call_key, stream=True)
    trace.save()
    return trace


# --- Making the call ---------------------------------------------------------------------------


def node_call_trace(run: Run, call: engine.ModelCall, *, model: str, call_key: str) -> Trace:
    """The unsaved trace of a node's model call, before it is asked: who asked, what, of which model."""
    return Trace(
        workspace_id=run.workspace_id,
        workflow_id=run.workflow_id,
        version=run.version,
        node_id=call.node_id,
        run=run,
        call_key=call_key,
        messages=call.messages,
        metadata=json_safe(call.metadata or {}),
        model=model,
    )


def traced_complete(
    *,
    trace: Trace,
    endpoint: ModelEndpoint,
    max_tokens: int | None,
    temperature: float | None,
    stop: list[str] | None,
    on_token: Callable[[str], None] | None = None,
    tools: list[dict] | None = None,
    tool_choice: str | dict | None = None,
    response_format: dict | None = None,
    top_logprobs: int = 0,
    abandoned: Callable[[], bool] | None = None,
) -> Completion:
    """Ask `endpoint` for a reply to `trace.messages` and fill the trace with the result: the tools
    offered and the tool calls made are part of it. Once `abandoned()` is true the call is stopped where
    the backend can, and its trace saved as abandoned then, not when a reply would have come.

    The caller saves a successful trace (it may still reject the reply); a failed call's trace is
    saved here, before the error propagates, so failures are traced too.
    """
    trace.model, trace.tools = endpoint.name, tools or None
    started = time.perf_counter()
    try:
        client = get_client(services.model_spec(endpoint))
        completion = client.complete(
            trace.messages,
            max_tokens=max_tokens,
            temperature=temperature,
            stop=stop,
            on_token=on_token,
            tools=tools,
            tool_choice=tool_choice,
            response_format=response_format,
            top_logprobs=top_logprobs,
            abandoned=abandoned,
        )
    except Exception as exc:
        # abandoned: its node stopped waiting (a timeout, a cancel) and the call was closed
        trace.status = "abandoned" if isinstance(exc, (engine.CallAbandoned, CallAbandoned)) else "error"
        trace.error = str(exc)
        trace.latency_ms = (time.perf_counter() - started) * 1000
        trace.save()
        raise
    trace.output, trace.tokens_in, trace.tokens_out = completion.text, completion.tokens_in, completion.tokens_out
    trace.latency_ms = completion.latency_ms
    trace.cost = completion.cost or client.spec.cost(completion.tokens_in, completion.tokens_out)
    trace.top_logprobs = completion.top_logprobs
    trace.tool_calls = [call.as_openai() for call in completion.tool_calls] if completion.tool_calls else None
    return completion
