"""Services: everything that writes. Views and tasks call these with plain arguments."""

import hashlib
from datetime import timedelta
import secrets
import uuid
from pathlib import Path
from typing import Any

import httpx
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from orchestra import engine
from orchestra.egress import RequestRefused, checked_address
from orchestra.inference import InferenceError, ModelSpec
from orchestra.inference.base import BACKENDS, is_hub_id
from workflows import credentials, crypto
from workflows.errors import Conflict, Forbidden, NotFound, ValidationFailed
from workflows.models import ApiKey, Membership, ModelEndpoint, Trace, Workflow, WorkflowVersion, Workspace

EXPORT_FORMAT = 1

# --- Workspaces, users and API keys ---------------------------------------------------------


def workspace_create(*, name: str, owner=None) -> Workspace:
    workspace = Workspace.objects.create(name=name)
    if owner is not None:
        Membership.objects.create(user=owner, workspace=workspace, role="owner")
    return workspace


def user_create(
    *, username: str, password: str | None = None, workspace: Workspace | None = None, role: str = "member"
):
    user = get_user_model().objects.create_user(username=username, password=password)
    if workspace is not None:
        Membership.objects.create(user=user, workspace=workspace, role=role)
    return user


def workspace_role(*, user, workspace: Workspace) -> str | None:
    """ "owner" (also manages models, MCP servers, secrets, members and everyone's keys), "member"
    (builds and runs workflows, manages their own keys), or None for someone outside it."""
    return Membership.objects.filter(user=user, workspace=workspace).values_list("role", flat=True).first()


@transaction.atomic
def membership_remove(*, workspace: Workspace, user) -> None:
    """Remove a member; their keys to this workspace die with the membership."""
    membership = Membership.objects.select_for_update().filter(workspace=workspace, user=user).first()
    if membership is None:
        raise NotFound("No such member in this workspace.", path="user")
    if (
        membership.role == "owner"
        and not Membership.objects.filter(workspace=workspace, role="owner").exclude(pk=membership.pk).exists()
    ):
        raise Conflict("The last owner cannot be removed: make another member an owner first.", path="user")
    membership.delete()
    ApiKey.objects.filter(workspace=workspace, user=user, revoked_at__isnull=True).update(revoked_at=timezone.now())


def _hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def api_key_create(*, user, workspace: Workspace, name: str = "") -> tuple[ApiKey, str]:
    """Create a key; the plaintext is returned once and only its hash is stored."""
    if not Membership.objects.filter(user=user, workspace=workspace).exists():
        raise ValidationFailed(f"User {user.username!r} is not a member of workspace {workspace.name!r}.", path="user")
    key = "orc_" + secrets.token_urlsafe(32)
    api_key = ApiKey.objects.create(workspace=workspace, user=user, name=name, prefix=key[:12], key_hash=_hash_key(key))
    return api_key, key


def api_key_authenticate(*, key: str) -> ApiKey | None:
    """The live key, or None: revoked, its user inactive, or no longer a member of its workspace."""
    api_key = (
        ApiKey.objects.select_related("user", "workspace")
        .filter(key_hash=_hash_key(key), revoked_at__isnull=True, user__memberships__workspace=F("workspace"))
        .first()
    )
    if api_key is None or not api_key.user.is_active:
        return None
    now = timezone.now()
    # Once a minute is precise enough for "last used", and spares every request a committed write.
    if api_key.last_used_at is None or now - api_key.last_used_at > timedelta(seconds=60):
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
    return api_key


def api_key_revoke(*, api_key: ApiKey, by=None) -> ApiKey:
    """Revoke a key: its own user's, or any key of the workspace for an owner."""
    if by is not None and by.pk != api_key.user_id and workspace_role(user=by, workspace=api_key.workspace) != "owner":
        raise Forbidden("Only the key's own user or a workspace owner may revoke it.", path="id")
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
    return api_key


# --- Workflows ------------------------------------------------------------------------------


