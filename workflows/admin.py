from django.contrib import admin

from workflows.models import ApiKey, Membership, ModelEndpoint, Run, Trace, Workflow, WorkflowVersion, Workspace

admin.site.register(Workspace)
admin.site.register(Membership)
admin.site.register(ApiKey, list_display=("name", "prefix", "workspace", "user", "created_at", "revoked_at"),
                    exclude=("key_hash",))
admin.site.register(ModelEndpoint, list_display=("name", "backend", "model", "workspace", "is_default"),
                    exclude=("api_key_encrypted",))
admin.site.register(Workflow, list_display=("name", "workspace", "updated_at"))
admin.site.register(WorkflowVersion, list_display=("workflow", "version", "created_at"))
admin.site.register(Run, list_display=("id", "workflow", "status", "trigger", "created_at"))
admin.site.register(Trace, list_display=("id", "model", "node_id", "status", "created_at"))
