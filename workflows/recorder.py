"""What the engine reports during a run, stored with as few commits as durability allows.

Each engine event becomes a numbered RunEvent and is folded into its node's NodeRun row. Events
that end something (a node finished, failed, was skipped, waits; a tool call and its result, which
a resumed agent reads back instead of calling the tool again) are written before the engine goes
on, together with whatever was buffered before them: one transaction, one UPDATE for the seqs, one
INSERT for the rows, one UPDATE per node row. Events that only report progress (`node_started`,
streamed `token`s, a map's `item_succeeded`) wait up to ORCHESTRA_TOKEN_FLUSH_MS in a buffer, and
consecutive tokens of a node become one event; so a fast node is one transaction, a streaming node
at most one per ~50 ms, and a map of many quick items not one per item. A worker killed inside that
window loses them: the node's start is recorded again when it resumes, and an item whose success
was not stored yet runs again.

These transactions commit without waiting for the WAL flush (PostgreSQL's synchronous_commit off,
for them only): a worker that dies loses none of them (they are committed), and the checkpoint
that ends the step commits synchronously after them, which flushes them too. Only a crash of the
database itself inside that window can lose them, together with the unfinished step, which then
runs again.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import json
import logging
import threading
import time
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Sum
from django.utils import timezone

from workflows import dbretry, events, leases, waits
from workflows.models import NodeRun, Run, RunEvent, Trace

log = logging.getLogger(__name__)

NODE_STATUS_BY_EVENT = {
    "node_started": "running",
    "node_succeeded": "succeeded",
    "node_failed": "failed",
    "node_skipped": "skipped",
    "node_waiting": "waiting",
    "node_retrying": "running",
}
BUFFERED = frozenset({"node_started", "token", "item_succeeded"})


def json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def node_usage(run_id, node_id: str) -> dict[str, Any]:
    """What a node's model calls used: the sum of all its traces, so failed attempts, retries,
    rejected student replies and shadow calls are counted too; {} for a node that called no model."""
    traces = Trace.objects.filter(run_id=run_id, node_id=node_id)
    totals = traces.aggregate(
        tokens_in=Sum("tokens_in"), tokens_out=Sum("tokens_out"), cost=Sum("cost"), latency_ms=Sum("latency_ms")
    )
    if totals["tokens_in"] is None:
        return {}
    # The models whose answers the node used: a shadow student's or a rejected reply is paid for, not used.
    answered = traces.filter(status="ok").exclude(call_key__endswith="#shadow").exclude(call_key__endswith="#rejected")
    models = dict.fromkeys(answered.order_by("created_at").values_list("model", flat=True))
    return totals | {"model": ", ".join(models)[:200]}


def node_update(type: str, data: dict, now) -> dict[str, Any]:
    """The NodeRun fields an event changes."""
    update: dict[str, Any] = {"status": NODE_STATUS_BY_EVENT[type]}
    if type == "node_started":
        update |= {
            "input": data.get("input"),
            "attempts": data.get("attempt", 1),
            "started_at": now,
            "error": "",
            "finished_at": None,
        }
    elif type == "node_retrying":
        update |= {"error": data.get("error", ""), "attempts": data.get("attempt", 1)}
    elif type in ("node_succeeded", "node_failed"):
        update |= {
            "output": data.get("output"),
            "error": data.get("error") or "",
            "finished_at": now,
            "attempts": data.get("attempts", 1),
        }
    elif type == "node_skipped":
        update |= {"finished_at": now}
    return update


class RunRecorder:
    """One run's event buffer on a worker. `emit` may be called from any thread."""

    CANCEL_RECHECK_S = 0.5

    def __init__(self, run: Run):
        self.run_id = run.id
        self.lease: leases.Lease | None = getattr(run, "lease", None)  # fences every write (leases.py)
        self.lease_lost = False
        self.cancel_requested = run.cancel_requested
        self.cancel_read_at = time.monotonic()
        self.lock = threading.RLock()
        self.pending: list[dict] = []
        self.flush_at: float | None = None
        self.flush_s = settings.ORCHESTRA_TOKEN_FLUSH_MS / 1000

    def emit(self, type: str, node_id: str | None, data: dict | None) -> None:
        data = json_safe(data or {})
        with self.lock:
            last = self.pending[-1] if self.pending else None
            if type == "token" and last and last["type"] == "token" and last["node_id"] == (node_id or ""):
                last["data"]["text"] = last["data"].get("text", "") + data.get("text", "")
            else:
                # A node's usage is summed from its traces; a node that made no model call has none.
                usage = node_id is not None and (
                    type == "node_failed" or (type == "node_succeeded" and data.get("model") is not None)
                )
                self.pending.append({"type": type, "node_id": node_id or "", "data": data, "usage": usage})
            if type not in BUFFERED:
                self.flush()
            elif self.flush_at is None:
                self.flush_at = time.monotonic() + self.flush_s
                _flusher.schedule(self, self.flush_at)

    def flush(self) -> None:
        """Write what is buffered, now, in this thread (retrying through a database blip)."""
        with self.lock:
            if not self.pending:
                return
            batch, self.pending, self.flush_at = self.pending, [], None
            # Giving up (the database away for ORCHESTRA_DB_RETRY_S) abandons the run's execution
            # here; it resumes from its last checkpoint, whose unfinished node emits these again.
            try:
                dbretry.retrying(lambda: self._write(batch), what=f"run {self.run_id} events")
            except leases.LeaseLost:
                self.lease_lost = True  # the engine stops at its next cancel check
                raise

    def _write(self, batch: list[dict]) -> None:
        at = batch[-1].get("written_at")
        if at is not None and RunEvent.objects.filter(run_id=self.run_id, type=batch[-1]["type"], at=at).exists():
            return  # the commit went through before the connection broke: nothing to repeat
        now = timezone.now()
        batch[-1]["written_at"] = now  # every row of the batch carries it: how a retry tells it committed
        updates: dict[str, dict[str, Any]] = {}
        for event in batch:
            if event["node_id"] and event["type"] in NODE_STATUS_BY_EVENT:
                update = node_update(event["type"], event["data"], now)
                if event["usage"]:
                    update |= node_usage(self.run_id, event["node_id"])
                updates[event["node_id"]] = updates.get(event["node_id"], {}) | update
        if connection.vendor == "postgresql":
            cancel = self._write_postgres(batch, updates, now)
        else:
            with transaction.atomic():
                rows, cancel = events.record_many(
                    owner=Run,
                    owner_id=self.run_id,
                    event_model=RunEvent,
                    owner_field="run",
                    async_commit=True,
                    lease=self.lease,
                    events=[{"type": e["type"], "node_id": e["node_id"], "data": e["data"]} for e in batch],
                )
                for node_id, update in updates.items():
                    NodeRun.objects.filter(run_id=self.run_id, node_id=node_id).update(**update)
        self.cancel_requested, self.cancel_read_at = cancel, time.monotonic()
        batch[-1]["written_at"] = None

    def _write_postgres(self, batch: list[dict], updates: dict[str, dict[str, Any]], now) -> bool:
        """The whole batch in one round trip: BEGIN, the seqs, the rows, the node rows, COMMIT.

        The ORM would spend six (BEGIN, SET, UPDATE, INSERT, one UPDATE per node, COMMIT); this is
        the path every node of every run takes, so it is written out once here.
        """
        run_id = str(self.run_id)
        # Fenced by the lease: the run row's UPDATE renews it, and a node row only changes while it holds.
        renew, fence, fence_params = "", "", []
        if self.lease is not None:
            renew, fence = ", lease_expires_at = %s", " AND lease_owner = %s AND lease_attempt = %s"
            fence_params = [self.lease.owner, self.lease.attempt]
        params: list[Any] = [len(batch), *([now + leases.lease_length()] if renew else []), run_id, *fence_params]
        values = []
        for i, event in enumerate(batch, start=1):
            values.append("(%s, %s, %s, %s::jsonb)")
            params += [i, event["type"], event["node_id"], json.dumps(event["data"])]
        params += [run_id, len(batch), now]
        q = connection.ops.quote_name
        run_table, event_table, node_table = (q(m._meta.db_table) for m in (Run, RunEvent, NodeRun))
        sql = [
            "BEGIN",
            "SET LOCAL synchronous_commit TO OFF",
            f"WITH s AS (UPDATE {run_table} SET event_seq = event_seq + %s{renew} WHERE id = %s{fence} "
            "RETURNING event_seq, cancel_requested), "
            "v(i, kind, node, payload) AS (VALUES " + ", ".join(values) + "), "
            f"ins AS (INSERT INTO {event_table} (run_id, seq, {q('type')}, node_id, {q('data')}, {q('at')}) "
            "SELECT %s, s.event_seq - %s + v.i, v.kind, v.node, v.payload, %s FROM s, v RETURNING 1) "
            "SELECT s.event_seq, s.cancel_requested, (SELECT count(*) FROM ins) FROM s",
        ]
        for node_id, update in updates.items():
            columns = []
            for field, value in update.items():
                if field in ("input", "output"):
                    columns.append(f"{q(field)} = %s::jsonb")
                    params.append(None if value is None else json.dumps(value))
                else:
                    columns.append(f"{q(field)} = %s")
                    params.append(value)
            held = f" AND EXISTS (SELECT 1 FROM {run_table} WHERE id = %s{fence})" if fence else ""
            sql.append(f"UPDATE {node_table} SET {', '.join(columns)} WHERE run_id = %s AND node_id = %s{held}")
            params += [run_id, node_id] + ([run_id, *fence_params] if fence else [])
        sql.append("COMMIT")
        with connection.cursor() as cursor:
            try:
                cursor.execute("; ".join(sql), params)
            except Exception:
                with contextlib.suppress(Exception):  # the explicit BEGIN stays open after an error
                    cursor.execute("ROLLBACK")
                raise
            row = None
            while True:
                if cursor.description is not None and row is None:
                    row = cursor.fetchone()
                if not cursor.nextset():
                    break
        if row is None:
            if self.lease is not None and Run.objects.filter(pk=run_id).exists():
                raise leases.LeaseLost(self.lease)
            raise Run.DoesNotExist(f"Run {run_id} does not exist")
        waits.notify(Run, self.run_id, row[0], list(dict.fromkeys(e["type"] for e in batch)))
        return bool(row[1])

    def is_cancelled(self) -> bool:
        """Whether a cancel was requested, as of the last write (at most CANCEL_RECHECK_S ago, else read),
        or the run was taken over by another worker."""
        if self.lease_lost:
            return True
        if time.monotonic() - self.cancel_read_at > self.CANCEL_RECHECK_S:
            self.cancel_requested = Run.objects.filter(pk=self.run_id, cancel_requested=True).exists()
            self.cancel_read_at = time.monotonic()
        return self.cancel_requested

    def close(self) -> None:
        _flusher.cancel(self)
        self.flush()


