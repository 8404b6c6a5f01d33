"""A test-only node type in two versions: version 2 renames version 1's `text` to `greeting` and adds
`punctuation`, whose default would change what old nodes print, so the migration sets it to what they did."""

from __future__ import annotations

from typing import Any

from orchestra.engine.nodes.base import NodeConfig, NodeContext, NodeResult, NodeType, template_field
from orchestra.engine.templates import TemplateRef, render


class GreetV1Config(NodeConfig):
    text: str = template_field(title="Text")


class GreetV1(NodeType):
    type = "greet"
    title = "Greet"
    description = "Say something."
    category = "Data"
    Config = GreetV1Config
    mappable = True

    def templates(self, config: GreetV1Config) -> list[TemplateRef]:
        return [TemplateRef("text", config.text)]

    def prepare(self, config: GreetV1Config, scope: dict[str, Any]) -> dict[str, Any]:
        return {"text": render(config.text, scope)}

    def run(self, config: GreetV1Config, prepared: dict[str, Any], ctx: NodeContext) -> NodeResult:
        return NodeResult(output=prepared["text"])


class GreetV2Config(NodeConfig):
    greeting: str = template_field(title="Greeting")
    punctuation: str = "!"


class GreetV2(GreetV1):
    Config = GreetV2Config
    version = 2

    def migrate(self, config: dict[str, Any], from_version: int) -> dict[str, Any]:
        if from_version < 2:
            config["greeting"] = config.pop("text")
            config["punctuation"] = ""  # version 1 printed none
        return config

    def templates(self, config: GreetV2Config) -> list[TemplateRef]:
        return [TemplateRef("greeting", config.greeting)]

    def prepare(self, config: GreetV2Config, scope: dict[str, Any]) -> dict[str, Any]:
        return {"text": render(config.greeting, scope) + config.punctuation}
