"""Is the student good enough? Greedy generation on the held-out prompts, agreement with the
teacher's replies next to correctness (golden labels, or a judge model), per JSON field, with
sample sizes and Wilson intervals, speed on the same prompts, and a plain verdict that refuses to
judge on too few held-out examples."""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any

import torch

from orchestra.distill.dataset import Example
from orchestra.distill.verify import Judge

READY_AGREEMENT = 0.9  # share of held-out prompts (or agent steps) where the student does what the teacher did
MIN_HELD_OUT = 30  # below this, 90% measured cannot be told from 75% (the 95% interval is that wide)


@dataclass
class Generation:
    text: str
    seconds: float  # the batch's wall time shared among its prompts
    new_tokens: int


@torch.no_grad()
def greedy_generate(
    model, tokenizer, conversations: list[list[dict[str, str]]], *, max_new_tokens: int, batch_size: int
) -> list[Generation]:
    """Batched greedy decoding with left padding (so every prompt ends where generation starts)."""
    model.eval()
    device = next(model.parameters()).device
    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    results = []
    try:
        for start in range(0, len(conversations), batch_size):
            chunk = conversations[start : start + batch_size]
            prompts = [tokenizer.apply_chat_template(c, add_generation_prompt=True, tokenize=False) for c in chunk]
            encoded = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
            began = time.perf_counter()
            output = model.generate(
                **encoded,
                do_sample=False,
                max_new_tokens=max_new_tokens,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
            )
            seconds = (time.perf_counter() - began) / len(chunk)
            for row in output[:, encoded["input_ids"].shape[1] :].tolist():
                if tokenizer.eos_token_id in row:
                    row = row[: row.index(tokenizer.eos_token_id) + 1]
                results.append(
                    Generation(
                        text=tokenizer.decode(row, skip_special_tokens=True).strip(),
                        seconds=seconds,
                        new_tokens=len(row),
                    )
                )
    finally:
        tokenizer.padding_side = side
    return results


# --- metrics -------------------------------------------------------------------------------------


def exact_match(prediction: str, reference: str) -> float:
    return float(prediction.strip() == reference.strip())


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD-style F1 over whitespace tokens."""
    predicted, expected = prediction.split(), reference.split()
    if not predicted or not expected:
        return float(predicted == expected)
    common = sum((Counter(predicted) & Counter(expected)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F1: longest common subsequence of whitespace tokens (a dozen lines; no dependency)."""
    a, b = prediction.split(), reference.split()
    if not a or not b:
        return float(a == b)
    previous = [0] * (len(b) + 1)
    for token in a:
        current = [0]
        for j, other in enumerate(b):
            current.append(previous[j] + 1 if token == other else max(previous[j + 1], current[j]))
        previous = current
    lcs = previous[-1]
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(a), lcs / len(b)
    return 2 * precision * recall / (precision + recall)


def parse_json(text: str) -> Any | None:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return None


def field_accuracy(prediction: Any, reference: dict) -> float:
    """Share of the reference object's fields that the prediction has with the same value."""
    if not reference:
        return float(prediction == reference)
    if not isinstance(prediction, dict):
        return 0.0
    return sum(prediction.get(k) == v for k, v in reference.items()) / len(reference)


def score(predictions: list[str], references: list[str]) -> dict[str, Any]:
    """Mean metrics; JSON ones only over references that are JSON objects (None when there are none).
    Exact match comes with its 95% Wilson interval, JSON field accuracy field by field."""
    n = len(references)
    if n == 0:
        return {"count": 0}
    matches = sum(map(exact_match, predictions, references))
    result: dict[str, Any] = {
        "count": n,
        "exact_match": matches / n,
        "exact_match_interval": list(wilson_interval(matches, n)),
        "token_f1": sum(map(token_f1, predictions, references)) / n,
        "rouge_l": sum(map(rouge_l, predictions, references)) / n,
        "json_valid": None,
        "field_accuracy": None,
        "per_field": None,
    }
    objects = [(parse_json(p), parse_json(r)) for p, r in zip(predictions, references)]
    objects = [(p, r) for p, r in objects if isinstance(r, dict)]
    if objects:
        result["json_valid"] = sum(p is not None for p, _ in objects) / len(objects)
        result["field_accuracy"] = sum(field_accuracy(p, r) for p, r in objects) / len(objects)
        result["per_field"] = per_field_accuracy(objects)
    return result


