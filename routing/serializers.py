"""The routing API's output bodies, for the generated OpenAPI document (its inputs are the
serializers in routing/api.py, which also check them)."""

from rest_framework import serializers

from routing.models import RouterJob


class RouterOut(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    workflow = serializers.CharField(allow_null=True)
    node_id = serializers.CharField(allow_null=True)
    is_default = serializers.BooleanField()
    candidates = serializers.ListField(child=serializers.CharField(), help_text="Cheapest first.")
    target = serializers.FloatField()
    verifier = serializers.DictField()
    trained = serializers.BooleanField()
    trained_at = serializers.DateTimeField(allow_null=True)
    summary = serializers.DictField(allow_null=True, help_text="The last training's report, without its curve.")
    created_at = serializers.DateTimeField(allow_null=True)
    updated_at = serializers.DateTimeField(allow_null=True)


class RouterJobOut(serializers.Serializer):
    id = serializers.CharField()
    router = serializers.CharField()
    kind = serializers.ChoiceField(choices=RouterJob.KINDS)
    sample = serializers.IntegerField(allow_null=True)
    status = serializers.ChoiceField(choices=RouterJob.STATUSES)
    progress = serializers.JSONField()
    report = serializers.JSONField()
    error = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


class RouterUsageOut(serializers.Serializer):
    calls = serializers.IntegerField()
    answered = serializers.DictField(child=serializers.IntegerField(), help_text="Calls each candidate answered.")
    cost = serializers.FloatField()
    escalated = serializers.IntegerField()
    saving = serializers.FloatField(allow_null=True, help_text="Against asking the strongest candidate every time.")


class RouterReportOut(serializers.Serializer):
    router = RouterOut()
    training = serializers.JSONField(help_text="The last training's full report (its curve included).")
    usage = RouterUsageOut()
    jobs = RouterJobOut(many=True, required=False, help_text="The latest compare and training jobs.")
