from django.contrib import admin

from workflows.models import (
    ApiKey,
    CallbackAttempt,
    Conversation,
    McpServer,
    Membership,
    ModelEndpoint,
    Run,
    Schedule,
    Trace,
    WebhookTrigger,
    Workflow,
    WorkflowVersion,
    Workspace,
)

admin.site.register(Workspace)
admin.site.register(Membership)
admin.site.register(
    ApiKey, list_display=("name", "prefix", "workspace", "user", "created_at", "revoked_at"), exclude=("key_hash",)
)
admin.site.register(
    ModelEndpoint, list_display=("name", "backend", "model", "workspace", "is_default"), exclude=("api_key_encrypted",)
)
admin.site.register(Workflow, list_display=("name", "workspace", "updated_at"))
admin.site.register(WorkflowVersion, list_display=("workflow", "version", "created_at"))
admin.site.register(Run, list_display=("id", "workflow", "status", "trigger", "created_at"))
admin.site.register(Trace, list_display=("id", "model", "node_id", "status", "created_at"))
admin.site.register(Conversation, list_display=("title", "workflow", "updated_at"))
admin.site.register(
    WebhookTrigger, list_display=("name", "workflow", "response_mode", "enabled"), exclude=("token_hash",)
)
admin.site.register(Schedule, list_display=("workflow", "cron", "timezone", "enabled"))
admin.site.register(CallbackAttempt, list_display=("run", "attempt", "status_code", "at"))
admin.site.register(
    McpServer,
    list_display=("name", "workspace", "tools_refreshed_at", "updated_at"),
    exclude=("url_encrypted", "headers_encrypted"),
)  # both may carry secrets
