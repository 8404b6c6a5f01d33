"""Scoring recorded replies with a remote teacher after the fact: for logit distillation from an
OpenAI-compatible teacher (vLLM) whose traces were recorded without top-k log-probs, ask it for the
log-probs of each recorded reply (vLLM's `prompt_logprobs` on the continued reply) and keep them
beside the trace, where the job's records read them (records.py). Only the job's own teacher, a
registered model, is asked, with its own key, through the egress guard (the openai backend's)."""

from __future__ import annotations

from collections.abc import Callable

from distillation.models import TeacherScore
from orchestra.inference import get_client
from orchestra.inference.base import MAX_TOP_LOGPROBS
from workflows import services as workflow_services
from workflows.models import ModelEndpoint, Trace


def unscored(*, traces: list[Trace], teacher: ModelEndpoint) -> list[Trace]:
    """The traces whose replies have no top-k log-probs, recorded or scored by `teacher`."""
    missing = [t for t in traces if not t.top_logprobs]
    scored = set(
        TeacherScore.objects.filter(trace__in=missing, teacher=teacher.name).values_list("trace_id", flat=True)
    )
    return [t for t in missing if t.id not in scored]


def teacher_score(
    *, traces: list[Trace], teacher: ModelEndpoint, top_k: int, on_progress: Callable[[int, int], None] | None = None
) -> int:
    """Score every unscored trace's reply with `teacher` (at most the API's 20 per token); the count."""
    todo = unscored(traces=traces, teacher=teacher)
    client = get_client(workflow_services.model_spec(teacher))
    k = min(top_k, MAX_TOP_LOGPROBS)
    for done, trace in enumerate(todo, 1):
        rows = client.score_reply(trace.messages, trace.output, top_logprobs=k)
        TeacherScore.objects.update_or_create(
            trace=trace,
            teacher=teacher.name,
            defaults={
                "workspace_id": trace.workspace_id,
                "top_logprobs": [[list(pair) for pair in row] for row in rows],
            },
        )
        if on_progress:
            on_progress(done, len(todo))
    return len(todo)
