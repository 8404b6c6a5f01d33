"""What routing stores: routers (per node or per workspace), the prompts a compare job replayed to
every candidate, and the compare and training jobs."""

import uuid

from django.db import models
from django.db.models import Q

from orchestra.routing.features import DEFAULT_EMBEDDING, EMBEDDINGS
from workflows.models import Trace, Workflow, Workspace


class Router(models.Model):
    """Chooses, per call, the cheapest candidate whose answer is predicted to be acceptable.

    A node router (workflow and node_id set) answers the node's calls when its model is `auto` or
    the router's name; a workspace router answers calls that name it, and the default one also
    `auto` everywhere else (nodes without a router of their own, the gateway)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="routers")
    name = models.CharField(max_length=200)
    workflow = models.ForeignKey(Workflow, null=True, blank=True, on_delete=models.CASCADE, related_name="routers")
    node_id = models.CharField(max_length=200, blank=True, default="")
    is_default = models.BooleanField(default=False)
    candidates = models.JSONField(default=list, help_text="Model names, cheapest first; the last is the strong model")
    target = models.FloatField(default=0.95, help_text="Quality to keep, as a share of the strong model's")
    verifier = models.JSONField(default=dict, blank=True, help_text="{refusal, min_confidence}: what escalates")
    embedding = models.CharField(
        max_length=20,
        default=DEFAULT_EMBEDDING,
        choices=[(e, e) for e in EMBEDDINGS],
        help_text="The prompt embedding the next training uses: static (microseconds) or minilm (the full encoder)",
    )
    state = models.JSONField(null=True, blank=True, help_text="The trained classifier (orchestra.routing.Router)")
    report = models.JSONField(null=True, blank=True, help_text="The last training report: curve and metrics")
    trained_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="router_name_unique"),
            models.UniqueConstraint(
                fields=["workflow", "node_id"], condition=Q(workflow__isnull=False), name="router_node_unique"
            ),
            models.UniqueConstraint(fields=["workspace"], condition=Q(is_default=True), name="router_default_unique"),
        ]


class Comparison(models.Model):
    """One prompt of the router's traffic, answered by every candidate (by a compare job)."""

    router = models.ForeignKey(Router, on_delete=models.CASCADE, related_name="comparisons")
    trace = models.ForeignKey(
        Trace, null=True, on_delete=models.SET_NULL, related_name="+", help_text="The trace whose prompt was replayed"
    )
    answers = models.JSONField(default=dict, help_text="candidate -> the id of the trace that answered it")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [models.UniqueConstraint(fields=["router", "trace"], name="comparison_trace_unique")]


class RouterJob(models.Model):
    """A compare or training job on the `training` queue, under a lease (workflows/leases.py)."""

    KINDS = ["compare", "train"]
    STATUSES = ["queued", "running", "succeeded", "failed"]
    ACTIVE = ("queued", "running")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    router = models.ForeignKey(Router, on_delete=models.CASCADE, related_name="jobs")
    kind = models.CharField(max_length=20, choices=[(k, k) for k in KINDS])
    sample = models.PositiveIntegerField(default=0, help_text="compare: how many traces to replay")
    status = models.CharField(max_length=20, default="queued", choices=[(s, s) for s in STATUSES], db_index=True)
    progress = models.JSONField(default=dict, blank=True)
    report = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    enqueued_at = models.DateTimeField(null=True, blank=True)
    lease_owner = models.CharField(max_length=200, blank=True, default="")
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
