"""Small builders for engine tests: graphs from short specs, an event recorder, model functions."""

from __future__ import annotations

import json
import threading
from typing import Any, Callable


from orchestra.engine import ModelCall, ModelReply, RunHooks, RunOutcome, compile_graph, parse_graph, run_graph


def node(node_id: str, node_type: str, **config: Any) -> dict[str, Any]:
    return {"id": node_id, "type": node_type, "config": config}


def edge(spec: str) -> dict[str, Any]:
    """'a->b' or 'a->b:branch'."""
    source, rest = spec.split("->")
    target, _, branch = rest.partition(":")
    return {"source": source, "target": target, **({"branch": branch} if branch else {})}


def graph(nodes: list[dict[str, Any]], edges: list[str]) -> dict[str, Any]:
    return {"nodes": nodes, "edges": [edge(e) for e in edges]}


def input_node(*names: str, node_id: str = "start") -> dict[str, Any]:
    return node(node_id, "input", fields=[{"name": n, "type": "string", "required": True} for n in names])


def output_node(node_id: str = "end", **outputs: str) -> dict[str, Any]:
    return node(node_id, "output", outputs=outputs)


class Recorder:
    """The `emit` hook: keeps every event (checked JSON-serialisable), from any thread."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str | None, dict[str, Any]]] = []
        self._lock = threading.Lock()

    def __call__(self, event_type: str, node_id: str | None, data: dict[str, Any]) -> None:
        json.dumps(data)  # the lead stores events as JSON
        with self._lock:
            self.events.append((event_type, node_id, data))

    def nodes(self, event_type: str) -> list[str | None]:
        return [node_id for kind, node_id, _ in self.events if kind == event_type]

    def data(self, event_type: str, node_id: str) -> list[dict[str, Any]]:
        return [data for kind, nid, data in self.events if kind == event_type and nid == node_id]


def echo_model(call: ModelCall) -> ModelReply:
    """A model that answers with the last message, streamed in two pieces."""
    text = f"echo: {call.messages[-1]['content']}"
    if call.on_token:
        call.on_token(text[:5])
        call.on_token(text[5:])
    return ModelReply(
        text=text, model="echo-1", tokens_in=len(call.messages), tokens_out=len(text.split()), latency_ms=1.0, cost=0.5
    )


def scripted_model(
    replies: dict[str, list[str | Exception]],
) -> tuple[Callable[[ModelCall], ModelReply], list[ModelCall]]:
    """A model giving each node its scripted replies in order (an Exception is raised); records calls."""
    calls: list[ModelCall] = []
    lock = threading.Lock()

    def call_model(call: ModelCall) -> ModelReply:
        with lock:
            calls.append(call)
            reply = replies[call.node_id].pop(0)
        if isinstance(reply, Exception):
            raise reply
        return ModelReply(text=reply, model="scripted", tokens_in=1, tokens_out=1)

    return call_model, calls


def run(
    data: dict[str, Any],
    *,
    inputs: dict[str, Any] | None = None,
    call_model: Callable[[ModelCall], ModelReply] = echo_model,
    checkpointer: Any = None,
    run_id: str = "run-1",
    recorder: Recorder | None = None,
    **hook_options: Any,
) -> tuple[RunOutcome, Recorder]:
    """Validate, compile and run a graph once; returns the outcome and the recorded events."""
    recorder = recorder or Recorder()
    compiled = compile_graph(parse_graph(data), checkpointer=checkpointer)
    outcome = run_graph(
        compiled,
        run_id=run_id,
        inputs=inputs or {},
        hooks=RunHooks(emit=recorder, call_model=call_model, **hook_options),
    )
    return outcome, recorder
