"""Router jobs on the `training` queue, with distillation's lifecycle (workflows/leases.py): queued,
claimed under a lease the worker renews, re-enqueued by the sweeper when the worker dies.

- compare: replay a sample of the router's traffic (traces not compared yet) to every candidate;
  each prompt is stored once all candidates answered it, so a resumed job goes on where it stopped.
- train: fit the router on every complete pair (compare jobs, shadow mode) and calibrate it.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from orchestra.routing import TrainingError, train
from routing.models import Comparison, Router, RouterJob
from routing.selectors import replayable_traces, router_node_config, training_examples
from workflows import leases
from workflows.errors import Conflict, ValidationFailed
from workflows.model_calls import model_resolve, traced_complete
from workflows.models import Trace

log = logging.getLogger(__name__)

MAX_SAMPLE = 1000


def job_create(*, router: Router, kind: Any, sample: Any = None) -> RouterJob:
    if kind not in RouterJob.KINDS:
        raise ValidationFailed(f"kind is one of {', '.join(RouterJob.KINDS)}.", path="kind")
    if kind == "compare":
        sample = 50 if sample is None else sample
        if not isinstance(sample, int) or isinstance(sample, bool) or not 1 <= sample <= MAX_SAMPLE:
            raise ValidationFailed(f"sample is how many traces to replay, 1 to {MAX_SAMPLE}.", path="sample")
    with transaction.atomic():
        if RouterJob.objects.select_for_update().filter(router=router, status__in=RouterJob.ACTIVE).exists():
            raise Conflict("The router has a job queued or running; wait for it to finish.", path="kind")
        job = RouterJob.objects.create(router=router, kind=kind, sample=sample or 0)
        transaction.on_commit(lambda: job_enqueue(job.id))
    return job


def job_enqueue(job_id) -> None:
    from routing.tasks import router_job_run_task

    RouterJob.objects.filter(pk=job_id).update(enqueued_at=timezone.now())
    router_job_run_task.apply_async(args=[str(job_id)])


def jobs_sweep() -> list[str]:
    """Re-enqueue jobs whose worker died or whose queue message was lost."""
    job_ids = leases.orphans(RouterJob)
    for job_id in job_ids:
        log.info("sweeper: re-enqueueing router job %s", job_id)
        job_enqueue(job_id)
    return job_ids


def job_execute(*, job_id) -> str | None:
    """Claim the job and run it to the end; None when another worker holds it or it is done."""
    owner = leases.worker_id()
    job = leases.claim(RouterJob, pk=job_id, owner=owner, statuses=RouterJob.ACTIVE)
    if job is None:
        return None
    keeper = leases.LeaseKeeper(RouterJob, job.id, owner)
    keeper.start()
    if job.started_at is None:
        RouterJob.objects.filter(pk=job.pk).update(started_at=timezone.now())
    try:
        report = compare(job, lost=keeper.lost.is_set) if job.kind == "compare" else train_router(job.router)
    except Exception as exc:  # bad data or a model that cannot be reached ends the job, visibly
        log.exception("router job %s failed", job.id)
        outcome, report = "failed", None
        error = str(exc) if isinstance(exc, TrainingError) else f"{type(exc).__name__}: {exc}"
    else:
        outcome, error = "succeeded", ""
    finally:
        keeper.stop()
    return _finish(job.pk, owner, outcome=outcome, report=report, error=error)


@transaction.atomic
def _finish(job_pk, owner: str, *, outcome: str, report: dict | None, error: str) -> str | None:
    job = RouterJob.objects.select_for_update().get(pk=job_pk)
    if job.lease_owner != owner:  # another worker took over while this one stalled: it decides
        return None
    job.status, job.report, job.error, job.finished_at = outcome, report, error, timezone.now()
    job.lease_owner, job.lease_expires_at = "", None
    job.save(update_fields=["status", "report", "error", "finished_at", "lease_owner", "lease_expires_at"])
    return outcome


# --- compare ------------------------------------------------------------------------------------


def compare(job: RouterJob, *, lost) -> dict:
    router = job.router
    compared = Comparison.objects.filter(router=router)
    done_here = compared.filter(created_at__gte=job.created_at).count()  # a resumed job counts what it did
    pending = replayable_traces(router).exclude(id__in=compared.values("trace_id")).order_by("-created_at")
    config = router_node_config(router)
    for trace in pending[: max(job.sample - done_here, 0)]:
        if lost():
            break
        answers = {
            model: str(trace.id) if model == trace.model else str(_replay(trace, model, router, config).id)
            for model in router.candidates
        }
        Comparison.objects.create(router=router, trace=trace, answers=answers)
        done_here += 1
        RouterJob.objects.filter(pk=job.pk).update(progress={"compared": done_here, "sample": job.sample})
    return {"compared": done_here, "sample": job.sample, "total": compared.count()}


def _replay(source: Trace, model: str, router: Router, config: dict) -> Trace:
    """Ask `model` the source trace's prompt; the answer is a trace of its own (no node: it answered
    no run), kept whether it succeeds or fails."""
    trace = Trace(
        workspace_id=source.workspace_id,
        workflow_id=source.workflow_id,
        messages=source.messages,
        call_key="router-compare",
        model=model,
        metadata={"source": "router-compare", "router_id": str(router.id), "replays": str(source.id)},
    )
    try:
        endpoint = model_resolve(workspace=router.workspace, name=model)
        traced_complete(
            trace=trace,
            endpoint=endpoint,
            max_tokens=config.get("max_tokens"),
            temperature=config.get("temperature"),
            stop=config.get("stop"),
            tools=source.tools,
        )
    except Exception as exc:  # a failed answer is a data point: it scores 0
        trace.status, trace.error = "error", str(exc)
    trace.save()
    return trace


# --- train --------------------------------------------------------------------------------------


def train_router(router: Router) -> dict:
    examples, sources = training_examples(router)
    trained, report = train(
        examples,
        candidates=router.candidates,
        target=router.target,
        embedding=router.embedding,
    )
    report["sources"] = sources
    router.state, router.report, router.trained_at = trained.as_dict(), report, timezone.now()
    router.save(update_fields=["state", "report", "trained_at", "updated_at"])
    return {k: v for k, v in report.items() if k != "curve"}
