"""The LangGraph checkpointer of a worker process: Postgres on PostgreSQL, else SQLite.

PostgresSaver as shipped sends each statement of a `put` in autocommit, so one checkpoint is two to
four commits, each waiting for its own WAL flush. Here one `put` or `put_writes` is one
transaction, pipelined (one round trip). The `put` that ends a node's step commits synchronously,
as before: once it returns, the finished node survives a worker crash and a database crash (the
first two, which only hold the run's inputs, do not wait for the flush). `put_writes` (a finished
task's writes, kept so the rest of an interrupted step need not re-run it) commits asynchronously:
the `put` that ends the step flushes it, and if the database itself crashes before that, the task
runs again, which is what happens anyway when a worker dies before its task's writes are stored.

Infrastructure errors (the database restarted, a backend was terminated, the pool timed out) are
retried with backoff for ORCHESTRA_DB_RETRY_S: every statement here is an idempotent upsert or a
read. The pool checks a connection before handing it out (unless it was in use a moment ago).
"""

import contextlib
import functools
import logging
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator

from django.conf import settings
from django.db import connection
from django.utils import timezone

from workflows import dbretry, leases
from workflows.models import Run

log = logging.getLogger(__name__)


def _postgres_saver():
    from langgraph.checkpoint.postgres import PostgresSaver
    from psycopg.rows import dict_row
    from psycopg_pool import ConnectionPool

    class OrchestraPostgresSaver(PostgresSaver):
        def __init__(self, pool: ConnectionPool):
            super().__init__(pool)
            self.lock = contextlib.nullcontext()  # a pool, not one shared connection: no process-wide lock
            self._async_commit = threading.local()

        @contextlib.contextmanager
        def _cursor(self, *, pipeline: bool = False) -> Iterator:
            with self.conn.connection() as conn:
                if not pipeline:
                    with conn.cursor(binary=True, row_factory=dict_row) as cur:
                        yield cur
                    return
                with conn.pipeline(), conn.transaction(), conn.cursor(binary=True, row_factory=dict_row) as cur:
                    if getattr(self._async_commit, "on", False):
                        cur.execute("SET LOCAL synchronous_commit TO OFF")
                    _fence(cur)
                    yield cur

        def get_tuple(self, config):
            # No cache of the latest checkpoint: LangGraph mutates the tuple it reads (a resumed run
            # that was served the engine's own read lost its finished tasks' writes).
            return dbretry.retrying(
                lambda: super(OrchestraPostgresSaver, self).get_tuple(config), what="checkpoint read", django=False
            )

        def put(self, config, checkpoint, metadata, new_versions):
            def write():
                # Steps -1 and 0 hold the run's inputs, no finished node: losing them with the
                # database means starting over from the Run row's inputs, so no flush to wait for.
                self._async_commit.on = (metadata or {}).get("step", 1) <= 0
                try:
                    return super(OrchestraPostgresSaver, self).put(config, checkpoint, metadata, new_versions)
                finally:
                    self._async_commit.on = False

            return dbretry.retrying(write, what="checkpoint write", django=False)

        def put_writes(self, config, writes, task_id, task_path=""):
            def write():
                self._async_commit.on = True
                try:
                    return super(OrchestraPostgresSaver, self).put_writes(config, writes, task_id, task_path)
                finally:
                    self._async_commit.on = False

            return dbretry.retrying(write, what="checkpoint writes", django=False)

    url = os.environ.get("DATABASE_URL") or _django_url()
    pool = ConnectionPool(
        url,
        min_size=1,
        max_size=max(1, settings.ORCHESTRA_CHECKPOINT_POOL_MAX),
        open=True,
        timeout=settings.ORCHESTRA_DB_POOL_TIMEOUT_S,
        check=_check_unless_fresh,
        reset=_returned_now,
        name="checkpoints",
        max_idle=300,
        kwargs={
            "autocommit": True,
            "prepare_threshold": 0,
            "row_factory": dict_row,
            "application_name": f"orchestra:{os.getpid()}",
        },
    )
    return OrchestraPostgresSaver(pool)


def _fence(cur) -> None:
    """A checkpoint write of a worker's run commits only while its lease holds (workflows/leases.py):
    the run row's UPDATE, in the write's transaction, renews the lease or finds it taken over."""
    lease = leases.current.get()
    if lease is None:
        return
    cur.execute(
        f"UPDATE {Run._meta.db_table} SET lease_expires_at = %s "
        "WHERE id = %s AND lease_owner = %s AND lease_attempt = %s RETURNING 1",
        [timezone.now() + leases.lease_length(), lease.pk, lease.owner, lease.attempt],
    )
    if cur.fetchone() is None:
        raise leases.LeaseLost(lease)


def _sqlite_saver(conn: sqlite3.Connection):
    from langgraph.checkpoint.sqlite import SqliteSaver

    class OrchestraSqliteSaver(SqliteSaver):
        """The checkpoints live in their own file here, so the fence is checked just before the write."""

        def put(self, config, checkpoint, metadata, new_versions):
            if (lease := leases.current.get()) is not None:
                leases.fence(lease)
            return super().put(config, checkpoint, metadata, new_versions)

        def put_writes(self, config, writes, task_id, task_path=""):
            if (lease := leases.current.get()) is not None:
                leases.fence(lease)
            return super().put_writes(config, writes, task_id, task_path)

    return OrchestraSqliteSaver(conn)


# A step makes three or four checkouts in a few milliseconds: checking each one would be a round
# trip per checkout. A connection given back less than FRESH_S ago is handed out as it is (if it
# died since, the statement fails and is retried on a checked one); an older one is checked.
FRESH_S = 1.0
_returned_at: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_returned_lock = threading.Lock()


def _returned_now(conn) -> None:
    with _returned_lock:
        _returned_at[conn] = time.monotonic()


def _check_unless_fresh(conn) -> None:
    from psycopg_pool import ConnectionPool

    with _returned_lock:
        returned = _returned_at.get(conn)
    if returned is None or time.monotonic() - returned > FRESH_S:
        ConnectionPool.check_connection(conn)


def _django_url() -> str:
    s = connection.settings_dict
    return f"postgresql://{s['USER']}:{s['PASSWORD']}@{s['HOST'] or 'localhost'}:{s['PORT'] or 5432}/{s['NAME']}"


@functools.cache
def _checkpointer(pid: int):
    if connection.vendor == "postgresql":
        saver = _postgres_saver()
    else:
        conn = sqlite3.connect(settings.DATA_DIR / "checkpoints.sqlite3", check_same_thread=False, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        saver = _sqlite_saver(conn)
    dbretry.retrying(saver.setup, what="checkpoint tables", django=False)
    return saver


def checkpointer():
    """One saver per worker process (per pid: a forked child never shares its parent's pool)."""
    return _checkpointer(os.getpid())
