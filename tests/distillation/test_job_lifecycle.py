"""Job lifecycle edges that need no training: the sweeper and a cancel that lands while the
trainer is dead."""

from datetime import timedelta

from django.utils import timezone

from distillation import events
from distillation.models import DistillationJob
from distillation.services import job_execute, jobs_sweep
from tests.conftest import make_workspace
from tests.distillation.helpers import SUMMARISE
from workflows import services


def orphaned_job(*, cancel_requested: bool) -> DistillationJob:
    """A running job whose trainer died: its lease lapsed a minute ago."""
    workspace, _, _ = make_workspace()
    workflow = services.workflow_create(workspace=workspace, name="summarise", graph=SUMMARISE)
    return DistillationJob.objects.create(
        workspace=workspace,
        workflow=workflow,
        node_id="draft",
        teacher="tiny",
        student="/models/student",
        method="sft",
        status="running",
        started_at=timezone.now(),
        cancel_requested=cancel_requested,
        lease_owner="dead-trainer",
        lease_expires_at=timezone.now() - timedelta(minutes=1),
    )


def test_the_sweeper_re_enqueues_a_job_whose_trainer_lease_lapsed(django_db):
    job = orphaned_job(cancel_requested=False)
    assert str(job.id) in jobs_sweep()
    job.refresh_from_db()
    assert job.enqueued_at is not None


def test_a_job_cancelled_while_its_trainer_was_dead_ends_cancelled_without_training(django_db):
    job = orphaned_job(cancel_requested=True)
    assert job_execute(job_id=job.id) == "cancelled"
    job.refresh_from_db()
    assert (job.status, job.lease_owner, job.lease_expires_at) == ("cancelled", "", None)
    assert [e["type"] for e in events.events_after(job_id=job.id)] == ["job_cancelled"]
    assert job_execute(job_id=job.id) is None  # a duplicate message finds nothing to do
