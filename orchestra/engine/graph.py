"""The workflow graph as stored (JSON), its pydantic models, and the error type validation returns."""
from __future__ import annotations

from dataclasses import dataclass
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
        return [e for e in self.edges if e.target == node_id]

    def outgoing(self, node_id: str) -> list[EdgeSpec]:
        return [e for e in self.edges if e.source == node_id]

    def ancestors(self, node_id: str) -> set[str]:
        """Every node with a path to `node_id`: the ones whose results it may read."""
        seen: set[str] = set()
        frontier = [node_id]
        while frontier:
            for edge in self.incoming(frontier.pop()):
                if edge.source not in seen:
                    seen.add(edge.source)
                    frontier.append(edge.source)
        return seen


def error_path(loc: tuple[Any, ...] | list[Any], prefix: str = "") -> str:
    """('nodes', 2, 'config', 'prompt') -> 'nodes[2].config.prompt' (the API's error path format)."""
    path = prefix
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path
