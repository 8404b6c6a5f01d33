"""Job events: numbered per job and stored first, then pushed as a nudge, exactly like run events
(workflows/events.py), so `?after=SEQ` over HTTP and the WebSocket never miss or repeat one."""

from distillation.models import DistillationJob, JobEvent
from workflows.events import record_numbered


def record(*, job_id, type: str, data: dict | None = None) -> JobEvent:
    return record_numbered(
        owner=DistillationJob, owner_id=job_id, event_model=JobEvent, owner_field="job", type=type, data=data or {}
    )


def as_dict(event: JobEvent) -> dict:
    return {"seq": event.seq, "type": event.type, "data": event.data, "at": event.at.isoformat()}


def events_after(*, job_id, after: int = 0, limit: int = 1000) -> list[dict]:
    return [as_dict(e) for e in JobEvent.objects.filter(job_id=job_id, seq__gt=after).order_by("seq")[:limit]]