def graph_problems(*, workspace: Workspace, graph: Any, workflow: Workflow | None = None) -> list[dict]:
    """Every problem of a graph, as {path, message}; [] for one that publishes and runs.

    The workflows it calls are looked up in the workspace; `workflow`, the one whose graph this is, lets
    calls that come back to it be found even before it is published.
    """
    found: dict[str, engine.CalledWorkflow | None] = {}

    def find_workflow(workflow_id: str) -> engine.CalledWorkflow | None:
        if workflow_id not in found:  # validation asks about a workflow more than once
            found[workflow_id] = _called_workflow(workspace=workspace, workflow_id=workflow_id)
        return found[workflow_id]

    return [
        e.as_dict()
        for e in engine.validate_graph(
            graph, find_workflow=find_workflow, workflow_id=str(workflow.id) if workflow else None
        )
    ] + credentials.credential_problems(workspace=workspace, graph=graph)


def _called_workflow(*, workspace: Workspace, workflow_id: str) -> engine.CalledWorkflow | None:
    """What a call of the workflow runs: its latest published version, else its draft (as runs.graph_for
    picks with no version), or None when the workspace has no such workflow."""
    try:
        workflow = Workflow.objects.filter(workspace=workspace, id=uuid.UUID(str(workflow_id))).first()
    except ValueError:
        return None
    if workflow is None:
        return None
    latest = workflow.versions.order_by("-version").values_list("graph", flat=True).first()
    return engine.CalledWorkflow(name=workflow.name, graph=workflow.graph if latest is None else latest)


def _draft_graph(graph: Any) -> dict:
    """A draft is stored as it is, problems and all (the editor shows them), if it is a graph at all."""
    if (
        not isinstance(graph, dict)
        or not isinstance(graph.get("nodes", []), list)
        or not isinstance(graph.get("edges", []), list)
    ):
        raise ValidationFailed("The graph must be a JSON object with 'nodes' and 'edges' lists.", path="graph")
    return graph


def _validate_graph(*, workspace: Workspace, graph: Any, workflow: Workflow | None = None) -> dict:
    """For what must run: publishing, and starting a run of the draft."""
    if problems := graph_problems(workspace=workspace, graph=_draft_graph(graph), workflow=workflow):
        raise ValidationFailed(problems)
    return graph


def _validate_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValidationFailed("A workflow needs a non-empty name.", path="name")
    if len(name) > 200:
        raise ValidationFailed("The name is longer than 200 characters.", path="name")
    return name.strip()


def workflow_create(*, workspace: Workspace, name: str, graph: dict, description: str = "") -> Workflow:
    # Every node of a new workflow is new: one without a version gets its type's current version.
    return _workflow_insert(workspace=workspace, name=name, graph=engine.with_versions(graph), description=description)


def _workflow_insert(*, workspace: Workspace, name: str, graph: Any, description: Any) -> Workflow:
    return Workflow.objects.create(
        workspace=workspace,
        name=_validate_name(name),
        graph=_draft_graph(graph),
        description=_validate_description(description),
    )


def _validate_description(description: Any) -> str:
    if description is None:
        return ""
    if not isinstance(description, str) or len(description) > 10_000:
        raise ValidationFailed("description is text of at most 10,000 characters.", path="description")
    return description


@transaction.atomic
def workflow_update(
    *,
    workflow: Workflow,
    name: str | None = None,
    graph: dict | None = None,
    description: str | None = None,
    revision: Any = None,
) -> Workflow:
    """Save the draft (invalid graphs too). With `revision`, a save based on an older revision is a
    409: two editors never silently overwrite each other."""
    workflow = Workflow.objects.select_for_update().get(pk=workflow.pk)
    if revision is not None and str(revision) != str(workflow.revision):
        raise Conflict(
            f"The draft was saved by someone else since revision {revision} (it is now at revision "
            f"{workflow.revision}): reload it and apply your change again.",
            path="revision",
        )
    if name is not None:
        workflow.name = _validate_name(name)
    if graph is not None:  # nodes the draft had keep their version; the ones added get their type's current one
        workflow.graph = engine.with_versions(_draft_graph(graph), previous=workflow.graph)
    if description is not None:
        workflow.description = _validate_description(description)
    workflow.revision += 1
    workflow.save()
    return workflow


