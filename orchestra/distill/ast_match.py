"""BFCL-style AST matching of tool calls (the Berkeley Function Calling Leaderboard's "AST" check):
a predicted call matches an expected one when it names the same function with the same argument
keys and equal values. Key order never matters, numbers compare by value (2 == 2.0, never True),
lists compare item by item, and the calls of one turn match as a multiset (parallel calls may come
in any order).

Calls are accepted in OpenAI's shape ({"function": {"name", "arguments": JSON text}}) or as
{"name", "arguments": object | JSON text}.
"""

from __future__ import annotations

import json
from typing import Any

MISSING = object()


def call_parts(call: dict[str, Any]) -> tuple[str | None, Any]:
    """(name, arguments as a value) of a call; the arguments are MISSING when they are not JSON."""
    function = call.get("function", call)
    arguments = function.get("arguments", {})
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError:
            arguments = MISSING
    return function.get("name"), arguments


def values_equal(predicted: Any, expected: Any) -> bool:
    if isinstance(expected, bool) or isinstance(predicted, bool):
        return type(predicted) is type(expected) and predicted == expected
    if isinstance(expected, (int, float)) and isinstance(predicted, (int, float)):
        return float(predicted) == float(expected)
    if isinstance(expected, dict) and isinstance(predicted, dict):
        return predicted.keys() == expected.keys() and all(values_equal(predicted[k], v) for k, v in expected.items())
    if isinstance(expected, list) and isinstance(predicted, list):
        return len(predicted) == len(expected) and all(map(values_equal, predicted, expected))
    return type(predicted) is type(expected) and predicted == expected


def call_matches(predicted: dict[str, Any], expected: dict[str, Any]) -> bool:
    """Same function name, same argument keys, equal values."""
    (name, arguments), (want_name, want_arguments) = call_parts(predicted), call_parts(expected)
    return name == want_name and arguments is not MISSING and values_equal(arguments, want_arguments)


def calls_match(predicted: list[dict[str, Any]] | None, expected: list[dict[str, Any]] | None) -> bool:
    """The calls of one turn against the expected ones, in any order; no calls match no calls."""
    left = list(predicted or [])
    for want in expected or []:
        found = next((i for i, call in enumerate(left) if call_matches(call, want)), None)
        if found is None:
            return False
        left.pop(found)
    return not left


def names_match(predicted: list[dict[str, Any]] | None, expected: list[dict[str, Any]] | None) -> bool:
    """The same functions called (as a multiset), whatever the arguments."""
    return sorted(str(call_parts(c)[0]) for c in predicted or []) == sorted(
        str(call_parts(c)[0]) for c in expected or []
    )


def answers_equal(predicted: str, expected: str) -> bool:
    """The same text (ignoring surrounding whitespace), or equal JSON values."""
    if predicted.strip() == expected.strip():
        return True
    try:
        return values_equal(json.loads(predicted), json.loads(expected))
    except (json.JSONDecodeError, TypeError):
        return False


def turns_agree(predicted: dict[str, Any], expected: dict[str, Any]) -> bool:
    """Two assistant turns agree: the same tool calls (AST match), or, when neither calls a tool, the
    same answer."""
    if predicted.get("tool_calls") or expected.get("tool_calls"):
        return calls_match(predicted.get("tool_calls"), expected.get("tool_calls"))
    return answers_equal(predicted.get("content") or "", expected.get("content") or "")
