"""Node type versions in stored graphs: which version built a node, and reading old nodes as current ones.

A node's `version` names the version of its type it was built with; a node without one is version 1 (every
graph from before versions existed). Reading a graph to run it upgrades each older node's config through
its type's `migrate`, so a published workflow keeps running after its node types change.
"""

from __future__ import annotations

import copy
from typing import Any

from orchestra.engine.graph import stored_nodes
from orchestra.engine.nodes import NODE_TYPES


def upgraded(node: dict[str, Any]) -> dict[str, Any]:
    """A valid graph's node as its type's current version reads it (config migrated, version current)."""
    node_type = NODE_TYPES[node["type"]]
    version = node.get("version", 1)
    if version == node_type.version:
        return node
    return {**node, "config": node_type.upgrade(node.get("config") or {}, version), "version": node_type.version}


def with_versions(graph: Any, previous: Any = None) -> Any:
    """The graph to store, with `version` written where a node (or a map's inline node) has none.

    A node the draft had already (same id and type) keeps the version it had, since an editor that knows
    no versions sends nodes without one; a node added since gets its type's current version. Version 1 is
    left unwritten, as a missing version means it, so graphs of types that never changed stay as sent.
    """
    if not isinstance(graph, dict) or not isinstance(graph.get("nodes"), list):
        return graph
    before = {node.get("id"): node for node in stored_nodes(previous)}
    graph = copy.deepcopy(graph)
    for node in graph["nodes"]:
        if isinstance(node, dict):
            _write_version(node, before.get(node.get("id")))
    return graph


def _write_version(node: dict[str, Any], before: Any) -> None:
    node_type = NODE_TYPES.get(node.get("type"))
    if node_type is None:
        return
    before = before if isinstance(before, dict) and before.get("type") == node.get("type") else None
    if "version" not in node:
        version = before.get("version", 1) if before is not None else node_type.version
        if version != 1:
            node["version"] = version
    config, old_config = node.get("config"), (before or {}).get("config")
    for key in node_type.nested_nodes:
        if isinstance(config, dict) and isinstance(config.get(key), dict):
            _write_version(config[key], old_config.get(key) if isinstance(old_config, dict) else None)
