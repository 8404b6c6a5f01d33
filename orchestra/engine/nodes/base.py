"""What every node type is: a config model, its outlets and templates, and how it runs."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from orchestra.engine.graph import GraphError
from orchestra.engine.hooks import ModelReply, RunHooks
from orchestra.engine.templates import TemplateRef


class NodeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")


def template_field(default: Any = ..., **kwargs: Any) -> Any:
    """A config field holding a template; the editor offers `inputs.` / `nodes.` suggestions."""
    return Field(default, json_schema_extra={"format": "template"}, **kwargs)


def expression_field(default: Any = ..., **kwargs: Any) -> Any:
    """A config field holding a bare Jinja2 expression (a condition, a map's items)."""
    return Field(default, json_schema_extra={"format": "expression"}, **kwargs)


def model_field(default: Any = ..., **kwargs: Any) -> Any:
    """A config field naming a model; the editor offers the registry's models and `auto`."""
    return Field(default, json_schema_extra={"format": "model"}, **kwargs)


@dataclass
class NodeResult:
    output: Any
    fields: dict[str, Any] = field(default_factory=dict)  # readable as nodes.<id>.<field>
    outlet: str | None = None  # a named outlet taken (a condition branch, approved/rejected)


@dataclass
class NodeContext:
    """Per-attempt services for a node's `run`: the hooks, the template scope, usage accounting."""

    node_id: str
    attempt: int
    hooks: RunHooks
    scope: dict[str, Any]
    call_key_prefix: str
    replies: list[ModelReply] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def emit(self, event_type: str, data: dict[str, Any]) -> None:
        self.hooks.emit(event_type, self.node_id, data)

    def call_key(self, suffix: str) -> str:
        return f"{self.call_key_prefix}#{suffix}"

    def record_reply(self, reply: ModelReply) -> None:
        with self._lock:  # map items call models from several threads
            self.replies.append(reply)

    def for_item(self, index: int, item: Any) -> "NodeContext":
        """The context of one item of a map: `item`/`index` in scope, usage recorded on this one."""
        return NodeContext(self.node_id, self.attempt, self.hooks, {**self.scope, "item": item, "index": index},
                           f"{self.call_key_prefix}#m{index}", replies=self.replies, _lock=self._lock)


class NodeType:
    """A node type. Subclasses set the class attributes and override what they need."""

    type: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str]
    category: ClassVar[str]  # editor palette group: Flow, AI, Data, Integration, Human
    Config: ClassVar[type[NodeConfig]]
    dynamic_outlets: ClassVar[bool] = False  # outlets depend on config (a condition's branches)
    mappable: ClassVar[bool] = False  # may be a map's inline node

    def outlets(self, config: Any) -> list[str]:
        """Named outlets an edge's `branch` may use (besides the default outlet and `error`)."""
        return []

    def fields(self, config: Any) -> list[str] | None:
        """Names readable as nodes.<id>.<field> besides output/error/status; None: any name."""
        return []

    def templates(self, config: Any) -> list[TemplateRef]:
        return []

    def check(self, config: Any, *, workflow_exists: Callable[[str], bool] | None) -> list[GraphError]:
        """Checks beyond the config schema; paths relative to the node's config."""
        return []

    def prepare(self, config: Any, scope: dict[str, Any]) -> dict[str, Any]:
        """Render what the node will use (JSON); reported in node_started and handed to `run`."""
        return {}

    def run(self, config: Any, prepared: dict[str, Any], ctx: NodeContext) -> NodeResult:
        raise NotImplementedError
