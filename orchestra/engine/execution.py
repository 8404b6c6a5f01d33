"""Compile a validated graph to a LangGraph StateGraph, and run it with per-run hooks.

Every node runs exactly once per run, for real or as a skip: each node waits (a LangGraph join)
for all of its sources, then runs if any incoming edge is live and otherwise records "skipped",
which makes its own outgoing edges dead. So joins never wait on a branch that was not taken.
"""

from __future__ import annotations

import contextvars
import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypedDict

from langgraph.errors import GraphBubbleUp
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import Command

from orchestra.engine.graph import EdgeSpec, Graph, NodeSpec
from orchestra.engine.hooks import NOT_SET, CallAbandoned, ModelCall, ModelReply, RunCancelled, RunHooks, RunOutcome
from orchestra.engine.nodes import NODE_TYPES, NodeContext, NodeResult, NodeType
from orchestra.engine.nodes.base import describe


def merge(left: dict[str, Any], right: dict[str, Any]) -> dict[str, Any]:
    return {**left, **right}


class RunState(TypedDict):
    inputs: dict[str, Any]
    nodes: Annotated[dict[str, dict[str, Any]], merge]  # node id -> result record (see _record)
    outputs: Annotated[dict[str, Any], merge]  # what output nodes rendered


@dataclass
class RunContext:
    """Per-run data, given to LangGraph at invoke time so one compiled graph serves many runs."""

    hooks: RunHooks


class NodeFailed(Exception):
    def __init__(self, node_id: str, error: str):
        self.node_id, self.error = node_id, error
        super().__init__(f"node {node_id!r} failed: {error}")


class NodeTimeout(Exception):
    pass


def compile_graph(graph: Graph, *, checkpointer: Any) -> CompiledStateGraph:
    """A LangGraph graph for a validated Graph; holds no per-run data, so it can be cached and shared."""
    builder = StateGraph(RunState, context_schema=RunContext)
    for spec in graph.nodes:
        node_type = NODE_TYPES[spec.type]
        builder.add_node(
            spec.id,
            node_function(spec, node_type, node_type.parse_config(spec.config, spec.version), graph.incoming(spec.id)),
        )
    builder.add_edge(START, graph.input_node().id)
    for spec in graph.nodes:
        sources = list(dict.fromkeys(edge.source for edge in graph.incoming(spec.id)))
        if sources:
            builder.add_edge(sources[0] if len(sources) == 1 else sources, spec.id)  # a list waits for all
        if not graph.outgoing(spec.id):
            builder.add_edge(spec.id, END)
    return builder.compile(checkpointer=checkpointer)


