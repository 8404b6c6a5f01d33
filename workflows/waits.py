"""Waiting for a run (or a distillation job) to move: the one primitive behind `wait=` runs, sync
webhooks, chat turns, chat SSE and the WebSocket consumers.

Writers store an event, commit, then `notify(owner, pk, types)`. Waiters `watch(owner, pk)`:

- with Redis (production), a PUBLISH on the stream's channel wakes them. Each watched stream is one
  SUBSCRIBE on the process's single pub/sub connection, confirmed before the watch is handed back,
  so whatever the waiter reads from the database afterwards, any later change wakes it;
- without Redis (the embedded default), one thread per process tails the owners' `event_seq`
  columns for all watched streams in one query every TAIL_S.

Either way a push only says "look again": the database says what happened. A lost push (Redis
restarted, a message dropped) costs at most RECHECK_S, never an event; while Redis is unreachable
waiters poll the database every POLL_S instead of failing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import connection, models

log = logging.getLogger(__name__)

RECHECK_S = 1.0  # with a working push: how long a waiter trusts it before looking anyway
POLL_S = 0.1  # without one (Redis down): how often a waiter looks
TAIL_S = 0.02  # the embedded mode's database tail
CONNECTION_HOLD_S = 0.1  # run_wait: how long a waiting thread keeps its database connection
RUN_STOPS = frozenset({"run_succeeded", "run_failed", "run_cancelled", "run_waiting"})


def stream_key(owner: type[models.Model], pk: Any) -> str:
    return f"{owner._meta.label_lower}:{pk}"


class Watch:
    """One waiter's interest in one stream. `wait()` (threads) or `async_wait()` (event loops)
    returns when a push came (True) or the time is up (False); then the caller reads the database."""

    def __init__(self, owner: type[models.Model], pk: Any, wake_on: Iterable[str] | None):
        pk = _coerce(owner, pk)
        self.owner, self.pk, self.key = owner, pk, stream_key(owner, pk)
        self.wake_on = frozenset(wake_on) if wake_on is not None else None
        self.poll_s: float | None = None  # set while no push can be trusted
        self._event = threading.Event()
        self._async: dict[asyncio.AbstractEventLoop, asyncio.Event] = {}

    def push(self, types: Iterable[str] | None) -> None:
        """Called by the hub (any thread); None means "something changed" (the tail, a reconnect)."""
        if types is not None and self.wake_on is not None and not self.wake_on.intersection(types):
            return
        self._event.set()
        for loop, event in list(self._async.items()):
            with contextlib.suppress(RuntimeError):  # that loop has closed
                loop.call_soon_threadsafe(event.set)

    def _interval(self, timeout: float) -> float:
        return max(0.0, min(timeout, self.poll_s or RECHECK_S))

    def wait(self, timeout: float) -> bool:
        # The caller's connection goes back to the pool while it waits: waiters never hold one.
        if not connection.in_atomic_block:
            connection.close()
        woke = self._event.wait(self._interval(timeout))
        self._event.clear()  # before the caller reads: a push after this read wakes the next wait
        return woke

    async def async_wait(self, timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        event = self._async.setdefault(loop, asyncio.Event())
        if self._event.is_set():
            self._event.clear()
            return True
        try:
            await asyncio.wait_for(event.wait(), self._interval(timeout))
            woke = True
        except asyncio.TimeoutError:
            woke = False
        event.clear()
        self._event.clear()
        return woke


class _RedisHub:
    """One event-loop thread per process owning one pub/sub connection and one publishing client."""

    def __init__(self, url: str, prefix: str):
        self.url, self.prefix = url, prefix
        self.loop = asyncio.new_event_loop()
        self.watches: dict[str, set[Watch]] = {}
        self.confirmed: set[str] = set()
        self.pending: dict[str, list[asyncio.Future]] = {}
        self.outbox: asyncio.Queue | None = None
        self.healthy = False
        self.ready = threading.Event()
        threading.Thread(target=self._main, daemon=True, name="orchestra-waits").start()
        self.ready.wait(5)

    def channel(self, key: str) -> str:
        return f"{self.prefix}orchestra:events:{key}"

    # --- the loop thread ---

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        import redis.asyncio as aioredis

        self.client = aioredis.Redis.from_url(
            self.url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=30
        )
        self.outbox = asyncio.Queue()
        self.subscribe_lock = asyncio.Lock()
        self.loop.create_task(self._publisher())
        self.reader = self.loop.create_task(self._reader())
        self.ready.set()
        self.loop.run_forever()

    async def _publisher(self) -> None:
        """Sends pushes in pipelines, so writers never wait on Redis and a burst is one round trip."""
        while True:
            batch = [await self.outbox.get()]
            while not self.outbox.empty():
                batch.append(self.outbox.get_nowait())
            try:
                async with self.client.pipeline(transaction=False) as pipe:
                    for channel, message in batch:
                        pipe.publish(channel, message)
                    await pipe.execute()
            except Exception as exc:  # the push is an optimisation: waiters also look by themselves
                log.warning("push to Redis failed (%d dropped): %s", len(batch), exc)

    async def _reader(self) -> None:
        backoff = 0.1
        while True:
            self.pubsub = self.client.pubsub()
            try:
                async with self.subscribe_lock:
                    self.confirmed.clear()
                    channels = [self.channel(k) for k in self.watches]
                    await self.pubsub.ping()  # connects: fails here when Redis is down
                    if channels:
                        await self.pubsub.subscribe(*channels)
                self._set_healthy(True)
                backoff = 0.1
                while True:
                    message = await self.pubsub.get_message(timeout=RECHECK_S)
                    if message is not None:
                        self._dispatch(message)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.healthy:
                    log.warning("Redis pub/sub lost (%s); waiters poll the database until it is back", exc)
                self._set_healthy(False)
                with contextlib.suppress(Exception):
                    await self.pubsub.aclose()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)

    def _set_healthy(self, healthy: bool) -> None:
        self.healthy = healthy
        for watches in self.watches.values():
            for watch in watches:
                watch.poll_s = None if healthy else POLL_S
                watch.push(None)  # look again: something may have been missed meanwhile
        if not healthy:
            for futures in self.pending.values():
                for future in futures:
                    if not future.done():
                        future.set_result(False)
            self.pending.clear()

    def _dispatch(self, message: dict) -> None:
        if message.get("type") not in ("subscribe", "message") or message.get("channel") is None:
            return  # pong, unsubscribe
        channel = message["channel"].decode() if isinstance(message["channel"], bytes) else message["channel"]
        key = channel[len(self.channel("")) :]
        if message["type"] == "subscribe":
            self.confirmed.add(key)
            for future in self.pending.pop(key, []):
                if not future.done():
                    future.set_result(True)
        elif message["type"] == "message":
            data = message["data"].decode() if isinstance(message["data"], bytes) else str(message["data"])
            types = data.partition(" ")[2].split(",")
            for watch in list(self.watches.get(key, ())):
                watch.push(types)

    async def _add(self, watch: Watch) -> bool:
        """Register; True once the channel's subscription is confirmed (pushes can be trusted)."""
        first = watch.key not in self.watches
        self.watches.setdefault(watch.key, set()).add(watch)
        if not self.healthy:
            return False
        if watch.key in self.confirmed:
            return True
        future = self.loop.create_future()
        self.pending.setdefault(watch.key, []).append(future)
        if first:
            try:
                async with self.subscribe_lock:
                    await self.pubsub.subscribe(self.channel(watch.key))
            except Exception as exc:
                log.warning("Redis subscribe failed: %s", exc)
                return False
        try:
            return await asyncio.wait_for(future, 2.0)
        except asyncio.TimeoutError:
            return False

    async def _remove(self, watch: Watch) -> None:
        watches = self.watches.get(watch.key)
        if watches is None:
            return
        watches.discard(watch)
        if not watches:
            del self.watches[watch.key]
            self.confirmed.discard(watch.key)
            if self.healthy:
                with contextlib.suppress(Exception):
                    async with self.subscribe_lock:
                        await self.pubsub.unsubscribe(self.channel(watch.key))

    # --- any thread ---

    def publish(self, key: str, message: str) -> None:
        self.loop.call_soon_threadsafe(self.outbox.put_nowait, (self.channel(key), message))

    def add(self, watch: Watch) -> None:
        try:
            confirmed = asyncio.run_coroutine_threadsafe(self._add(watch), self.loop).result(3.0)
        except Exception:
            confirmed = False
        watch.poll_s = None if confirmed else POLL_S

    def remove(self, watch: Watch) -> None:
        asyncio.run_coroutine_threadsafe(self._remove(watch), self.loop)

    async def async_add(self, watch: Watch) -> None:
        try:
            confirmed = await asyncio.wait_for(
                asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self._add(watch), self.loop)), 3.0
            )
        except Exception:
            confirmed = False
        watch.poll_s = None if confirmed else POLL_S


