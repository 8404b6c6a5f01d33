import threading

from django.apps import AppConfig


class RoutingConfig(AppConfig):
    name = "routing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The router plugs into node and gateway calls through the model-selection seams; workflows
        # never imports routing.
        from celery.signals import worker_init, worker_ready
        from django.core.signals import request_started

        from routing.calls import routed_gateway_call, routed_node_call
        from workflows.model_calls import gateway_selector_register, model_selector_register

        model_selector_register(routed_node_call)
        gateway_selector_register(routed_gateway_call)
        # Embedders load when a process starts serving calls, not on its first routed call.
        worker_init.connect(_connect_pool_preload, weak=False)
        worker_ready.connect(_preload_in_worker, weak=False)
        request_started.connect(_preload_in_web, weak=False, dispatch_uid="routing-preload")


def _connect_pool_preload(**kwargs) -> None:
    """Connected at worker_init, after Celery's Django fixup connected its own worker_process_init
    receiver: a prefork child then drops the database connections it inherited before this queries."""
    from celery.signals import worker_process_init

    worker_process_init.connect(_preload_in_pool_process, weak=False)


def _preload_in_pool_process(**kwargs) -> None:
    """A prefork child (or the solo pool's process): it runs the tasks."""
    from routing.calls import embedders_preload

    embedders_preload()


def _preload_in_worker(sender=None, **kwargs) -> None:
    """A worker whose tasks run in its own process (threads, gevent) gets no worker_process_init;
    a prefork parent runs no tasks, so it loads nothing (its children do). The consumer starts
    taking tasks once this returns."""
    from celery.concurrency.prefork import TaskPool as PreforkPool

    from routing.calls import embedders_preload

    if not isinstance(getattr(sender, "pool", None), PreforkPool):
        embedders_preload()


def _preload_in_web(**kwargs) -> None:
    """The web process answers gateway calls: on its first request it loads the embedders in the
    background (a routed call meanwhile waits on the embedder's lock rather than loading it twice)."""
    from django.core.signals import request_started

    request_started.disconnect(dispatch_uid="routing-preload")
    threading.Thread(target=_preload_and_close, name="routing-preload", daemon=True).start()


def _preload_and_close() -> None:
    from django.db import connection

    from routing.calls import embedders_preload

    try:
        embedders_preload()
    finally:
        connection.close()  # this thread's own connection
