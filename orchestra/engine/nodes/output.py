"""`output`: names the run's results; each value is a template."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from orchestra.engine.nodes.base import NodeConfig, NodeContext, NodeResult, NodeType
from orchestra.engine.templates import TemplateRef, render_value


class OutputConfig(NodeConfig):
    outputs: dict[str, str] = Field(
        default_factory=dict,
        title="Outputs",
        description="name -> template. A template that is one {{ expression }} keeps its value's type.",
        json_schema_extra={"additionalProperties": {"type": "string", "format": "template"}},
    )


class OutputNode(NodeType):
    type = "output"
    title = "Output"
    description = "The run's outputs, rendered from templates. When several output nodes run, their outputs merge."
    category = "Flow"
    Config = OutputConfig

    def templates(self, config: OutputConfig) -> list[TemplateRef]:
        return [TemplateRef(f"outputs.{name}", source) for name, source in config.outputs.items()]

    def prepare(self, config: OutputConfig, scope: dict[str, Any]) -> dict[str, Any]:
        return {"outputs": render_value(config.outputs, scope)}

    def run(self, config: OutputConfig, prepared: dict[str, Any], ctx: NodeContext) -> NodeResult:
        return NodeResult(output=prepared["outputs"])
