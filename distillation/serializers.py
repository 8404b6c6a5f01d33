"""The distillation API's bodies, for the generated OpenAPI document (docs/api.md): the views
check requests with the inputs (then distillation.services.plans checks the job's meaning) and
answer through the outputs, so each field is listed once."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from distillation.models import DistillationJob, EvaluationRun, NodeDeployment
from distillation.services.evaluation import DEFAULT_CASES, DEFAULT_MODELS, MAX_CASES
from distillation.services.plans import METHODS
from orchestra.distill.config import LOGIT_METHODS
from workflows.documents import ErrorItem, OptionalText, Time
from workflows.models import Run

# What the Distill form says of each method; a test keeps it in step with services.plans.METHODS.
METHOD_DESCRIPTIONS = {
    "sft": "learn the teacher's replies (any teacher)",
    "forward_kl": "match the teacher's token distribution",
    "reverse_kl": "mode-seeking, for short exact answers",
    "adaptive_kl": "forward/reverse mixed per token",
    "jsd": "symmetric, bounded",
    "skew_kl": "forward KL against a mix of teacher and student, stabler early on",
    "skew_reverse_kl": "reverse KL against a mix of teacher and student",
}


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


class GoldenUpsampledOut(serializers.Serializer):
    train_examples = serializers.IntegerField(help_text="Golden examples in the train split, repeats included.")
    repeats = serializers.IntegerField(help_text="How many of those are repeats (data.golden_share).")


class PreviewTokensOut(serializers.Serializer):
    prompt = serializers.IntegerField()
    output = serializers.IntegerField()


class SplitsOut(serializers.Serializer):
    train = serializers.IntegerField()
    validation = serializers.IntegerField()
    test = serializers.IntegerField()


class TeacherScoringOut(serializers.Serializer):
    teacher = serializers.CharField()
    recorded = serializers.IntegerField(help_text="Traces whose teacher log-probabilities are recorded.")
    to_score = serializers.IntegerField(help_text="Traces the remote teacher will score before training.")


class LoraChoiceOut(serializers.Serializer):
    enabled = serializers.BooleanField()
    fine_tuning = serializers.ChoiceField(choices=["lora", "full"])
    reason = serializers.CharField()


class SavingsQuery(serializers.Serializer):
    since = serializers.CharField(required=False, help_text="An ISO 8601 date-time; a month before until.")
    until = serializers.CharField(required=False, help_text="An ISO 8601 date-time; now.")


class PreviewOut(serializers.Serializer):
    """Of the dict services.job_preview makes; the optional parts appear once the traces are read."""

    matched = serializers.IntegerField()
    with_golden = serializers.IntegerField()
    golden_upsampled = GoldenUpsampledOut()
    tokens = PreviewTokensOut()
    splits = SplitsOut()
    verification = serializers.DictField(required=False, help_text="Per verification stage: passed and failed.")
    estimated_seconds = serializers.FloatField(allow_null=True)
    refusals = ErrorItem(many=True, help_text="Why the job would be refused.")
    teacher = serializers.CharField()
    student = serializers.CharField()
    method = serializers.CharField()
    teacher_scoring = TeacherScoringOut(required=False, help_text="Offline logit KD from a remote teacher.")
    lora = LoraChoiceOut(required=False, help_text="LoRA or every weight, and why.")


class JobOut(serializers.Serializer):
    id = serializers.CharField()
    workflow = serializers.CharField(source="workflow_id", allow_null=True)
    node_id = OptionalText()
    status = serializers.ChoiceField(choices=DistillationJob.STATUSES)
    method = serializers.ChoiceField(choices=METHODS)
    teacher = serializers.CharField()
    student = serializers.CharField()
    filters = serializers.DictField()
    config = serializers.DictField()
    progress = serializers.JSONField()
    losses = serializers.JSONField()
    report = serializers.JSONField()
    artifacts = serializers.JSONField()
    model = OptionalText(help_text="The registered student, once deployed.")
    error = OptionalText()
    created_at = Time(allow_null=True)
    started_at = Time(allow_null=True)
    finished_at = Time(allow_null=True)


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
    """Of the registered model endpoint."""

    model = serializers.CharField(source="name")


class DeploymentChangeOut(serializers.Serializer):
    from_state = serializers.CharField()
    to_state = serializers.CharField()
    model = OptionalText()
    user = serializers.CharField(source="user.username", allow_null=True)
    at = Time(allow_null=True)


class DeploymentIn(serializers.Serializer):
    state = serializers.ChoiceField(choices=NodeDeployment.STATES)
    model = serializers.CharField(required=False, allow_null=True, help_text="The student, for shadow and student.")


class DeploymentOut(serializers.Serializer):
    """Of a node's deployment; one not saved yet is the teacher's, with no changes."""

    node_id = serializers.CharField()
    state = serializers.ChoiceField(choices=NodeDeployment.STATES)
    model = OptionalText(source="student_model")
    teacher_model = OptionalText()
    changes = serializers.SerializerMethodField()

    @extend_schema_field(DeploymentChangeOut(many=True))
    def get_changes(self, deployment: NodeDeployment) -> list[dict]:
        return DeploymentChangeOut(deployment.changes.all(), many=True).data if deployment.pk else []


class ModelUsageOut(serializers.Serializer):
    model = serializers.CharField()
    calls = serializers.IntegerField()
    tokens_in = serializers.IntegerField()
    tokens_out = serializers.IntegerField()
    cost = serializers.FloatField()
    p50_ms = serializers.FloatField(allow_null=True)
    p95_ms = serializers.FloatField(allow_null=True)


class AgreementOut(serializers.Serializer):
    calls = serializers.IntegerField(help_text="Shadow comparisons.")
    agreement = serializers.FloatField(help_text="The share where the student agreed with the teacher.")
    student_errors = serializers.IntegerField(help_text="Comparisons where the student's call failed.")
    teacher_latency_ms = serializers.FloatField(allow_null=True, help_text="The teacher's mean latency on them.")
    student_latency_ms = serializers.FloatField(
        allow_null=True, help_text="The student's mean latency on the ones it answered; null if none."
    )
    teacher_cost = serializers.FloatField(help_text="What the teacher's calls cost.")
    student_cost = serializers.FloatField(help_text="What the student's calls cost.")


class ShadowOut(AgreementOut):
    by_kind = serializers.DictField(
        child=AgreementOut(allow_null=True), required=False, help_text="Agent nodes: per kind of step."
    )


class QualityOut(serializers.Serializer):
    source = serializers.ChoiceField(choices=["shadow", "evaluation"])
    agreement = serializers.FloatField()
    sample = serializers.IntegerField()


class ProjectionOut(serializers.Serializer):
    projected = serializers.BooleanField(help_text="Whether the saving counts: the student's quality is measured.")
    quality = QualityOut(allow_null=True)
    min_agreement = serializers.FloatField(required=False)
    reason = serializers.CharField(allow_null=True, help_text="Why it is not projected.")


class AgentStepsOut(serializers.Serializer):
    runs = serializers.IntegerField()
    steps = serializers.IntegerField()
    tool_calls = serializers.IntegerField()
    steps_per_run = serializers.FloatField(allow_null=True)


class NodeSavingsOut(serializers.Serializer):
    node_id = serializers.CharField()
    state = serializers.ChoiceField(choices=NodeDeployment.STATES)
    models = ModelUsageOut(many=True)
    shadow = ShadowOut(allow_null=True)
    potential_monthly_saving = serializers.FloatField(help_text="If the student answered every call.")
    projection = ProjectionOut()
    projected_monthly_saving = serializers.FloatField(help_text="The potential saving, once projected; else 0.")
    agent = AgentStepsOut(required=False, help_text="Agent nodes: runs, steps and tool calls.")


class SavingsTotalsOut(serializers.Serializer):
    calls = serializers.IntegerField()
    cost = serializers.FloatField()
    projected_monthly_saving = serializers.FloatField()


class SavingsOut(serializers.Serializer):
    """Of the dict distillation.selectors.savings makes."""

    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    nodes = NodeSavingsOut(many=True, help_text="Per distilled node: models, shadow, saving.")
    totals = SavingsTotalsOut()


class MethodOut(serializers.Serializer):
    """Of a method's name."""

    name = serializers.ChoiceField(source="*", choices=METHODS)
    logit = serializers.SerializerMethodField()
    description = serializers.SerializerMethodField()

    def get_logit(self, method: str) -> bool:
        """Compares token distributions: needs the teacher's log-probabilities."""
        return method in LOGIT_METHODS

    def get_description(self, method: str) -> str:
        return METHOD_DESCRIPTIONS[method]


