"""Selectors: everything distillation reads, scoped to one workspace."""

from __future__ import annotations

import statistics
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Avg, Count, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from distillation.models import DistillationJob, NodeDeployment, ShadowComparison
from workflows.errors import ValidationFailed
from workflows.models import Trace, Workflow, Workspace, in_evaluation
from workflows.selectors import get_or_404, uuid_param

MONTH = timedelta(days=30)
# A saving is projected only when the student's measured agreement with the teacher (in shadow, else
# the job's held-out evaluation) is at least this, over at least this many comparisons.
MIN_AGREEMENT_TO_PROJECT = 0.8
MIN_COMPARISONS_TO_PROJECT = 10


def job_list(*, workspace: Workspace, workflow=None, node_id: str | None = None) -> QuerySet:
    jobs = DistillationJob.objects.filter(workspace=workspace)
    if workflow:
        jobs = jobs.filter(workflow_id=uuid_param(workflow, "workflow"))
    if node_id:
        jobs = jobs.filter(node_id=node_id)
    return jobs


def job_get(*, workspace: Workspace, job_id) -> DistillationJob:
    return get_or_404(job_list(workspace=workspace), "distillation job", id=job_id)


def node_of(*, workflow: Workflow, node_id: str) -> dict | None:
    """A node as the workflow's latest published version (else the draft) defines it."""
    latest = workflow.versions.order_by("-version").first()
    graph = latest.graph if latest is not None else workflow.graph
    return next((n for n in graph.get("nodes", []) if n.get("id") == node_id), None)


def deployment_of(*, workflow: Workflow, node_id: str) -> NodeDeployment | None:
    return NodeDeployment.objects.filter(workflow=workflow, node_id=node_id).prefetch_related("changes__user").first()


def _moment(value: str | None, field: str, default: datetime) -> datetime:
    if not value:
        return default
    moment = parse_datetime(value)
    if moment is None:
        raise ValidationFailed(f"{field} is an ISO 8601 date-time, e.g. 2026-01-31T00:00:00Z.", path=field)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 1)
    return round(statistics.quantiles(values, n=100, method="inclusive")[round(share * 100) - 1], 1)


def savings(*, workflow: Workflow, since: str | None = None, until: str | None = None) -> dict[str, Any]:
    """Per node and model: calls, tokens, cost and latency over the period; shadow agreement; and
    what answering every call with the student would save in a month at this period's volume. An
    agent node's calls are its steps: it also says how many runs, steps and tool calls there were,
    and its shadow agreement per kind of step (tool calls, replies). Evaluation runs are no traffic:
    neither their calls nor any shadowing in them count."""
    until_at = _moment(until, "until", timezone.now())
    since_at = _moment(since, "since", until_at - MONTH)
    if since_at >= until_at:
        raise ValidationFailed("since must be before until.", path="since")
    traces = (
        Trace.objects.filter(workflow=workflow, created_at__gte=since_at, created_at__lt=until_at, status="ok")
        .exclude(node_id="")
        .exclude(in_evaluation())
    )
    deployments = {d.node_id: d for d in NodeDeployment.objects.filter(workflow=workflow)}
    per_model: dict[tuple[str, str], list[Trace]] = {}
    for trace in traces.only(
        "node_id", "model", "call_key", "run_id", "tokens_in", "tokens_out", "cost", "latency_ms", "tool_calls"
    ):
        per_model.setdefault((trace.node_id, trace.model), []).append(trace)
    months = (until_at - since_at) / MONTH
    nodes = []
    for node_id in sorted({node for node, _ in per_model} | set(deployments)):
        deployment = deployments.get(node_id)
        models = [_model_usage(model, calls) for (node, model), calls in sorted(per_model.items()) if node == node_id]
        compared = ShadowComparison.objects.filter(
            workflow=workflow, node_id=node_id, created_at__gte=since_at, created_at__lt=until_at
        ).exclude(in_evaluation("teacher_trace__run"))
        # the calls the node's answers came from
        used = [
            t
            for (node, _), calls in per_model.items()
            if node == node_id
            for t in calls
            if not t.call_key.endswith(("#shadow", "#rejected"))
        ]
        shadow = _agreement(compared)
        potential = _monthly_saving(deployment, models, len(used), months)
        projection = _projection(workflow, deployment, shadow)
        entry = {
            "node_id": node_id,
            "state": deployment.state if deployment else "teacher",
            "models": models,
            "shadow": shadow,
            "potential_monthly_saving": potential,
            "projection": projection,
            "projected_monthly_saving": potential if projection["projected"] else 0.0,
        }
        if (node_of(workflow=workflow, node_id=node_id) or {}).get("type") == "agent":
            entry["agent"] = _agent_steps(used)
            if entry["shadow"]:
                entry["shadow"]["by_kind"] = {
                    kind: _agreement(compared.filter(kind=kind)) for kind in ShadowComparison.KINDS
                }
        nodes.append(entry)
    return {
        "since": since_at.isoformat(),
        "until": until_at.isoformat(),
        "nodes": nodes,
        "totals": {
            "calls": sum(m["calls"] for n in nodes for m in n["models"]),
            "cost": round(sum(m["cost"] for n in nodes for m in n["models"]), 6),
            "projected_monthly_saving": round(sum(n["projected_monthly_saving"] for n in nodes), 6),
        },
    }


