"""Run events: numbered per run, stored first (the source of truth), then pushed as a nudge.

Clients read events after a sequence number from the database, so a missed push never loses an
event and a replay never repeats one; the channel layer (Redis in production) only says "more".
"""
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.db.models import F

from workflows.models import Run, RunEvent

log = logging.getLogger(__name__)


def group_name(run_id) -> str:
    return f"run_{run_id}"


def record(*, run_id, type: str, node_id: str | None = None, data: dict | None = None) -> RunEvent:
    with transaction.atomic():
        # The UPDATE locks the run row until commit, so concurrent writers get distinct, gapless seqs.
        Run.objects.filter(pk=run_id).update(event_seq=F("event_seq") + 1)
        seq = Run.objects.filter(pk=run_id).values_list("event_seq", flat=True).get()
        event = RunEvent.objects.create(run_id=run_id, seq=seq, type=type, node_id=node_id or "", data=data or {})
        transaction.on_commit(lambda: _nudge(run_id, seq))
    return event


def _nudge(run_id, seq: int) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group_name(run_id), {"type": "run.event", "seq": seq})
    except Exception:  # the push is an optimisation; readers fall back to polling the table
        log.warning("channel layer push failed for run %s", run_id, exc_info=True)


def as_dict(event: RunEvent) -> dict:
    return {"seq": event.seq, "type": event.type, "node_id": event.node_id or None, "data": event.data,
            "at": event.at.isoformat()}


def events_after(*, run_id, after: int = 0, limit: int = 1000) -> list[dict]:
    return [as_dict(e) for e in RunEvent.objects.filter(run_id=run_id, seq__gt=after).order_by("seq")[:limit]]
