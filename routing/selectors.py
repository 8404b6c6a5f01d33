"""Selectors: everything routing reads. Which router answers a call, the node a router serves, the
training pairs (shadow comparisons from distillation, compare jobs, golden labels) and how the
router's calls went."""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.db.models import Q, QuerySet

from distillation.models import ShadowComparison
from orchestra.routing import Example, Verifier, answer_score
from orchestra.routing.features import prompt_text
from routing.models import Comparison, Router, RouterJob
from workflows.models import Trace, Workflow, Workspace, in_evaluation
from workflows.selectors import get_or_404

ROUTING_KEY = "routing"  # the trace metadata key that records a routed call's decision (reserved)


def router_list(*, workspace: Workspace) -> QuerySet:
    return Router.objects.filter(workspace=workspace)


def router_get(*, workspace: Workspace, router_id) -> Router:
    return get_or_404(router_list(workspace=workspace), "router", id=router_id)


def job_list(*, router: Router) -> QuerySet:
    """The router's jobs, newest first."""
    return router.jobs.all()


def job_get(*, router: Router, job_id) -> RouterJob:
    return get_or_404(job_list(router=router), "router job", id=job_id)


def router_for_call(*, workspace_id, workflow_id, node_id: str, model: str) -> Router | None:
    """The router a call names; for `auto`, the node's own router, else the workspace's default
    (one query: this is on every model call's path)."""
    routers = Router.objects.filter(workspace_id=workspace_id)
    if model != "auto":
        return routers.filter(name=model).first()
    own = Q(workflow_id=workflow_id, node_id=node_id) if workflow_id is not None and node_id else Q(pk__in=[])
    return min(routers.filter(own | Q(is_default=True)), key=lambda r: r.is_default, default=None)


def embeddings_in_use() -> set[str]:
    """The embeddings trained routers decide with, in every workspace: a worker or web process
    answers any workspace's calls, so it loads each one before the first call needs it."""
    return set(Router.objects.filter(state__isnull=False).values_list("state__embedding", flat=True).distinct())


def node_of(*, workflow: Workflow, node_id: str) -> dict | None:
    """A node as the workflow's latest published version (else the draft) defines it."""
    latest = workflow.versions.order_by("-version").first()
    graph = latest.graph if latest is not None else workflow.graph
    return next((n for n in graph.get("nodes", []) if n.get("id") == node_id), None)


def router_node_config(router: Router) -> dict:
    node = node_of(workflow=router.workflow, node_id=router.node_id) if router.workflow_id else None
    return (node or {}).get("config", {})


def verifier_of(
    router: Router, node_config: dict, *, response_format: dict | None = None, tools: bool = False
) -> Verifier:
    """The router's checks plus what the call itself demands: JSON (and its schema) when the call's
    response_format or the node's output asks for it."""
    kind = (response_format or {}).get("type", "text")
    if kind != "text":
        expects_json, schema = True, (response_format.get("json_schema") or {}).get("schema")
    else:
        expects_json, schema = node_config.get("output") == "json" and not tools, node_config.get("json_schema")
    return Verifier(
        refusal=router.verifier.get("refusal", True),
        min_confidence=router.verifier.get("min_confidence"),
        json=expects_json,
        schema=schema if expects_json else None,
    )


# --- Training pairs ---------------------------------------------------------------------------


def replayable_traces(router: Router) -> QuerySet:
    """The router's traffic a compare job may replay: the node's answered calls (a node router), or
    the workspace's gateway calls (a workspace router); never an evaluation run's."""
    traces = Trace.objects.filter(workspace=router.workspace, status="ok").exclude(in_evaluation())
    if router.workflow_id:
        traces = traces.filter(workflow_id=router.workflow_id, node_id=router.node_id)
    else:
        traces = traces.filter(workflow__isnull=True, metadata__source="gateway")
    return traces.exclude(call_key__endswith="#shadow").exclude(call_key__endswith="#rejected")


def training_examples(router: Router) -> tuple[list[Example], dict[str, int]]:
    """Prompts every candidate answered, each answer scored against the golden label where there is
    one, else against the strong model's answer; and how many came from each source."""
    verifier = verifier_of(router, router_node_config(router))
    rows = [(c.trace, c.answers) for c in Comparison.objects.filter(router=router).select_related("trace")]
    answered = {
        str(pk): trace
        for pk, trace in Trace.objects.in_bulk([pk for _, answers in rows for pk in answers.values()]).items()
    }
    examples = [
        _example(source, {m: answered.get(pk) for m, pk in answers.items()}, router, verifier)
        for source, answers in rows
        if source is not None
    ]
    counts = {"compare": len(examples), "shadow": 0}
    if router.workflow_id and len(router.candidates) == 2:  # a shadow pair is the student's and the teacher's answer
        student, teacher = router.candidates
        shadowed = ShadowComparison.objects.filter(
            workflow_id=router.workflow_id,
            node_id=router.node_id,
            teacher_trace__model=teacher,
            student_trace__model=student,
        )
        shadowed = shadowed.exclude(in_evaluation("teacher_trace__run")).select_related(
            "teacher_trace", "student_trace"
        )
        shadow = [
            _example(s.teacher_trace, {teacher: s.teacher_trace, student: s.student_trace}, router, verifier)
            for s in shadowed
        ]
        examples += shadow
        counts["shadow"] = len(shadow)
    complete = [e for e in examples if e is not None]
    return complete, counts | {"incomplete": len(examples) - len(complete)}


def _example(source: Trace, answers: dict[str, Trace | None], router: Router, verifier: Verifier) -> Example | None:
    if any(answers.get(m) is None for m in router.candidates):
        return None
    traces = [answers[m] for m in router.candidates]
    reference = source.golden_output if source.golden_output is not None else traces[-1].output
    scores = [answer_score(t.output, reference, verifier=verifier) if t.status == "ok" else 0.0 for t in traces]
    return Example(
        text=prompt_text(source.messages), scores=scores, costs=[t.cost for t in traces], turns=len(source.messages)
    )


# --- How the router's calls went ----------------------------------------------------------------


def router_usage(*, router: Router) -> dict[str, Any]:
    """The calls the router decided: how often each candidate answered, what they cost, how often a
    cheaper answer escalated, and the saving against asking the strong model every time (at the
    strong model's mean cost per call, from the compare data)."""
    routed = Trace.objects.filter(workspace=router.workspace, metadata__routing__router_id=str(router.id)).exclude(
        in_evaluation()
    )
    answered: Counter = Counter()
    cost, escalated = 0.0, 0
    for metadata, trace_cost in routed.values_list("metadata", "cost"):
        decision = metadata[ROUTING_KEY]
        answered[decision["answered"]] += 1
        cost += trace_cost
        escalated += bool(decision["escalations"])
    calls = sum(answered.values())
    strong_cost = _mean_cost(router, router.candidates[-1]) if router.candidates else None
    return {
        "calls": calls,
        "answered": {m: answered.get(m, 0) for m in router.candidates},
        "cost": round(cost, 6),
        "escalated": escalated,
        "saving": round(calls * strong_cost - cost, 6) if strong_cost is not None and calls else None,
    }


def _mean_cost(router: Router, model: str) -> float | None:
    ids = [c.answers[model] for c in Comparison.objects.filter(router=router) if model in c.answers]
    costs = list(Trace.objects.filter(id__in=ids).values_list("cost", flat=True))
    return sum(costs) / len(costs) if costs else None
