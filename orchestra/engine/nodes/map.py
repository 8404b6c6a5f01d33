"""`map`: run an inline node or a workflow once per item of a list, a few at a time, results in order."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from pydantic import Field, ValidationError, model_validator

from orchestra.engine.graph import GraphError, error_path
from orchestra.engine.nodes.base import NodeConfig, NodeContext, NodeResult, NodeType, expression_field
from orchestra.engine.nodes.subworkflow import INPUTS_FIELD, check_workflow, run_workflow
from orchestra.engine.templates import TemplateRef, evaluate, json_value, render_value

ITEM_NAMES = frozenset({"item", "index"})


class InlineNode(NodeConfig):
    type: str = Field(title="Node type", description="A node type that can run per item: llm, template, http, subworkflow.")
    config: dict[str, Any] = Field(default_factory=dict, title="Config")


class MapConfig(NodeConfig):
    items: str = expression_field(title="Items", description="An expression yielding a list, e.g. nodes.split.output")
    node: InlineNode | None = Field(None, title="Node", description="Run per item; its templates also see item and index.")
    workflow: str | None = Field(None, title="Workflow", description="Or: a workflow id to run per item.",
                                 json_schema_extra={"format": "workflow"})
    inputs: dict[str, str] = INPUTS_FIELD
    concurrency: int = Field(4, ge=1, le=32, title="Concurrency", description="Items running at once.")

    @model_validator(mode="after")
    def node_or_workflow(self) -> "MapConfig":
        if (self.node is None) == (self.workflow is None):
            raise ValueError("set exactly one of node (an inline node) or workflow (a workflow id)")
        if self.node is not None and self.inputs:
            raise ValueError("inputs are for a workflow; an inline node's templates read item directly")
        return self


def _inline(config: MapConfig) -> tuple[NodeType, Any] | None:
    """The inline node's type and parsed config, or None when they are invalid (reported by check)."""
    from orchestra.engine.nodes import NODE_TYPES  # the table imports this module

    node_type = NODE_TYPES.get(config.node.type) if config.node else None
    if node_type is None or not node_type.mappable:
        return None
    try:
        return node_type, node_type.Config.model_validate(config.node.config)
    except ValidationError:
        return None


class MapNode(NodeType):
    type = "map"
    title = "Map"
    description = "Run a node or a workflow for each item of a list, with a concurrency cap; the output is the list of results in item order."
    category = "Flow"
    Config = MapConfig

    def templates(self, config: MapConfig) -> list[TemplateRef]:
        refs = [TemplateRef("items", config.items, kind="expression")]
        refs += [TemplateRef(f"inputs.{name}", source, extra_names=ITEM_NAMES) for name, source in config.inputs.items()]
        inline = _inline(config)
        if inline:
            node_type, inner = inline
            refs += [TemplateRef(f"node.config.{ref.path}", ref.source, ref.kind, ref.extra_names | ITEM_NAMES)
                     for ref in node_type.templates(inner)]
        return refs

    def check(self, config: MapConfig, *, workflow_exists: Callable[[str], bool] | None) -> list[GraphError]:
        from orchestra.engine.nodes import NODE_TYPES

        if config.node is None:
            return check_workflow(config.workflow, workflow_exists)
        node_type = NODE_TYPES.get(config.node.type)
        if node_type is None or not node_type.mappable:
            mappable = sorted(t for t, nt in NODE_TYPES.items() if nt.mappable)
            return [GraphError("node.type", f"node type {config.node.type!r} cannot run inside a map; "
                                            f"use one of {', '.join(mappable)}")]
        try:
            inner = node_type.Config.model_validate(config.node.config)
        except ValidationError as error:
            return [GraphError(error_path(e["loc"], "node.config"), e["msg"]) for e in error.errors()]
        return [GraphError(f"node.config.{e.path}", e.message)
                for e in node_type.check(inner, workflow_exists=workflow_exists)]

    def prepare(self, config: MapConfig, scope: dict[str, Any]) -> dict[str, Any]:
        items = evaluate(config.items, scope)
        if not isinstance(items, (list, tuple)):
            raise ValueError(f"items must be a list; {config.items!r} gave {type(items).__name__}")
        return {"items": json_value(list(items), config.items)}

    def run(self, config: MapConfig, prepared: dict[str, Any], ctx: NodeContext) -> NodeResult:
        items = prepared["items"]
        inline = _inline(config)

        def run_item(index: int) -> Any:
            item_ctx = ctx.for_item(index, items[index])
            try:
                if inline:
                    node_type, inner = inline
                    return node_type.run(inner, node_type.prepare(inner, item_ctx.scope), item_ctx).output
                return run_workflow(ctx.hooks, config.workflow, render_value(config.inputs, item_ctx.scope))
            except Exception as error:
                raise ValueError(f"item {index}: {error}") from error

        if not items:
            return NodeResult(output=[])
        with ThreadPoolExecutor(max_workers=min(config.concurrency, len(items)),
                                thread_name_prefix=f"map-{ctx.node_id}") as pool:
            return NodeResult(output=list(pool.map(run_item, range(len(items)))))
