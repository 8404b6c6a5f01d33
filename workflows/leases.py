"""Leases: how a worker owns a run (or a distillation job) while it works on it.

The worker claims the row, then renews the lease every third of its length. If the worker dies
the lease lapses, and the sweeper re-enqueues the row for another worker, which resumes from the
last checkpoint. Rows that use this have `status`, `lease_owner`, `lease_expires_at` and
`enqueued_at` fields.
"""

import logging
import os
import socket
import threading
from datetime import timedelta

from django.conf import settings
from django.db import connection, models
from django.db.models import Q
from django.utils import timezone

log = logging.getLogger(__name__)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def lease_length() -> timedelta:
    return timedelta(seconds=settings.ORCHESTRA_RUN_LEASE_S)


def claim(model: type[models.Model], *, pk, owner: str, statuses: tuple[str, ...]):
    """Take the row if its status is one of `statuses` and nobody holds a live lease; else None."""
    now = timezone.now()
    claimed = (
        model.objects.filter(pk=pk, status__in=statuses)
        # its own lease too: a claim repeated after a broken connection finds the first one
        .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now) | Q(lease_owner=owner))
        .update(lease_owner=owner, lease_expires_at=now + lease_length(), status="running")
    )
    return model.objects.get(pk=pk) if claimed else None


class LeaseKeeper(threading.Thread):
    """Renews the lease until stopped; `lost` is set if another worker took the row over."""

    def __init__(self, model: type[models.Model], pk, owner: str):
        super().__init__(daemon=True, name=f"lease-{pk}")
        self.model, self.pk, self.owner = model, pk, owner
        self.stopped, self.lost = threading.Event(), threading.Event()

    def run(self):
        from django.db import DatabaseError

        try:
            while not self.stopped.wait(settings.ORCHESTRA_RUN_LEASE_S / 3):
                try:
                    kept = self.model.objects.filter(pk=self.pk, lease_owner=self.owner).update(
                        lease_expires_at=timezone.now() + lease_length()
                    )
                except DatabaseError as exc:  # a database blip: try again next time, the lease is still ours
                    log.warning("%s %s: lease not renewed (%s)", self.model.__name__, self.pk, exc)
                    _drop_connection()
                    continue
                finally:
                    connection.close()  # back to the pool between renewals
                if not kept:
                    log.warning("%s %s: lease lost to another worker", self.model.__name__, self.pk)
                    self.lost.set()
                    return
        finally:
            _drop_connection()

    def stop(self):
        self.stopped.set()


def _drop_connection() -> None:
    try:
        connection.close()
    except Exception:  # noqa: BLE001 (a dead connection may fail to close; it is gone either way)
        connection.connection = None


def orphans(model: type[models.Model]) -> list[str]:
    """Rows whose worker died (lease lapsed), whose queue message was lost, or whose message could
    not be sent at all (the broker was down: `enqueued_at` is null), to re-enqueue."""
    now = timezone.now()
    # Not again while an earlier re-enqueue may still be waiting for a worker to take it.
    recently_enqueued = Q(enqueued_at__gte=now - lease_length())
    lapsed = Q(status="running", lease_expires_at__lt=now) & ~recently_enqueued
    lost = Q(
        status="queued",
        lease_expires_at__isnull=True,
        enqueued_at__lt=now - timedelta(seconds=settings.ORCHESTRA_REQUEUE_AFTER_S),
    )
    never_sent = Q(status="queued", lease_expires_at__isnull=True, enqueued_at__isnull=True)
    if any(f.name == "created_at" for f in model._meta.concrete_fields):  # not one still being started
        never_sent &= Q(created_at__lt=now - timedelta(seconds=2))
    return [str(pk) for pk in model.objects.filter(lapsed | lost | never_sent).values_list("pk", flat=True)]
