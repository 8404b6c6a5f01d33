"""WebSocket: a run's events after a sequence number, replayed from the table, then live.

The table is the source of truth: a push (workflows/waits.py: Redis pub/sub, or the embedded
mode's database tail) only wakes the consumer to read the rows after the last seq it sent. Either
way each event is sent exactly once, in order. Distillation jobs stream the same
way (distillation/consumers.py): a subclass only says whose events it reads.
"""

import asyncio
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from workflows import events, selectors, services, waits
from workflows.models import Run

IDLE_S = 30.0  # with nothing pushed, look anyway this often (waits.py caps it while pushes are down)
EVENT_BATCH = 500
TERMINAL = {"succeeded", "failed", "cancelled"}


class RunEventsConsumer(AsyncJsonWebsocketConsumer):
    stream_model = Run  # the object whose events stream; it has `workspace` and `status`
    url_kwarg = "run_id"

    def events_after(self, after: int) -> list[dict]:
        return events.events_after(run_id=self.stream_id, after=after, limit=EVENT_BATCH)

    async def connect(self):
        query = parse_qs(self.scope.get("query_string", b"").decode())
        try:
            self.last_seq = int(query.get("after", ["0"])[0])
        except ValueError:
            self.last_seq = -1
        self.stream_id = self.scope["url_route"]["kwargs"][self.url_kwarg]
        if self.last_seq < 0 or not await self._authorised(query):
            await self.close(code=4403)
            return
        await self.accept()
        self.pump = asyncio.create_task(self._pump())

    async def disconnect(self, code):
        if getattr(self, "pump", None):
            self.pump.cancel()

    async def _pump(self):
        async with waits.awatch(self.stream_model, self.stream_id) as watch:
            while True:
                # Status first: once it is final, every event up to the final one is committed.
                batch, status = await self._read()
                for event in batch:
                    await self.send_json(event)
                    self.last_seq = event["seq"]
                if len(batch) == EVENT_BATCH:
                    continue  # more are stored already
                if status in TERMINAL:
                    batch, _ = await self._read()  # anything committed after the status was read
                    for event in batch:
                        await self.send_json(event)
                        self.last_seq = event["seq"]
                    if not batch:
                        await self.close()
                        return
                    continue
                await watch.async_wait(IDLE_S)

    @database_sync_to_async
    def _read(self):
        status = self.stream_model.objects.filter(pk=self.stream_id).values_list("status", flat=True).first()
        return self.events_after(self.last_seq), status

    @database_sync_to_async
    def _authorised(self, query) -> bool:
        """An API key (header, or ?token= where browsers cannot set one) or the session's workspace."""
        headers = dict(self.scope.get("headers", []))
        bearer = headers.get(b"authorization", b"").decode()
        key = bearer[7:].strip() if bearer.lower().startswith("bearer ") else query.get("token", [""])[0]
        if key:
            api_key = services.api_key_authenticate(key=key)
            workspaces = [api_key.workspace_id] if api_key else []
        else:
            user = self.scope.get("user")
            if not (user and user.is_authenticated):
                return False
            workspace = selectors.workspace_for_user(user=user)
            workspaces = [workspace.id] if workspace else []
        try:
            return self.stream_model.objects.filter(pk=self.stream_id, workspace_id__in=workspaces).exists()
        except Exception:  # a malformed id
            return False
