"""Infrastructure errors are waited out, not turned into failed runs.

A database that restarts, a backend that an operator terminates, a pool that is briefly empty: the
statement fails with OperationalError or InterfaceError, the connection is dropped (the pool
replaces it, checked), and the work is tried again with backoff, for ORCHESTRA_DB_RETRY_S in all.
Only what is safe to repeat is retried this way (idempotent writes, reads, and transactions that
either committed whole or not at all, whose caller checks which).
"""

import contextvars
import logging
import time
from collections.abc import Callable
from typing import TypeVar

import django.db
from django.conf import settings
from django.db import connection

log = logging.getLogger(__name__)
T = TypeVar("T")

BACKOFF_START_S = 0.05
BACKOFF_MAX_S = 2.0

# Set by whoever gave up on an infrastructure error during a run (a hook, the checkpointer): the
# engine turns any exception into a failed outcome, so the worker learns the cause here instead.
gave_up: contextvars.ContextVar[dict | None] = contextvars.ContextVar("orchestra_db_gave_up", default=None)


def _infra_types() -> tuple[type[BaseException], ...]:
    types: list[type[BaseException]] = [django.db.OperationalError, django.db.InterfaceError]
    try:
        import psycopg
        import psycopg_pool

        types += [psycopg.OperationalError, psycopg.InterfaceError, psycopg_pool.PoolTimeout]
    except ImportError:
        pass
    return tuple(types)


INFRA_ERRORS = _infra_types()


def is_infra_error(exc: BaseException | None) -> bool:
    """The exception, or one it was raised from, says the database (not the data) is the problem."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, INFRA_ERRORS):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def drop_connection() -> None:
    """Forget this thread's Django connection (the pool discards a broken one on return)."""
    try:
        connection.close()
    except Exception:  # noqa: BLE001 (closing a dead connection may fail too; it is gone either way)
        connection.connection = None


def retrying(work: Callable[[], T], *, what: str, django: bool = True, budget_s: float | None = None) -> T:
    """Run `work`, retrying infrastructure errors with backoff; other errors pass through at once.

    `django`: the work uses this thread's Django connection (dropped between tries). Inside an
    atomic block nothing is retried here: the transaction is the caller's to repeat.
    """
    budget = settings.ORCHESTRA_DB_RETRY_S if budget_s is None else budget_s
    deadline = time.monotonic() + budget
    delay = BACKOFF_START_S
    while True:
        try:
            return work()
        except INFRA_ERRORS as exc:
            if django and connection.in_atomic_block:
                raise
            if time.monotonic() + delay > deadline:
                failure = gave_up.get()
                if failure is not None:
                    failure.setdefault("error", exc)
                log.error("%s: database unavailable for %.0f s, giving up: %s", what, budget, exc)
                raise
            log.warning("%s: database unavailable (%s); retrying in %.2f s", what, str(exc).strip()[:200], delay)
            if django:
                drop_connection()
            time.sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX_S)
