"""`input`: the run's typed inputs; the one entry point of every graph."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from orchestra.engine.nodes.base import NodeConfig, NodeContext, NodeResult, NodeType

FIELD_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}


class InputField(NodeConfig):
    name: str = Field(pattern=FIELD_NAME_PATTERN, title="Name", description="Read as inputs.<name>.")
    type: Literal["string", "number", "boolean", "object", "array"] = Field("string", title="Type")
    required: bool = Field(False, title="Required")
    default: Any = Field(None, title="Default", description="Used when the input is absent.")
    description: str = Field("", title="Description", description="Shown to whoever starts the run.")

    @field_validator("default")
    @classmethod
    def default_has_the_type(cls, default: Any, info: ValidationInfo) -> Any:
        # A default is used as it is, never coerced, so a wrong one would reach the run's templates as it is.
        kind = info.data.get("type")  # absent when the type itself is invalid, which is reported already
        if default is None or kind is None:
            return default
        if isinstance(default, JSON_TYPES[kind]) and not (kind == "number" and isinstance(default, bool)):
            return default
        raise ValueError(
            f"the default of a {kind} field must be a {kind} (or null for none); "
            f"got {type(default).__name__} {default!r:.80}"
        )


class InputConfig(NodeConfig):
    fields: list[InputField] = Field(default_factory=list, title="Fields")

    @field_validator("fields")
    @classmethod
    def names_are_unique(cls, fields: list[InputField]) -> list[InputField]:
        names = [f.name for f in fields]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"field names must be unique; repeated: {', '.join(duplicates)}")
        return fields


class InputNode(NodeType):
    type = "input"
    title = "Input"
    description = "The run's inputs, typed and checked before the run starts. Exactly one per workflow."
    category = "Flow"
    Config = InputConfig

    def fields(self, config: InputConfig) -> list[str]:
        return [f.name for f in config.fields]

    def prepare(self, config: InputConfig, scope: dict[str, Any]) -> dict[str, Any]:
        return {"inputs": scope["inputs"]}

    def run(self, config: InputConfig, prepared: dict[str, Any], ctx: NodeContext) -> NodeResult:
        inputs = prepared["inputs"]
        return NodeResult(output=inputs, fields=dict(inputs))


def inputs_json_schema(graph: dict[str, Any]) -> dict[str, Any]:
    """The JSON Schema of a workflow's inputs (its input node's fields): what a caller must send
    when the workflow is a tool, for an agent or an MCP client."""
    node = next((n for n in graph.get("nodes", []) if n.get("type") == "input"), {})
    config = InputNode().parse_config(node.get("config") or {}, node.get("version", 1))
    properties: dict[str, Any] = {}
    for field in config.fields:
        prop: dict[str, Any] = {"type": field.type}
        if field.description:
            prop["description"] = field.description
        if field.default is not None:
            prop["default"] = field.default
        properties[field.name] = prop
    return {
        "type": "object",
        "properties": properties,
        "required": [f.name for f in config.fields if f.required],
        "additionalProperties": False,
    }
