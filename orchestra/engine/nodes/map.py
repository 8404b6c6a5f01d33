"""`map`: run an inline node or a workflow once per item of a list, a few at a time, results in order.

The node's run policy applies to each item, not to the map as a whole: a failing item is retried on its
own (a retry of the whole map would redo the items that succeeded), and one that still fails follows
`on_error`: with `continue` its slot holds {"error": "..."} and the others keep their results; with
`fail` or `branch` it fails the node, and items not started yet are not run. A cancel of the run stops
the map within about a second: items not started never start, and those in flight are abandoned.

Each item that succeeds is recorded (an item_succeeded event with its result), so whenever the node
runs again — a retry of the failed run, a resume after a wait or after a crashed worker — the items that
succeeded keep their results and only the others run: a map of 100 requests with one failure sends one
request on retry, not 100. An item whose workflow run waits for an answer (an approval in it) makes the
node wait once the other items are done, on one such child run at a time; answered, the map goes on from
there, and a child run that was still running is found again by its key (item and attempt).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from pydantic import Field, ValidationError, model_validator
from pydantic.json_schema import SkipJsonSchema

from orchestra.engine.graph import GraphError, WorkflowCall, error_path
from orchestra.engine.hooks import RunCancelled, WorkflowWaiting
from orchestra.engine.nodes.base import (
    CANCEL_POLL_S,
    NodeConfig,
    NodeContext,
    NodeResult,
    NodeType,
    describe,
    expression_field,
)
from orchestra.engine.nodes.subworkflow import INPUTS_FIELD, run_workflow, until_answered
from orchestra.engine.templates import TemplateRef, evaluate, json_value, render_value

ITEM_NAMES = frozenset({"item", "index"})


class InlineNode(NodeConfig):
    type: str = Field(
        title="Node type", description="A node type that can run per item: llm, template, http, subworkflow."
    )
    # The version of its type, as on a graph's node; written by the editor and the API, so not in the form.
    version: SkipJsonSchema[int] = Field(1, ge=1)
    config: dict[str, Any] = Field(default_factory=dict, title="Config")


class MapConfig(NodeConfig):
    items: str = expression_field(title="Items", description="An expression yielding a list, e.g. nodes.split.output")
    node: InlineNode | None = Field(
        None, title="Node", description="Run per item; its templates also see item and index."
    )
    workflow: str | None = Field(
        None,
        title="Workflow",
        description="Or: a workflow id to run per item.",
        json_schema_extra={"format": "workflow"},
    )
    inputs: dict[str, str] = INPUTS_FIELD
    concurrency: int = Field(4, ge=1, le=32, title="Concurrency", description="Items running at once.")

    @model_validator(mode="after")
    def node_or_workflow(self) -> MapConfig:
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
        return node_type, node_type.parse_config(config.node.config, config.node.version)
    except ValueError:  # pydantic's ValidationError is one
        return None


class ItemFailed(Exception):
    """An item failed (after its retries), and so does the node: on_error is fail or branch."""


class _ItemWaiting(Exception):
    """An attempt at an item ran a workflow whose run waits for an answer."""

    def __init__(self, waiting: WorkflowWaiting, attempt: int):
        self.waiting, self.attempt = waiting, attempt
        super().__init__(str(waiting))


@dataclass
class _Outcome:
    result: Any = None
    error: str | None = None
    waiting: _ItemWaiting | None = None


class MapNode(NodeType):
    type = "map"
    title = "Map"
    description = (
        "Run a node or a workflow for each item of a list, with a concurrency cap; the output is the "
        "list of results in item order."
    )
    category = "Flow"
    Config = MapConfig
    nested_nodes = ("node",)
    policy_per_item = True

    def fields(self, config: MapConfig) -> list[str]:
        return ["failed"]  # the indexes of the items that failed (with on_error continue)

    def templates(self, config: MapConfig) -> list[TemplateRef]:
        refs = [TemplateRef("items", config.items, kind="expression")]
        refs += [
            TemplateRef(f"inputs.{name}", source, extra_names=ITEM_NAMES) for name, source in config.inputs.items()
        ]
        inline = _inline(config)
        if inline:
            node_type, inner = inline
            refs += [
                TemplateRef(f"node.config.{ref.path}", ref.source, ref.kind, ref.extra_names | ITEM_NAMES)
                for ref in node_type.templates(inner)
            ]
        return refs

    def check(self, config: MapConfig) -> list[GraphError]:
        from orchestra.engine.nodes import NODE_TYPES

        if config.node is None:
            return []
        node_type = NODE_TYPES.get(config.node.type)
        if node_type is None or not node_type.mappable:
            mappable = sorted(t for t, nt in NODE_TYPES.items() if nt.mappable)
            return [
                GraphError(
                    "node.type",
                    f"node type {config.node.type!r} cannot run inside a map; use one of {', '.join(mappable)}",
                )
            ]
        if config.node.version > node_type.version:
            return [GraphError("node.version", node_type.unknown_version(config.node.version))]
        try:
            current = node_type.upgrade(config.node.config, config.node.version)
        except ValueError as error:  # a migration that could not read the old config
            return [GraphError("node.config", str(error))]
        try:
            inner = node_type.Config.model_validate(current)
        except ValidationError as error:
            return [GraphError(error_path(e["loc"], "node.config"), e["msg"]) for e in error.errors()]
        return [GraphError(f"node.config.{e.path}", e.message) for e in node_type.check(inner)]

    def calls(self, config: MapConfig) -> list[WorkflowCall]:
        if config.workflow is not None:
            return [WorkflowCall("", config.workflow, tuple(config.inputs))]
        inline = _inline(config)
        return [call.under("node.config") for call in inline[0].calls(inline[1])] if inline else []

    def prepare(self, config: MapConfig, scope: dict[str, Any]) -> dict[str, Any]:
        items = evaluate(config.items, scope)
        if not isinstance(items, (list, tuple)):
            raise ValueError(f"items must be a list; {config.items!r} gave {type(items).__name__}")
        return {"items": json_value(list(items), config.items)}

    def run(self, config: MapConfig, prepared: dict[str, Any], ctx: NodeContext) -> NodeResult:
        items = prepared["items"]
        run_once = _item_runner(config, ctx)
        keep_going = ctx.on_error == "continue"
        failing = threading.Event()  # an item failed the node: the ones not started need not run
        recorded = ctx.hooks.recorded_items(ctx.node_id) if items else {}

        def run_item(index: int, attempt: int = 1, answer: tuple[Any, str] | None = None) -> _Outcome | None:
            earlier = recorded.get(index)
            if earlier is not None and earlier.get("of") == _fingerprint(items[index]):
                return _Outcome(result=earlier.get("result"))
            if failing.is_set() or ctx.hooks.is_cancelled():
                return None
            try:
                return _Outcome(result=_with_retries(run_once, index, items[index], ctx, attempt, answer))
            except _ItemWaiting as waiting:
                return _Outcome(waiting=waiting)
            except Exception as error:  # noqa: BLE001 (whatever fails an item is that item's outcome)
                if not keep_going:
                    failing.set()
                return _Outcome(error=describe(error))

        if not items:
            return NodeResult(output=[], fields={"failed": []})
        pool = ThreadPoolExecutor(
            max_workers=min(config.concurrency, len(items)), thread_name_prefix=f"map-{ctx.node_id}"
        )
        try:
            futures = [pool.submit(run_item, index) for index in range(len(items))]
            while wait(futures, timeout=CANCEL_POLL_S).not_done:
                if ctx.hooks.is_cancelled():  # items in flight are abandoned, the others never start
                    raise RunCancelled(f"cancelled while map {ctx.node_id!r} was running")
            outcomes = [future.result() for future in futures]
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        self._failed(outcomes, keep_going)  # before waiting on any item: a failed one ends the node now
        outcomes = until_answered(
            ctx,
            outcomes,
            waiting_of=lambda outcome: outcome.waiting.waiting if outcome is not None and outcome.waiting else None,
            again=lambda index, outcome, answer: run_item(index, outcome.waiting.attempt, answer),
            about=lambda index: {"item": index},
        )
        failed = self._failed(outcomes, keep_going)
        return NodeResult(
            output=[{"error": o.error} if o.error is not None else o.result for o in outcomes],
            fields={"failed": failed},
        )

    @staticmethod
    def _failed(outcomes: list[_Outcome | None], keep_going: bool) -> list[int]:
        """The indexes of the items that failed; ItemFailed for the first unless on_error is continue."""
        failed = [index for index, outcome in enumerate(outcomes) if outcome is not None and outcome.error is not None]
        if failed and not keep_going:
            raise ItemFailed(f"item {failed[0]}: {outcomes[failed[0]].error}")
        return failed


def _item_runner(config: MapConfig, ctx: NodeContext) -> Callable[[NodeContext], Any]:
    """How one attempt at one item runs, given that attempt's context."""
    inline = _inline(config)
    if inline:
        node_type, inner = inline
        return lambda item_ctx: node_type.run(inner, node_type.prepare(inner, item_ctx.scope), item_ctx).output
    return lambda item_ctx: run_workflow(
        ctx.hooks,
        config.workflow,
        render_value(config.inputs, item_ctx.scope),
        key=item_ctx.call_key("w"),
        answer=item_ctx.child_answer,
    )


