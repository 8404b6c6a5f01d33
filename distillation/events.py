"""Job events: numbered per job and stored first, then pushed as a nudge, exactly like run events
(workflows/events.py), so `?after=SEQ` over HTTP and the WebSocket never miss or repeat one."""
from django.db import transaction
from django.db.models import F

from distillation.models import DistillationJob, JobEvent
from workflows.events import nudge


def record(*, job_id, type: str, data: dict | None = None) -> JobEvent:
    with transaction.atomic():
        # The UPDATE locks the job row until commit, so concurrent writers get distinct, gapless seqs.
        DistillationJob.objects.filter(pk=job_id).update(event_seq=F("event_seq") + 1)
        seq = DistillationJob.objects.filter(pk=job_id).values_list("event_seq", flat=True).get()
        event = JobEvent.objects.create(job_id=job_id, seq=seq, type=type, data=data or {})
        transaction.on_commit(lambda: nudge(job_id, seq))
    return event


def as_dict(event: JobEvent) -> dict:
    return {"seq": event.seq, "type": event.type, "data": event.data, "at": event.at.isoformat()}


def events_after(*, job_id, after: int = 0, limit: int = 1000) -> list[dict]:
    return [as_dict(e) for e in JobEvent.objects.filter(job_id=job_id, seq__gt=after).order_by("seq")[:limit]]
