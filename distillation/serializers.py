"""The distillation API's bodies, for the generated OpenAPI document (docs/api.md). The bodies are
checked by distillation.services.plans, which names every bad field at once."""

from rest_framework import serializers

from distillation.models import DistillationJob, NodeDeployment
from distillation.services.plans import METHODS


class JobIn(serializers.Serializer):
    workflow = serializers.CharField(required=False, allow_null=True)
    node_id = serializers.CharField(required=False, allow_null=True, help_text="An llm or agent node.")
    student = serializers.CharField(help_text="The student base: a model endpoint name, HF id or folder.")
    method = serializers.ChoiceField(choices=METHODS, help_text="GET /api/distillation-methods describes each.")
    teacher = serializers.CharField(required=False, allow_null=True, help_text="The node's model when left out.")
    filters = serializers.DictField(required=False, allow_null=True, help_text="Which traces to learn from.")
    config = serializers.DictField(required=False, allow_null=True, help_text="Job config sections (data, train, ...).")


class JobListQuery(serializers.Serializer):
    workflow = serializers.UUIDField(required=False)
    node_id = serializers.CharField(required=False)


class PreviewOut(serializers.Serializer):
    matched = serializers.IntegerField()
    with_golden = serializers.IntegerField()
    tokens = serializers.DictField(child=serializers.IntegerField())
    splits = serializers.DictField(child=serializers.IntegerField())
    estimated_seconds = serializers.FloatField(allow_null=True)
    refusals = serializers.ListField(child=serializers.DictField(), help_text="Why the job would be refused.")
    teacher = serializers.CharField()
    student = serializers.CharField()
    method = serializers.CharField()


class JobOut(serializers.Serializer):
    id = serializers.CharField()
    workflow = serializers.CharField(allow_null=True)
    node_id = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=DistillationJob.STATUSES)
    method = serializers.CharField()
    teacher = serializers.CharField()
    student = serializers.CharField()
    filters = serializers.DictField()
    config = serializers.DictField()
    progress = serializers.JSONField()
    losses = serializers.JSONField()
    report = serializers.JSONField()
    artifacts = serializers.JSONField()
    model = serializers.CharField(allow_null=True, help_text="The registered student, once deployed.")
    error = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


class JobEventOut(serializers.Serializer):
    seq = serializers.IntegerField()
    type = serializers.CharField()
    data = serializers.DictField()
    at = serializers.DateTimeField()


class JobDeployIn(serializers.Serializer):
    name = serializers.CharField(
        required=False, allow_null=True, help_text="The model's name; one is made up if left out."
    )


class JobDeployOut(serializers.Serializer):
    model = serializers.CharField()


class DeploymentChangeOut(serializers.Serializer):
    from_state = serializers.CharField()
    to_state = serializers.CharField()
    model = serializers.CharField(allow_null=True)
    user = serializers.CharField(allow_null=True)
    at = serializers.DateTimeField(allow_null=True)


class DeploymentIn(serializers.Serializer):
    state = serializers.ChoiceField(choices=NodeDeployment.STATES)
    model = serializers.CharField(required=False, allow_null=True, help_text="The student, for shadow and student.")


class DeploymentOut(serializers.Serializer):
    node_id = serializers.CharField()
    state = serializers.ChoiceField(choices=NodeDeployment.STATES)
    model = serializers.CharField(allow_null=True)
    teacher_model = serializers.CharField(allow_null=True)
    changes = DeploymentChangeOut(many=True)


class SavingsOut(serializers.Serializer):
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    nodes = serializers.ListField(
        child=serializers.DictField(), help_text="Per distilled node: models, shadow, saving."
    )
    totals = serializers.DictField(help_text="calls, cost and projected_monthly_saving over the nodes.")


class MethodOut(serializers.Serializer):
    name = serializers.ChoiceField(choices=METHODS)
    logit = serializers.BooleanField(help_text="Compares token distributions: needs the teacher's log-probabilities.")
    description = serializers.CharField()
