"""Selectors: everything that reads, always scoped to one workspace."""
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db.models import OuterRef, QuerySet, Subquery, Sum
from django.utils.dateparse import parse_datetime

from workflows.errors import NotFound, ValidationFailed
from workflows.models import ModelEndpoint, Run, Trace, Workflow, WorkflowVersion, Workspace


def get_or_404(queryset: QuerySet, what: str, **lookup):
    try:
        return queryset.get(**lookup)
    except (queryset.model.DoesNotExist, ValidationError, ValueError):
        raise NotFound(f"No such {what} in this workspace.", path="id") from None


def workspace_for_user(*, user) -> Workspace | None:
    """A browser session works in the user's first workspace."""
    return Workspace.objects.filter(memberships__user=user).order_by("memberships__id").first()


def workflow_list(*, workspace: Workspace) -> QuerySet:
    last_run = Run.objects.filter(workflow=OuterRef("pk"), parent_run__isnull=True).order_by("-created_at")
    return (Workflow.objects.filter(workspace=workspace)
            .annotate(last_run_id=Subquery(last_run.values("id")[:1]),
                      last_run_status=Subquery(last_run.values("status")[:1]),
                      last_run_finished_at=Subquery(last_run.values("finished_at")[:1]),
                      published_version=Subquery(WorkflowVersion.objects.filter(workflow=OuterRef("pk"))
                                                 .order_by("-version").values("version")[:1])))


def workflow_get(*, workspace: Workspace, workflow_id) -> Workflow:
    return get_or_404(workflow_list(workspace=workspace), "workflow", id=workflow_id)


def version_get(*, workflow: Workflow, version) -> WorkflowVersion:
    return get_or_404(workflow.versions.all(), "version", version=version)


def run_list(*, workspace: Workspace, workflow=None, status: str | None = None, trigger: str | None = None) -> QuerySet:
    runs = Run.objects.filter(workspace=workspace).annotate(
        total_tokens_in=Sum("node_runs__tokens_in"), total_tokens_out=Sum("node_runs__tokens_out"),
        total_cost=Sum("node_runs__cost"))
    if workflow:
        runs = runs.filter(workflow_id=workflow)
    if status:
        if status not in Run.STATUSES:
            raise ValidationFailed(f"Unknown status {status!r}; one of {', '.join(Run.STATUSES)}.", path="status")
        runs = runs.filter(status=status)
    if trigger:
        runs = runs.filter(trigger=trigger)
    return runs


def run_get(*, workspace: Workspace, run_id) -> Run:
    return get_or_404(Run.objects.filter(workspace=workspace), "run", id=run_id)


def run_totals(*, run: Run) -> dict:
    """Tokens and cost over the run's nodes (annotated by run_list, else aggregated here)."""
    if hasattr(run, "total_cost"):
        return {"tokens_in": run.total_tokens_in or 0, "tokens_out": run.total_tokens_out or 0,
                "cost": run.total_cost or 0}
    totals = run.node_runs.aggregate(tokens_in=Sum("tokens_in"), tokens_out=Sum("tokens_out"), cost=Sum("cost"))
    return {k: v or 0 for k, v in totals.items()}


def model_list(*, workspace: Workspace) -> QuerySet:
    return ModelEndpoint.objects.filter(workspace=workspace).order_by("name")


def model_get(*, workspace: Workspace, name: str) -> ModelEndpoint:
    return get_or_404(model_list(workspace=workspace), "model", name=name)


def _parse_time(value: str, field: str) -> datetime:
    parsed = parse_datetime(value)
    if parsed is None:
        raise ValidationFailed(f"{field} must be an ISO 8601 date-time, e.g. 2026-01-31T12:00:00Z.", path=field)
    return parsed


def trace_list(*, workspace: Workspace, workflow=None, node: str | None = None, model: str | None = None,
               since: str | None = None, until: str | None = None, status: str | None = None,
               run=None, metadata: dict[str, str] | None = None) -> QuerySet:
    traces = Trace.objects.filter(workspace=workspace)
    if workflow:
        traces = traces.filter(workflow_id=workflow)
    if node:
        traces = traces.filter(node_id=node)
    if model:
        traces = traces.filter(model=model)
    if status:
        traces = traces.filter(status=status)
    if run:
        traces = traces.filter(run_id=run)
    if since:
        traces = traces.filter(created_at__gte=_parse_time(since, "since"))
    if until:
        traces = traces.filter(created_at__lt=_parse_time(until, "until"))
    for key, value in (metadata or {}).items():
        traces = traces.filter(**{f"metadata__{key}": value})
    return traces


def trace_get(*, workspace: Workspace, trace_id) -> Trace:
    return get_or_404(Trace.objects.filter(workspace=workspace), "trace", id=trace_id)

