"""What Orchestra stores. Every object belongs to one workspace; selectors scope by it."""

import uuid

from django.conf import settings
from django.db import models

from orchestra.inference.base import BACKEND_LIST


class Workspace(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, default="member", choices=[("owner", "owner"), ("member", "member")])
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "workspace"], name="membership_unique")]


class ApiKey(models.Model):
    """Only a SHA-256 of the key is stored; the key itself is shown once at creation."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="api_keys")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=200, blank=True)
    prefix = models.CharField(max_length=16, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)


class ModelEndpoint(models.Model):
    BACKENDS = [(backend.name, backend.title) for backend in BACKEND_LIST]

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="models")
    name = models.CharField(max_length=200)
    backend = models.CharField(max_length=20, choices=BACKENDS)
    model = models.CharField(max_length=500, help_text="Remote model id, HF id or local folder")
    base_url = models.CharField(max_length=500, blank=True, default="")
    api_key_encrypted = models.TextField(blank=True, default="")
    price_in = models.FloatField(default=0.0, help_text="per million input tokens")
    price_out = models.FloatField(default=0.0, help_text="per million output tokens")
    options = models.JSONField(default=dict, blank=True)
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="model_name_unique")]


class Workflow(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="workflows")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    graph = models.JSONField(help_text="The draft graph, saved as it is, problems and all")
    revision = models.PositiveIntegerField(default=1, help_text="Bumped by every save: the draft's ETag")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]


class WorkflowVersion(models.Model):
    """An immutable snapshot of a workflow's graph, made by publishing."""

    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    graph = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-version"]
        constraints = [models.UniqueConstraint(fields=["workflow", "version"], name="version_unique")]


class Run(models.Model):
    STATUSES = ["queued", "running", "waiting", "succeeded", "failed", "cancelled"]
    ACTIVE = ("queued", "running", "waiting")
    # evaluation: started by distillation to measure a model end to end, never by an API caller;
    # its traces are kept out of everything that learns from or counts production traffic.
    TRIGGERS = [
        "editor",
        "api",
        "chat",
        "webhook",
        "schedule",
        "gateway",
        "subworkflow",
        "cli",
        "mcp",
        "rerun",
        "evaluation",
    ]

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="runs")
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="runs")
    version = models.PositiveIntegerField(null=True, blank=True, help_text="null: the draft")
    graph = models.JSONField(help_text="The graph this run executes, frozen at start")
    status = models.CharField(max_length=20, default="queued", choices=[(s, s) for s in STATUSES], db_index=True)
    trigger = models.CharField(max_length=20, default="api", choices=[(t, t) for t in TRIGGERS], db_index=True)
    inputs = models.JSONField(default=dict)
    outputs = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    parent_run = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="children")
    # An evaluation run, or a run one started (however deep): set at creation, so every trace
    # selection leaves evaluation traffic out with one column instead of walking up the parents.
    for_evaluation = models.BooleanField(default=False)
    cancel_requested = models.BooleanField(default=False)
    waiting_node = models.CharField(max_length=200, blank=True, default="")
    waiting = models.JSONField(null=True, blank=True)
    resume_value = models.JSONField(null=True, blank=True)
    has_resume_value = models.BooleanField(default=False)
    # How many times the run was retried from its failed node: each retry makes its model calls anew.
    retries = models.PositiveIntegerField(default=0)
    event_seq = models.PositiveIntegerField(default=0, help_text="last RunEvent.seq handed out")
    enqueued_at = models.DateTimeField(null=True, blank=True)
    lease_owner = models.CharField(max_length=200, blank=True, default="")
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # Each claim is a new attempt; a write is only accepted from the current one (workflows/leases.py).
    lease_attempt = models.PositiveIntegerField(default=0)
    # Claims that took the run over from a worker that died or stalled: past the limit it fails.
    worker_losses = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # How the run was started, beyond `trigger`: a replayed Idempotency-Key returns this run;
    # `trigger_ref` names the webhook or schedule; the finished run is POSTed to `callback_url`.
    idempotency_key = models.CharField(max_length=200, blank=True, default="")
    # A hash of what the request asked for (inputs, version, callback): the same key with another
    # body is refused instead of silently answering the first run.
    request_hash = models.CharField(max_length=64, blank=True, default="")
    trigger_ref = models.CharField(max_length=200, blank=True, default="", db_index=True)
    callback_url = models.CharField(max_length=2000, blank=True, default="")
    # Due times live here, not only as broker countdowns, so the sweeper fires what is overdue even
    # after the broker lost its messages: a waiting approval's timeout, and the next callback attempt.
    timeout_at = models.DateTimeField(null=True, blank=True, db_index=True)
    callback_next_attempt = models.PositiveIntegerField(default=0, help_text="0: no delivery pending")
    callback_due_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["workflow", "idempotency_key"],
                name="run_idempotency_unique",
                condition=~models.Q(idempotency_key=""),
            )
        ]