def _agreement(compared: QuerySet) -> dict[str, Any] | None:
    """Agreement over the shadowed calls, and what the same calls took and cost on either side (the
    student's latency over the calls it answered)."""
    counts = compared.aggregate(
        calls=Count("id"),
        agreed=Count("id", filter=Q(agreement=True)),
        student_errors=Count("id", filter=Q(student_trace__status="error")),
        teacher_latency_ms=Avg("teacher_latency_ms"),
        student_latency_ms=Avg("student_latency_ms", filter=Q(student_trace__status="ok")),
        teacher_cost=Sum("teacher_cost"),
        student_cost=Sum("student_cost"),
    )
    if not counts["calls"]:
        return None
    return {
        "calls": counts["calls"],
        "agreement": round(counts["agreed"] / counts["calls"], 4),
        "student_errors": counts["student_errors"],
        **{
            side: None if counts[side] is None else round(counts[side], 1)
            for side in ("teacher_latency_ms", "student_latency_ms")
        },
        "teacher_cost": round(counts["teacher_cost"] or 0.0, 6),
        "student_cost": round(counts["student_cost"] or 0.0, 6),
    }


def _projection(workflow: Workflow, deployment: NodeDeployment | None, shadow: dict | None) -> dict[str, Any]:
    """Whether the saving is projected, on what measured quality, and why not when it is not: a
    cheaper student that answers differently saves nothing worth counting."""
    if deployment is None or not deployment.student_model:
        return {"projected": False, "quality": None, "reason": "No student is deployed on this node."}
    quality = None
    if shadow:
        quality = {"source": "shadow", "agreement": shadow["agreement"], "sample": shadow["calls"]}
    else:
        job = DistillationJob.objects.filter(
            workspace=workflow.workspace, model=deployment.student_model, status="succeeded"
        ).first()
        measured = ((job.report or {}).get("after") or {}).get("vs_teacher") if job else None
        if measured and measured.get("count"):
            quality = {
                "source": "evaluation",
                "agreement": round(measured["exact_match"], 4),
                "sample": measured["count"],
            }
    if quality is None:
        reason = (
            f"No measured quality for {deployment.student_model!r} yet: run it in shadow mode, or evaluate it "
            f"in a distillation job."
        )
    elif quality["sample"] < MIN_COMPARISONS_TO_PROJECT:
        reason = (
            f"Only {quality['sample']} {quality['source']} comparisons; at least {MIN_COMPARISONS_TO_PROJECT} "
            f"are needed to project a saving."
        )
    elif quality["agreement"] < MIN_AGREEMENT_TO_PROJECT:
        reason = (
            f"The student agrees with the teacher on {quality['agreement']:.0%} of {quality['sample']} "
            f"{quality['source']} comparisons, below the {MIN_AGREEMENT_TO_PROJECT:.0%} needed to project a "
            f"saving."
        )
    else:
        reason = None
    return {
        "projected": reason is None,
        "quality": quality,
        "min_agreement": MIN_AGREEMENT_TO_PROJECT,
        "reason": reason,
    }


def _agent_steps(turns: list[Trace]) -> dict[str, Any]:
    """An agent node's runs (attempts), model steps and tool calls over the period."""
    runs = {(t.run_id, t.call_key.split("#")[1]) for t in turns if t.call_key.count("#") >= 2}
    steps = len(turns)
    return {
        "runs": len(runs),
        "steps": steps,
        "tool_calls": sum(len(t.tool_calls or []) for t in turns),
        "steps_per_run": round(steps / len(runs), 2) if runs else None,
    }


def _model_usage(model: str, calls: list[Trace]) -> dict[str, Any]:
    latencies = sorted(t.latency_ms for t in calls)
    return {
        "model": model,
        "calls": len(calls),
        "tokens_in": sum(t.tokens_in for t in calls),
        "tokens_out": sum(t.tokens_out for t in calls),
        "cost": round(sum(t.cost for t in calls), 6),
        "p50_ms": _percentile(latencies, 0.5),
        "p95_ms": _percentile(latencies, 0.95),
    }


def _monthly_saving(deployment: NodeDeployment | None, models: list[dict], answered: int, months: float) -> float:
    """(teacher's cost per call - student's cost per call) x the node's calls per month; zero until
    both have been seen answering this node."""
    if deployment is None or not deployment.student_model:
        return 0.0
    by_name = {m["model"]: m for m in models}
    teacher, student = by_name.get(deployment.teacher_model), by_name.get(deployment.student_model)
    if not teacher or not student:
        return 0.0
    per_call = teacher["cost"] / teacher["calls"] - student["cost"] / student["calls"]
    return round(per_call * answered / months, 6)
