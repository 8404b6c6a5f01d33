"""`approval`: pause the run until a person answers (a LangGraph interrupt), then route on the answer."""

from __future__ import annotations

from typing import Any

from langgraph.errors import GraphInterrupt
from langgraph.types import interrupt
from pydantic import Field

from orchestra.engine.nodes.base import NodeConfig, NodeContext, NodeResult, NodeType, template_field
from orchestra.engine.templates import TemplateRef, render


class ApprovalConfig(NodeConfig):
    prompt: str = template_field(title="Prompt", description="What the person is asked.")
    timeout_s: float | None = Field(
        None, gt=0, title="Timeout (s)", description="After this long the run resumes with the default answer."
    )
    default: Any = Field(None, title="Default answer", description='e.g. {"approved": false}')


def is_rejection(answer: Any) -> bool:
    return isinstance(answer, dict) and answer.get("approved") is False


class ApprovalNode(NodeType):
    type = "approval"
    title = "Approval"
    description = (
        'Wait for a person\'s answer. An answer {"approved": false, ...} takes the `rejected` outlet; '
        "any other answer takes `approved`. The output is the answer."
    )
    category = "Human"
    Config = ApprovalConfig

    def outlets(self, config: ApprovalConfig | None) -> list[str]:
        return ["approved", "rejected"]

    def fields(self, config: ApprovalConfig) -> list[str]:
        return ["approved"]

    def templates(self, config: ApprovalConfig) -> list[TemplateRef]:
        return [TemplateRef("prompt", config.prompt)]

    def prepare(self, config: ApprovalConfig, scope: dict[str, Any]) -> dict[str, Any]:
        return {"prompt": render(config.prompt, scope)}

    def run(self, config: ApprovalConfig, prepared: dict[str, Any], ctx: NodeContext) -> NodeResult:
        waiting = {"prompt": prepared["prompt"], "timeout_s": config.timeout_s, "default": config.default}
        try:
            # First pass: raises GraphInterrupt and the run pauses. On resume LangGraph re-runs this
            # node and interrupt() returns the answer instead.
            answer = interrupt({"node_id": ctx.node_id, **waiting})
        except GraphInterrupt:
            ctx.emit("node_waiting", waiting)
            raise
        rejected = is_rejection(answer)
        return NodeResult(
            output=answer, fields={"approved": not rejected}, outlet="rejected" if rejected else "approved"
        )
