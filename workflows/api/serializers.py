"""The API's bodies, one input and one output serializer per shape: the OpenAPI document at
/api/schema (and the editor's TypeScript types, frontend/src/api/schema.d.ts) is generated from
them, views check bodies with the inputs (workflows/api/inputs.parse) and answer through the
outputs, so each field is listed once. The run's shape lives in workflows/documents.py, which
callbacks share; tests/platform/test_schema_fuzz.py checks real answers against the document."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from orchestra.inference.base import BACKENDS
from workflows import chat, mcp
from workflows.api.openapi import VersionChoiceField
from workflows.documents import ErrorItem, OptionalText, RunOut, Shape, Time  # noqa: F401  (RunOut: for the views)
from workflows.models import Membership, Run, Schedule, Trace, WebhookTrigger
from workflows.triggers import MAX_WEBHOOK_WAIT_S, WEBHOOK_CALLS_KEPT


def choices(pairs) -> list[str]:
    return [p[0] if isinstance(p, tuple) else p for p in pairs]


class Present(serializers.BooleanField):
    """Whether a stored secret is set: the answer says so, never what it is."""

    def to_representation(self, value) -> bool:
        return bool(value)


class FromContext(serializers.CharField):
    """A value the view has and the object does not (a token shown once)."""

    def get_attribute(self, instance):
        return self.context[self.field_name]


# --- Auth ---------------------------------------------------------------------------------------


class LoginIn(serializers.Serializer):
    username = serializers.CharField(trim_whitespace=False)
    password = serializers.CharField(write_only=True, trim_whitespace=False)


class UserOut(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()


class WorkspaceOut(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()


class MeOut(serializers.Serializer):
    """Of {"user": the signed-in user, "workspace": theirs or None}."""

    user = UserOut()
    workspace = WorkspaceOut(allow_null=True)


class ApiKeyIn(serializers.Serializer):
    name = serializers.CharField(required=False, allow_blank=True, max_length=200)


class ApiKeyOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    prefix = serializers.CharField()
    user = serializers.CharField(source="user.username", help_text="The member's username.")
    created_at = Time(allow_null=True)
    last_used_at = Time(allow_null=True)
    revoked_at = Time(allow_null=True)


class ApiKeyCreatedOut(ApiKeyOut):
    key = FromContext(help_text="The key itself, shown this once.")


class MemberOut(serializers.Serializer):
    user = serializers.CharField(source="user.username")
    role = serializers.ChoiceField(choices=choices(Membership._meta.get_field("role").choices))
    joined_at = Time(source="created_at", allow_null=True)


# --- Node types and workflows -----------------------------------------------------------------


class NodeTypeOut(serializers.Serializer):
    type = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    category = serializers.CharField()
    version = serializers.JSONField(help_text="The version new nodes are built with.")
    versions = serializers.JSONField(help_text="Every version a stored node may name.")
    config_schema = serializers.DictField(help_text="The JSON Schema of the node's config.")
    outlets = serializers.ListField(child=serializers.CharField())
    dynamic = serializers.BooleanField(required=False, help_text="Present (true) when outlets come from the config.")


class PositionSerializer(serializers.Serializer):
    x = serializers.FloatField()
    y = serializers.FloatField()


class RetrySerializer(serializers.Serializer):
    attempts = serializers.IntegerField(required=False)
    backoff_s = serializers.FloatField(required=False)


class NodeSerializer(serializers.Serializer):
    id = serializers.CharField()
    type = serializers.CharField()
    name = serializers.CharField(required=False)
    version = serializers.JSONField(required=False, help_text="The node type's version the node was built with.")
    config = serializers.DictField(required=False, help_text="Described per type by GET /api/node-types.")
    position = PositionSerializer(required=False)
    retry = RetrySerializer(required=False)
    timeout_s = serializers.FloatField(required=False)
    on_error = serializers.ChoiceField(choices=["fail", "continue", "branch"], required=False)


class EdgeSerializer(serializers.Serializer):
    source = serializers.CharField()
    target = serializers.CharField()
    branch = serializers.CharField(required=False)


class GraphSerializer(serializers.Serializer):
    nodes = NodeSerializer(many=True)
    edges = EdgeSerializer(many=True)


@extend_schema_field(GraphSerializer)
class DraftGraphField(serializers.DictField):
    """A graph as the editor saves it: any JSON object, so a draft is stored with its problems
    (listed in the answer's `problems`, refused only on publish and run)."""


class WorkflowIn(serializers.Serializer):
    name = serializers.CharField(required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True)
    graph = DraftGraphField(required=False)
    revision = serializers.IntegerField(required=False, help_text="The revision edited (or the If-Match header).")


class LastRunOut(serializers.Serializer):
    """Of a workflow as selectors.workflow_list annotates it."""

    id = serializers.CharField(source="last_run_id")
    status = serializers.ChoiceField(source="last_run_status", choices=Run.STATUSES)
    finished_at = Time(source="last_run_finished_at", allow_null=True)


class WorkflowOut(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    graph = DraftGraphField()
    revision = serializers.IntegerField(help_text="Bumped by every save; also the ETag.")
    published_version = serializers.IntegerField(allow_null=True)
    unpublished_changes = serializers.SerializerMethodField()
    last_run = serializers.SerializerMethodField()
    created_at = Time(allow_null=True)
    updated_at = Time(allow_null=True)

    def get_unpublished_changes(self, workflow) -> bool:
        """The draft differs from what runs (the latest version); false before the first publish too."""
        return getattr(workflow, "published_version", None) is not None and workflow.published_graph != workflow.graph

    @extend_schema_field(LastRunOut(allow_null=True))
    def get_last_run(self, workflow) -> dict | None:
        return LastRunOut(workflow).data if getattr(workflow, "last_run_id", None) else None


class WorkflowDetailOut(WorkflowOut):
    """Context `problems`: the draft's, from services.graph_problems."""

    problems = serializers.SerializerMethodField()

    @extend_schema_field(ErrorItem(many=True, help_text="What stops the draft from being published; [] when none."))
    def get_problems(self, workflow) -> list[dict]:
        return self.context["problems"]


class WorkflowExportSerializer(serializers.Serializer):
    """What export writes and import reads."""

    orchestra = serializers.IntegerField(help_text="The export format's version.")
    name = serializers.CharField(allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True)
    graph = DraftGraphField()


class WorkflowFileIn(serializers.Serializer):
    file = serializers.FileField(help_text="A file made by the export endpoint.")


class VersionOut(Shape):
    version = serializers.IntegerField()
    created_at = Time(allow_null=True)
    graph = DraftGraphField(required=False, help_text="Left out of the list of versions.")


# --- Runs -------------------------------------------------------------------------------------


class RunStartIn(serializers.Serializer):
    inputs = serializers.DictField(required=False)
    version = VersionChoiceField(required=False)
    wait = serializers.FloatField(required=False, min_value=0, max_value=300, help_text="Seconds to wait for the end.")
    callback_url = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    trigger = serializers.ChoiceField(choices=["api", "editor"], required=False)


class PageQuery(serializers.Serializer):
    limit = serializers.IntegerField(required=False, min_value=1, max_value=500, help_text="Items a page (50).")


class RunListQuery(PageQuery):
    workflow = serializers.UUIDField(required=False)
    status = serializers.ChoiceField(choices=Run.STATUSES, required=False)
    trigger = serializers.ChoiceField(choices=Run.TRIGGERS, required=False)


class EventsQuery(serializers.Serializer):
    after = serializers.IntegerField(required=False, min_value=0, help_text="The last sequence number seen.")


class RunResumeIn(serializers.Serializer):
    node_id = serializers.CharField(help_text="The approval node being answered.")
    value = serializers.JSONField(required=False)


class RunRerunIn(serializers.Serializer):
    inputs = serializers.DictField(required=False, help_text="The new run's inputs; the old run's when left out.")


class RunEventOut(serializers.Serializer):
    seq = serializers.IntegerField()
    type = serializers.CharField()
    node_id = serializers.CharField(allow_null=True)
    data = serializers.DictField()
    at = serializers.DateTimeField()


# --- Models and traces ------------------------------------------------------------------------


class ModelIn(serializers.Serializer):
    name = serializers.CharField(required=False, help_text="Set at creation; without '/'.")
    backend = serializers.ChoiceField(choices=BACKENDS, required=False)
    model = serializers.CharField(required=False)
    base_url = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    api_key = serializers.CharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        write_only=True,
        trim_whitespace=False,
        help_text='Stored encrypted; "" removes it.',
    )
    price_in = serializers.FloatField(required=False, min_value=0, help_text="Per million prompt tokens.")
    price_out = serializers.FloatField(required=False, min_value=0, help_text="Per million generated tokens.")
    options = serializers.DictField(required=False, help_text="The backend's options (GET /api/model-backends).")
    is_default = serializers.BooleanField(required=False)

    def validate_name(self, name: str) -> str:
        if "/" in name:  # it is a path segment of /api/models/<name>
            raise serializers.ValidationError("A model needs a name without '/'.")
        return name


class ModelOut(serializers.Serializer):
    name = serializers.CharField()
    backend = serializers.ChoiceField(choices=BACKENDS)
    model = serializers.CharField()
    base_url = OptionalText()
    has_api_key = Present(source="api_key_encrypted")
    price_in = serializers.FloatField()
    price_out = serializers.FloatField()
    options = serializers.DictField()
    is_default = serializers.BooleanField()
    created_at = Time(allow_null=True)
    updated_at = Time(allow_null=True)


class ModelBackendOut(serializers.Serializer):
    name = serializers.CharField()
    title = serializers.CharField()
    options = serializers.SerializerMethodField()
    needs_base_url = serializers.BooleanField()

    def get_options(self, backend) -> list[str]:
        return sorted(backend.options)


class TraceOut(serializers.Serializer):
    id = serializers.CharField()
    workflow = serializers.CharField(source="workflow_id", allow_null=True)
    version = serializers.IntegerField(allow_null=True)
    node_id = OptionalText()
    run = serializers.CharField(source="run_id", allow_null=True)
    model = serializers.CharField(allow_blank=True)
    messages = serializers.ListField(child=serializers.DictField())
    output = serializers.CharField(allow_blank=True)
    tokens_in = serializers.IntegerField()
    tokens_out = serializers.IntegerField()
    latency_ms = serializers.FloatField()
    cost = serializers.FloatField()
    status = serializers.ChoiceField(choices=choices(Trace._meta.get_field("status").choices))
    error = OptionalText()
    metadata = serializers.DictField()
    top_logprobs = serializers.JSONField(allow_null=True, help_text="The teacher's top-k log-probabilities per token.")
    tools = serializers.ListField(
        child=serializers.DictField(), allow_null=True, help_text="The tools offered, in OpenAI's shape."
    )
    tool_calls = serializers.ListField(
        child=serializers.DictField(), allow_null=True, help_text="The tool calls the model made, in OpenAI's shape."
    )
    golden_output = serializers.CharField(allow_null=True)
    golden_updated_at = Time(allow_null=True, help_text="When golden_output was last set.")
    created_at = Time(allow_null=True)


class TraceListQuery(PageQuery):
    workflow = serializers.UUIDField(required=False)
    node = serializers.CharField(required=False, help_text="A node id.")
    model = serializers.CharField(required=False)
    since = serializers.CharField(required=False, help_text="An ISO 8601 date-time (the selector reads it).")
    until = serializers.CharField(required=False, help_text="An ISO 8601 date-time.")
    status = serializers.ChoiceField(choices=choices(Trace._meta.get_field("status").choices), required=False)
    run = serializers.UUIDField(required=False)
    golden = serializers.CharField(required=False, help_text="true: with a golden label; false: without.")


class TraceGoldenIn(serializers.Serializer):
    golden_output = serializers.CharField(
        allow_null=True,
        allow_blank=True,
        trim_whitespace=False,  # a label is kept as written: whitespace is part of what is learnt
        help_text="The only writable field (traces are append-only).",
    )


# --- Chat ---------------------------------------------------------------------------------------


class ChatIn(serializers.Serializer):
    message = serializers.CharField(trim_whitespace=False)
    conversation_id = serializers.CharField(required=False, allow_null=True, help_text="Continue a conversation.")
    version = VersionChoiceField(required=False)
    stream = serializers.BooleanField(required=False, help_text="Answer Server-Sent Events instead of JSON.")


class ConversationListQuery(PageQuery):
    workflow = serializers.UUIDField(required=False)


class ChatMessageOut(serializers.Serializer):
    id = serializers.IntegerField()
    role = serializers.CharField()
    content = serializers.CharField(allow_blank=True)
    run = serializers.CharField(source="run_id", allow_null=True)
    created_at = Time(allow_null=True)


class ChatStepOut(serializers.Serializer):
    node_id = serializers.CharField()
    model = serializers.CharField()
    tokens_in = serializers.IntegerField()
    tokens_out = serializers.IntegerField()
    cost = serializers.FloatField()


class ChatTurnOut(serializers.Serializer):
    """A turn is its run (finished or still running); context `conversation`."""

    conversation_id = serializers.SerializerMethodField()
    run_id = serializers.CharField(source="id")
    status = serializers.ChoiceField(choices=Run.STATUSES)
    reply = serializers.SerializerMethodField()
    message = serializers.SerializerMethodField()
    error = OptionalText()
    steps = serializers.SerializerMethodField()

    def get_conversation_id(self, run) -> str:
        return str(self.context["conversation"].id)

    def _reply(self, run):
        if "reply" not in self.context:  # read once for both reply and message
            self.context["reply"] = chat.reply_for(run=run)
        return self.context["reply"]

    def get_reply(self, run) -> str | None:
        reply = self._reply(run)
        return reply.content if reply else None

    @extend_schema_field(ChatMessageOut(allow_null=True))
    def get_message(self, run) -> dict | None:
        reply = self._reply(run)
        return ChatMessageOut(reply).data if reply else None

    @extend_schema_field(ChatStepOut(many=True, help_text="What each LLM step cost."))
    def get_steps(self, run) -> list[dict]:
        return ChatStepOut(run.node_runs.exclude(model=""), many=True).data


class ConversationOut(serializers.Serializer):
    id = serializers.CharField()
    workflow = serializers.CharField(source="workflow_id")
    title = serializers.CharField(allow_blank=True)
    created_at = Time(allow_null=True)
    updated_at = Time(allow_null=True)


class ConversationDetailOut(ConversationOut):
    messages = ChatMessageOut(source="messages.all", many=True)


# --- Triggers -----------------------------------------------------------------------------------


class CallbackAttemptOut(serializers.Serializer):
    attempt = serializers.IntegerField()
    url = serializers.CharField()
    status_code = serializers.IntegerField(allow_null=True)
    error = OptionalText()
    at = Time(allow_null=True)


class SigningSecretOut(serializers.Serializer):
    secret = serializers.CharField()


class WebhookIn(serializers.Serializer):
    name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    input_mapping = serializers.DictField(
        child=serializers.CharField(), required=False, help_text='Input name -> "body.a.b", "query.name" or "body".'
    )
    response_mode = serializers.ChoiceField(choices=choices(WebhookTrigger.RESPONSE_MODES), required=False)
    wait_s = serializers.FloatField(
        required=False, help_text=f"How long a sync webhook waits for the outputs, in (0, {MAX_WEBHOOK_WAIT_S}]."
    )
    secret = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, write_only=True, trim_whitespace=False
    )
    rate_limit_per_minute = serializers.IntegerField(required=False, min_value=0, help_text="0: unlimited.")
    callback_url = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    enabled = serializers.BooleanField(required=False)

    def validate_input_mapping(self, mapping: dict) -> dict:
        if not all(path.split(".")[0] in ("body", "query") for path in mapping.values()):
            raise serializers.ValidationError(
                'input_mapping is an object of input name -> "body.a.b" or "query.name" (or "body").'
            )
        return mapping

    def validate_wait_s(self, wait_s: float) -> float:
        if not 0 < wait_s <= MAX_WEBHOOK_WAIT_S:
            raise serializers.ValidationError(f"wait_s is a number of seconds in (0, {MAX_WEBHOOK_WAIT_S}].")
        return wait_s


