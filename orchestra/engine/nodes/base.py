"""What every node type is: a config model, its outlets and templates, and how it runs."""

from __future__ import annotations

import contextvars
import copy
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from orchestra.engine.graph import GraphError, RetryPolicy, WorkflowCall
from orchestra.engine.hooks import ModelReply, RunCancelled, RunHooks
from orchestra.engine.templates import TemplateRef


T = TypeVar("T")


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


CANCEL_POLL_S = 0.1


def until_cancelled(function: Callable[[], T], ctx: NodeContext) -> T:
    """`function`'s result, or RunCancelled as soon as the run is cancelled: blocking work (an HTTP
    request) is left on a daemon thread, its result dropped, so a cancel does not wait for it."""
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def target() -> None:
        try:
            outcome["result"] = function()
        except BaseException as error:  # noqa: BLE001 (handed back to the waiting thread as is)
            outcome["error"] = error
        finally:
            done.set()

    threading.Thread(target=contextvars.copy_context().run, args=(target,), daemon=True).start()
    while not done.wait(CANCEL_POLL_S):
        if ctx.hooks.is_cancelled():
            raise RunCancelled(f"cancelled while node {ctx.node_id!r} was running")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def describe(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


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
    # The node's run policy, for a node type that applies it to each item itself (a map).
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    on_error: str = "fail"
    # In a map item's context: the item's index (its thread cannot interrupt the run, so a child run that
    # waits is the map's to wait on), and the answer the map got for that child run, (value, child node).
    item: int | None = None
    child_answer: tuple[Any, str] | None = None

    def emit(self, event_type: str, data: dict[str, Any]) -> None:
        self.hooks.emit(event_type, self.node_id, data)

    def call_key(self, suffix: str) -> str:
        return f"{self.call_key_prefix}#{suffix}"

    def record_reply(self, reply: ModelReply) -> None:
        with self._lock:  # map items call models from several threads
            self.replies.append(reply)

    def for_item(
        self, index: int, item: Any, attempt: int = 1, child_answer: tuple[Any, str] | None = None
    ) -> NodeContext:
        """The context of one attempt at one item of a map: `item`/`index` in scope, usage recorded on this one.

        A retried item gets call keys of its own, so its model calls are made again, not replayed.
        """
        key = f"{self.call_key_prefix}#m{index}" + (f"a{attempt}" if attempt > 1 else "")
        return NodeContext(
            self.node_id,
            self.attempt,
            self.hooks,
            {**self.scope, "item": item, "index": index},
            key,
            replies=self.replies,
            _lock=self._lock,
            item=index,
            child_answer=child_answer,
        )


class NodeType:
    """A node type. Subclasses set the class attributes and override what they need.

    Versions: `version` is the current one, an integer counted up from 1, and `Config` reads it. A change
    that would break stored configs (a field renamed or removed, a default that changes what a node does)
    raises `version` and teaches `migrate` to turn a config of any older version into a current one, so
    published workflows keep running; a change that breaks nothing (a new optional field) keeps it.
    """

    type: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str]
    category: ClassVar[str]  # editor palette group: Flow, AI, Data, Integration, Human
    Config: ClassVar[type[NodeConfig]]
    version: ClassVar[int] = 1
    dynamic_outlets: ClassVar[bool] = False  # outlets depend on config (a condition's branches)
    mappable: ClassVar[bool] = False  # may be a map's inline node
    nested_nodes: ClassVar[tuple[str, ...]] = ()  # config keys holding a node {type, config, version} (a map's)
    policy_per_item: ClassVar[bool] = False  # retry and on_error apply to each item, inside run (a map)

    @property
    def versions(self) -> list[int]:
        return list(range(1, self.version + 1))

    def migrate(self, config: dict[str, Any], from_version: int) -> dict[str, Any]:
        """A config written for `from_version` (older than `version`), as the current version reads it.

        `config` is a copy, free to change. Keep every step, e.g. `if from_version < 2: ...` then
        `if from_version < 3: ...`, so that a config of any older version upgrades.
        """
        return config

    def upgrade(self, config: dict[str, Any], version: int) -> dict[str, Any]:
        """A stored node's config, built with `version` of this type, as the current version reads it."""
        if version > self.version:
            raise ValueError(self.unknown_version(version))
        if version == self.version:
            return config
        try:
            return self.migrate(copy.deepcopy(config), version)
        except Exception as error:  # a stored config may never have been valid (a draft): its problem, not a crash
            raise ValueError(
                f"cannot be upgraded from version {version} to {self.version}: {describe(error)}"
            ) from error

    def unknown_version(self, version: int) -> str:
        return (
            f"node type {self.type!r} has versions {', '.join(map(str, self.versions))}; version {version} "
            "comes from a newer Orchestra"
        )

    def parse_config(self, config: dict[str, Any], version: int = 1) -> Any:
        return self.Config.model_validate(self.upgrade(config, version))

    def outlets(self, config: Any) -> list[str]:
        """Named outlets an edge's `branch` may use (besides the default outlet and `error`)."""
        return []

    def fields(self, config: Any) -> list[str] | None:
        """Names readable as nodes.<id>.<field> besides output/error/status; None: any name."""
        return []

    def templates(self, config: Any) -> list[TemplateRef]:
        return []

    def check(self, config: Any) -> list[GraphError]:
        """Checks beyond the config schema; paths relative to the node's config."""
        return []

    def calls(self, config: Any) -> list[WorkflowCall]:
        """The other workflows this node runs, checked at save against the workspace (they exist, take the
        inputs sent, and never lead back here)."""
        return []

    def prepare(self, config: Any, scope: dict[str, Any]) -> dict[str, Any]:
        """Render what the node will use (JSON); reported in node_started and handed to `run`."""
        return {}

    def run(self, config: Any, prepared: dict[str, Any], ctx: NodeContext) -> NodeResult:
        raise NotImplementedError