def node_function(
    spec: NodeSpec, node_type: NodeType, config: Any, incoming: list[EdgeSpec]
) -> Callable[[RunState, Runtime[RunContext]], dict[str, Any]]:
    def run_node(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
        hooks = runtime.context.hooks
        if incoming and not any(is_live(edge, state["nodes"]) for edge in incoming):
            hooks.emit("node_skipped", spec.id, {})
            return {"nodes": {spec.id: _record("skipped")}}
        if hooks.is_cancelled():
            raise RunCancelled(f"cancelled before node {spec.id!r} started")
        record = execute(spec, node_type, config, template_scope(state), hooks)
        update: dict[str, Any] = {"nodes": {spec.id: record}}
        if spec.type == "output" and record["status"] == "succeeded":
            update["outputs"] = record["output"]  # the run's outputs are what output nodes rendered
        return update

    return run_node


def is_live(edge: EdgeSpec, results: dict[str, dict[str, Any]]) -> bool:
    source = results[edge.source]
    return edge.branch in source["outlets"] if edge.branch else source["default_live"]


def _record(
    status: str,
    *,
    output: Any = None,
    error: str | None = None,
    fields: dict[str, Any] | None = None,
    outlets: list[str] | None = None,
    default_live: bool = False,
) -> dict[str, Any]:
    return {
        "status": status,
        "output": output,
        "error": error,
        "fields": fields or {},
        "outlets": outlets or [],
        "default_live": default_live,
    }


def template_scope(state: RunState) -> dict[str, Any]:
    """What templates see: inputs, and nodes.<id>.output / .error / .status / .<field>."""
    return {
        "inputs": state["inputs"],
        "nodes": {
            node_id: {**r["fields"], "output": r["output"], "error": r["error"], "status": r["status"]}
            for node_id, r in state["nodes"].items()
        },
    }


def execute(spec: NodeSpec, node_type: NodeType, config: Any, scope: dict[str, Any], hooks: RunHooks) -> dict[str, Any]:
    """Run one node under its policy (retry with backoff, timeout, on_error); return its result record."""
    policy = spec.retry
    attempts = 1 if node_type.policy_per_item else policy.attempts  # a map retries each item, inside run
    for attempt in range(1, attempts + 1):
        abandoned = threading.Event()  # set when the attempt times out: its model calls stop
        ctx = NodeContext(
            spec.id,
            attempt,
            abandonable_calls(hooks, abandoned),
            scope,
            call_key_prefix=f"{spec.id}#a{attempt}",
            retry=policy,
            on_error=spec.on_error,
        )
        try:
            result = _attempt(spec, node_type, config, ctx, abandoned)
        except (GraphBubbleUp, RunCancelled):  # an approval's interrupt pauses the run; a cancel ends it
            raise
        except Exception as error:
            if hooks.is_cancelled():  # what failed because the run was cancelled is not retried
                raise RunCancelled(f"cancelled while node {spec.id!r} was running") from error
            message = describe(error)
            if attempt < attempts:
                delay = policy.backoff_s * policy.backoff_factor ** (attempt - 1)
                hooks.emit("node_retrying", spec.id, {"error": message, "attempt": attempt, "delay_s": delay})
                time.sleep(delay)
                continue
            hooks.emit("node_failed", spec.id, {"error": message, "attempts": attempt})
            if spec.on_error == "fail":
                raise NodeFailed(spec.id, message) from error
            return _record(
                "failed",
                error=message,
                outlets=["error"] if spec.on_error == "branch" else [],
                default_live=spec.on_error == "continue",
            )
        hooks.emit("node_succeeded", spec.id, {"output": result.output, "attempts": attempt, **usage(ctx)})
        return _record(
            "succeeded",
            output=result.output,
            fields=result.fields,
            outlets=[result.outlet] if result.outlet else [],
            default_live=True,
        )
    raise AssertionError("unreachable: RetryPolicy.attempts >= 1")


def abandonable_calls(hooks: RunHooks, abandoned: threading.Event) -> RunHooks:
    """The hooks of one attempt: its model calls know when the node gave up on them (the attempt timed
    out, or the run was cancelled), and a streaming call stops at its next token then."""

    def stopped() -> bool:
        return abandoned.is_set() or hooks.is_cancelled()

    def call_model(call: ModelCall) -> ModelReply:
        emit = call.on_token

        def on_token(text: str) -> None:
            if stopped():
                raise CallAbandoned(f"node {call.node_id!r} stopped waiting for this call")
            emit(text)

        return hooks.call_model(
            dataclasses.replace(call, on_token=on_token if emit is not None else None, abandoned=stopped)
        )

    return dataclasses.replace(hooks, call_model=call_model)


def _attempt(
    spec: NodeSpec, node_type: NodeType, config: Any, ctx: NodeContext, abandoned: threading.Event
) -> NodeResult:
    """Prepare (render the templates) and run, both under the node's one timeout."""
    started = _NodeStarted(ctx)

    def prepare_and_run() -> NodeResult:
        try:
            prepared = node_type.prepare(config, ctx.scope)
        except Exception:
            started.emit(None)
            raise
        if not started.emit(prepared):
            raise NodeTimeout("timed out while preparing")  # the attempt is over; do not call the model late
        return node_type.run(config, prepared, ctx)

    try:
        return call_with_timeout(prepare_and_run, spec.timeout_s)
    except NodeTimeout:
        abandoned.set()
        started.emit(None)  # prepare did not finish in time
        raise


class _NodeStarted:
    """node_started, emitted once per attempt: after prepare, or with input null when prepare fails or times out.

    Prepare runs on the timeout's thread, so the waiting thread and a late prepare race to emit it; the
    lock makes one of them win, and holds the other until the event is out, so node_failed comes after it.
    """

    def __init__(self, ctx: NodeContext):
        self._ctx, self._lock, self._emitted = ctx, threading.Lock(), False

    def emit(self, prepared: dict[str, Any] | None) -> bool:
        """Emit unless it already was; True when this call emitted it."""
        with self._lock:
            if self._emitted:
                return False
            self._emitted = True
            self._ctx.emit("node_started", {"input": prepared, "attempt": self._ctx.attempt})
            return True


def call_with_timeout(function: Callable[[], NodeResult], timeout_s: float | None) -> NodeResult:
    """Run `function`, failing with NodeTimeout after `timeout_s`.

    Python cannot kill a thread, so a timed-out call is abandoned on a daemon thread and its result
    dropped. The context is copied so LangGraph's interrupt() still works inside.
    """
    if timeout_s is None:
        return function()
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["result"] = function()
        except BaseException as error:  # noqa: BLE001 (handed back to the waiting thread as is)
            outcome["error"] = error

    thread = threading.Thread(target=contextvars.copy_context().run, args=(target,), daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise NodeTimeout(f"timed out after {timeout_s:g}s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def usage(ctx: NodeContext) -> dict[str, Any]:
    """Summed model usage of the attempt that succeeded, for node_succeeded."""
    if not ctx.replies:
        return {}
    return {
        "model": ", ".join(dict.fromkeys(r.model for r in ctx.replies)),
        "tokens_in": sum(r.tokens_in for r in ctx.replies),
        "tokens_out": sum(r.tokens_out for r in ctx.replies),
        "cost": sum(r.cost for r in ctx.replies),
        "latency_ms": sum(r.latency_ms for r in ctx.replies),
    }


def run_graph(
    compiled: CompiledStateGraph,
    *,
    run_id: str,
    hooks: RunHooks,
    inputs: dict[str, Any] | None = None,
    resume_value: Any = NOT_SET,
    fresh: bool = False,
) -> RunOutcome:
    """Start, continue (after a crash: finished nodes are not re-run) or resume (answer an approval) a run.

    `fresh`: the caller knows the run was never started before (its first attempt), so there is no
    checkpoint to look for: one read of the checkpointer less."""
    config = {"configurable": {"thread_id": run_id}}
    snapshot = compiled.get_state(config) if compiled.checkpointer is not None and not fresh else None
    graph_input: Any = {"inputs": inputs or {}, "nodes": {}, "outputs": {}}
    if snapshot is not None and snapshot.values:
        if snapshot.interrupts and resume_value is NOT_SET:
            return _waiting(snapshot.interrupts[0].value)  # still waiting; asking again changes nothing
        if not snapshot.next:
            return RunOutcome("succeeded", outputs=snapshot.values.get("outputs", {}))
        graph_input = Command(resume={snapshot.interrupts[0].id: resume_value}) if snapshot.interrupts else None
    # "sync": each step's checkpoint is stored before the next step starts, so a crash loses no finished node.
    durability = {"durability": "sync"} if compiled.checkpointer is not None else {}
    try:
        result = compiled.invoke(graph_input, config, context=RunContext(hooks=hooks), **durability)
    except RunCancelled as cancelled:
        return RunOutcome("cancelled", error=str(cancelled))
    except NodeFailed as failed:
        return RunOutcome("failed", error=str(failed))
    except Exception as error:  # noqa: BLE001 (the engine or the checkpointer failed; an answer, not a crash)
        return RunOutcome("failed", error=f"run failed: {describe(error)}")
    if result.get("__interrupt__"):
        waiting = _waiting(result["__interrupt__"][0].value)
        if compiled.checkpointer is None:  # nothing to resume from: waiting would be forever
            return RunOutcome(
                "failed",
                error=f"node {waiting.waiting_node!r} waits for an answer, "
                "which needs a checkpointer; compile the graph with one",
            )
        return waiting
    return RunOutcome("succeeded", outputs=result.get("outputs", {}))


def _waiting(payload: dict[str, Any]) -> RunOutcome:
    """What the run waits for; a node waiting on a child run (a sub-workflow, a map item, an agent's workflow
    tool) also names that run and its node, and which item, or which tool of which step, it is."""
    keys = ("prompt", "timeout_s", "default", "child_run", "child_node", "item", "tool", "step")
    return RunOutcome(
        "waiting", waiting_node=payload["node_id"], waiting={key: payload[key] for key in keys if key in payload}
    )
