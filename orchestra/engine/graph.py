"""The workflow graph as stored (JSON), its pydantic models and their order, and the error type validation returns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# Node ids appear in templates (`nodes.draft.output`) and as LangGraph node names, so they must
# be short identifiers; hyphens are allowed for editor-made ids and reached as nodes['my-id'].
NODE_ID_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]{0,63}$"


@dataclass(frozen=True)
class GraphError:
    """One problem in a graph or in run inputs: where it is and what would be valid."""

    path: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


@dataclass(frozen=True)
class WorkflowCall:
    """A call of another workflow that a node makes, as its config says.

    `at` is where the call is in the node's config (the object holding `workflow`, and `inputs` when
    the config names them); `inputs` is None where a model chooses them at run time (an agent's tool).
    """

    at: str
    workflow: str
    inputs: tuple[str, ...] | None

    def path(self, key: str) -> str:
        return f"{self.at}.{key}" if self.at else key

    def under(self, prefix: str) -> WorkflowCall:
        return WorkflowCall(f"{prefix}.{self.at}" if self.at else prefix, self.workflow, self.inputs)


@dataclass(frozen=True)
class CalledWorkflow:
    """What a call of a workflow runs, as the host finds it: its name (for messages) and its graph."""

    name: str
    graph: dict[str, Any]


class GraphInvalid(ValueError):
    """Raised by `parse_graph` with every problem found, never just the first."""

    def __init__(self, errors: list[GraphError]):
        self.errors = errors
        super().__init__("; ".join(f"{e.path}: {e.message}" for e in errors))


class RetryPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    attempts: int = Field(1, ge=1, le=10, description="Total attempts, the first one included.")
    backoff_s: float = Field(0.0, ge=0, le=600, description="Delay before the second attempt.")
    backoff_factor: float = Field(2.0, ge=1, le=10, description="Each later delay is multiplied by this.")


class Position(BaseModel):
    x: float = 0
    y: float = 0


# Editor-only keys may ride along on nodes and edges (React Flow adds some), so unknown keys are
# ignored there; inside `config` they are errors, since a misspelt option would silently do nothing.
class NodeSpec(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str = Field(pattern=NODE_ID_PATTERN)
    type: str
    # The version of its type the node was built with; graphs from before versions existed are version 1.
    version: int = Field(1, ge=1)
    config: dict[str, Any] = Field(default_factory=dict)
    name: str | None = None
    position: Position | None = None
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    timeout_s: float | None = Field(None, gt=0, le=86400)
    on_error: Literal["fail", "continue", "branch"] = "fail"


class EdgeSpec(BaseModel):
    model_config = ConfigDict(extra="ignore")

    source: str
    target: str
    branch: str | None = None


class Graph(BaseModel):
    model_config = ConfigDict(extra="ignore")

    nodes: list[NodeSpec]
    edges: list[EdgeSpec] = Field(default_factory=list)

    def node(self, node_id: str) -> NodeSpec:
        return next(n for n in self.nodes if n.id == node_id)

    def input_node(self) -> NodeSpec:
        return next(n for n in self.nodes if n.type == "input")

    def incoming(self, node_id: str) -> list[EdgeSpec]:
        return list(self._edges_into.get(node_id, ()))

    def outgoing(self, node_id: str) -> list[EdgeSpec]:
        return list(self._edges_out_of.get(node_id, ()))

    # A Graph is not changed once built, so its adjacency is worked out once, on first use.
    @cached_property
    def _edges_into(self) -> dict[str, list[EdgeSpec]]:
        return _grouped(self.edges, lambda edge: edge.target)

    @cached_property
    def _edges_out_of(self) -> dict[str, list[EdgeSpec]]:
        return _grouped(self.edges, lambda edge: edge.source)

    def topological_order(self) -> list[str]:
        """Node ids, each after every node with an edge into it; nodes on or after a cycle are left out."""
        return TopologicalSort([spec.id for spec in self.nodes], self.edges).order

    def ancestors(self) -> dict[str, set[str]]:
        """Every node's ancestors, the nodes with a path to it: the ones whose results it may read.

        One pass in topological order, each node's set built from its sources' finished sets; nodes on or
        after a cycle are left out.
        """
        found: dict[str, set[str]] = {}
        for node_id in self.topological_order():
            upstream = found[node_id] = set()
            for edge in self._edges_into.get(node_id, ()):
                upstream.add(edge.source)
                upstream |= found[edge.source]
        return found


class TopologicalSort:
    """Kahn's algorithm, without recursion: a node is placed once every edge into it comes from a placed node.

    Nodes on a cycle, and nodes after one, stay unplaced; `drop` counts an edge as gone (one closing a
    cycle), which may let more of them be placed.
    """

    def __init__(self, node_ids: list[str], edges: list[EdgeSpec]):
        self.order: list[str] = []
        self.placed: set[str] = set()
        self._edges_out_of = _grouped(edges, lambda edge: edge.source)
        self._sources_left = dict.fromkeys(node_ids, 0)
        for edge in edges:
            self._sources_left[edge.target] += 1
        self._place([node_id for node_id, count in self._sources_left.items() if count == 0])

    def drop(self, edge: EdgeSpec) -> None:
        self._sources_left[edge.target] -= 1
        if self._sources_left[edge.target] == 0:
            self._place([edge.target])

    def _place(self, ready: list[str]) -> None:
        while ready:
            node_id = ready.pop()
            self.order.append(node_id)
            self.placed.add(node_id)
            for edge in self._edges_out_of.get(node_id, ()):
                self._sources_left[edge.target] -= 1
                if self._sources_left[edge.target] == 0:
                    ready.append(edge.target)


def _grouped(edges: list[EdgeSpec], key: Callable[[EdgeSpec], str]) -> dict[str, list[EdgeSpec]]:
    groups: dict[str, list[EdgeSpec]] = {}
    for edge in edges:
        groups.setdefault(key(edge), []).append(edge)
    return groups


def stored_nodes(graph: Any) -> list[dict[str, Any]]:
    """The nodes of a stored graph that are objects at all: drafts are stored with their problems."""
    nodes = graph.get("nodes") if isinstance(graph, dict) else None
    return [node for node in nodes if isinstance(node, dict)] if isinstance(nodes, list) else []


def untagged(loc: tuple[Any, ...] | list[Any], data: Any) -> list[Any]:
    """The error location without the tags pydantic inserts for discriminated unions: an agent's
    tools[0] of kind http errs at ('tools', 0, 'http', 'name'), which is tools[0].name in the data."""
    path, current = [], data
    for part in loc:
        if isinstance(current, dict) and isinstance(part, str) and part not in current and part in current.values():
            continue  # the tag: a value of the entry (its `kind`), not a key in it
        path.append(part)
        try:
            current = current[part]
        except (KeyError, IndexError, TypeError):
            current = None
    return path


def error_path(loc: tuple[Any, ...] | list[Any], prefix: str = "") -> str:
    """('nodes', 2, 'config', 'prompt') -> 'nodes[2].config.prompt' (the API's error path format)."""
    path = prefix
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path
