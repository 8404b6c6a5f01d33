"""Distillation jobs: create one from its plan (plans.py) when nothing is refused, run it on the
`training` queue under a lease (a dead trainer's job resumes from its checkpoint elsewhere), cancel
it. The training itself is `orchestra.distill.run_job`."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from distillation import events
from distillation.models import DistillationJob
from distillation.services.plans import JobPlan, job_plan, job_preview
from distillation.services.scoring import teacher_score
from orchestra.distill.config import parse_job_config
from workflows import leases
from workflows.errors import Conflict, ValidationFailed
from workflows.models import Trace, Workspace

log = logging.getLogger(__name__)


# --- Job lifecycle -------------------------------------------------------------------------


def job_output_dir(job: DistillationJob) -> Path:
    return settings.DATA_DIR / "distillation" / str(job.id)


def job_create(*, workspace: Workspace, body: Any) -> DistillationJob:
    """Preview, and only when nothing is refused store a queued job and hand it to a trainer."""
    plan = job_plan(workspace=workspace, body=body)
    preview = job_preview(plan=plan)
    if preview["refusals"]:
        raise ValidationFailed(preview["refusals"])
    with transaction.atomic():
        job = DistillationJob.objects.create(
            workspace=workspace,
            workflow=plan.workflow,
            node_id=plan.node_id or "",
            filters=plan.filters,
            teacher=plan.teacher.name,
            student=plan.student,
            method=plan.method,
            config=plan.overrides,
        )
        events.record(job_id=job.id, type="job_queued", data={"preview": preview})
        transaction.on_commit(lambda: job_enqueue(job.id))
    return job


def stored_plan(job: DistillationJob) -> JobPlan:
    """The plan of a stored job, as its trainer (and its evaluation) reads it."""
    return job_plan(
        workspace=job.workspace,
        body={
            "workflow": str(job.workflow_id) if job.workflow_id else None,
            "node_id": job.node_id or None,
            "student": job.student,
            "method": job.method,
            "teacher": job.teacher,
            "filters": job.filters,
            "config": job.config,
        },
    )


def job_enqueue(job_id) -> None:
    from distillation.tasks import distillation_job_run_task

    DistillationJob.objects.filter(pk=job_id).update(enqueued_at=timezone.now())
    distillation_job_run_task.apply_async(args=[str(job_id)])


def job_cancel(*, job: DistillationJob) -> DistillationJob:
    """A queued job stops now; a running one at its next optimizer step (its checkpoint stays)."""
    with transaction.atomic():
        job = DistillationJob.objects.select_for_update().get(pk=job.pk)
        if job.status not in DistillationJob.ACTIVE:
            raise Conflict(f"Job is already {job.status}.", path="status")
        job.cancel_requested = True
        if job.status == "queued":
            _finish(job, status="cancelled", error="Cancelled by request.")
        else:
            job.save(update_fields=["cancel_requested"])
    return job


def _finish(job: DistillationJob, *, status: str, error: str = "") -> None:
    job.status, job.error, job.finished_at = status, error, timezone.now()
    job.lease_owner, job.lease_expires_at = "", None
    # Named fields only: event_seq in memory is stale once events have been recorded.
    job.save(
        update_fields=[
            "status",
            "error",
            "finished_at",
            "lease_owner",
            "lease_expires_at",
            "cancel_requested",
            "report",
            "artifacts",
        ]
    )
    events.record(job_id=job.id, type=f"job_{status}", data={"error": error or None})


def jobs_sweep() -> list[str]:
    """Re-enqueue jobs whose trainer died or whose queue message was lost (see workflows/leases.py)."""
    job_ids = leases.orphans(DistillationJob)
    for job_id in job_ids:
        log.info("sweeper: re-enqueueing distillation job %s", job_id)
        job_enqueue(job_id)
    return job_ids


def job_execute(*, job_id) -> str | None:
    """Claim and train a job to the end; a second call after a crash resumes from its checkpoint."""
    from orchestra.distill.job import run_job

    owner = leases.worker_id()
    job = leases.claim(DistillationJob, pk=job_id, owner=owner, statuses=DistillationJob.ACTIVE)
    if job is None:
        return None
    if job.cancel_requested:  # cancelled while its trainer was dead: nothing left to train
        with transaction.atomic():
            _finish(job, status="cancelled", error="Cancelled by request.")
        return "cancelled"
    keeper = leases.LeaseKeeper(DistillationJob, job.id, owner)
    keeper.start()
    resumed = job.started_at is not None
    if not resumed:
        DistillationJob.objects.filter(pk=job.pk).update(started_at=timezone.now())
    events.record(job_id=job.id, type="job_started", data={"resumed": resumed})

    def should_stop() -> bool:
        return keeper.lost.is_set() or DistillationJob.objects.filter(pk=job.pk, cancel_requested=True).exists()

    try:
        plan = stored_plan(job)
        traces = plan.traces()
        config = plan.job_config(output_dir=str(job_output_dir(job)))
        if plan.scores_remote_teacher():
            teacher_score(
                traces=traces,
                teacher=plan.teacher,
                top_k=parse_job_config(config).teacher.top_k,
                on_progress=lambda done, total: events.record(
                    job_id=job.id, type="progress", data={"stage": "score_teacher", "done": done, "total": total}
                ),
            )
        result = run_job(
            config,
            records=plan.records(traces),
            on_progress=lambda update: _progress(job.pk, update),
            should_stop=should_stop,
            judge=plan.judge(),
        )
    except Exception as exc:  # data, teacher or training problems end the job, visibly
        log.exception("distillation job %s failed", job.id)
        outcome, report, artifacts, error = "failed", None, {}, f"{type(exc).__name__}: {exc}"
    else:
        outcome = "cancelled" if result.report["outcome"] == "cancelled" else "succeeded"
        report, artifacts, error = (
            with_speedup(result.report, traces=traces, teacher=plan.teacher.name),
            result.artifacts,
            "",
        )
    finally:
        keeper.stopped.set()
    return _record_outcome(job.pk, owner, outcome=outcome, report=report, artifacts=artifacts, error=error)


def with_speedup(report: dict[str, Any], *, traces: list[Trace], teacher: str) -> dict[str, Any]:
    """Every job reports the student's speed-up over its teacher. A teacher the job did not run
    (sequence KD on recorded replies, a remote teacher) is timed from its traces' latencies: what
    its answers really took, the network included."""
    after = report.get("after") or {}
    student = (after.get("student_speed") or {}).get("seconds_per_prompt")
    if not student:  # an agent's report times steps (report.after.steps), or nothing was evaluated
        return report
    if after.get("teacher_speed") is None:
        timed = [t for t in traces if t.model == teacher and t.latency_ms > 0]
        seconds = sum(t.latency_ms for t in timed) / 1000
        if timed:
            after["teacher_speed"] = {
                "seconds_per_prompt": seconds / len(timed),
                "tokens_per_s": sum(t.tokens_out for t in timed) / seconds,
                "timed_from": "traces",
                "calls": len(timed),
            }
    teacher_seconds = (after.get("teacher_speed") or {}).get("seconds_per_prompt")
    report["speedup"] = round(teacher_seconds / student, 2) if teacher_seconds else None
    return report


@transaction.atomic
def _record_outcome(job_pk, owner: str, *, outcome: str, report, artifacts: dict, error: str) -> str | None:
    job = DistillationJob.objects.select_for_update().get(pk=job_pk)
    if job.lease_owner != owner:  # another trainer took over while this one stalled: it decides
        log.warning("distillation job %s: finished without the lease; outcome %s dropped", job.pk, outcome)
        return None
    if outcome == "cancelled" and not job.cancel_requested:
        return None  # stopped because the lease was lost, not because anyone asked
    job.report, job.artifacts = report, artifacts
    if outcome == "succeeded" and report.get("after") is not None:
        events.record(
            job_id=job.pk, type="evaluation", data={k: report.get(k) for k in ("baseline", "after", "verdict", "table")}
        )
    _finish(job, status=outcome, error=error)
    return outcome


def _progress(job_pk, update: dict[str, Any]) -> None:
    """Fold one core progress update into the job row and its event stream."""
    if update.get("stage") != "train" or "step" not in update:
        events.record(job_id=job_pk, type="progress", data=update)
        return
    progress = {
        "step": update["step"],
        "total_steps": update["max_steps"],
        "loss": update["loss"],
        "learning_rate": update["lr"],
        "tokens_per_s": update["tokens_per_s"],
        "eta_s": update["eta_s"],
    }
    point = {"step": update["step"], "loss": update["loss"]}
    if update.get("val_loss") is not None:
        point["validation_loss"] = update["val_loss"]
    with transaction.atomic():
        job = DistillationJob.objects.select_for_update().get(pk=job_pk)
        # A resumed job repeats the steps after its last checkpoint: the newer values win.
        job.losses = [p for p in job.losses if p["step"] < point["step"]] + [point]
        job.progress = progress
        job.save(update_fields=["losses", "progress"])
        events.record(
            job_id=job_pk,
            type="progress",
            data={"stage": "train", **progress, "validation_loss": point.get("validation_loss")},
        )