class EvaluationRunsIn(serializers.Serializer):
    cases = serializers.IntegerField(
        default=DEFAULT_CASES, min_value=1, max_value=MAX_CASES, help_text="Held-out cases to run, newest first."
    )
    models = serializers.ListField(
        child=serializers.ChoiceField(choices=EvaluationRun.MODELS),
        default=list(DEFAULT_MODELS),
        min_length=1,
        help_text="Which models drive the agent, each on every case.",
    )


class TaskSuccessOut(serializers.Serializer):
    count = serializers.IntegerField(help_text="Finished runs that succeeded.")
    rate = serializers.FloatField(allow_null=True, help_text="Of the finished runs.")
    interval = serializers.ListField(
        child=serializers.FloatField(), allow_null=True, help_text="The rate's 95% Wilson interval."
    )


class EvaluationModelOut(serializers.Serializer):
    model = serializers.ChoiceField(choices=EvaluationRun.MODELS)
    endpoints = serializers.ListField(child=serializers.CharField(), help_text="The registered models that answered.")
    started = serializers.IntegerField()
    finished = serializers.IntegerField()
    task_success = TaskSuccessOut()


class EvaluationRunOut(serializers.Serializer):
    run = serializers.CharField()
    model = serializers.ChoiceField(choices=EvaluationRun.MODELS)
    endpoint = serializers.CharField(help_text="The registered model that answered.")
    case = serializers.CharField(allow_null=True, help_text="The held-out run whose inputs it ran.")
    status = serializers.ChoiceField(choices=Run.STATUSES)
    expected_from = serializers.ChoiceField(choices=EvaluationRun.EXPECTED, help_text="What its answer is held to.")
    success = serializers.BooleanField(allow_null=True, help_text="null while the run is not finished.")
    failure = OptionalText(help_text="Why it did not succeed.")
    created_at = Time(allow_null=True)


class EvaluationOut(serializers.Serializer):
    """Of the dict distillation.services.evaluation_report makes."""

    success_means = serializers.CharField()
    models = EvaluationModelOut(many=True, help_text="Per model evaluated.")
    runs = EvaluationRunOut(many=True, help_text="Newest first.")
