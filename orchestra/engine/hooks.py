"""What a run needs from its host (events, models, sub-workflows, cancellation) and what it returns.

The engine takes these as plain callables so it stays framework-free: the Django app wires them to
the database, Celery and the model router; tests pass ordinary functions.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable


class _NotSet:
    def __repr__(self) -> str:
        return "NOT_SET"


NOT_SET: Any = _NotSet()  # "no resume value", distinct from None (a valid answer)


@dataclass
class ModelCall:
    node_id: str
    call_key: str  # unique and deterministic within a run, e.g. "draft#a1#j0" or "each#a1#m3#j0"
    model: str  # as configured: "auto" or a registry name
    messages: list[dict[str, str]]
    temperature: float | None
    max_tokens: int | None
    stop: list[str] | None
    metadata: dict[str, Any]
    on_token: Callable[[str], None] | None = None  # called with each streamed text delta


@dataclass
class ModelReply:
    text: str
    model: str  # the model that actually answered
    tokens_in: int = 0
    tokens_out: int = 0
    latency_ms: float = 0.0
    cost: float = 0.0


@dataclass
class RunHooks:
    emit: Callable[[str, str | None, dict[str, Any]], None]  # (event_type, node_id, data)
    call_model: Callable[[ModelCall], ModelReply]
    run_workflow: Callable[[str, dict[str, Any]], dict[str, Any]] | None = None  # raise on failure
    is_cancelled: Callable[[], bool] = lambda: False  # checked before each node starts
    http_allow_private: bool = False


@dataclass
class RunOutcome:
    status: str  # "succeeded" | "failed" | "waiting" | "cancelled"
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    waiting_node: str | None = None
    waiting: dict[str, Any] | None = None  # {"prompt", "timeout_s", "default"}
