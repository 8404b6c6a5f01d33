"""Selectors: everything that reads, always scoped to one workspace."""

import re
import uuid
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db.models import Case, FloatField, OuterRef, Q, QuerySet, Subquery, Sum, When
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.db.models.lookups import Exact, GreaterThan, GreaterThanOrEqual, LessThan, LessThanOrEqual, Regex
from django.utils.dateparse import parse_datetime

from workflows.errors import NotFound, ValidationFailed
from workflows.models import ApiKey, Membership, ModelEndpoint, Run, Trace, Workflow, WorkflowVersion, Workspace


def get_or_404(queryset: QuerySet, what: str, **lookup):
    try:
        return queryset.get(**lookup)
    except (queryset.model.DoesNotExist, ValidationError, ValueError):
        raise NotFound(f"No such {what} in this workspace.", path="id") from None


def workspace_for_user(*, user) -> Workspace | None:
    """A browser session works in the user's first workspace."""
    return Workspace.objects.filter(memberships__user=user).order_by("memberships__id").first()


def workflow_list(*, workspace: Workspace) -> QuerySet:
    """Most recently edited first, then by id: a stable order."""
    last_run = Run.objects.filter(workflow=OuterRef("pk"), parent_run__isnull=True).order_by("-created_at")
    latest = WorkflowVersion.objects.filter(workflow=OuterRef("pk")).order_by("-version")
    return (
        Workflow.objects.filter(workspace=workspace)
        .annotate(
            last_run_id=Subquery(last_run.values("id")[:1]),
            last_run_status=Subquery(last_run.values("status")[:1]),
            last_run_finished_at=Subquery(last_run.values("finished_at")[:1]),
            published_version=Subquery(latest.values("version")[:1]),
            published_graph=Subquery(latest.values("graph")[:1]),
        )
        .order_by("-updated_at", "-id")
    )


def workflow_get(*, workspace: Workspace, workflow_id) -> Workflow:
    return get_or_404(workflow_list(workspace=workspace), "workflow", id=workflow_id)


def version_get(*, workflow: Workflow, version) -> WorkflowVersion:
    return get_or_404(workflow.versions.all(), "version", version=version)


def uuid_param(value: str, path: str) -> uuid.UUID:
    """A filter's id, or a 400 naming the parameter (not a 500 from the database)."""
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise ValidationFailed(f"{path} is an id (a UUID), got {value!r}.", path=path) from None


def run_list(*, workspace: Workspace, workflow=None, status: str | None = None, trigger: str | None = None) -> QuerySet:
    runs = (
        Run.objects.filter(workspace=workspace)
        .annotate(
            total_tokens_in=Sum("node_runs__tokens_in"),
            total_tokens_out=Sum("node_runs__tokens_out"),
            total_cost=Sum("node_runs__cost"),
        )
        .order_by("-created_at", "-id")
    )
    if workflow:
        runs = runs.filter(workflow_id=uuid_param(workflow, "workflow"))
    if status:
        if status not in Run.STATUSES:
            raise ValidationFailed(f"Unknown status {status!r}; one of {', '.join(Run.STATUSES)}.", path="status")
        runs = runs.filter(status=status)
    if trigger:
        if trigger not in Run.TRIGGERS:
            raise ValidationFailed(f"Unknown trigger {trigger!r}; one of {', '.join(Run.TRIGGERS)}.", path="trigger")
        runs = runs.filter(trigger=trigger)
    return runs


def run_get(*, workspace: Workspace, run_id) -> Run:
    return get_or_404(Run.objects.filter(workspace=workspace), "run", id=run_id)


def run_totals(*, run: Run) -> dict:
    """Tokens and cost over the run's nodes (annotated by run_list, else aggregated here)."""
    if hasattr(run, "total_cost"):
        return {
            "tokens_in": run.total_tokens_in or 0,
            "tokens_out": run.total_tokens_out or 0,
            "cost": run.total_cost or 0,
        }
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


BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