def workflow_delete(*, workflow: Workflow) -> None:
    workflow.delete()


@transaction.atomic
def workflow_publish(*, workflow: Workflow) -> tuple[WorkflowVersion, bool]:
    """Snapshot the draft as the next immutable version (only a valid one: a version always runs);
    a draft equal to the latest version is that version. Returns (version, created)."""
    workflow = Workflow.objects.select_for_update().get(pk=workflow.pk)
    _validate_graph(workspace=workflow.workspace, graph=workflow.graph, workflow=workflow)
    latest = workflow.versions.order_by("-version").first()
    if latest is not None and latest.graph == workflow.graph:
        return latest, False
    version = WorkflowVersion.objects.create(
        workflow=workflow, version=(latest.version if latest else 0) + 1, graph=workflow.graph
    )
    return version, True


@transaction.atomic
def workflow_restore(*, workflow: Workflow, version: WorkflowVersion) -> Workflow:
    """Make a published version the draft again (a new revision; the versions stay as they are)."""
    workflow = Workflow.objects.select_for_update().get(pk=workflow.pk)
    workflow.graph = version.graph
    workflow.revision += 1
    workflow.save(update_fields=["graph", "revision", "updated_at"])
    return workflow


def workflow_export(*, workflow: Workflow) -> dict:
    return {
        "orchestra": EXPORT_FORMAT,
        "name": workflow.name,
        "description": workflow.description,
        "graph": workflow.graph,
    }


def workflow_import(*, workspace: Workspace, data: Any) -> Workflow:
    if not isinstance(data, dict) or "graph" not in data:
        raise ValidationFailed(
            "An import file is a JSON object with 'name' and 'graph' (as written by export).", path=""
        )
    if data.get("orchestra", EXPORT_FORMAT) != EXPORT_FORMAT:
        raise ValidationFailed(
            f"Unsupported export format {data.get('orchestra')!r}; expected {EXPORT_FORMAT}.", path="orchestra"
        )
    # An export's nodes say their versions already: a node without one is version 1 (as in every export
    # from before versions), so none is written here.
    return _workflow_insert(
        workspace=workspace,
        name=data.get("name") or "Imported workflow",
        graph=data["graph"],
        description=data.get("description") or "",
    )


# --- Model endpoints ------------------------------------------------------------------------

MODEL_FIELDS = ("backend", "model", "base_url", "price_in", "price_out", "options", "is_default")


def model_folder_allowed(model: str) -> bool:
    """A tenant may name a hub id, or a folder inside one of the operator's ORCHESTRA_MODEL_DIRS."""
    if is_hub_id(model):
        return True
    folder = Path(model).expanduser().resolve()
    return any(folder.is_relative_to(root) for root in settings.ORCHESTRA_MODEL_DIRS)


def _validate_model_fields(fields: dict, *, trusted_path: bool) -> list[dict]:
    errors = []
    backend = fields.get("backend")
    if backend not in BACKENDS:
        errors.append({"path": "backend", "message": f"Unknown backend {backend!r}; one of {', '.join(BACKENDS)}."})
    if not fields.get("model") or not isinstance(fields["model"], str):
        errors.append({"path": "model", "message": "Name the model: a remote model id, a HF id or a local folder."})
    elif backend == "transformers" and not trusted_path and not model_folder_allowed(fields["model"]):
        roots = ", ".join(map(str, settings.ORCHESTRA_MODEL_DIRS)) or "none"
        errors.append(
            {
                "path": "model",
                "message": f"A transformers model is a Hugging Face id (org/name) or a "
                f"folder under the operator's model folders ({roots}).",
            }
        )
    if backend == "openai":
        try:  # the egress guard again at every call: DNS may change after this check
            checked_address(
                httpx.URL(str(fields.get("base_url") or "")), allow_private=settings.ORCHESTRA_HTTP_ALLOW_PRIVATE
            )
        except (RequestRefused, httpx.InvalidURL) as exc:
            errors.append(
                {
                    "path": "base_url",
                    "message": f"An 'openai' backend needs an http(s) base_url the "
                    f"platform may reach, e.g. http://vllm:8000/v1: {exc}.",
                }
            )
    for price in ("price_in", "price_out"):
        value = fields.get(price, 0)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
            errors.append({"path": price, "message": "A price is a number >= 0 (per million tokens)."})
    if not isinstance(fields.get("options", {}), dict):
        errors.append({"path": "options", "message": "options must be an object."})
    return errors


