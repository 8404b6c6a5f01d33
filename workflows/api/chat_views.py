"""Chat API: one turn per POST (JSON, or Server-Sent Events with `stream: true`), conversations."""

import json
import time
from collections.abc import AsyncIterator

from channels.db import database_sync_to_async
from django.conf import settings
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response

from workflows import chat, events, selectors, triggers, waits
from workflows.api import serializers as io
from workflows.api.openapi import errors, page_of
from workflows.api.inputs import parse, parse_query
from workflows.api.views import CURSOR, WorkspaceView, _paginated
from workflows.models import Conversation, Run

EVENT_BATCH = 500
STOPPED = ("succeeded", "failed", "cancelled", "waiting")


def turn_out(conversation: Conversation, run: Run) -> dict:
    return io.ChatTurnOut(run, context={"conversation": conversation}).data


def sse(event: str, data: dict) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


@database_sync_to_async
def _status_and_events(run_id, after: int) -> tuple[str, list[dict]]:
    # Status first: if it is final, every event up to the final one is already committed.
    status = Run.objects.filter(pk=run_id).values_list("status", flat=True).get()
    return status, events.events_after(run_id=run_id, after=after, limit=EVENT_BATCH)


@database_sync_to_async
def _final(conversation: Conversation, run_id) -> dict:
    return turn_out(conversation, Run.objects.get(pk=run_id))


async def chat_stream(conversation: Conversation, run: Run) -> AsyncIterator[str]:
    """Tokens and run/node events as the run's stored events appear, then the stored reply."""
    yield sse("conversation", {"conversation_id": str(conversation.id), "run_id": str(run.id)})
    last_seq = 0
    deadline = time.monotonic() + settings.ORCHESTRA_CHAT_WAIT_S
    async with waits.awatch(Run, run.id) as watch:  # woken by each stored event (waits.py)
        while time.monotonic() < deadline:
            status, batch = await _status_and_events(run.id, last_seq)
            for event in batch:
                last_seq = event["seq"]
                if event["type"] == "token":
                    yield sse("token", {"text": event["data"].get("text", ""), "node_id": event["node_id"]})
                else:
                    yield sse(event["type"], event)
            if len(batch) == EVENT_BATCH:  # more are stored already: read on without pausing
                continue
            if status in STOPPED:
                break
            await watch.async_wait(deadline - time.monotonic())
    final = await _final(conversation, run.id)
    if final["status"] == "succeeded":
        yield sse("message", final)
    else:
        yield sse(
            "error",
            {**final, "message": final["error"] or f"The run is {final['status']}; see /api/runs/{final['run_id']}."},
        )


class WorkflowChatView(WorkspaceView):
    @extend_schema(
        request=io.ChatIn,
        responses={
            (200, "application/json"): io.ChatTurnOut,
            (200, "text/event-stream"): OpenApiResponse(
                OpenApiTypes.STR,
                description="With stream: conversation, token, node and run events, then message or error.",
            ),
            (202, "application/json"): OpenApiResponse(io.ChatTurnOut, description="Still running: poll the run."),
            **errors(400, 404),
        },
    )
    def post(self, request, workflow_id):
        workflow = selectors.workflow_get(workspace=self.workspace, workflow_id=workflow_id)
        body = parse(io.ChatIn, request)
        conversation, run = chat.chat_send(
            workflow=workflow,
            message=body.get("message"),
            conversation_id=body.get("conversation_id"),
            version=body.get("version"),
        )
        if body.get("stream"):
            response = StreamingHttpResponse(chat_stream(conversation, run), content_type="text/event-stream")
            response["Cache-Control"] = "no-cache"
            response["X-Accel-Buffering"] = "no"  # nginx: pass events through as they come
            return response
        run = triggers.run_wait(run=run, timeout_s=settings.ORCHESTRA_CHAT_WAIT_S)
        done = run.status not in ("queued", "running")
        return Response(turn_out(conversation, run), status=status.HTTP_200_OK if done else status.HTTP_202_ACCEPTED)


class ConversationListView(WorkspaceView):
    @extend_schema(
        operation_id="api_conversations_list",
        parameters=[io.ConversationListQuery, CURSOR],
        responses={200: page_of(io.ConversationOut), **errors(400)},
    )
    def get(self, request):
        workflow = parse_query(io.ConversationListQuery, request).get("workflow")
        conversations = chat.conversation_list(workspace=self.workspace, workflow=workflow)
        return _paginated(self, conversations, io.ConversationOut, ordering=("-updated_at", "-id"))


class ConversationDetailView(WorkspaceView):
    @extend_schema(responses={200: io.ConversationDetailOut, **errors(404)})
    def get(self, request, conversation_id):
        conversation = chat.conversation_get(workspace=self.workspace, conversation_id=conversation_id)
        return Response(io.ConversationDetailOut(conversation).data)

    @extend_schema(responses={204: None, **errors(404)})
    def delete(self, request, conversation_id):
        chat.conversation_delete(
            conversation=chat.conversation_get(workspace=self.workspace, conversation_id=conversation_id)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