def in_evaluation(run: str = "run") -> models.Q:
    """Rows whose run (at the field path `run`, e.g. "teacher_trace__run") is an evaluation run or
    one it started: what the evaluated model did there is no production traffic to learn from."""
    return models.Q(**{f"{run}__for_evaluation": True})


class NodeRun(models.Model):
    # skipped: on a branch not taken; not_run: its run ended (failed, cancelled) before it started
    STATUSES = ["queued", "running", "waiting", "succeeded", "failed", "skipped", "cancelled", "not_run"]

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="node_runs")
    node_id = models.CharField(max_length=200)
    status = models.CharField(max_length=20, default="queued")
    input = models.JSONField(null=True, blank=True)
    output = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    model = models.CharField(max_length=200, blank=True, default="")
    tokens_in = models.PositiveIntegerField(default=0)
    tokens_out = models.PositiveIntegerField(default=0)
    cost = models.FloatField(default=0.0)
    latency_ms = models.FloatField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["run", "node_id"], name="node_run_unique")]


class NumberedEvent(models.Model):
    """One event of a stream numbered gaplessly per owner (a run, a distillation job); see events.py."""

    seq = models.PositiveIntegerField()
    type = models.CharField(max_length=40)
    data = models.JSONField(default=dict)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True
        ordering = ["seq"]


class RunEvent(NumberedEvent):
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="events")
    node_id = models.CharField(max_length=200, blank=True, default="")

    class Meta(NumberedEvent.Meta):
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="event_seq_unique")]


class Trace(models.Model):
    """One model call. Append-only: only `golden_output` (a human label) is ever written later."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="traces")
    workflow = models.ForeignKey(Workflow, null=True, blank=True, on_delete=models.SET_NULL, related_name="traces")
    version = models.PositiveIntegerField(null=True, blank=True)
    node_id = models.CharField(max_length=200, blank=True, default="", db_index=True)
    run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="traces")
    call_key = models.CharField(max_length=300, blank=True, default="")
    model = models.CharField(max_length=200, db_index=True)
    messages = models.JSONField()
    output = models.TextField(blank=True, default="")
    tokens_in = models.PositiveIntegerField(default=0)
    tokens_out = models.PositiveIntegerField(default=0)
    latency_ms = models.FloatField(default=0.0)
    cost = models.FloatField(default=0.0)
    # abandoned: the node stopped waiting for it (a timeout, a cancel); kept out of distillation.
    status = models.CharField(
        max_length=20, default="ok", choices=[("ok", "ok"), ("error", "error"), ("abandoned", "abandoned")]
    )
    error = models.TextField(blank=True, default="")
    metadata = models.JSONField(default=dict, blank=True)
    top_logprobs = models.JSONField(null=True, blank=True)
    tools = models.JSONField(null=True, blank=True, help_text="The tools offered, in OpenAI's shape")
    tool_calls = models.JSONField(null=True, blank=True, help_text="The tool calls the model made, OpenAI's shape")
    golden_output = models.TextField(null=True, blank=True)
    golden_updated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["run", "call_key"])]


# --- Triggers: chat, callbacks, webhooks, schedules (see workflows/triggers.py, chat.py) -------


class Conversation(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="conversations")
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="conversations")
    title = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]


class ChatMessage(models.Model):
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=20, choices=[("user", "user"), ("assistant", "assistant")])
    content = models.TextField()
    run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="chat_messages")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]


class SigningSecret(models.Model):
    """The workspace's secret for signing outgoing callbacks (stored encrypted, revealed on request)."""

    workspace = models.OneToOneField(Workspace, on_delete=models.CASCADE, related_name="signing_secret")
    secret_encrypted = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)


