"""The API's bodies, one input and one output serializer per shape: the OpenAPI document at
/api/schema (and the editor's TypeScript types, frontend/src/api/schema.d.ts) is generated from
them. Outputs are built by workflows/api/output.py and workflows/documents.py; tests check that
what the API answers matches these (tests/platform/test_schema_fuzz.py)."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from orchestra.inference.base import BACKENDS
from workflows.api.openapi import ErrorItem, VersionChoiceField
from workflows.models import Membership, Run, Schedule, Trace, WebhookTrigger
from workflows.triggers import MAX_WEBHOOK_WAIT_S, WEBHOOK_CALLS_KEPT

TIME = {"allow_null": True}


def choices(pairs) -> list[str]:
    return [p[0] if isinstance(p, tuple) else p for p in pairs]


# --- Auth ---------------------------------------------------------------------------------------


class LoginIn(serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField(write_only=True)


class UserOut(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()


class WorkspaceOut(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()


class MeOut(serializers.Serializer):
    user = UserOut()
    workspace = WorkspaceOut(allow_null=True)


class ApiKeyIn(serializers.Serializer):
    name = serializers.CharField(required=False, allow_blank=True, max_length=200)


class ApiKeyOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    prefix = serializers.CharField()
    user = serializers.CharField(help_text="The member's username.")
    created_at = serializers.DateTimeField(**TIME)
    last_used_at = serializers.DateTimeField(**TIME)
    revoked_at = serializers.DateTimeField(**TIME)


class ApiKeyCreatedOut(ApiKeyOut):
    key = serializers.CharField(help_text="The key itself, shown this once.")


class MemberOut(serializers.Serializer):
    user = serializers.CharField()
    role = serializers.ChoiceField(choices=choices(Membership._meta.get_field("role").choices))
    joined_at = serializers.DateTimeField(**TIME)


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
    id = serializers.CharField()
    status = serializers.ChoiceField(choices=Run.STATUSES)
    finished_at = serializers.DateTimeField(**TIME)


class WorkflowOut(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    graph = GraphSerializer()
    revision = serializers.IntegerField(help_text="Bumped by every save; also the ETag.")
    published_version = serializers.IntegerField(allow_null=True)
    unpublished_changes = serializers.BooleanField()
    last_run = LastRunOut(allow_null=True)
    created_at = serializers.DateTimeField(**TIME)
    updated_at = serializers.DateTimeField(**TIME)


class WorkflowDetailOut(WorkflowOut):
    problems = ErrorItem(many=True, help_text="What stops the draft from being published; [] when none.")


class WorkflowExportSerializer(serializers.Serializer):
    """What export writes and import reads."""

    orchestra = serializers.IntegerField(help_text="The export format's version.")
    name = serializers.CharField(allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True)
    graph = DraftGraphField()


class WorkflowFileIn(serializers.Serializer):
    file = serializers.FileField(help_text="A file made by the export endpoint.")


class VersionOut(serializers.Serializer):
    version = serializers.IntegerField()
    created_at = serializers.DateTimeField(**TIME)
    graph = GraphSerializer(required=False, help_text="Left out of the list of versions.")


# --- Runs -------------------------------------------------------------------------------------


class RunStartIn(serializers.Serializer):
    inputs = serializers.DictField(required=False)
    version = VersionChoiceField(required=False)
    wait = serializers.FloatField(required=False, min_value=0, max_value=300, help_text="Seconds to wait for the end.")
    callback_url = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    trigger = serializers.ChoiceField(choices=["api", "editor"], required=False)


class NodeRunOut(serializers.Serializer):
    node_id = serializers.CharField()
    status = serializers.CharField()
    input = serializers.JSONField(allow_null=True)
    output = serializers.JSONField(allow_null=True)
    error = serializers.CharField(allow_null=True)
    attempts = serializers.IntegerField()
    started_at = serializers.DateTimeField(**TIME)
    finished_at = serializers.DateTimeField(**TIME)
    model = serializers.CharField(allow_null=True)
    tokens_in = serializers.IntegerField()
    tokens_out = serializers.IntegerField()
    cost = serializers.FloatField()
    latency_ms = serializers.FloatField(allow_null=True)


class RunOut(serializers.Serializer):
    id = serializers.CharField()
    workflow = serializers.CharField()
    version = serializers.IntegerField(allow_null=True, help_text="null: the draft ran.")
    status = serializers.ChoiceField(choices=Run.STATUSES)
    trigger = serializers.ChoiceField(choices=Run.TRIGGERS)
    inputs = serializers.DictField()
    outputs = serializers.DictField(allow_null=True)
    error = serializers.CharField(allow_null=True)
    parent_run = serializers.CharField(allow_null=True, help_text="The run that called this one as a sub-workflow.")
    waiting = serializers.DictField(allow_null=True, help_text="While waiting: node_id and what it waits for.")
    created_at = serializers.DateTimeField(**TIME)
    started_at = serializers.DateTimeField(**TIME)
    finished_at = serializers.DateTimeField(**TIME)
    tokens_in = serializers.IntegerField()
    tokens_out = serializers.IntegerField()
    cost = serializers.FloatField()
    nodes = NodeRunOut(many=True, required=False, help_text="Left out of the list of runs.")


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
    api_key = serializers.CharField(required=False, allow_null=True, write_only=True, help_text="Stored encrypted.")
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
    base_url = serializers.CharField(allow_null=True)
    has_api_key = serializers.BooleanField()
    price_in = serializers.FloatField()
    price_out = serializers.FloatField()
    options = serializers.DictField()
    is_default = serializers.BooleanField()
    created_at = serializers.DateTimeField(**TIME)
    updated_at = serializers.DateTimeField(**TIME)


class ModelBackendOut(serializers.Serializer):
    name = serializers.CharField()
    title = serializers.CharField()
    options = serializers.ListField(child=serializers.CharField())
    needs_base_url = serializers.BooleanField()


class TraceOut(serializers.Serializer):
    id = serializers.CharField()
    workflow = serializers.CharField(allow_null=True)
    version = serializers.IntegerField(allow_null=True)
    node_id = serializers.CharField(allow_null=True)
    run = serializers.CharField(allow_null=True)
    model = serializers.CharField(allow_blank=True)
    messages = serializers.ListField(child=serializers.DictField())
    output = serializers.CharField(allow_blank=True)
    tokens_in = serializers.IntegerField()
    tokens_out = serializers.IntegerField()
    latency_ms = serializers.FloatField()
    cost = serializers.FloatField()
    status = serializers.ChoiceField(choices=choices(Trace._meta.get_field("status").choices))
    error = serializers.CharField(allow_null=True)
    metadata = serializers.DictField()
    top_logprobs = serializers.JSONField(allow_null=True, help_text="The teacher's top-k log-probabilities per token.")
    golden_output = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField(**TIME)


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
        allow_null=True, help_text="The only writable field (traces are append-only)."
    )


# --- Chat ---------------------------------------------------------------------------------------


class ChatIn(serializers.Serializer):
    message = serializers.CharField()
    conversation_id = serializers.CharField(required=False, allow_null=True, help_text="Continue a conversation.")
    version = VersionChoiceField(required=False)
    stream = serializers.BooleanField(required=False, help_text="Answer Server-Sent Events instead of JSON.")


class ConversationListQuery(PageQuery):
    workflow = serializers.UUIDField(required=False)


class ChatMessageOut(serializers.Serializer):
    id = serializers.IntegerField()
    role = serializers.CharField()
    content = serializers.CharField(allow_blank=True)
    run = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField(**TIME)


class ChatStepOut(serializers.Serializer):
    node_id = serializers.CharField()
    model = serializers.CharField()
    tokens_in = serializers.IntegerField()
    tokens_out = serializers.IntegerField()
    cost = serializers.FloatField()


class ChatTurnOut(serializers.Serializer):
    conversation_id = serializers.CharField()
    run_id = serializers.CharField()
    status = serializers.ChoiceField(choices=Run.STATUSES)
    reply = serializers.CharField(allow_null=True)
    message = ChatMessageOut(allow_null=True)
    error = serializers.CharField(allow_null=True)
    steps = ChatStepOut(many=True)


class ConversationOut(serializers.Serializer):
    id = serializers.CharField()
    workflow = serializers.CharField()
    title = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField(**TIME)
    updated_at = serializers.DateTimeField(**TIME)


class ConversationDetailOut(ConversationOut):
    messages = ChatMessageOut(many=True)


# --- Triggers -----------------------------------------------------------------------------------


class CallbackAttemptOut(serializers.Serializer):
    attempt = serializers.IntegerField()
    url = serializers.CharField()
    status_code = serializers.IntegerField(allow_null=True)
    error = serializers.CharField(allow_null=True)
    at = serializers.DateTimeField(**TIME)


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
    secret = serializers.CharField(required=False, allow_null=True, allow_blank=True, write_only=True)
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
    at = serializers.DateTimeField()
    status_code = serializers.IntegerField(help_text="What the caller was answered.")
    run_id = serializers.CharField(allow_null=True, help_text="The run it started, if any.")
    error = serializers.CharField(allow_null=True, help_text="Why it was refused.")


class WebhookOut(serializers.Serializer):
    id = serializers.CharField()
    workflow = serializers.CharField()
    name = serializers.CharField(allow_blank=True)
    token_prefix = serializers.CharField()
    input_mapping = serializers.DictField(child=serializers.CharField())
    response_mode = serializers.ChoiceField(choices=choices(WebhookTrigger.RESPONSE_MODES))
    wait_s = serializers.FloatField()
    has_secret = serializers.BooleanField()
    rate_limit_per_minute = serializers.IntegerField()
    callback_url = serializers.CharField(allow_null=True)
    enabled = serializers.BooleanField()
    revoked_at = serializers.DateTimeField(**TIME)
    created_at = serializers.DateTimeField(**TIME)
    recent_calls = WebhookCallOut(many=True, help_text=f"The last {WEBHOOK_CALLS_KEPT} calls, newest first.")


class WebhookWithTokenOut(WebhookOut):
    token = serializers.CharField(help_text="Shown once, at creation and rotation.")
    url = serializers.CharField(help_text="Where to POST: /hooks/<token>.")


class WebhookFiredOut(serializers.Serializer):
    run_id = serializers.CharField()
    status = serializers.ChoiceField(choices=Run.STATUSES)
    outputs = serializers.DictField(required=False, allow_null=True, help_text="Sync webhooks, once the run ended.")
    error = serializers.CharField(required=False, allow_null=True)


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
    workflow = serializers.CharField()
    name = serializers.CharField(allow_blank=True)
    cron = serializers.CharField()
    timezone = serializers.CharField()
    inputs = serializers.DictField()
    enabled = serializers.BooleanField()
    overlap_policy = serializers.ChoiceField(choices=choices(Schedule.OVERLAP_POLICIES))
    callback_url = serializers.CharField(allow_null=True)
    last_fired_at = serializers.DateTimeField(**TIME)
    last_error = serializers.CharField(allow_null=True, help_text="Why the last firing started no run")
    next_run_at = serializers.DateTimeField(**TIME)
    created_at = serializers.DateTimeField(**TIME)
    updated_at = serializers.DateTimeField(**TIME)


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
    url = serializers.CharField()
    header_names = serializers.ListField(child=serializers.CharField())
    tools = McpToolOut(many=True)
    tools_refreshed_at = serializers.DateTimeField(**TIME)
    created_at = serializers.DateTimeField(**TIME)
    updated_at = serializers.DateTimeField(**TIME)


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