def _with_retries(
    run_once: Callable[[NodeContext], Any],
    index: int,
    item: Any,
    ctx: NodeContext,
    first_attempt: int = 1,
    answer: tuple[Any, str] | None = None,
) -> Any:
    """One item under the node's retry policy: attempts with backoff, as a node's are; none once the run is
    cancelled. An attempt whose workflow run waits is not a failure: it is taken up again, answered, from
    `first_attempt`."""
    policy = ctx.retry
    for attempt in range(first_attempt, policy.attempts + 1):
        try:
            result = run_once(ctx.for_item(index, item, attempt, answer))
        except WorkflowWaiting as waiting:
            raise _ItemWaiting(waiting, attempt) from None
        except Exception as error:
            if attempt == policy.attempts or ctx.hooks.is_cancelled():
                ctx.emit("item_failed", {"item": index, "error": describe(error), "attempts": attempt})
                raise
            delay = policy.backoff_s * policy.backoff_factor ** (attempt - 1)
            ctx.emit("item_retrying", {"item": index, "error": describe(error), "attempt": attempt, "delay_s": delay})
            time.sleep(delay)
            continue
        ctx.emit("item_succeeded", {"item": index, "of": _fingerprint(item), "result": result})
        return result
    raise AssertionError("unreachable: RetryPolicy.attempts >= 1")


def _fingerprint(item: Any) -> str:
    """Which item a recorded result is of: a re-run keeps it only for the same item at the same index."""
    return hashlib.sha256(json.dumps(item, sort_keys=True, default=str).encode()).hexdigest()[:16]
