"""Services: a router's configuration. Jobs (compare, train) are in jobs.py; the routed call is calls.py."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from distillation.models import NodeDeployment
from orchestra.routing import metrics
from orchestra.routing.features import DEFAULT_EMBEDDING, EMBEDDINGS
from routing.models import Router
from routing.selectors import node_of
from workflows import selectors as workflow_selectors
from workflows.errors import ValidationFailed
from workflows.model_calls import model_resolve
from workflows.models import ModelEndpoint, Workspace

ROUTED_NODE_TYPES = ("llm", "agent")  # the nodes that make model calls


def router_create(
    *,
    workspace: Workspace,
    name: str,
    workflow: str | None = None,
    node_id: str = "",
    candidates: list[str] | None = None,
    target: float = 0.95,
    verifier: dict | None = None,
    is_default: bool = False,
    embedding: str = DEFAULT_EMBEDDING,
) -> Router:
    """A node router (workflow and node_id) or a workspace router. A node router's candidates
    default to the node's deployed student (if any) and the node's own model."""
    router = Router(workspace=workspace, name=name, target=target, verifier=verifier or {}, embedding=embedding)
    if workflow is not None:
        router.workflow = workflow_selectors.workflow_get(workspace=workspace, workflow_id=workflow)
        router.node_id = node_id
        config = _routed_node(router)["config"]
        candidates = candidates or _default_candidates(router, config)
    elif node_id:
        raise ValidationFailed("node_id needs its workflow.", path="workflow")
    router.candidates = candidates or []
    _validate(router, is_default=is_default)
    with transaction.atomic():
        if is_default:
            Router.objects.filter(workspace=workspace, is_default=True).update(is_default=False)
        router.is_default = is_default
        router.save()
    return router


def router_update(*, router: Router, fields: dict[str, Any]) -> Router:
    """Change the name, candidates, target, verifier, embedding or default flag. New candidates or a
    new embedding discard the trained classifier (it predicted for others, or from other features);
    a new target re-calibrates the threshold on the last training report's curve, without retraining."""
    for field in ("candidates", "embedding"):
        if field in fields and fields[field] != getattr(router, field):
            setattr(router, field, fields[field])
            router.state, router.report, router.trained_at = None, None, None
    if "target" in fields:
        router.target = fields["target"]
        if router.state and router.report:
            _recalibrate(router)
    for field in ("name", "verifier"):
        if field in fields:
            setattr(router, field, fields[field])
    is_default = fields.get("is_default", router.is_default)
    _validate(router, is_default=is_default)
    with transaction.atomic():
        if is_default and not router.is_default:
            Router.objects.filter(workspace=router.workspace, is_default=True).update(is_default=False)
        router.is_default = is_default
        router.save()
    return router


def router_delete(*, router: Router) -> None:
    router.delete()


def _routed_node(router: Router) -> dict:
    node = node_of(workflow=router.workflow, node_id=router.node_id)
    if node is None:
        raise ValidationFailed(f"Workflow has no node {router.node_id!r}.", path="node_id")
    if node.get("type") not in ROUTED_NODE_TYPES:
        raise ValidationFailed(
            f"Node {router.node_id!r} is a {node.get('type')!r} node; only llm and agent nodes "
            f"make model calls to route.",
            path="node_id",
        )
    return node


def _default_candidates(router: Router, config: dict) -> list[str]:
    deployment = NodeDeployment.objects.filter(workflow=router.workflow, node_id=router.node_id).first()
    student = deployment.student_model if deployment is not None else ""
    model = config.get("model", "auto")
    try:
        teacher = model_resolve(workspace=router.workspace, name=model).name
    except LookupError:
        teacher = model
    if not student:
        raise ValidationFailed(
            f"Node {router.node_id!r} has no deployed student to route to: name the candidates, "
            f'cheapest first (e.g. ["small-model", "{teacher}"]).',
            path="candidates",
        )
    return [student, teacher]


def _validate(router: Router, *, is_default: bool) -> None:
    errors = []
    known = set(ModelEndpoint.objects.filter(workspace=router.workspace).values_list("name", flat=True))
    if not router.name or "/" in router.name or router.name == "auto" or router.name in known:
        errors.append(
            {
                "path": "name",
                "message": "A router's name is a non-empty name without '/' that is neither "
                "'auto' nor a registered model's name.",
            }
        )
    elif Router.objects.filter(workspace=router.workspace, name=router.name).exclude(pk=router.pk).exists():
        errors.append({"path": "name", "message": f"A router named {router.name!r} exists already."})
    if len(router.candidates) < 2 or len(set(router.candidates)) != len(router.candidates):
        errors.append({"path": "candidates", "message": "At least two different models, cheapest first."})
    errors += [
        {
            "path": f"candidates[{i}]",
            "message": f"Unknown model {name!r} (known: {', '.join(sorted(known)) or 'none registered'}).",
        }
        for i, name in enumerate(router.candidates)
        if name not in known
    ]
    if router.embedding not in EMBEDDINGS:
        errors.append({"path": "embedding", "message": f"The embedding is one of {', '.join(EMBEDDINGS)}."})
    if not 0 < router.target <= 1:
        errors.append({"path": "target", "message": "The target is a share of the strong model's quality, in (0, 1]."})
    if is_default and router.workflow_id:
        errors.append({"path": "is_default", "message": "Only a workspace router (no workflow) can be the default."})
    if (
        router.workflow_id
        and Router.objects.filter(workflow=router.workflow, node_id=router.node_id).exclude(pk=router.pk).exists()
    ):
        errors.append({"path": "node_id", "message": f"Node {router.node_id!r} has a router already."})
    if errors:
        raise ValidationFailed(errors)


def _recalibrate(router: Router) -> None:
    summary = metrics.summary([metrics.Point.from_dict(p) for p in router.report["curve"]], target=router.target)
    router.state = {**router.state, "threshold": summary["threshold"]}
    router.report = {**router.report, **summary}
