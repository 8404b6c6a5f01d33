"""WebSocket: a job's events after a sequence number, replayed then live. The run consumer's pump
(table first, channel-layer nudge only wakes it, exactly once and in order) serves jobs as well;
only where the rows come from and who may read them differ."""
from channels.db import database_sync_to_async

from distillation import events
from distillation.models import DistillationJob
from workflows import selectors, services
from workflows.consumers import RunEventsConsumer


class JobEventsConsumer(RunEventsConsumer):
    async def connect(self):
        kwargs = self.scope["url_route"]["kwargs"]
        kwargs.setdefault("run_id", kwargs["job_id"])  # the base class names its stream `run_id`
        await super().connect()

    @database_sync_to_async
    def _read(self):
        status = DistillationJob.objects.filter(pk=self.run_id).values_list("status", flat=True).first()
        return events.events_after(job_id=self.run_id, after=self.last_seq, limit=500), status

    @database_sync_to_async
    def _authorised(self, query) -> bool:
        headers = dict(self.scope.get("headers", []))
        bearer = headers.get(b"authorization", b"").decode()
        key = bearer[7:].strip() if bearer.lower().startswith("bearer ") else query.get("token", [""])[0]
        if key:
            api_key = services.api_key_authenticate(key=key)
            workspaces = [api_key.workspace_id] if api_key else []
        else:
            user = self.scope.get("user")
            if not (user and user.is_authenticated):
                return False
            workspace = selectors.workspace_for_user(user=user)
            workspaces = [workspace.id] if workspace else []
        try:
            return DistillationJob.objects.filter(pk=self.run_id, workspace_id__in=workspaces).exists()
        except Exception:  # a malformed job id
            return False
