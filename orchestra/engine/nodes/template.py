"""`template`: render text (or JSON) from earlier results; no model involved."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import Field

from orchestra.engine.nodes.base import NodeConfig, NodeContext, NodeResult, NodeType, template_field
from orchestra.engine.templates import TemplateRef, render


class TemplateConfig(NodeConfig):
    template: str = template_field(title="Template", description="Jinja2 over inputs and nodes.")
    output: Literal["text", "json"] = Field(
        "text", title="Output", description="json: parse the rendered text as JSON."
    )


class TemplateNode(NodeType):
    type = "template"
    title = "Template"
    description = "Render text from inputs and earlier nodes' results, or build a JSON value."
    category = "Data"
    Config = TemplateConfig
    mappable = True

    def templates(self, config: TemplateConfig) -> list[TemplateRef]:
        return [TemplateRef("template", config.template)]

    def prepare(self, config: TemplateConfig, scope: dict[str, Any]) -> dict[str, Any]:
        return {"text": render(config.template, scope)}

    def run(self, config: TemplateConfig, prepared: dict[str, Any], ctx: NodeContext) -> NodeResult:
        text = prepared["text"]
        if config.output == "text":
            return NodeResult(output=text)
        try:
            return NodeResult(output=json.loads(text))
        except json.JSONDecodeError as error:
            raise ValueError(f"rendered text is not JSON ({error}): {text[:200]!r}") from error
