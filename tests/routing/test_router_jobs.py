"""Router jobs in-process: training pairs from shadow mode, compare jobs and golden labels; a train
job that calibrates the router; the sweeper that re-enqueues a job whose worker died."""

from datetime import timedelta

import pytest
from django.utils import timezone

from distillation.models import ShadowComparison
from routing import jobs, services
from routing.models import Comparison, RouterJob
from routing.selectors import training_examples
from tests.conftest import make_workspace
from tests.routing.test_routed_calls import graph
from workflows import services as workflow_services
from workflows.models import Trace


@pytest.fixture
def router(django_db):
    workspace, _, _ = make_workspace()
    for name, price in (("small", 0.1), ("large", 2.0)):
        workflow_services.model_endpoint_save(
            workspace=workspace,
            name=name,
            fields={"backend": "transformers", "model": f"/models/{name}", "price_in": price},
            trusted_path=True,
        )
    workflow = workflow_services.workflow_create(workspace=workspace, name="classify", graph=graph("auto"))
    return services.router_create(
        workspace=workspace, name="triage", workflow=str(workflow.id), node_id="classify", candidates=["small", "large"]
    )


def trace(router, model: str, output: str, prompt: str = "is tea hot?", **fields) -> Trace:
    return Trace.objects.create(
        workspace=router.workspace,
        workflow=router.workflow,
        node_id="classify",
        call_key="classify#a1#j0",
        model=model,
        messages=[{"role": "user", "content": prompt}],
        output=output,
        cost=0.1 if model == "small" else 2.0,
        **fields,
    )


def shadowed(router, prompt: str, teacher: str, student: str) -> None:
    ShadowComparison.objects.create(
        workspace=router.workspace,
        workflow=router.workflow,
        node_id="classify",
        teacher_trace=trace(router, "large", teacher, prompt),
        student_trace=trace(router, "small", student, prompt),
        agreement=teacher == student,
    )


def test_pairs_come_from_shadow_mode_and_compare_jobs_scored_against_golden_labels_or_the_strong_answer(router):
    shadowed(router, "is tea hot?", '{"label": "hot"}', '```json\n{"label": "hot"}\n```')
    shadowed(router, "is snow hot?", '{"label": "cold"}', '{"label": "hot"}')
    source = trace(router, "large", '{"label": "warm"}', "is soup hot?", golden_output='{"label": "hot"}')
    Comparison.objects.create(
        router=router,
        trace=source,
        answers={"large": str(source.id), "small": str(trace(router, "small", '{"label": "hot"}', "is soup hot?").id)},
    )
    examples, sources = training_examples(router)
    assert sources == {"compare": 1, "shadow": 2, "incomplete": 0}
    by_prompt = {e.text: e.scores for e in examples}
    assert by_prompt == {
        "is tea hot?": [1.0, 1.0],
        "is snow hot?": [0.0, 1.0],
        "is soup hot?": [1.0, 0.0],
    }  # the golden label says the small model was right
    assert examples[0].costs == [0.1, 2.0]


def test_a_train_job_fits_and_calibrates_the_router_and_a_new_target_recalibrates_it(router):
    for i in range(12):
        shadowed(router, f"say hello to guest {i}", '{"label": "hello"}', '{"label": "hello"}')
        shadowed(router, f"prove the theorem number {i} about primes", '{"label": "proof"}', "no idea")
    job = RouterJob.objects.create(router=router, kind="train")
    assert jobs.job_execute(job_id=job.id) == "succeeded"
    job.refresh_from_db()
    router.refresh_from_db()
    assert job.report["sources"] == {"compare": 0, "shadow": 24, "incomplete": 0}
    report = router.report
    assert router.state["candidates"] == ["small", "large"] and report["pgr"] == 1.0
    hard_share = 1 - report["cheapest_quality"]  # of the held-out prompts; a perfect ranking sends exactly these up
    assert report["apgr"] == pytest.approx(1 - hard_share / 2, abs=1e-3) and report["shares"][1] == pytest.approx(
        hard_share, abs=1e-3
    )
    assert report["cost_saved"] == pytest.approx((1 - hard_share) * (1 - 0.1 / 2.0), abs=1e-3)
    assert "curve" not in job.report and len(router.report["curve"]) >= 3
    assert jobs.job_execute(job_id=job.id) is None  # a duplicate message finds nothing to do

    services.router_update(router=router, fields={"target": 1e-6})  # any quality will do: always the cheap one
    assert router.report["shares"] == [1.0, 0.0] and router.state["threshold"] == 0.0


def test_a_train_job_without_enough_pairs_fails_and_says_what_to_collect(router):
    job = RouterJob.objects.create(router=router, kind="train")
    assert jobs.job_execute(job_id=job.id) == "failed"
    job.refresh_from_db()
    assert "compare job" in job.error and job.lease_owner == ""


def test_the_sweeper_re_enqueues_a_router_job_whose_worker_lease_lapsed(router):
    job = RouterJob.objects.create(
        router=router,
        kind="train",
        status="running",
        started_at=timezone.now(),
        lease_owner="dead-worker",
        lease_expires_at=timezone.now() - timedelta(minutes=1),
    )
    assert str(job.id) in jobs.jobs_sweep()
    job.refresh_from_db()
    assert job.enqueued_at is not None
