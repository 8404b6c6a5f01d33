"""Is an answer usable, and how good is it: the verifier that makes a cascade escalate, and the
score that labels training pairs.

The verifier checks what can be checked without a reference: JSON (and its schema) where the
call asked for JSON, tool calls against the offered tools, a refusal, and (where the backend
recorded log-probabilities) the model's own confidence. The score compares an answer with a
reference (a golden label, else the strong model's answer): equal text, equal JSON, or the share
of the reference's JSON fields it gets right.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

import jsonschema

from orchestra.engine.nodes.llm import InvalidReply, parse_json_reply

_REFUSAL = re.compile(
    r"^\W*(i'?m sorry|i am sorry|sorry, (but )?i|i can(no|')t|i cannot|i am unable|i'm unable|"
    r"i won'?t|as an ai\b|i am not able|i'm not able)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Verifier:
    """What a cheaper answer must pass before it is used."""

    refusal: bool = True  # a reply that opens with a refusal escalates
    min_confidence: float | None = None  # mean probability of the chosen tokens, where recorded (0..1)
    json: bool = False  # the reply must be JSON ...
    schema: dict[str, Any] | None = None  # ... valid against this schema

    @property
    def can_reject(self) -> bool:
        return self.refusal or self.json or self.min_confidence is not None


def reply_problem(
    text: str,
    *,
    verifier: Verifier,
    tool_calls: list[dict] | None = None,
    tools: list[dict] | None = None,
    top_logprobs: list | None = None,
) -> str | None:
    """Why the reply fails the verifier, or None."""
    if tool_calls:
        return next(filter(None, (_call_problem(call, tools) for call in tool_calls)), None)
    if verifier.refusal and _REFUSAL.match(text):
        return "refusal: " + text.strip()[:80]
    if verifier.json:
        try:
            parse_json_reply(text, verifier.schema)
        except InvalidReply as error:
            return f"invalid JSON: {error}"
    confidence = mean_confidence(top_logprobs)
    if verifier.min_confidence is not None and confidence is not None and confidence < verifier.min_confidence:
        return f"low confidence: {confidence:.2f} < {verifier.min_confidence:.2f}"
    return None


def _call_problem(call: dict, tools: list[dict] | None) -> str | None:
    function = call.get("function") or {}
    schemas = {t["function"]["name"]: t["function"].get("parameters") or {} for t in tools or []}
    name = function.get("name")
    if name not in schemas:
        return f"tool call: {name!r} is not offered"
    try:
        arguments = json.loads(function.get("arguments") or "{}")
        jsonschema.validate(arguments, schemas[name])
    except (json.JSONDecodeError, jsonschema.ValidationError) as error:
        return f"tool call: the arguments of {name} are invalid ({getattr(error, 'message', error)})"
    return None


def mean_confidence(top_logprobs: list | None) -> float | None:
    """The mean probability of the most likely token at each position (the chosen one, greedily)."""
    if not top_logprobs:
        return None
    best = [max(lp for _, lp in position) for position in top_logprobs if position]
    return sum(math.exp(lp) for lp in best) / len(best) if best else None


def answer_score(answer: str, reference: str, *, verifier: Verifier) -> float:
    """0..1: 0 for an answer that fails the verifier, 1 for the reference's text or JSON value,
    else the share of the reference's top-level JSON fields the answer has the same."""
    if reply_problem(answer, verifier=verifier) is not None:
        return 0.0
    if answer.strip() == reference.strip():
        return 1.0
    try:
        got, want = parse_json_reply(answer, None), parse_json_reply(reference, None)
    except InvalidReply:
        return 0.0
    if got == want:
        return 1.0
    if isinstance(got, dict) and isinstance(want, dict) and want:
        return sum(got.get(key) == value for key, value in want.items()) / len(want)
    return 0.0