class CallbackAttempt(models.Model):
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="callback_attempts")
    attempt = models.PositiveIntegerField()
    url = models.CharField(max_length=2000)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]


class WebhookTrigger(models.Model):
    RESPONSE_MODES = [("async", "202 with the run id at once"), ("sync", "wait for the outputs")]

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="webhooks")
    name = models.CharField(max_length=200, blank=True, default="")
    token_prefix = models.CharField(max_length=16)
    token_hash = models.CharField(max_length=64, unique=True)
    input_mapping = models.JSONField(default=dict, blank=True)
    response_mode = models.CharField(max_length=10, default="async", choices=RESPONSE_MODES)
    wait_s = models.FloatField(default=30.0)
    secret_encrypted = models.TextField(blank=True, default="", help_text="HMAC secret for incoming bodies")
    rate_limit_per_minute = models.PositiveIntegerField(default=60, help_text="0: unlimited")
    callback_url = models.CharField(max_length=2000, blank=True, default="")
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]


class WebhookCall(models.Model):
    """One request to a webhook, as its owner sees it in the Triggers panel: when, the answer's
    status, the run it started or why it was refused. Never the body, headers or signature.
    The last WEBHOOK_CALLS_KEPT per webhook are kept (workflows.triggers.webhook_call_record)."""

    webhook = models.ForeignKey(WebhookTrigger, on_delete=models.CASCADE, related_name="calls")
    at = models.DateTimeField(auto_now_add=True)
    status_code = models.PositiveIntegerField()
    run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-id"]  # ids grow in the order calls are recorded
        indexes = [models.Index(fields=["webhook", "-id"], name="webhook_call_newest")]


class RateLimitWindow(models.Model):
    """A fixed-window counter, used when there is no Redis."""

    key = models.CharField(max_length=200)
    window = models.BigIntegerField(help_text="epoch minute")
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["key", "window"], name="rate_limit_window_unique")]


class Schedule(models.Model):
    OVERLAP_POLICIES = [("skip", "skip while the previous run is active"), ("allow", "allow overlapping runs")]

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="schedules")
    name = models.CharField(max_length=200, blank=True, default="")
    cron = models.CharField(max_length=200)
    timezone = models.CharField(max_length=64, default="UTC")
    inputs = models.JSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)
    overlap_policy = models.CharField(max_length=10, default="skip", choices=OVERLAP_POLICIES)
    callback_url = models.CharField(max_length=2000, blank=True, default="")
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="orchestra_schedule",
    )
    last_fired_at = models.DateTimeField(null=True, blank=True)
    # Why the last firing started no run ("" once one starts): shown where the schedule is.
    last_error = models.TextField(blank=True, default="")
    next_run_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]


# --- MCP servers a workspace registers: their tools are agents' tools (see workflows/mcp.py) -------


class McpServer(models.Model):
    """A remote MCP server (streamable HTTP). URL and headers are encrypted: either may carry a secret."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="mcp_servers")
    name = models.CharField(max_length=200)
    url_encrypted = models.TextField()
    headers_encrypted = models.TextField(blank=True, default="", help_text="A JSON object of HTTP headers, encrypted")
    tools = models.JSONField(default=list, blank=True, help_text="[{name, description, input_schema}] as last fetched")
    tools_refreshed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="mcp_server_name_unique")]

    def __str__(self) -> str:
        return self.name


class Credential(models.Model):
    """A secret of the workspace (an API token, a password), referenced by name from HTTP nodes and
    tools as {{ credentials.NAME }}: encrypted here, decrypted only to send a request."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="credentials")
    name = models.CharField(max_length=64)
    value_encrypted = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    rotated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="credential_name_unique")]