class WebhookCallOut(serializers.Serializer):
    at = Time()
    status_code = serializers.IntegerField(help_text="What the caller was answered.")
    run_id = serializers.CharField(allow_null=True, help_text="The run it started, if any.")
    error = OptionalText(help_text="Why it was refused.")


class WebhookOut(serializers.Serializer):
    id = serializers.CharField()
    workflow = serializers.CharField(source="workflow_id")
    name = serializers.CharField(allow_blank=True)
    token_prefix = serializers.CharField()
    input_mapping = serializers.DictField(child=serializers.CharField())
    response_mode = serializers.ChoiceField(choices=choices(WebhookTrigger.RESPONSE_MODES))
    wait_s = serializers.FloatField()
    has_secret = Present(source="secret_encrypted")
    rate_limit_per_minute = serializers.IntegerField()
    callback_url = OptionalText()
    enabled = serializers.BooleanField()
    revoked_at = Time(allow_null=True)
    created_at = Time(allow_null=True)
    recent_calls = WebhookCallOut(
        source="calls.all", many=True, help_text=f"The last {WEBHOOK_CALLS_KEPT} calls, newest first."
    )


class WebhookWithTokenOut(WebhookOut):
    """Context `token`: shown once, at creation and rotation."""

    token = FromContext(help_text="Shown once, at creation and rotation.")
    url = serializers.SerializerMethodField()

    def get_url(self, webhook) -> str:
        """Where to POST: /hooks/<token>."""
        return f"/hooks/{self.context['token']}"