def per_field_accuracy(objects: list[tuple[Any, dict]]) -> dict[str, dict[str, Any]]:
    """For each field of the reference objects: how often the prediction has its value, on how many
    references it appears, with the 95% Wilson interval."""
    counts: dict[str, list[int]] = {}
    for prediction, reference in objects:
        for name, value in reference.items():
            right, seen = counts.setdefault(name, [0, 0])
            counts[name] = [right + (isinstance(prediction, dict) and prediction.get(name) == value), seen + 1]
    return {
        name: {"accuracy": right / seen, "count": seen, "interval": list(wilson_interval(right, seen))}
        for name, (right, seen) in counts.items()
    }


def is_correct(prediction: str, reference: str) -> bool:
    """The same JSON value when the reference is JSON (key order and spacing free), else the same text."""
    expected = parse_json(reference)
    return parse_json(prediction) == expected if expected is not None else bool(exact_match(prediction, reference))


# --- the report ----------------------------------------------------------------------------------


def _speed(generations: list[Generation]) -> dict[str, float]:
    seconds = sum(g.seconds for g in generations)
    return {
        "seconds_per_prompt": seconds / max(len(generations), 1),
        "tokens_per_s": sum(g.new_tokens for g in generations) / seconds if seconds else 0.0,
    }


def evaluate_model(
    *,
    model,
    tokenizer,
    examples: list[Example],
    max_new_tokens: int,
    batch_size: int,
    teacher_model=None,
    judge: Judge | None = None,
    samples: int = 5,
) -> dict[str, Any]:
    """Student metrics vs the teacher's replies (agreement) and vs the truth (correctness: golden
    labels, or `judge` on prompts without one), side by side; speed of both on the same prompts."""
    generations = greedy_generate(
        model, tokenizer, [e.messages for e in examples], max_new_tokens=max_new_tokens, batch_size=batch_size
    )
    predictions = [g.text for g in generations]
    golden = [(p, e.golden_output) for p, e in zip(predictions, examples) if e.golden_output is not None]
    report = {
        "vs_teacher": score(predictions, [e.teacher_output for e in examples]),
        "vs_golden": score([p for p, _ in golden], [g for _, g in golden]) if golden else None,
        "correctness": correctness(examples, predictions, judge),
        "student_speed": _speed(generations),
        "teacher_speed": None,
        "samples": [
            {"prompt": e.messages[-1]["content"], "teacher": e.teacher_output, "student": p}
            | ({"golden": e.golden_output} if e.golden_output is not None else {})
            for e, p in list(zip(examples, predictions))[:samples]
        ],
    }
    if teacher_model is not None:
        report["teacher_speed"] = _speed(
            greedy_generate(
                teacher_model,
                tokenizer,
                [e.messages for e in examples],
                max_new_tokens=max_new_tokens,
                batch_size=batch_size,
            )
        )
    return report