class _Flusher(threading.Thread):
    """One thread per worker process that flushes buffers whose ~50 ms are up (long nodes, streams)."""

    def __init__(self):
        super().__init__(daemon=True, name="orchestra-event-flusher")
        self.cond = threading.Condition()
        self.heap: list[tuple[float, int, RunRecorder]] = []
        self.counter = itertools.count()
        self.started = False

    def schedule(self, recorder: RunRecorder, at: float) -> None:
        with self.cond:
            if not self.started:
                self.started = True
                self.start()
            heapq.heappush(self.heap, (at, next(self.counter), recorder))
            self.cond.notify()

    def cancel(self, recorder: RunRecorder) -> None:
        with self.cond:
            self.heap = [item for item in self.heap if item[2] is not recorder]
            heapq.heapify(self.heap)

    def run(self) -> None:
        while True:
            with self.cond:
                while not self.heap or self.heap[0][0] > time.monotonic():
                    self.cond.wait(None if not self.heap else max(0.0, self.heap[0][0] - time.monotonic()))
                _, _, recorder = heapq.heappop(self.heap)
            try:
                with recorder.lock:
                    if recorder.flush_at is not None and recorder.flush_at <= time.monotonic():
                        recorder.flush()
            except Exception:  # noqa: BLE001 (kept in the buffer; the node's end flushes it again)
                log.exception("run %s: buffered events not written yet", recorder.run_id)
            finally:
                if not connection.in_atomic_block:
                    connection.close()  # back to the pool between flushes


_flusher = _Flusher()
