"""The node types, in one table. Adding a type: one new file here and one line below."""

from __future__ import annotations

from typing import Any

from orchestra.engine.nodes.agent import AgentNode
from orchestra.engine.nodes.approval import ApprovalNode
from orchestra.engine.nodes.base import NodeContext, NodeResult, NodeType
from orchestra.engine.nodes.condition import ConditionNode
from orchestra.engine.nodes.http import HTTPNode
from orchestra.engine.nodes.input import InputNode
from orchestra.engine.nodes.llm import LLMNode
from orchestra.engine.nodes.map import MapNode
from orchestra.engine.nodes.output import OutputNode
from orchestra.engine.nodes.subworkflow import SubworkflowNode
from orchestra.engine.nodes.template import TemplateNode

NODE_TYPES: dict[str, NodeType] = {
    node_type.type: node_type
    for node_type in (
        InputNode(),
        OutputNode(),
        LLMNode(),
        AgentNode(),
        TemplateNode(),
        ConditionNode(),
        HTTPNode(),
        MapNode(),
        ApprovalNode(),
        SubworkflowNode(),
    )
}


def node_type_catalog() -> list[dict[str, Any]]:
    """Every node type for the editor's palette, with the JSON Schema its config form is built from.

    `version` is the one new nodes are built with (and the schema's); `versions` all that stored nodes may name.
    """
    return [
        {
            "type": t.type,
            "title": t.title,
            "description": t.description,
            "category": t.category,
            "version": t.version,
            "versions": t.versions,
            "config_schema": t.Config.model_json_schema(),
            "outlets": t.outlets(None),
            **({"dynamic": True} if t.dynamic_outlets else {}),
        }
        for t in NODE_TYPES.values()
    ]


__all__ = ["NODE_TYPES", "NodeContext", "NodeResult", "NodeType", "node_type_catalog"]
