from django.contrib import admin

from distillation.models import DeploymentChange, DistillationJob, NodeDeployment, ShadowComparison

admin.site.register(DistillationJob, list_display=("id", "workflow", "node_id", "method", "status", "created_at"))
admin.site.register(NodeDeployment, list_display=("workflow", "node_id", "state", "student_model", "teacher_model"))
admin.site.register(DeploymentChange, list_display=("deployment", "from_state", "to_state", "model", "user", "at"))
admin.site.register(ShadowComparison, list_display=("workflow", "node_id", "agreement", "created_at"))