def trace_list(
    *,
    workspace: Workspace,
    workflow=None,
    node: str | None = None,
    model: str | None = None,
    since: str | None = None,
    until: str | None = None,
    status: str | None = None,
    run=None,
    metadata: dict[str, str] | None = None,
    golden: str | None = None,
) -> QuerySet:
    traces = Trace.objects.filter(workspace=workspace).order_by("-created_at", "-id")
    if workflow:
        traces = traces.filter(workflow_id=uuid_param(workflow, "workflow"))
    if node:
        traces = traces.filter(node_id=node)
    if model:
        traces = traces.filter(model=model)
    if status:
        traces = traces.filter(status=status)
    if run:
        traces = traces.filter(run_id=uuid_param(run, "run"))
    if golden is not None:
        if golden.lower() not in BOOLEANS:
            raise ValidationFailed("golden is true or false.", path="golden")
        traces = traces.filter(golden_output__isnull=not BOOLEANS[golden.lower()])
    if since:
        traces = traces.filter(created_at__gte=_parse_time(since, "since"))
    if until:
        traces = traces.filter(created_at__lt=_parse_time(until, "until"))
    for key, value in (metadata or {}).items():
        traces = traces.filter(_metadata_condition(key, value))
    return traces


METADATA_PARAM = re.compile(r"^(?P<key>[A-Za-z0-9_-]{1,100})(?:\[(?P<op>[a-z]+)\])?$")
METADATA_COMPARISONS = {"gt": GreaterThan, "gte": GreaterThanOrEqual, "lt": LessThan, "lte": LessThanOrEqual}
# A JSON number as text, as `->>` / json_extract give it (also a number recorded as a string).
NUMBER_TEXT = r"^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$"


def _metadata_condition(param: str, value: str):
    """`meta.KEY=VALUE` (numbers as numbers: 5, 5.0 and "5" are equal) or `meta.KEY[gt|gte|lt|lte]=N`.

    The key is data, never part of the lookup ("x__regex" would otherwise pick an operator); a
    numeric view of the value is only cast where the text is a number (CASE keeps PostgreSQL from
    casting "acme")."""
    match = METADATA_PARAM.match(param)
    if match is None or "__" in match["key"]:
        raise ValidationFailed(
            f"meta.{param}: a metadata key is letters, digits, '-' and single '_', optionally followed by "
            "[gt], [gte], [lt] or [lte].",
            path=f"meta.{param}",
        )
    key, op = match["key"], match["op"]
    if op is not None and op not in METADATA_COMPARISONS:
        raise ValidationFailed(f"meta.{param}: the comparisons are gt, gte, lt and lte.", path=f"meta.{param}")
    number = _number(value)
    if op is not None and number is None:
        raise ValidationFailed(f"meta.{param} compares numbers; {value!r} is not one.", path=f"meta.{param}")
    text = KeyTextTransform(key, "metadata")
    numeric = Case(When(Regex(text, NUMBER_TEXT), then=Cast(text, FloatField())), output_field=FloatField())
    if op is None and number is None:
        return Q(**{f"metadata__{key}": value})
    return (METADATA_COMPARISONS[op] if op else Exact)(numeric, number)


def _number(value: str) -> float | None:
    if not re.match(NUMBER_TEXT, value.strip()):
        return None
    return float(value)


def trace_get(*, workspace: Workspace, trace_id) -> Trace:
    return get_or_404(Trace.objects.filter(workspace=workspace), "trace", id=trace_id)


def api_key_list(*, workspace: Workspace, user) -> QuerySet:
    """A member's own keys; an owner's view holds every key of the workspace. Newest first."""
    keys = ApiKey.objects.filter(workspace=workspace).select_related("user").order_by("-created_at", "-id")
    if Membership.objects.filter(workspace=workspace, user=user, role="owner").exists():
        return keys
    return keys.filter(user=user)


def api_key_get(*, workspace: Workspace, user, key_id) -> ApiKey:
    return get_or_404(api_key_list(workspace=workspace, user=user), "API key", id=key_id)


def member_list(*, workspace: Workspace) -> QuerySet:
    return Membership.objects.filter(workspace=workspace).select_related("user").order_by("user__username")


def member_get(*, workspace: Workspace, username: str) -> Membership:
    return get_or_404(member_list(workspace=workspace), "member", user__username=username)