def correctness(examples: list[Example], predictions: list[str], judge: Judge | None = None) -> dict[str, Any] | None:
    """How often the student, and the teacher's recorded reply, are right: against the golden label
    where there is one, else by the judge when one is named; None when nothing can tell. A student
    that copies the teacher's wrong answers agrees with it and is still wrong."""
    student, teacher, objects, sources = [], [], [], set()
    for example, prediction in zip(examples, predictions):
        if example.golden_output is not None:
            sources.add("golden labels")
            student.append(is_correct(prediction, example.golden_output))
            teacher.append(is_correct(example.teacher_output, example.golden_output))
            reference = parse_json(example.golden_output)
            if isinstance(reference, dict):
                objects.append((parse_json(prediction), parse_json(example.teacher_output), reference))
        elif judge is not None:
            sources.add("judge")
            student.append(judge(replace(example, teacher_output=prediction, tool_calls=None)))
            teacher.append(judge(example))
    if not student:
        return None
    n = len(student)
    return {
        "judged_by": " and ".join(sorted(sources)),
        "count": n,
        "student": sum(student) / n,
        "student_interval": list(wilson_interval(sum(student), n)),
        "teacher": sum(teacher) / n,
        "teacher_interval": list(wilson_interval(sum(teacher), n)),
        "per_field": {
            "student": per_field_accuracy([(s, r) for s, _, r in objects]),
            "teacher": per_field_accuracy([(t, r) for _, t, r in objects]),
        }
        if objects
        else None,
    }


