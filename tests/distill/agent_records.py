"""Agent trajectories as trace records: an order-lookup agent with one tool, in OpenAI's shapes."""

from __future__ import annotations

import json

LOOKUP = {
    "type": "function",
    "function": {
        "name": "lookup_order",
        "description": "An order's status.",
        "parameters": {"type": "object", "required": ["order_id"], "properties": {"order_id": {"type": "string"}}},
    },
}
ANSWER_FORMAT = {
    "type": "json_schema",
    "json_schema": {
        "name": "answer",
        "schema": {"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}},
    },
}


def call(name: str, arguments: dict, call_id: str = "call_1") -> dict:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}


def trajectory(
    n: int, *, arguments: dict | None = None, result: str | None = None, answer: str | None = None, **extra
) -> dict:
    """Look order n up, read its status, answer it as JSON: two assistant turns, both targets."""
    order = f"A{n}"
    status = ["shipped", "lost", "late"][n % 3]
    messages = [
        {"role": "system", "content": "You help customers."},
        {"role": "user", "content": f"Where is order {order}?"},
        {"role": "assistant", "content": None, "tool_calls": [call("lookup_order", arguments or {"order_id": order})]},
        {"role": "tool", "tool_call_id": "call_1", "content": result or json.dumps({"status": status})},
    ]
    return {
        "messages": messages,
        "output": answer or json.dumps({"status": status}),
        "tools": [LOOKUP],
        "trajectory": True,
        "turns": [{"tool_choice": "auto"}, {"tool_choice": "none", "response_format": ANSWER_FORMAT}],
        "model": "teacher",
        "node": "support",
        "status": "ok",
        **extra,
    }
