"""What a job and the savings tell an engineer before trusting a student: LoRA or full fine-tuning
and why (in the preview), the speed-up over a teacher the job never ran (timed from its traces),
and a projected saving only on measured quality."""

import pytest

from distillation.models import DistillationJob, NodeDeployment, ShadowComparison
from distillation.selectors import savings
from distillation.services import job_create, job_execute, job_plan, job_preview
from tests.conftest import make_workspace
from tests.distillation.helpers import SUMMARISE, TINY_JOB
from workflows import services
from workflows.models import Trace

ALL_IN_TRAIN = TINY_JOB | {"data": {"min_examples": 4, "validation_fraction": 0.0, "test_fraction": 0.25}}


@pytest.fixture
def workspace(django_db, tiny_models):
    """A priced teacher with gateway traces that took 400 ms each, and the random-init tiny student."""
    workspace, _, _ = make_workspace()
    services.model_endpoint_save(
        workspace=workspace,
        name="tiny",
        trusted_path=True,
        fields={"backend": "transformers", "model": str(tiny_models["teacher"]), "price_in": 1.0, "price_out": 2.0},
    )
    services.model_endpoint_save(
        workspace=workspace,
        name="student",
        trusted_path=True,
        fields={"backend": "transformers", "model": str(tiny_models["student"])},
    )
    for n in range(12):
        Trace.objects.create(
            workspace=workspace,
            model="tiny",
            messages=[{"role": "user", "content": f"Say {n}"}],
            output=f"{n} it is",
            tokens_in=5,
            tokens_out=4,
            latency_ms=400.0,
            metadata={"source": "gateway"},
        )
    return workspace


def body(**extra) -> dict:
    return {"teacher": "tiny", "student": "student", "method": "sft", "config": ALL_IN_TRAIN} | extra


def test_the_preview_says_whether_the_job_uses_lora_or_full_fine_tuning_and_why(workspace):
    auto = body(config=ALL_IN_TRAIN | {"lora": {"enabled": "auto"}})
    chosen = job_preview(plan=job_plan(workspace=workspace, body=auto))["lora"]
    assert (chosen["enabled"], chosen["fine_tuning"]) == (False, "full") and "random-init" in chosen["reason"]

    forced = body(config=ALL_IN_TRAIN | {"lora": {"enabled": True, "r": 4, "alpha": 8}})
    chosen = job_preview(plan=job_plan(workspace=workspace, body=forced))["lora"]
    assert (chosen["fine_tuning"], chosen["reason"]) == ("lora", "set in the job config")


def test_a_sequence_kd_job_times_its_recorded_teacher_from_the_traces_and_reports_the_speed_up(workspace):
    job = job_create(workspace=workspace, body=body())
    assert job_execute(job_id=job.id) == "succeeded", DistillationJob.objects.get(pk=job.pk).error

    report = DistillationJob.objects.get(pk=job.pk).report
    teacher, student = report["after"]["teacher_speed"], report["after"]["student_speed"]
    assert (teacher["timed_from"], teacher["calls"]) == ("traces", 12)
    assert teacher["seconds_per_prompt"] == pytest.approx(0.4) and teacher["tokens_per_s"] == pytest.approx(10.0)
    assert report["speedup"] == round(0.4 / student["seconds_per_prompt"], 2)


def deployed_node(workspace, node_id: str, student: str) -> tuple:
    workflow = services.workflow_create(workspace=workspace, name=node_id, graph=SUMMARISE)
    NodeDeployment.objects.create(
        workspace=workspace,
        workflow=workflow,
        node_id="draft",
        state="shadow",
        student_model=student,
        teacher_model="tiny",
    )
    for model, cost in (("tiny", 0.02), (student, 0.0)):
        Trace.objects.create(
            workspace=workspace,
            workflow=workflow,
            node_id="draft",
            model=model,
            cost=cost,
            call_key="draft#a1#j0" + ("#shadow" if model == student else ""),
            messages=[{"role": "user", "content": "x"}],
            output="y",
            latency_ms=10.0,
        )
    return workflow


def test_savings_project_a_saving_only_on_measured_quality_and_say_why_not(workspace):
    agreeing = deployed_node(workspace, "agreeing", "student")
    ShadowComparison.objects.bulk_create(
        [ShadowComparison(workspace=workspace, workflow=agreeing, node_id="draft", agreement=n != 0) for n in range(12)]
    )
    (entry,) = savings(workflow=agreeing)["nodes"]
    assert entry["projection"]["projected"] is True and entry["projection"]["reason"] is None
    assert entry["projection"]["quality"] == {"source": "shadow", "agreement": round(11 / 12, 4), "sample": 12}
    assert entry["projected_monthly_saving"] == entry["potential_monthly_saving"] > 0

    evaluated = deployed_node(workspace, "evaluated", "student-b")
    DistillationJob.objects.create(
        workspace=workspace,
        workflow=evaluated,
        node_id="draft",
        teacher="tiny",
        student="student",
        method="sft",
        status="succeeded",
        model="student-b",
        report={"after": {"vs_teacher": {"count": 20, "exact_match": 0.5}}},
    )
    (entry,) = savings(workflow=evaluated)["nodes"]
    assert entry["projection"]["quality"] == {"source": "evaluation", "agreement": 0.5, "sample": 20}
    assert entry["projection"]["projected"] is False and entry["projected_monthly_saving"] == 0.0
    assert "50% of 20 evaluation comparisons" in entry["projection"]["reason"]
    assert entry["potential_monthly_saving"] > 0
