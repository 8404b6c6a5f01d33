"""WebSocket: a job's events after a sequence number, replayed then live, exactly like a run's."""

from distillation import events
from distillation.models import DistillationJob
from workflows.consumers import RunEventsConsumer


class JobEventsConsumer(RunEventsConsumer):
    stream_model = DistillationJob
    url_kwarg = "job_id"

    def events_after(self, after: int) -> list[dict]:
        return events.events_after(job_id=self.stream_id, after=after, limit=500)
