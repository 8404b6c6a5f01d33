"""APIGen-style verification of examples before training (Liu et al. 2024): three stages, each
passed, failed with a reason, or (semantic only) without a signal.

- format:    every tool call of a target turn names an offered tool, with arguments that are a
             JSON object valid against its parameters; an answer holds no tool-call markup, and is
             JSON (valid against the schema) when its turn asked for JSON.
- execution: every tool a trajectory called succeeded (no tool result is an error).
- semantic:  the run did what was wanted: the approval after it was granted, a person labelled it
             (a golden output), or a judge model accepted it. A refusal from any signal fails it.

`data.verify` names the stages an example must pass to be trained on; every stage is counted in
the preview whether it is required or not.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import jsonschema

from orchestra.distill.ast_match import call_parts
from orchestra.inference.toolcalls import OPEN

if TYPE_CHECKING:
    from orchestra.distill.dataset import Example
    from orchestra.inference.base import ModelClient

STAGES = ("format", "execution", "semantic")
TOOL_ERROR_PREFIX = "Error:"  # how the agent node writes a failed tool's result (orchestra/engine/tools.py)
Judge = Callable[["Example"], bool]


def verify(example: Example, *, outcome: dict[str, Any] | None = None, judge: Judge | None = None) -> None:
    """Fill example.checks and example.problems for every stage."""
    semantic, why = semantic_check(example, outcome or {}, judge)
    results = {"format": format_problem(example), "execution": execution_problem(example)}
    example.checks = {stage: problem is None for stage, problem in results.items()} | {"semantic": semantic}
    example.problems = {stage: problem for stage, problem in results.items() if problem}
    if semantic is False:
        example.problems["semantic"] = why


def turn_request(example: Example, number: int) -> dict[str, Any]:
    """What the number-th target turn was asked with ({tool_choice, response_format}); {} when unknown."""
    turns = example.turns or []
    return turns[number] if number < len(turns) and isinstance(turns[number], dict) else {}


def tool_schemas(tools: list[dict[str, Any]] | None) -> dict[str, dict[str, Any]]:
    return {tool["function"]["name"]: tool["function"].get("parameters") or {} for tool in tools or []}


def call_problem(call: dict[str, Any], schemas: dict[str, dict[str, Any]]) -> str | None:
    """Why a tool call is not well-formed against the offered tools, or None."""
    name, arguments = call_parts(call)
    if name not in schemas:
        return f"calls {name!r}, which is not offered (offered: {', '.join(schemas) or 'none'})"
    if not isinstance(arguments, dict):
        return f"the arguments of {name} are not a JSON object"
    try:
        jsonschema.validate(arguments, schemas[name])
    except jsonschema.ValidationError as error:
        return f"the arguments of {name} break its parameters: {error.message}"
    return None


def format_problem(example: Example) -> str | None:
    schemas = tool_schemas(example.tools)
    conversation = example.conversation
    for number, index in enumerate(example.target_turns()):
        turn = conversation[index]
        problem = next(filter(None, (call_problem(call, schemas) for call in turn.get("tool_calls") or [])), None)
        if problem:
            return f"turn {index}: {problem}"
        if not turn.get("tool_calls"):
            problem = answer_problem(
                turn.get("content") or "",
                turn_request(example, number).get("response_format"),
                tools_offered=bool(schemas),
            )
            if problem:
                return f"turn {index}: {problem}"
    return None


def answer_problem(text: str, response_format: dict[str, Any] | None, *, tools_offered: bool) -> str | None:
    if tools_offered and OPEN in text:
        return "the answer holds raw tool-call markup"
    kind = (response_format or {}).get("type", "text")
    if kind == "text":
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return "the answer is not the JSON its turn asked for"
    schema = (response_format.get("json_schema") or {}).get("schema") if kind == "json_schema" else {"type": "object"}
    try:
        jsonschema.validate(value, schema or {})
    except jsonschema.ValidationError as error:
        return f"the answer breaks its JSON Schema: {error.message}"
    return None


def execution_problem(example: Example) -> str | None:
    """A trajectory's own calls must have run; a single turn's context is not its to answer for."""
    if not example.trajectory:
        return None
    for message in example.messages:
        content = str(message.get("content") or "")
        if message.get("role") == "tool" and content.startswith(TOOL_ERROR_PREFIX):
            return f"a tool call failed: {content[:160]}"
    return None


def semantic_check(example: Example, outcome: dict[str, Any], judge: Judge | None) -> tuple[bool | None, str]:
    signals: list[tuple[bool, str]] = []
    if isinstance(outcome.get("approved"), bool):
        signals.append((outcome["approved"], "the approval after the run was refused"))
    if example.golden_output is not None:
        signals.append((True, ""))
    if judge is not None:
        signals.append((bool(judge(example)), "the judge model did not accept it"))
    refused = next((why for passed, why in signals if not passed), None)
    if refused is not None:
        return False, refused
    return (True, "") if signals else (None, "")


def verification_summary(examples: list[Example], *, required: list[str]) -> dict[str, Any]:
    """Counts per stage over the distinct examples, how many pass the required ones, a few reasons."""
    summary: dict[str, Any] = {
        "required": list(required),
        "checked": len(examples),
        "passed": sum(all(e.checks.get(s) is True for s in required) for e in examples),
    }
    for stage in STAGES:
        results = [e.checks.get(stage) for e in examples]
        summary[stage] = {"passed": results.count(True), "failed": results.count(False)}
        if stage == "semantic":
            summary[stage]["unknown"] = results.count(None)
    summary["failures"] = [
        {"stage": stage, "prompt": e.key[:12], "problem": problem}
        for e in examples
        for stage, problem in e.problems.items()
    ][:5]
    return summary


# --- a judge model -------------------------------------------------------------------------------

JUDGE_FORMAT = {
    "type": "json_schema",
    "json_schema": {
        "name": "verdict",
        "strict": True,
        "schema": {"type": "object", "properties": {"accepted": {"type": "boolean"}}, "required": ["accepted"]},
    },
}
JUDGE_INSTRUCTIONS = (
    "You check the work of an AI agent. Read the conversation: the task, the tools it called with "
    "their results, and its answer. Did it do what the user asked, correctly? Reply with JSON: "
    '{"accepted": true} or {"accepted": false}.'
)


def judge_messages(example: Example) -> list[dict[str, str]]:
    """The conversation as a transcript a judge model reads (tools and calls as text)."""
    lines = []
    for message in example.conversation:
        for call in message.get("tool_calls") or []:
            name, arguments = call_parts(call)
            lines.append(f"assistant calls {name}({json.dumps(arguments, ensure_ascii=False, default=str)})")
        if message.get("content") or not message.get("tool_calls"):
            lines.append(f"{message['role']}: {message.get('content') or ''}")
    return [{"role": "system", "content": JUDGE_INSTRUCTIONS}, {"role": "user", "content": "\n".join(lines)}]


def judge_accepts(reply: str) -> bool:
    """The judge's verdict from its reply: {"accepted": true}, or a reply that starts with yes."""
    try:
        return json.loads(reply).get("accepted") is True
    except (json.JSONDecodeError, AttributeError):
        return reply.strip().lower().startswith("yes")


def model_judge(client: ModelClient) -> Judge:
    """A Judge over a model client: asked for JUDGE_FORMAT, which constrained decoding guarantees where
    the backend has it (a reply that starts with yes counts elsewhere)."""
    return lambda example: judge_accepts(
        client.complete(judge_messages(example), max_tokens=16, response_format=JUDGE_FORMAT).text
    )
