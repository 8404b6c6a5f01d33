"""Celery tasks: thin wrappers that call services with ids."""

import os

from celery import signals
from celery.signals import worker_ready
from django.db import close_old_connections

from orchestra.celery import app
from workflows import callbacks, execution, triggers


@app.task(name="workflows.tasks.run_execute_task", acks_late=True, reject_on_worker_lost=True)
def run_execute_task(run_id: str) -> str | None:
    return execution.run_execute(run_id=run_id)


@app.task(name="workflows.tasks.runs_sweep_task", ignore_result=True)
def runs_sweep_task() -> list[str]:
    return execution.runs_sweep()


@app.task(name="workflows.tasks.approval_timeout_task", acks_late=True)
def approval_timeout_task(run_id: str, node_id: str) -> None:
    execution.approval_timeout(run_id=run_id, node_id=node_id)


@worker_ready.connect
def _sweep_on_start(sender=None, **kwargs):
    """A worker that starts after a crash picks up what the dead one left, without waiting for beat."""
    runs_sweep_task.delay()


@app.task(name="workflows.tasks.callback_deliver_task", acks_late=True, ignore_result=True)
def callback_deliver_task(run_id: str, attempt: int) -> None:
    callbacks.callback_deliver(run_id=run_id, attempt=attempt)


@app.task(name="workflows.tasks.schedule_fire_task", ignore_result=True)
def schedule_fire_task(schedule_id: str) -> str | None:
    run = triggers.schedule_fire(schedule_id=schedule_id)
    return str(run.id) if run else None


@signals.worker_init.connect
def quiet_model_progress(sender=None, **kwargs):
    """A worker's stderr is logged as warnings: Hugging Face's download and loading progress bars
    would fill the log with them, so they are off (and transformers says only what is wrong)."""
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    os.environ["TRANSFORMERS_VERBOSITY"] = "error"
    from huggingface_hub.utils import disable_progress_bars
    from transformers.utils import logging as transformers_logging

    disable_progress_bars()
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()


@signals.worker_init.connect
def _pooled_connections_per_task(sender=None, **kwargs):
    """Celery's Django fixup closes the whole connection pool before and after every task in a
    prefork child (a new TCP connection and login per task). A forked child must not use its
    parent's pool, and it does not: the fixup still closes it once in each new child
    (worker_process_init). Per task, connections only go back to the pool."""
    from celery.fixups.django import DjangoFixup

    for fixup in getattr(sender.app if sender is not None else app, "_fixups", []):
        if isinstance(fixup, DjangoFixup) and fixup._worker_fixup is not None:
            signals.task_prerun.disconnect(fixup._worker_fixup.on_task_prerun)
            signals.task_postrun.disconnect(fixup._worker_fixup.on_task_postrun)
            signals.task_prerun.connect(_return_connections, weak=False)
            signals.task_postrun.connect(_return_connections, weak=False)


def _return_connections(sender=None, **kwargs):
    if not getattr(getattr(sender, "request", None), "is_eager", False):
        close_old_connections()
