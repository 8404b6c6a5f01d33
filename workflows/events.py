"""Run events: numbered per run, stored first (the source of truth), then pushed as a nudge.

Clients read events after a sequence number from the database, so a missed push never loses an
event and a replay never repeats one; the push (workflows/waits.py: Redis pub/sub, or the embedded
mode's database tail) only says "more".
"""

import logging
from collections.abc import Sequence

from django.db import connection, models, transaction
from django.utils import timezone

from workflows import leases, waits
from workflows.models import Run, RunEvent

log = logging.getLogger(__name__)


def reserve_seqs(
    *,
    owner: type[models.Model],
    owner_id,
    count: int,
    async_commit: bool = False,
    lease: leases.Lease | None = None,
) -> tuple[int, bool]:
    """Hand out `count` consecutive seqs of the owner's stream: (the last one, its cancel flag).

    One UPDATE ... RETURNING: it locks the owner's row until commit, so concurrent writers get
    distinct, gapless seqs; `cancel_requested` comes back with it where the owner has one, so a
    worker learns of a cancel from the writes it makes anyway. `async_commit`: the transaction
    commits without waiting for the WAL flush (workflows/recorder.py says when that is safe); on
    PostgreSQL the SET travels in the same round trip. With the worker's `lease`, the same UPDATE
    fences the write and renews the lease: LeaseLost if the lease was taken over.
    """
    table = connection.ops.quote_name(owner._meta.db_table)
    pk = connection.ops.quote_name(owner._meta.pk.column)
    has_cancel = any(f.name == "cancel_requested" for f in owner._meta.concrete_fields)
    returning = "event_seq, cancel_requested" if has_cancel else "event_seq, false"
    params = [count, owner._meta.pk.get_db_prep_value(owner_id, connection)]
    renew, fenced = "", ""
    if lease is not None:
        renew, fenced = ", lease_expires_at = %s", " AND lease_owner = %s AND lease_attempt = %s"
        params = [count, timezone.now() + leases.lease_length(), params[1], lease.owner, lease.attempt]
    sql = f"UPDATE {table} SET event_seq = event_seq + %s{renew} WHERE {pk} = %s{fenced} RETURNING {returning}"
    prefix = async_commit and connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        cursor.execute(("SET LOCAL synchronous_commit TO OFF; " if prefix else "") + sql, params)
        if prefix:
            cursor.nextset()
        row = cursor.fetchone()
    if row is None:
        if lease is not None and owner.objects.filter(pk=owner_id).exists():
            raise leases.LeaseLost(lease)
        raise owner.DoesNotExist(f"{owner.__name__} {owner_id} does not exist")
    return row[0], bool(row[1])


def record_many(
    *,
    owner: type[models.Model],
    owner_id,
    event_model: type[models.Model],
    owner_field: str,
    events: Sequence[dict],
    async_commit: bool = False,
    lease: leases.Lease | None = None,
) -> tuple[list[models.Model], bool]:
    """Store several events of one stream in one transaction (the caller's, if any): one UPDATE for
    the seqs, one INSERT for the rows, one push after commit. Returns (events, cancel requested)."""
    if not events:
        return [], False
    with transaction.atomic(savepoint=False):  # all or nothing with the caller's transaction
        last, cancel = reserve_seqs(
            owner=owner, owner_id=owner_id, count=len(events), async_commit=async_commit, lease=lease
        )
        first = last - len(events) + 1
        rows = event_model.objects.bulk_create(
            event_model(**{f"{owner_field}_id": owner_id}, seq=first + i, **fields) for i, fields in enumerate(events)
        )
        types = list(dict.fromkeys(e["type"] for e in events))
        transaction.on_commit(lambda: waits.notify(owner, owner_id, last, types))
    return rows, cancel


def record_numbered(
    *, owner: type[models.Model], owner_id, event_model: type[models.Model], owner_field: str, **fields
) -> models.Model:
    """Store the owner's next event."""
    return record_many(
        owner=owner, owner_id=owner_id, event_model=event_model, owner_field=owner_field, events=[fields]
    )[0][0]


def record(
    *,
    run_id,
    type: str,
    node_id: str | None = None,
    data: dict | None = None,
    async_commit: bool = False,
    lease: leases.Lease | None = None,
) -> RunEvent:
    return record_many(
        owner=Run,
        owner_id=run_id,
        event_model=RunEvent,
        owner_field="run",
        async_commit=async_commit,
        lease=lease,
        events=[{"type": type, "node_id": node_id or "", "data": data or {}}],
    )[0][0]


def as_dict(event: RunEvent) -> dict:
    return {
        "seq": event.seq,
        "type": event.type,
        "node_id": event.node_id or None,
        "data": event.data,
        "at": event.at.isoformat(),
    }


def events_after(*, run_id, after: int = 0, limit: int = 1000) -> list[dict]:
    return [as_dict(e) for e in RunEvent.objects.filter(run_id=run_id, seq__gt=after).order_by("seq")[:limit]]
