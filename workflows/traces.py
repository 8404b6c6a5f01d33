"""The one place a model is called and the call recorded as a Trace (workflow nodes and the gateway)."""
import time
from typing import Callable

from orchestra.inference import Completion, get_client
from workflows import services
from workflows.models import ModelEndpoint, Trace


def traced_complete(*, trace: Trace, endpoint: ModelEndpoint, max_tokens: int | None, temperature: float | None,
                    stop: list[str] | None, on_token: Callable[[str], None] | None = None,
                    tools: list[dict] | None = None, tool_choice: str | dict | None = None,
                    response_format: dict | None = None) -> Completion:
    """Ask `endpoint` for a reply to `trace.messages` and fill the trace with the result: the tools
    offered and the tool calls made are part of it.

    The caller saves a successful trace (it may still reject the reply); a failed call's trace is
    saved here, before the error propagates, so failures are traced too.
    """
    trace.model, trace.tools = endpoint.name, tools or None
    started = time.perf_counter()
    try:
        client = get_client(services.model_spec(endpoint))
        completion = client.complete(trace.messages, max_tokens=max_tokens, temperature=temperature, stop=stop,
                                     on_token=on_token, tools=tools, tool_choice=tool_choice,
                                     response_format=response_format)
    except Exception as exc:
        trace.status, trace.error = "error", str(exc)
        trace.latency_ms = (time.perf_counter() - started) * 1000
        trace.save()
        raise
    trace.output, trace.tokens_in, trace.tokens_out = completion.text, completion.tokens_in, completion.tokens_out
    trace.latency_ms = completion.latency_ms
    trace.cost = completion.cost or client.spec.cost(completion.tokens_in, completion.tokens_out)
    trace.top_logprobs = completion.top_logprobs
    trace.tool_calls = [call.as_openai() for call in completion.tool_calls] if completion.tool_calls else None
    return completion
