"""`subworkflow`: run another workflow (through the `run_workflow` hook) and use its outputs."""

from __future__ import annotations

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
        """When the child run waits (an approval in it), this node waits too, through LangGraph's interrupt.

        On resume LangGraph runs the node again from the top and each interrupt() returns its answer in
        order; an answer goes to the child only if the child still waits on the node it was asked for, so
        answers replayed for earlier waits, or after the child was answered directly, change nothing.
        """
        key, answer = ctx.call_key("w"), None
        while True:
            try:
                outputs = run_workflow(ctx.hooks, prepared["workflow"], prepared["inputs"], key=key, answer=answer)
                return NodeResult(output=outputs, fields=dict(outputs))
            except WorkflowWaiting as waiting:
                payload = {
                    **waiting.waiting,
                    "timeout_s": None,
                    "child_run": waiting.run_id,
                    "child_node": waiting.node_id,
                }
                try:
                    value = interrupt({"node_id": ctx.node_id, **payload})
                except GraphInterrupt:
                    ctx.emit("node_waiting", payload)
                    raise
                answer = (value, waiting.node_id)
