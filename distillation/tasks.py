"""Celery tasks: thin wrappers that call services with ids. Training runs on the `training` queue
(settings.CELERY_TASK_ROUTES); the sweeper runs wherever beat's default queue is served."""

from celery.signals import worker_ready

from distillation import services
from orchestra.celery import app


@app.task(name="distillation.tasks.distillation_job_run_task", acks_late=True, reject_on_worker_lost=True)
def distillation_job_run_task(job_id: str) -> str | None:
    return services.job_execute(job_id=job_id)


@app.task(name="distillation.tasks.distillation_jobs_sweep_task", ignore_result=True)
def distillation_jobs_sweep_task() -> list[str]:
    return services.jobs_sweep()


@worker_ready.connect
def _sweep_on_start(sender=None, **kwargs):
    """A trainer that starts after a crash picks up what the dead one left, without waiting for beat."""
    distillation_jobs_sweep_task.delay()
