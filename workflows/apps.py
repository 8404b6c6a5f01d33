from django.apps import AppConfig


class WorkflowsConfig(AppConfig):
    name = "workflows"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from workflows import callbacks, chat, runs

        # A chat turn's reply is stored with the run's final event; a callback is scheduled with it.
        runs.run_finished.connect(
            lambda sender, run, **_: chat.reply_record(run=run), weak=False, dispatch_uid="chat-reply"
        )
        runs.run_finished.connect(
            lambda sender, run, **_: callbacks.callback_schedule(run=run), weak=False, dispatch_uid="run-callback"
        )
