"""What a run needs from its host (events, models, sub-workflows, cancellation) and what it returns.

The engine takes these as plain callables so it stays framework-free: the Django app wires them to
the database, Celery and the model router; tests pass ordinary functions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable


class _NotSet:
    def __repr__(self) -> str:
        return "NOT_SET"


NOT_SET: Any = _NotSet()  # "no resume value", distinct from None (a valid answer)


@dataclass
class ModelCall:
    node_id: str
    call_key: str  # unique and deterministic within a run, e.g. "draft#a1#j0" or "each#a1#m3#j0"
    model: str  # as configured: "auto" or a registry name
    messages: list[dict[str, str]]
    temperature: float | None
    max_tokens: int | None
    stop: list[str] | None
    metadata: dict[str, Any]
    on_token: Callable[[str], None] | None = None  # called with each streamed text delta
    # OpenAI's shapes, passed to the backend as they are (orchestra.inference.base.check_structured).
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None
    top_logprobs: int = 0  # the top-k log-probs per token to record on the trace (distillation's logit KD)
    # True once the node stopped waiting for this call (its timeout, a cancel): its trace says so.
    abandoned: Callable[[], bool] = lambda: False


@dataclass
class ModelReply:
    text: str
    model: str  # the model that actually answered
    tokens_in: int = 0
    tokens_out: int = 0
    latency_ms: float = 0.0
    cost: float = 0.0
    tool_calls: list[dict[str, Any]] | None = None  # OpenAI's shape: {id, type, function: {name, arguments}}
    finish_reason: str = "stop"


@dataclass
class ToolDefinition:
    """A tool an agent can call: what the model is shown, and where a call goes."""

    name: str
    description: str
    parameters: dict[str, Any]  # JSON Schema of the arguments
    spec: dict[str, Any]  # the agent config's tool entry (kind workflow | http | mcp) it came from
    target: str | None = None  # the workflow id, or the MCP server's own tool name

    def as_openai(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }


@dataclass
class RunHooks:
    emit: Callable[[str, str | None, dict[str, Any]], None]  # (event_type, node_id, data)
    call_model: Callable[[ModelCall], ModelReply]
    # run_workflow(workflow_id, inputs, key=..., answer=...): the called run's outputs; raise on failure.
    # Each call is named (`key`: a sub-workflow node's, a map item's, a tool call's, stable across re-runs
    # of the node) so a re-run finds the same child run; WorkflowWaiting when that run waits, and
    # `answer` (value, child node) answers it if it still waits on that node. The node waiting on a
    # child is resumed with {"child_run", "child_node", "value"} to answer that child through the
    # calling run, or with anything else (None) to look again: the child moved on by itself.
    run_workflow: Callable[..., dict[str, Any]] | None = None
    # Checked before each node starts, between a map's items, while an HTTP request or a model call runs.
    is_cancelled: Callable[[], bool] = lambda: False
    http_allow_private: bool = False
    # The value of the workspace's credential NAME, asked for when a request that uses it is sent;
    # LookupError for a name the workspace has no credential of.
    credential: Callable[[str], str] | None = None
    # Agents. describe_tool: one of the host's tool entries (kind workflow, or mcp: maybe several
    # tools) as definitions, raising LookupError for one that does not exist. call_mcp_tool(server,
    # tool, arguments): the tool's result (raise on a tool error). recorded_tool_result(call_key):
    # what a finished tool call returned before a crash ({"result": ...} or {"error": ...}), or None.
    describe_tool: Callable[[dict[str, Any]], list[ToolDefinition]] | None = None
    call_mcp_tool: Callable[[str, str, dict[str, Any]], Any] | None = None
    recorded_tool_result: Callable[[str], dict[str, Any] | None] = lambda call_key: None
    # The items of map node NODE_ID that succeeded in an earlier execution of it (a retry of the run,
    # a resume after a wait or a crash), from its item_succeeded events: {index: {"of", "result"}}.
    recorded_items: Callable[[str], dict[int, dict[str, Any]]] = lambda node_id: {}


class RunCancelled(Exception):
    """The run was cancelled: raised where work stops, and never retried or routed as a node failure."""


class WorkflowWaiting(Exception):
    """A called workflow's run waits for an answer (an approval inside it): the calling node waits too."""

    def __init__(self, run_id: str, node_id: str, waiting: dict[str, Any]):
        self.run_id, self.node_id, self.waiting = run_id, node_id, waiting
        super().__init__(f"run {run_id} waits on node {node_id!r}")


class CallAbandoned(Exception):
    """A model call stopped while streaming: its node gave up on it (a timeout) or the run was cancelled."""


@dataclass
class RunOutcome:
    status: str  # "succeeded" | "failed" | "waiting" | "cancelled"
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    waiting_node: str | None = None
    waiting: dict[str, Any] | None = None  # {"prompt", "timeout_s", "default"}
