"""`subworkflow`: run another workflow (through the `run_workflow` hook) and use its outputs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langgraph.errors import GraphInterrupt
from langgraph.types import interrupt
from pydantic import Field

from orchestra.engine.graph import WorkflowCall
from orchestra.engine.hooks import RunHooks, WorkflowWaiting
from orchestra.engine.nodes.base import NodeConfig, NodeContext, NodeResult, NodeType
from orchestra.engine.templates import TemplateRef, render_value

INPUTS_FIELD = Field(
    default_factory=dict,
    title="Inputs",
    description="input name -> template. A template that is one {{ expression }} keeps its type.",
    json_schema_extra={"additionalProperties": {"type": "string", "format": "template"}},
)


class SubworkflowConfig(NodeConfig):
    workflow: str = Field(
        min_length=1,
        title="Workflow",
        description="The id of the workflow to run.",
        json_schema_extra={"format": "workflow"},
    )
    inputs: dict[str, str] = INPUTS_FIELD


def run_workflow(hooks: RunHooks, workflow: str, inputs: dict[str, Any], **call: Any) -> dict[str, Any]:
    if hooks.run_workflow is None:
        raise RuntimeError(f"cannot run workflow {workflow!r}: this run has no run_workflow hook")
    return hooks.run_workflow(workflow, inputs, **call)


def child_answer(ctx: NodeContext, waiting: WorkflowWaiting, **about: Any) -> tuple[Any, str] | None:
    """Wait, through LangGraph's interrupt, until the child run `waiting` names no longer waits; then
    the answer for it, (value, child node), or None when the child moved on by itself (it was answered
    directly, which wakes this run) and only needs asking again.

    On resume LangGraph runs the node again from the top and each interrupt() returns its resume value
    in order. A value answered through this run names the child run and node it was given for (see
    RunHooks.run_workflow), so one replayed for an earlier wait, or for another child (a map item's,
    an agent tool call's), answers nothing here.
    """
    payload = {
        **waiting.waiting,
        "timeout_s": None,
        "child_run": waiting.run_id,
        "child_node": waiting.node_id,
        **about,
    }
    try:
        value = interrupt({"node_id": ctx.node_id, **payload})
    except GraphInterrupt:
        ctx.emit("node_waiting", payload)
        raise
    if isinstance(value, dict) and (value.get("child_run"), value.get("child_node")) == (
        waiting.run_id,
        waiting.node_id,
    ):
        return value.get("value"), waiting.node_id
    return None


def until_answered(
    ctx: NodeContext,
    outcomes: list[Any],
    waiting_of: Callable[[Any], WorkflowWaiting | None],
    again: Callable[[int, Any, tuple[Any, str] | None], Any],
    about: Callable[[int], dict[str, Any]],
) -> list[Any]:
    """`outcomes` of jobs run side by side (a map's items, an agent's tool calls), with each one whose
    child run waits replaced by the job run `again` (index, outcome, answer) once answered. The node
    waits on one child at a time, the first job's first, so every re-run of the node interrupts in the
    same order; jobs that finished keep their outcomes."""
    outcomes = list(outcomes)
    while True:
        waiting = next(((i, w) for i, o in enumerate(outcomes) if (w := waiting_of(o)) is not None), None)
        if waiting is None:
            return outcomes
        index, child = waiting
        outcomes[index] = again(index, outcomes[index], child_answer(ctx, child, **about(index)))


class SubworkflowNode(NodeType):
    type = "subworkflow"
    title = "Sub-workflow"
    description = "Run another workflow with inputs rendered here; its outputs are this node's output."
    category = "Flow"
    Config = SubworkflowConfig
    mappable = True

    def fields(self, config: SubworkflowConfig) -> None:
        return None  # the other workflow's output names, unknown here

    def templates(self, config: SubworkflowConfig) -> list[TemplateRef]:
        return [TemplateRef(f"inputs.{name}", source) for name, source in config.inputs.items()]

    def calls(self, config: SubworkflowConfig) -> list[WorkflowCall]:
        return [WorkflowCall("", config.workflow, tuple(config.inputs))]

    def prepare(self, config: SubworkflowConfig, scope: dict[str, Any]) -> dict[str, Any]:
        return {"workflow": config.workflow, "inputs": render_value(config.inputs, scope)}

    def run(self, config: SubworkflowConfig, prepared: dict[str, Any], ctx: NodeContext) -> NodeResult:
        """When the child run waits (an approval in it), this node waits too; in a map item, the map does."""
        key, answer = ctx.call_key("w"), ctx.child_answer
        while True:
            try:
                outputs = run_workflow(ctx.hooks, prepared["workflow"], prepared["inputs"], key=key, answer=answer)
                return NodeResult(output=outputs, fields=dict(outputs))
            except WorkflowWaiting as waiting:
                if ctx.item is not None:
                    raise
                answer = child_answer(ctx, waiting)