def wilson_interval(successes: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """The 95% Wilson score interval of a share measured on n items."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre, spread = p + z * z / (2 * n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - spread) / (1 + z * z / n), (centre + spread) / (1 + z * z / n)


def _readiness(
    share: float, n: int | None, unit: str, baseline: float | None, remedy: str, right: dict[str, Any] | None = None
) -> str:
    """The verdict's end: too few held-out items to judge, ready, or not ready (and what was before).
    `right` is the report's correctness: a student that agrees with the teacher but is measurably
    less often right (the top of its interval below the teacher's share) is not ready."""
    if n is not None and n < MIN_HELD_OUT:
        low, high = wilson_interval(share * n, n)
        return (
            f": too few held-out examples to judge ({n} {unit}; the 95% interval is {low:.0%}-{high:.0%}); "
            f"hold out at least {MIN_HELD_OUT}."
        )
    worse = right is not None and right["count"] >= MIN_HELD_OUT and right["student_interval"][1] < right["teacher"]
    if share >= READY_AGREEMENT and not worse:
        return ": ready for shadow."
    if share >= READY_AGREEMENT:
        return (
            f": not ready for shadow: it is right less often than the teacher ({right['student']:.0%} vs "
            f"{right['teacher']:.0%} by {right['judged_by']})."
        )
    was = f", {baseline:.0%} before training" if baseline is not None else ""
    return f"{was}: not ready for shadow, which needs {READY_AGREEMENT:.0%}; {remedy}"


def _speedup(teacher_seconds: float | None, student_seconds: float | None) -> str:
    return f" at {teacher_seconds / student_seconds:.1f}x the speed" if teacher_seconds and student_seconds else ""


def verdict(after: dict[str, Any], baseline: dict[str, Any] | None = None) -> str:
    if "steps" in after:
        return agent_verdict(after, baseline)
    agreement, n = after["vs_teacher"].get("exact_match", 0.0), after["vs_teacher"].get("count")
    speedup = _speedup(
        (after.get("teacher_speed") or {}).get("seconds_per_prompt"), after["student_speed"]["seconds_per_prompt"]
    )
    head = f"Student matches the teacher on {agreement:.0%} of {f'{n} ' if n else ''}held-out prompts{speedup}"
    if agreement < READY_AGREEMENT:
        head += f" (token F1 {after['vs_teacher'].get('token_f1', 0.0):.2f}"
        head += f", {baseline['vs_teacher'].get('exact_match', 0.0):.0%} before training)" if baseline else ")"
    right = after.get("correctness")
    if right:
        low, high = right["student_interval"]
        head += (
            f"; it is right on {right['student']:.0%} of the {right['count']} judged by {right['judged_by']} "
            f"(95% interval {low:.0%}-{high:.0%}; the teacher {right['teacher']:.0%})"
        )
    return head + _readiness(agreement, n, "prompts", None, "try more traces, more epochs or a larger student.", right)


def agent_verdict(after: dict[str, Any], baseline: dict[str, Any] | None = None) -> str:
    steps = after["steps"]
    accuracy = steps["step_accuracy"] or 0.0
    speedup = _speedup((after.get("teacher_steps") or {}).get("seconds_per_step"), steps["seconds_per_step"])
    head = (
        f"Student takes the teacher's step on {accuracy:.0%} of {steps['steps']} held-out steps (the same tools "
        f"and arguments on {steps['ast_match'] or 0.0:.0%} of tool-call steps, whole trajectories "
        f"{steps['trajectory_exact_match'] or 0.0:.0%}){speedup}"
    )
    before = (baseline or {}).get("steps", {}).get("step_accuracy")
    return head + _readiness(
        accuracy, steps["steps"], "steps", before, "try more (verified) trajectories, more steps or a larger student."
    )


def _rows(after: dict[str, Any], baseline: dict[str, Any] | None) -> list[tuple[str, float | None, float]]:
    if "steps" in after:
        metrics = [
            ("steps", m, m)
            for m in (
                "step_accuracy",
                "tool_name_accuracy",
                "ast_match",
                "should_stop_accuracy",
                "trajectory_exact_match",
            )
        ]
        metrics += [("final_answer", m, f"final answer {m}") for m in ("exact_match", "json_valid")]
    else:
        metrics = [
            (section, m, f"{m} ({section.replace('_', ' ')})")
            for section in ("vs_teacher", "vs_golden")
            for m in ("exact_match", "token_f1", "rouge_l", "json_valid", "field_accuracy")
        ]
    rows = []
    for section, metric, label in metrics:
        scope = after.get(section) if section != "final_answer" else after["steps"]["final_answer"]
        value = (scope or {}).get(metric)
        if value is None:
            continue
        before = (
            (baseline or {}).get(section)
            if section != "final_answer"
            else ((baseline or {}).get("steps") or {}).get("final_answer")
        )
        rows.append((label, (before or {}).get(metric), value))
    if "steps" in after:
        rows.append(("student s/step", None, after["steps"]["seconds_per_step"]))
    else:
        rows += _breakdown_rows(after, baseline)
    for who in ("student_speed", "teacher_speed"):
        if after.get(who):
            rows.append((f"{who.split('_')[0]} s/prompt", None, after[who]["seconds_per_prompt"]))
            rows.append((f"{who.split('_')[0]} tokens/s", None, after[who]["tokens_per_s"]))
    return rows


def _breakdown_rows(after: dict[str, Any], baseline: dict[str, Any] | None) -> list[tuple[str, float | None, float]]:
    """Correctness next to agreement, and JSON fields one by one."""
    rows = []
    right, right_before = after.get("correctness"), (baseline or {}).get("correctness") or {}
    if right:
        rows.append(
            (f"correct (by {right['judged_by']}, n={right['count']})", right_before.get("student"), right["student"])
        )
        rows.append(("teacher correct", None, right["teacher"]))
    fields = after["vs_teacher"].get("per_field") or {}
    fields_before = ((baseline or {}).get("vs_teacher") or {}).get("per_field") or {}
    rows += [
        (f"field {name} (vs teacher)", (fields_before.get(name) or {}).get("accuracy"), field["accuracy"])
        for name, field in fields.items()
    ]
    for name, field in ((right or {}).get("per_field") or {}).get("student", {}).items():
        before = (((right_before.get("per_field") or {}).get("student") or {}).get(name) or {}).get("accuracy")
        rows.append((f"field {name} (correct)", before, field["accuracy"]))
    return rows


def format_table(after: dict[str, Any], baseline: dict[str, Any] | None = None) -> str:
    """A readable side-by-side table: metric | before | after."""
    rows = _rows(after, baseline)
    width = max(len(r[0]) for r in rows)
    lines = [f"{'metric':<{width}}  {'before':>9}  {'after':>9}"]
    lines += [f"{name:<{width}}  {'' if b is None else f'{b:9.3f}':>9}  {a:9.3f}" for name, b, a in rows]
    return "\n".join(lines)
