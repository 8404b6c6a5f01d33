"""The routing API's output bodies: the views answer through them and the OpenAPI document is
generated from them (its inputs are the serializers in routing/api.py, which also check them)."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from orchestra.routing.features import EMBEDDINGS
from routing import selectors
from routing.models import Router, RouterJob
from workflows.documents import OptionalText, Time

REPORT_JOBS = 5  # the latest jobs a report lists (a page that reloads finds its running job there)


class RouterOut(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    workflow = serializers.CharField(source="workflow_id", allow_null=True)
    node_id = OptionalText()
    is_default = serializers.BooleanField()
    candidates = serializers.ListField(child=serializers.CharField(), help_text="Cheapest first.")
    target = serializers.FloatField()
    verifier = serializers.DictField()
    embedding = serializers.ChoiceField(choices=EMBEDDINGS)
    trained = serializers.SerializerMethodField()
    trained_at = Time(allow_null=True)
    summary = serializers.SerializerMethodField()
    created_at = Time(allow_null=True)
    updated_at = Time(allow_null=True)

    def get_trained(self, router: Router) -> bool:
        return router.state is not None

    @extend_schema_field(
        serializers.DictField(allow_null=True, help_text="The last training's report, without its curve.")
    )
    def get_summary(self, router: Router) -> dict | None:
        return {k: v for k, v in (router.report or {}).items() if k != "curve"} or None


class RouterJobOut(serializers.Serializer):
    id = serializers.CharField()
    router = serializers.CharField(source="router_id")
    kind = serializers.ChoiceField(choices=RouterJob.KINDS)
    sample = serializers.SerializerMethodField()
    status = serializers.ChoiceField(choices=RouterJob.STATUSES)
    progress = serializers.JSONField()
    report = serializers.JSONField()
    error = OptionalText()
    created_at = Time(allow_null=True)
    started_at = Time(allow_null=True)
    finished_at = Time(allow_null=True)

    def get_sample(self, job: RouterJob) -> int | None:
        """How many traces the job was asked to sample; null: its default."""
        return job.sample or None


class RouterUsageOut(serializers.Serializer):
    calls = serializers.IntegerField()
    answered = serializers.DictField(child=serializers.IntegerField(), help_text="Calls each candidate answered.")
    cost = serializers.FloatField()
    escalated = serializers.IntegerField()
    saving = serializers.FloatField(allow_null=True, help_text="Against asking the strongest candidate every time.")


class RouterReportOut(serializers.Serializer):
    """Of a router."""

    router = RouterOut(source="*")
    training = serializers.JSONField(source="report", help_text="The last training's full report (its curve included).")
    usage = serializers.SerializerMethodField()
    jobs = serializers.SerializerMethodField()

    @extend_schema_field(RouterUsageOut())
    def get_usage(self, router: Router) -> dict:
        return RouterUsageOut(selectors.router_usage(router=router)).data

    @extend_schema_field(RouterJobOut(many=True, help_text="The latest compare and training jobs."))
    def get_jobs(self, router: Router) -> list[dict]:
        return RouterJobOut(selectors.job_list(router=router)[:REPORT_JOBS], many=True).data
