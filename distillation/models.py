"""What distillation stores: jobs and their events, node deployments and their audit trail, and
the per-call comparisons that shadow mode records."""

import uuid

from django.conf import settings
from django.db import models

from workflows.models import NumberedEvent, Workflow, Workspace


class DistillationJob(models.Model):
    STATUSES = ["queued", "running", "succeeded", "failed", "cancelled"]
    ACTIVE = ("queued", "running")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="distillation_jobs")
    # Both empty: the source is the workspace's traces (the gateway's too), chosen by `filters` alone.
    workflow = models.ForeignKey(
        Workflow, null=True, blank=True, on_delete=models.CASCADE, related_name="distillation_jobs"
    )
    node_id = models.CharField(max_length=200, blank=True, default="")
    filters = models.JSONField(default=dict, blank=True, help_text="Trace filters beyond workflow and node")
    teacher = models.CharField(max_length=200, help_text="The teacher's model endpoint name")
    student = models.CharField(max_length=500, help_text="Student base: a model endpoint name, HF id or folder")
    method = models.CharField(max_length=40)
    config = models.JSONField(default=dict, blank=True, help_text="The caller's overrides of the job config")
    status = models.CharField(max_length=20, default="queued", choices=[(s, s) for s in STATUSES], db_index=True)
    progress = models.JSONField(null=True, blank=True)
    losses = models.JSONField(default=list, blank=True)
    report = models.JSONField(null=True, blank=True)
    artifacts = models.JSONField(default=dict, blank=True)
    model = models.CharField(max_length=200, blank=True, default="", help_text="Registered endpoint, once deployed")
    error = models.TextField(blank=True, default="")
    cancel_requested = models.BooleanField(default=False)
    event_seq = models.PositiveIntegerField(default=0, help_text="last JobEvent.seq handed out")
    enqueued_at = models.DateTimeField(null=True, blank=True)
    lease_owner = models.CharField(max_length=200, blank=True, default="")
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]


class JobEvent(NumberedEvent):
    job = models.ForeignKey(DistillationJob, on_delete=models.CASCADE, related_name="events")

    class Meta(NumberedEvent.Meta):
        constraints = [models.UniqueConstraint(fields=["job", "seq"], name="job_event_seq_unique")]


class NodeDeployment(models.Model):
    """Which model answers an LLM node: its teacher, both (shadow), or the student."""

    STATES = ["teacher", "shadow", "student"]

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="node_deployments")
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="node_deployments")
    node_id = models.CharField(max_length=200)
    state = models.CharField(max_length=20, default="teacher", choices=[(s, s) for s in STATES])
    student_model = models.CharField(max_length=200, blank=True, default="")
    teacher_model = models.CharField(max_length=200, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workflow", "node_id"], name="node_deployment_unique")]


class DeploymentChange(models.Model):
    deployment = models.ForeignKey(NodeDeployment, on_delete=models.CASCADE, related_name="changes")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    from_state = models.CharField(max_length=20)
    to_state = models.CharField(max_length=20)
    model = models.CharField(max_length=200, blank=True, default="")
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]


class ShadowComparison(models.Model):
    """One shadowed call: the teacher answered, the student was asked the same, both traced. An
    agent's calls are its steps: `kind` says whether the teacher called tools or replied."""

    KINDS = ["reply", "tool_calls"]

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="shadow_comparisons")
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="shadow_comparisons")
    node_id = models.CharField(max_length=200)
    call_key = models.CharField(max_length=300, blank=True, default="")
    kind = models.CharField(max_length=20, default="reply", choices=[(k, k) for k in KINDS])
    teacher_trace = models.ForeignKey("workflows.Trace", null=True, on_delete=models.SET_NULL, related_name="+")
    student_trace = models.ForeignKey("workflows.Trace", null=True, on_delete=models.SET_NULL, related_name="+")
    agreement = models.BooleanField()
    teacher_latency_ms = models.FloatField(default=0.0)
    student_latency_ms = models.FloatField(null=True, blank=True)
    teacher_cost = models.FloatField(default=0.0)
    student_cost = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]


class TeacherScore(models.Model):
    """A teacher's top-k log-probs for a trace's recorded reply, asked for after the fact (a remote
    teacher that was not asked at call time): traces are append-only, so the score lives beside it."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="teacher_scores")
    trace = models.ForeignKey("workflows.Trace", on_delete=models.CASCADE, related_name="+")
    teacher = models.CharField(max_length=200, help_text="The model endpoint that scored the reply")
    top_logprobs = models.JSONField(help_text="Per reply token, [[token_id, logprob], ...], likeliest first")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["trace", "teacher"], name="teacher_score_unique")]


class EvaluationRun(models.Model):
    """A run of a job's workflow that measures one model driving the job's agent node end to end on
    a held-out case: the distillation selector has `endpoint` answer the node's calls in `run` (its
    trigger is "evaluation"), and success is reaching the case's `expected` answer."""

    MODELS = ["student", "teacher", "untrained"]
    EXPECTED = ["golden", "teacher"]

    job = models.ForeignKey(DistillationJob, on_delete=models.CASCADE, related_name="evaluation_runs")
    run = models.OneToOneField("workflows.Run", on_delete=models.CASCADE, related_name="evaluation")
    model = models.CharField(max_length=20, choices=[(m, m) for m in MODELS], help_text="Which model is evaluated")
    endpoint = models.CharField(max_length=200, help_text="The registered model that answers the node")
    case = models.ForeignKey("workflows.Run", null=True, on_delete=models.SET_NULL, related_name="+")
    expected = models.JSONField(help_text="The answer the node should give: the case's golden label, else its own")
    expected_from = models.CharField(max_length=20, choices=[(e, e) for e in EXPECTED])
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