class _TailHub:
    """Without Redis: one thread reads `event_seq` of every watched stream in one query per owner
    model every TAIL_S, and wakes the watches whose stream moved. Sleeps while nobody watches."""

    def __init__(self):
        self.watches: dict[str, set[Watch]] = {}
        self.seen: dict[str, int | None] = {}
        self.lock = threading.Lock()
        self.wake = threading.Event()
        threading.Thread(target=self._main, daemon=True, name="orchestra-waits-tail").start()

    def _main(self) -> None:
        while True:
            with self.lock:
                by_owner: dict[type[models.Model], dict[Any, str]] = {}
                for watches in self.watches.values():
                    for watch in watches:
                        by_owner.setdefault(watch.owner, {})[watch.pk] = watch.key
            if not by_owner:
                connection.close()
                self.wake.wait(5)
                self.wake.clear()
                continue
            try:
                for owner, keys in by_owner.items():
                    seqs = dict(owner.objects.filter(pk__in=list(keys)).values_list("pk", "event_seq"))
                    for pk, key in keys.items():
                        seq = seqs.get(pk)
                        if self.seen.get(key, -1) != seq:
                            self.seen[key] = seq
                            with self.lock:
                                targets = list(self.watches.get(key, ()))
                            for watch in targets:
                                watch.push(None)
            except Exception as exc:  # the database is away: waiters look by themselves meanwhile
                log.warning("event tail failed: %s", exc)
                connection.close()
            time.sleep(TAIL_S)

    def add(self, watch: Watch) -> None:
        with self.lock:
            self.watches.setdefault(watch.key, set()).add(watch)
            self.seen.pop(watch.key, None)  # the first look wakes it: it may have moved already
        watch.poll_s = None
        self.wake.set()

    async def async_add(self, watch: Watch) -> None:
        self.add(watch)

    def remove(self, watch: Watch) -> None:
        with self.lock:
            watches = self.watches.get(watch.key)
            if watches is not None:
                watches.discard(watch)
                if not watches:
                    del self.watches[watch.key]
                    self.seen.pop(watch.key, None)

    def publish(self, key: str, message: str) -> None:
        pass  # the tail reads the database: nothing to send


