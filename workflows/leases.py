"""Leases: how a worker owns a run (or a distillation job) while it works on it.

The worker claims the row, then renews the lease every third of its length. If the worker dies
the lease lapses, and the sweeper re-enqueues the row for another worker, which resumes from the
last checkpoint. Rows that use this have `status`, `lease_owner`, `lease_expires_at` and
`enqueued_at` fields.

Fencing (rows with a `lease_attempt`, as runs have): every claim makes a new attempt, and every
write of the row's work checks, in the write's own transaction, that the owner and the attempt
are still the row's, renewing the lease as it goes (`fence`); a worker whose lease was taken over
gets `LeaseLost` instead of writing, as Temporal refuses a completion from a stale attempt. So
the keeper thread may be starved (a node holding the GIL) without harm: a takeover it failed to
prevent leaves the old worker unable to write anything, and the node merely runs again, as it
would after a crash. A renewal process outside the GIL was the alternative; it would cost a
database connection per worker child, and fencing is needed anyway for a worker that stalls for
any other reason (a swap storm, a paused VM).
"""

import contextlib
import contextvars
import logging
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, models
from django.db.models import Case, F, Q, When
from django.utils import timezone

log = logging.getLogger(__name__)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def lease_length() -> timedelta:
    return timedelta(seconds=settings.ORCHESTRA_RUN_LEASE_S)


@dataclass(frozen=True)
class Lease:
    """What a worker holds: the row, its owner name and the attempt its claim made."""

    model: type[models.Model]
    pk: Any
    owner: str
    attempt: int


class LeaseLost(Exception):
    """The row was taken over by a newer attempt: this worker may not write its work any more."""

    def __init__(self, lease: Lease):
        super().__init__(
            f"{lease.model.__name__} {lease.pk}: lease of {lease.owner} (attempt {lease.attempt}) was taken over"
        )
        self.lease = lease


def _fenced(model: type[models.Model]) -> bool:
    return any(f.name == "lease_attempt" for f in model._meta.concrete_fields)


def claim(model: type[models.Model], *, pk, owner: str, statuses: tuple[str, ...], also: dict[str, Any] | None = None):
    """Take the row if its status is one of `statuses` and nobody holds a live lease; else None.

    The row comes back with `lease` set (a `Lease`). On fenced rows the claim is a new attempt, and
    one that takes over a running row from another owner (its worker died or stalled) is counted in
    `worker_losses`. `also`: more fields (values or expressions) the claim's UPDATE sets."""
    now = timezone.now()
    update: dict[str, Any] = {
        **(also or {}),
        "lease_owner": owner,
        "lease_expires_at": now + lease_length(),
        "status": "running",
    }
    if _fenced(model):
        took_over = Q(status="running") & ~Q(lease_owner="") & ~Q(lease_owner=owner)
        update |= {
            "lease_attempt": F("lease_attempt") + 1,
            "worker_losses": Case(
                When(took_over, then=F("worker_losses") + 1),
                default=F("worker_losses"),
                output_field=models.PositiveIntegerField(),
            ),
        }
    claimed = (
        model.objects.filter(pk=pk, status__in=statuses)
        # its own lease too: a claim repeated after a broken connection finds the first one
        .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now) | Q(lease_owner=owner))
        .update(**update)
    )
    if not claimed:
        return None
    row = model.objects.get(pk=pk)
    row.lease = Lease(model=model, pk=row.pk, owner=owner, attempt=getattr(row, "lease_attempt", 0))
    return row


def fence(lease: Lease) -> None:
    """Renew the lease, or raise LeaseLost if it is no longer this attempt's. Call it inside the
    write's transaction: the row lock its UPDATE takes holds a takeover off until the write commits."""
    filters = {"pk": lease.pk, "lease_owner": lease.owner}
    if _fenced(lease.model):
        filters["lease_attempt"] = lease.attempt
    if not lease.model.objects.filter(**filters).update(lease_expires_at=timezone.now() + lease_length()):
        raise LeaseLost(lease)


# The lease of the run this context works on, for writes that reach no run object (LangGraph's
# checkpoints); LangGraph copies the context into the threads it runs nodes and writes on.
current: contextvars.ContextVar[Lease | None] = contextvars.ContextVar("orchestra_lease", default=None)


@contextlib.contextmanager
def holding(lease: Lease) -> Iterator[None]:
    """Keep the lease renewed (LeaseKeeper) and make it this context's `current` while working."""
    keeper = LeaseKeeper(lease.model, lease.pk, lease.owner, attempt=lease.attempt)
    token = current.set(lease)
    keeper.start()
    try:
        yield
    finally:
        keeper.stop()
        current.reset(token)


class LeaseKeeper(threading.Thread):
    """Renews the lease until stopped; `lost` is set if another worker took the row over."""

    def __init__(self, model: type[models.Model], pk, owner: str, *, attempt: int = 0):
        super().__init__(daemon=True, name=f"lease-{pk}")
        self.model, self.pk, self.owner = model, pk, owner
        self.lease = Lease(model=model, pk=pk, owner=owner, attempt=attempt)
        self.stopped, self.lost = threading.Event(), threading.Event()

    def run(self):
        from django.db import DatabaseError

        try:
            while not self.stopped.wait(settings.ORCHESTRA_RUN_LEASE_S / 3):
                try:
                    fence(self.lease)
                except LeaseLost:
                    log.warning("%s %s: lease lost to another worker", self.model.__name__, self.pk)
                    self.lost.set()
                    return
                except DatabaseError as exc:  # a database blip: try again next time, the lease is still ours
                    log.warning("%s %s: lease not renewed (%s)", self.model.__name__, self.pk, exc)
                    _drop_connection()
                    continue
                finally:
                    connection.close()  # back to the pool between renewals
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
