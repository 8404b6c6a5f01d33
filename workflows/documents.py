"""A run as a JSON document: what the API answers and what a run's callback delivers, in one place.

Its serializer is the one list of the run's fields: the API renders runs with it and the OpenAPI
document describes them from it (workflows/api/serializers.py names it). The field kinds below are
shared by every output serializer, so stored objects look alike everywhere."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from workflows import selectors
from workflows.models import NodeRun, Run


class ErrorItem(serializers.Serializer):
    path = serializers.CharField(
        help_text='Where the problem is, e.g. "nodes[2].config.prompt"; "" for the whole body.'
    )
    message = serializers.CharField()


class Time(serializers.DateTimeField):
    """A moment as datetime.isoformat() writes it (`+00:00`, microseconds kept): what the API and
    callbacks have always sent, where DRF would write `Z`."""

    def to_representation(self, value):
        return value.isoformat()


class OptionalText(serializers.CharField):
    """Text stored as "" when there is none, answered as null then."""

    def __init__(self, **kwargs):
        super().__init__(allow_null=True, **kwargs)

    def to_representation(self, value):
        return str(value) if value else None


class Shape(serializers.Serializer):
    """An output serializer whose context `leave_out` names fields a view does not answer (the
    nodes of each run in the list of runs)."""

    def get_fields(self):
        fields = super().get_fields()
        for name in self.context.get("leave_out", ()):
            del fields[name]
        return fields


class _RunTotal:
    """Summed over the run's nodes: annotated by the run list, else aggregated once per run."""

    def get_attribute(self, run: Run):
        if "_totals" not in run.__dict__:
            run.__dict__["_totals"] = selectors.run_totals(run=run)
        return run.__dict__["_totals"][self.field_name]


class RunTokens(_RunTotal, serializers.IntegerField):
    pass


class RunCost(_RunTotal, serializers.FloatField):
    pass


class NodeRunOut(serializers.Serializer):
    node_id = serializers.CharField()
    status = serializers.ChoiceField(choices=NodeRun.STATUSES)
    input = serializers.JSONField(allow_null=True)
    output = serializers.JSONField(allow_null=True)
    error = OptionalText()
    attempts = serializers.IntegerField()
    started_at = Time(allow_null=True)
    finished_at = Time(allow_null=True)
    model = OptionalText()
    tokens_in = serializers.IntegerField()
    tokens_out = serializers.IntegerField()
    cost = serializers.FloatField()
    latency_ms = serializers.FloatField(allow_null=True)


class RunOut(Shape):
    id = serializers.CharField()
    workflow = serializers.CharField(source="workflow_id")
    version = serializers.IntegerField(allow_null=True, help_text="null: the draft ran.")
    status = serializers.ChoiceField(choices=Run.STATUSES)
    trigger = serializers.ChoiceField(choices=Run.TRIGGERS)
    trigger_ref = OptionalText(
        help_text="What started it, beyond trigger: webhook:ID, schedule:ID, or the run a rerun repeats."
    )
    inputs = serializers.DictField()
    outputs = serializers.DictField(allow_null=True)
    error = OptionalText()
    parent_run = serializers.CharField(
        source="parent_run_id", allow_null=True, help_text="The run that called this one as a sub-workflow."
    )
    waiting = serializers.SerializerMethodField()
    created_at = Time(allow_null=True)
    started_at = Time(allow_null=True)
    finished_at = Time(allow_null=True)
    tokens_in = RunTokens()
    tokens_out = RunTokens()
    cost = RunCost()
    nodes = NodeRunOut(source="node_runs.all", many=True, required=False, help_text="Left out of the list of runs.")

    @extend_schema_field(
        serializers.DictField(allow_null=True, help_text="While waiting: node_id and what it waits for.")
    )
    def get_waiting(self, run: Run) -> dict | None:
        return {"node_id": run.waiting_node, **(run.waiting or {})} if run.status == "waiting" else None


RUN_IN_LISTS = {"leave_out": ("nodes",)}


def run_out(run: Run) -> dict:
    return RunOut(run).data