class WebhookFiredOut(Shape):
    """The run a webhook call started; a sync webhook's, once it ended, with its outputs."""

    run_id = serializers.CharField(source="id")
    status = serializers.ChoiceField(choices=Run.STATUSES)
    outputs = serializers.DictField(required=False, allow_null=True, help_text="Sync webhooks, once the run ended.")
    error = OptionalText(required=False)


class ScheduleIn(serializers.Serializer):
    name = serializers.CharField(required=False, allow_blank=True)
    cron = serializers.CharField(required=False, help_text='Five fields, e.g. "0 9 * * 1-5".')
    timezone = serializers.CharField(required=False)
    inputs = serializers.DictField(required=False)
    enabled = serializers.BooleanField(required=False)
    overlap_policy = serializers.ChoiceField(choices=choices(Schedule.OVERLAP_POLICIES), required=False)
    callback_url = serializers.CharField(required=False, allow_null=True, allow_blank=True)


class ScheduleOut(serializers.Serializer):
    id = serializers.CharField()
    workflow = serializers.CharField(source="workflow_id")
    name = serializers.CharField(allow_blank=True)
    cron = serializers.CharField()
    timezone = serializers.CharField()
    inputs = serializers.DictField()
    enabled = serializers.BooleanField()
    overlap_policy = serializers.ChoiceField(choices=choices(Schedule.OVERLAP_POLICIES))
    callback_url = OptionalText()
    last_fired_at = Time(allow_null=True)
    last_error = OptionalText(help_text="Why the last firing started no run")
    next_run_at = Time(allow_null=True)
    created_at = Time(allow_null=True)
    updated_at = Time(allow_null=True)


