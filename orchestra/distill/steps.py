"""Agents, evaluated step by step (BFCL-style) on held-out trajectories replayed from their recorded
prefixes: at every target turn the model sees exactly what the teacher saw (the task, the earlier
turns and the tools' recorded results) and answers once, so no tool is ever called for real.

Per step: did it call the same tools (tool name accuracy), with the same arguments (AST match,
ast_match.py), stop when the teacher stopped (should-have-stopped accuracy, on turns where it could
choose), and give the same final answer. A trajectory matches exactly when every step does.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from orchestra.distill.ast_match import calls_match, names_match, turns_agree
from orchestra.distill.dataset import Example
from orchestra.distill.evaluate import score
from orchestra.distill.verify import turn_request


@dataclass
class Step:
    key: str  # the example's
    prefix: list[dict[str, Any]]  # the messages before this turn
    expected: dict[str, Any]  # the assistant turn of the reference (the teacher's, or a golden one)
    tools: list[dict[str, Any]] | None
    tool_choice: str | None
    response_format: dict[str, Any] | None


@dataclass
class StepResult:
    step: Step
    reply: dict[str, Any]  # the model's assistant turn
    seconds: float
    new_tokens: int

    @property
    def agrees(self) -> bool:
        return turns_agree(self.reply, self.step.expected)


Respond = Callable[[Step], tuple[dict[str, Any], int]]  # (assistant turn, tokens generated)


def steps_of(example: Example) -> list[Step]:
    conversation = example.conversation
    steps = []
    for number, index in enumerate(example.target_turns()):
        request = turn_request(example, number)
        choice = request.get("tool_choice", "auto" if example.tools else None)
        steps.append(
            Step(
                key=example.key,
                prefix=conversation[:index],
                expected=conversation[index],
                tools=example.tools,
                tool_choice=choice,
                response_format=request.get("response_format"),
            )
        )
    return steps


def local_responder(model, tokenizer, *, max_new_tokens: int) -> Respond:
    """Answers through the transformers backend wrapped around a model in memory: the chat template
    shows the tools, and decoding is constrained exactly as when the model serves the node."""
    from orchestra.inference.base import InferenceError, ModelSpec
    from orchestra.inference.transformers_backend import LoadedModel, TransformersClient

    model.eval()
    client = TransformersClient(
        ModelSpec(name="evaluated", backend="transformers", model="in-memory"),
        LoadedModel(path="in-memory", tokenizer=tokenizer, model=model),
    )

    def respond(step: Step) -> tuple[dict[str, Any], int]:
        try:
            reply = client.complete(
                step.prefix,
                max_tokens=max_new_tokens,
                tools=step.tools,
                tool_choice=step.tool_choice,
                response_format=step.response_format,
            )
        except InferenceError as error:  # e.g. a prefix longer than the model's context: a wrong step
            return {"role": "assistant", "content": "", "tool_calls": None, "error": str(error)}, 0
        calls = [call.as_openai() for call in reply.tool_calls or []] or None
        return {"role": "assistant", "content": reply.text, "tool_calls": calls}, reply.tokens_out

    return respond


def replay(examples: list[Example], respond: Respond) -> list[StepResult]:
    results = []
    for example in examples:
        for step in steps_of(example):
            began = time.perf_counter()
            reply, new_tokens = respond(step)
            results.append(
                StepResult(step=step, reply=reply, seconds=time.perf_counter() - began, new_tokens=new_tokens)
            )
    return results


def _answered(turn: dict[str, Any]) -> bool:
    return not turn.get("tool_calls")


def _mean(values: list[bool]) -> float | None:
    return sum(values) / len(values) if values else None


def step_metrics(results: list[StepResult]) -> dict[str, Any]:
    tool_steps = [r for r in results if r.step.expected.get("tool_calls")]
    answers = [r for r in results if not r.step.expected.get("tool_calls")]
    choosing = [r for r in results if r.step.tools and r.step.tool_choice == "auto"]  # stopping was its call
    by_example: dict[str, list[bool]] = {}
    for result in results:
        by_example.setdefault(result.step.key, []).append(result.agrees)
    seconds = sum(r.seconds for r in results)
    return {
        "steps": len(results),
        "step_accuracy": _mean([r.agrees for r in results]),
        "tool_steps": len(tool_steps),
        "tool_name_accuracy": _mean(
            [names_match(r.reply.get("tool_calls"), r.step.expected["tool_calls"]) for r in tool_steps]
        ),
        "ast_match": _mean([calls_match(r.reply.get("tool_calls"), r.step.expected["tool_calls"]) for r in tool_steps]),
        "should_stop_accuracy": _mean([_answered(r.reply) == _answered(r.step.expected) for r in choosing]),
        "final_answer": score(
            [r.reply.get("content") or "" if _answered(r.reply) else "" for r in answers],
            [r.step.expected.get("content") or "" for r in answers],
        ),
        "trajectories": len(by_example),
        "trajectory_exact_match": _mean([all(agreed) for agreed in by_example.values()]),
        "seconds_per_step": seconds / len(results) if results else 0.0,
        "tokens_per_s": sum(r.new_tokens for r in results) / seconds if seconds else 0.0,
    }


def evaluate_agent(
    *, model, tokenizer, examples: list[Example], max_new_tokens: int, teacher_model=None
) -> dict[str, Any]:
    """Step metrics of the model against the references (the teacher's turns, golden ones where a
    person labelled them); the teacher's own speed on the same steps when it is in memory."""
    results = replay(examples, local_responder(model, tokenizer, max_new_tokens=max_new_tokens))
    report = {
        "steps": step_metrics(results),
        "samples": [
            {"prefix_tail": r.step.prefix[-1].get("content"), "expected": r.step.expected, "student": r.reply}
            for r in results[:5]
        ],
    }
    if teacher_model is not None:
        teacher = replay(examples, local_responder(teacher_model, tokenizer, max_new_tokens=max_new_tokens))
        report["teacher_steps"] = step_metrics(teacher)
    return report