def _coerce(owner: type[models.Model], pk: Any) -> Any:
    try:
        return owner._meta.pk.to_python(pk)
    except Exception:
        return pk


_hub: _RedisHub | _TailHub | None = None
_hub_pid = 0
_hub_lock = threading.Lock()


def hub() -> _RedisHub | _TailHub:
    """The process's hub, made on first use (after a worker forks, in the child)."""
    global _hub, _hub_pid
    if _hub is None or _hub_pid != os.getpid():
        with _hub_lock:
            if _hub is None or _hub_pid != os.getpid():
                redis_url = getattr(settings, "REDIS_URL", None)
                _hub = _RedisHub(redis_url, os.environ.get("ORCHESTRA_QUEUE_PREFIX", "")) if redis_url else _TailHub()
                _hub_pid = os.getpid()
    return _hub


def notify(owner: type[models.Model], pk: Any, seq: int, types: Iterable[str]) -> None:
    """Wake whoever watches this stream (call after the events are committed)."""
    hub().publish(stream_key(owner, pk), f"{seq} {','.join(types)}")


@contextlib.contextmanager
def watch(owner: type[models.Model], pk: Any, *, wake_on: Iterable[str] | None = None):
    """Watch a stream from a thread: `with watch(Run, run.id) as w: ... w.wait(timeout)`."""
    w = Watch(owner, pk, wake_on)
    h = hub()
    h.add(w)
    try:
        yield w
    finally:
        h.remove(w)


@contextlib.asynccontextmanager
async def awatch(owner: type[models.Model], pk: Any, *, wake_on: Iterable[str] | None = None):
    """Watch a stream from an event loop: `async with awatch(Run, id) as w: ... await w.async_wait(t)`."""
    w = Watch(owner, pk, wake_on)
    h = hub()
    await h.async_add(w)
    try:
        yield w
    finally:
        h.remove(w)


def run_wait(*, run, timeout_s: float):
    """Until the run ends or waits for a person, or the time is up; returns the run as stored.

    A wait longer than CONNECTION_HOLD_S gives the thread's database connection back to the pool
    until it is woken: a client waiting 30 s for a sync webhook must not hold one of the process's
    few connections all that time, and a short one (most runs) costs no second checkout."""
    from workflows.models import Run

    began = time.monotonic()
    deadline, hold_until = began + timeout_s, began + CONNECTION_HOLD_S
    with watch(Run, run.pk, wake_on=RUN_STOPS) as w:
        while True:
            run.refresh_from_db()
            now = time.monotonic()
            if run.status not in ("queued", "running") or now >= deadline:
                return run
            if now < hold_until:
                w.wait(min(deadline, hold_until) - now)
                continue
            if not connection.in_atomic_block:
                connection.close()
            w.wait(deadline - now)
