from django.apps import AppConfig


class WorkflowsConfig(AppConfig):
    name = "workflows"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import pre_save

        from workflows import callbacks, chat, execution, runs
        from workflows.models import Trace

        # A worker that lost its run's lease writes no traces of it (workflows/leases.py).
        pre_save.connect(execution.trace_fenced, sender=Trace, dispatch_uid="trace-fenced")

        # A chat turn's reply is stored with the run's final event; a callback is scheduled with it.
        runs.run_finished.connect(
            lambda sender, run, **_: chat.reply_record(run=run), weak=False, dispatch_uid="chat-reply"
        )
        runs.run_finished.connect(
            lambda sender, run, **_: callbacks.callback_schedule(run=run), weak=False, dispatch_uid="run-callback"
        )