# --- MCP servers ------------------------------------------------------------------------------


class McpServerIn(serializers.Serializer):
    name = serializers.CharField()
    url = serializers.CharField()
    headers = serializers.DictField(
        child=serializers.CharField(),
        required=False,
        allow_null=True,
        write_only=True,
        help_text="HTTP headers sent to the server (e.g. Authorization); stored encrypted, never shown again. "
        "A new url without headers clears them.",
    )


class McpToolOut(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    input_schema = serializers.DictField()


class McpServerOut(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    url = serializers.SerializerMethodField()
    header_names = serializers.SerializerMethodField()
    tools = McpToolOut(many=True)
    tools_refreshed_at = Time(allow_null=True)
    created_at = Time(allow_null=True)
    updated_at = Time(allow_null=True)

    def get_url(self, server) -> str:
        return mcp.mcp_server_url(server=server)

    def get_header_names(self, server) -> list[str]:
        """The headers sent to the server; their values are never shown."""
        return sorted(mcp.mcp_server_headers(server=server))


# --- The OpenAI-compatible gateway (/v1) -------------------------------------------------------


class GatewayErrorDetail(serializers.Serializer):
    message = serializers.CharField()
    type = serializers.CharField()
    param = serializers.CharField(allow_null=True)
    code = serializers.CharField(allow_null=True)


class GatewayErrorOut(serializers.Serializer):
    """OpenAI's error shape, so the official SDKs raise their own exceptions."""

    error = GatewayErrorDetail()


class GatewayModelOut(serializers.Serializer):
    id = serializers.CharField()
    object = serializers.ChoiceField(choices=["model"])
    created = serializers.IntegerField()
    owned_by = serializers.CharField()


class GatewayModelListOut(serializers.Serializer):
    object = serializers.ChoiceField(choices=["list"])
    data = GatewayModelOut(many=True)


class ChatCompletionIn(serializers.Serializer):
    """OpenAI's chat completion request; a field not listed is refused by name."""

    model = serializers.CharField(help_text="A registered model's name.")
    messages = serializers.ListField(child=serializers.DictField())
    max_tokens = serializers.IntegerField(required=False, allow_null=True)
    max_completion_tokens = serializers.IntegerField(required=False, allow_null=True)
    temperature = serializers.FloatField(required=False, allow_null=True)
    stop = serializers.JSONField(required=False, help_text="A string or a list of strings.")
    stream = serializers.BooleanField(required=False)
    stream_options = serializers.DictField(required=False, allow_null=True)
    metadata = serializers.DictField(required=False, allow_null=True)
    n = serializers.IntegerField(required=False, allow_null=True)
    tools = serializers.ListField(child=serializers.DictField(), required=False, allow_null=True)
    tool_choice = serializers.JSONField(required=False)
    response_format = serializers.DictField(required=False, allow_null=True)
    user = serializers.CharField(required=False, allow_null=True)
    parallel_tool_calls = serializers.BooleanField(required=False, allow_null=True)


class ChatCompletionChoiceOut(serializers.Serializer):
    index = serializers.IntegerField()
    message = serializers.DictField(help_text="role, content (null for a turn of only tool calls), tool_calls.")
    finish_reason = serializers.CharField(allow_null=True)
    logprobs = serializers.JSONField(allow_null=True)


class UsageOut(serializers.Serializer):
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()


class OrchestraTraceOut(serializers.Serializer):
    trace_id = serializers.CharField()
    cost = serializers.FloatField()


class ChatCompletionOut(serializers.Serializer):
    id = serializers.CharField()
    object = serializers.ChoiceField(choices=["chat.completion"])
    created = serializers.IntegerField()
    model = serializers.CharField()
    choices = ChatCompletionChoiceOut(many=True)
    usage = UsageOut()
    orchestra = OrchestraTraceOut(help_text="Orchestra's own: the trace recorded for this call.")