@transaction.atomic
def model_endpoint_save(
    *,
    workspace: Workspace,
    name: str,
    fields: dict,
    api_key: str | None = None,
    endpoint: ModelEndpoint | None = None,
    trusted_path: bool = False,
) -> ModelEndpoint:
    """Create (endpoint=None) or update a model endpoint; `api_key` is stored encrypted.

    `trusted_path`: the platform or an operator's command chose `model` (a student a job trained,
    the demo model), so any folder goes; a tenant's folder must lie in ORCHESTRA_MODEL_DIRS."""
    errors = []  # every problem at once, not the first
    if endpoint is None:
        if not isinstance(name, str) or not name.strip() or "/" in name:
            errors.append({"path": "name", "message": "A model needs a name without '/'."})
        elif ModelEndpoint.objects.filter(workspace=workspace, name=name).exists():
            errors.append({"path": "name", "message": f"A model named {name!r} already exists."})
        endpoint = ModelEndpoint(workspace=workspace, name=name if isinstance(name, str) else "")
    errors += [{"path": f, "message": "Unknown field."} for f in sorted(set(fields) - set(MODEL_FIELDS))]
    merged = {f: getattr(endpoint, f) for f in MODEL_FIELDS} | {k: v for k, v in fields.items() if k in MODEL_FIELDS}
    # A folder is checked when it is set: a price change keeps a platform-registered student's folder.
    errors += _validate_model_fields(merged, trusted_path=trusted_path or not {"model", "backend"} & set(fields))
    if errors:
        raise ValidationFailed(errors)
    if (
        endpoint.pk is not None
        and endpoint.api_key_encrypted
        and api_key is None
        and fields.get("base_url", endpoint.base_url) != endpoint.base_url
    ):
        raise ValidationFailed(
            'A new base_url needs the api_key again (or "" for none): a stored key is '
            "never sent to a host it was not given for.",
            path="api_key",
        )
    for field, value in fields.items():
        setattr(endpoint, field, value)
    if api_key is not None:
        endpoint.api_key_encrypted = crypto.encrypt(api_key)
    try:  # the inference layer knows each backend's options: refuse now, not at the first run
        model_spec(endpoint)
    except InferenceError as exc:
        raise ValidationFailed(str(exc), path="options") from None
    if endpoint.is_default:
        ModelEndpoint.objects.filter(workspace=workspace, is_default=True).exclude(pk=endpoint.pk).update(
            is_default=False
        )
    endpoint.save()
    return endpoint


def model_endpoint_delete(*, endpoint: ModelEndpoint) -> None:
    endpoint.delete()


def model_spec(endpoint: ModelEndpoint) -> ModelSpec:
    return ModelSpec(
        name=endpoint.name,
        backend=endpoint.backend,
        model=endpoint.model,
        base_url=endpoint.base_url or None,
        api_key=crypto.decrypt(endpoint.api_key_encrypted) or None,
        price_in=endpoint.price_in,
        price_out=endpoint.price_out,
        options=dict(endpoint.options),
        allow_private=settings.ORCHESTRA_HTTP_ALLOW_PRIVATE,
    )


# --- Traces ---------------------------------------------------------------------------------


def trace_set_golden(*, trace: Trace, golden_output: str | None) -> Trace:
    """The only write a trace ever gets after creation: a human's corrected output."""
    if golden_output is not None and not isinstance(golden_output, str):
        raise ValidationFailed("golden_output must be a string (or null to clear it).", path="golden_output")
    trace.golden_output = golden_output
    trace.golden_updated_at = timezone.now()
    trace.save(update_fields=["golden_output", "golden_updated_at"])
    return trace
