"""WebSocket: a run's events after a sequence number, replayed from the table, then live.

The table is the source of truth: a push from the channel layer only wakes the consumer to read
the rows after the last seq it sent, and without a channel layer (the embedded default) it
polls. Either way each event is sent exactly once, in order. Distillation jobs stream the same
way (distillation/consumers.py): a subclass only says whose events it reads.
"""
import asyncio
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from workflows import events, selectors, services
from workflows.models import Run

POLL_S = 0.25
TERMINAL = {"succeeded", "failed", "cancelled"}


class RunEventsConsumer(AsyncJsonWebsocketConsumer):
    stream_model = Run  # the object whose events stream; it has `workspace` and `status`
    url_kwarg = "run_id"

    def events_after(self, after: int) -> list[dict]:
        return events.events_after(run_id=self.stream_id, after=after, limit=500)

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
        self.wake = asyncio.Event()
        await self.accept()
        if self.channel_layer is not None:
            await self.channel_layer.group_add(events.group_name(self.stream_id), self.channel_name)
        self.pump = asyncio.create_task(self._pump())

    async def disconnect(self, code):
        if getattr(self, "pump", None):
            self.pump.cancel()
        if self.channel_layer is not None and getattr(self, "wake", None):
            await self.channel_layer.group_discard(events.group_name(self.stream_id), self.channel_name)

    async def run_event(self, message):
        self.wake.set()

    async def _pump(self):
        while True:
            batch, status = await self._read()
            for event in batch:
                await self.send_json(event)
                self.last_seq = event["seq"]
            if not batch and status in TERMINAL:
                await asyncio.sleep(POLL_S)  # let a just-written final event land, then stop tailing
                batch, _ = await self._read()
                for event in batch:
                    await self.send_json(event)
                    self.last_seq = event["seq"]
                if not batch:
                    await self.close()
                    return
            self.wake.clear()
            try:
                await asyncio.wait_for(self.wake.wait(), timeout=POLL_S)
            except asyncio.TimeoutError:
                pass

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
