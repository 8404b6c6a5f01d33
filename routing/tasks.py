"""Celery tasks: thin wrappers that call services with ids. Jobs run on the `training` queue
(settings.CELERY_TASK_ROUTES); the sweeper runs wherever beat's default queue is served."""

from celery.signals import worker_ready

from orchestra.celery import app
from routing import jobs


@app.task(name="routing.tasks.router_job_run_task", acks_late=True, reject_on_worker_lost=True)
def router_job_run_task(job_id: str) -> str | None:
    return jobs.job_execute(job_id=job_id)


@app.task(name="routing.tasks.router_jobs_sweep_task", ignore_result=True)
def router_jobs_sweep_task() -> list[str]:
    return jobs.jobs_sweep()


@worker_ready.connect
def _sweep_on_start(sender=None, **kwargs):
    """A worker that starts after a crash picks up what the dead one left, without waiting for beat."""
    router_jobs_sweep_task.delay()
