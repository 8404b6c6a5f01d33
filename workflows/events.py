"""Run events: numbered per run, stored first (the source of truth), then pushed as a nudge.

Clients read events after a sequence number from the database, so a missed push never loses an
event and a replay never repeats one; the channel layer (Redis in production) only says "more".
"""
import asyncio
import logging
import threading

from channels.layers import get_channel_layer
from django.db import models, transaction
from django.db.models import F

from workflows.models import Run, RunEvent

log = logging.getLogger(__name__)


def group_name(run_id) -> str:
    return f"run_{run_id}"


def record_numbered(*, owner: type[models.Model], owner_id, event_model: type[models.Model], owner_field: str,
                    **fields) -> models.Model:
    """Store the owner's next event; the owner row's `event_seq` hands out the numbers."""
    with transaction.atomic():
        # The UPDATE locks the owner's row until commit, so concurrent writers get distinct, gapless seqs.
        owner.objects.filter(pk=owner_id).update(event_seq=F("event_seq") + 1)
        seq = owner.objects.filter(pk=owner_id).values_list("event_seq", flat=True).get()
        event = event_model.objects.create(**{f"{owner_field}_id": owner_id}, seq=seq, **fields)
        transaction.on_commit(lambda: nudge(owner_id, seq))
    return event


def record(*, run_id, type: str, node_id: str | None = None, data: dict | None = None) -> RunEvent:
    return record_numbered(owner=Run, owner_id=run_id, event_model=RunEvent, owner_field="run", type=type,
                           node_id=node_id or "", data=data or {})


class _Nudger:
    """Sends pushes from one event-loop thread per process, so writers never wait on Redis."""

    def __init__(self):
        self.loop: asyncio.AbstractEventLoop | None = None
        self.lock = threading.Lock()

    def send(self, group: str, message: dict) -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        with self.lock:
            if self.loop is None or self.loop.is_closed():
                self.loop = asyncio.new_event_loop()
                threading.Thread(target=self.loop.run_forever, daemon=True, name="event-nudger").start()
        future = asyncio.run_coroutine_threadsafe(layer.group_send(group, message), self.loop)
        future.add_done_callback(_log_failure)


def _log_failure(future) -> None:
    if future.exception() is not None:  # the push is an optimisation; readers also poll the table
        log.warning("channel layer push failed: %s", future.exception())


_nudger = _Nudger()


def nudge(run_id, seq: int) -> None:
    """Wake the consumers tailing this stream. Distillation job events use it too (ids are UUIDs)."""
    _nudger.send(group_name(run_id), {"type": "run.event", "seq": seq})


def as_dict(event: RunEvent) -> dict:
    return {"seq": event.seq, "type": event.type, "node_id": event.node_id or None, "data": event.data,
            "at": event.at.isoformat()}


def events_after(*, run_id, after: int = 0, limit: int = 1000) -> list[dict]:
    return [as_dict(e) for e in RunEvent.objects.filter(run_id=run_id, seq__gt=after).order_by("seq")[:limit]]
