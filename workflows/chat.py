"""Chat: a conversation is a series of runs of one workflow whose input node has a `message` field.

Each turn stores the user's message and starts a run (trigger `chat`) with the message and, when
the input node has a `history` field, the conversation so far. When the run succeeds, `run_finish`
calls `reply_record`, which stores the reply in the same transaction as the run's final event, so
a client that sees `run_succeeded` always finds the reply.
"""

import uuid
from typing import Any

from django.db import transaction

from workflows import runs, triggers
from workflows.errors import NotFound, ValidationFailed
from workflows.models import ChatMessage, Conversation, Run, Workflow, Workspace

REPLY_OUTPUT_NAMES = ("reply", "answer", "message")
TITLE_LENGTH = 60


def reply_text(outputs: dict | None) -> str:
    """The reply is the output named reply/answer/message, else the first output."""
    if not outputs:
        return ""
    name = next((n for n in REPLY_OUTPUT_NAMES if n in outputs), next(iter(outputs)))
    value = outputs[name]
    return value if isinstance(value, str) else "" if value is None else str(value)


def chat_send(
    *, workflow: Workflow, message: Any, conversation_id: Any = None, version: int | str | None = None
) -> tuple[Conversation, Run]:
    """Store the user's message and start the run that answers it."""
    if not isinstance(message, str) or not message.strip():
        raise ValidationFailed("message is the user's non-empty text.", path="message")
    _, graph = runs.graph_for(workflow=workflow, version=version)
    fields = triggers.input_field_names(graph)
    if "message" not in fields:
        raise ValidationFailed(
            f"Workflow {workflow.name!r} cannot chat: its input node needs a 'message' "
            f"field (it has: {', '.join(fields) or 'none'}).",
            path="workflow",
        )
    with transaction.atomic():
        if conversation_id is None:
            conversation = Conversation.objects.create(
                workspace=workflow.workspace, workflow=workflow, title=message.strip()[:TITLE_LENGTH]
            )
        else:
            conversation = (
                Conversation.objects.select_for_update()
                .filter(workspace=workflow.workspace, workflow=workflow, id=_uuid(conversation_id))
                .first()
            )
            if conversation is None:
                raise NotFound("No such conversation with this workflow in this workspace.", path="conversation_id")
        inputs: dict[str, Any] = {"message": message}
        if "history" in fields:
            inputs["history"] = [{"role": m.role, "content": m.content} for m in conversation.messages.all()]
        run, _ = runs.run_start(workflow=workflow, inputs=inputs, version=version, trigger="chat")
        ChatMessage.objects.create(conversation=conversation, role="user", content=message, run=run)
        conversation.save(update_fields=["updated_at"])
    return conversation, run


def _uuid(value: Any) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise NotFound("No such conversation with this workflow in this workspace.", path="conversation_id") from None


def reply_record(*, run: Run) -> ChatMessage | None:
    """Called by run_finish: a chat run's success becomes the assistant's message."""
    if run.trigger != "chat" or run.status != "succeeded":
        return None
    asked = ChatMessage.objects.filter(run=run, role="user").select_related("conversation").first()
    if asked is None:
        return None
    return ChatMessage.objects.create(
        conversation=asked.conversation, role="assistant", content=reply_text(run.outputs), run=run
    )


def reply_for(*, run: Run) -> ChatMessage | None:
    return ChatMessage.objects.filter(run=run, role="assistant").first()


def conversation_list(*, workspace: Workspace, workflow: Any = None):
    conversations = Conversation.objects.filter(workspace=workspace)
    if workflow:
        try:
            conversations = conversations.filter(workflow_id=uuid.UUID(str(workflow)))
        except ValueError:
            raise ValidationFailed(f"workflow is a workflow id, not {workflow!r}.", path="workflow") from None
    return conversations


def conversation_get(*, workspace: Workspace, conversation_id: Any) -> Conversation:
    conversation = Conversation.objects.filter(workspace=workspace, id=_uuid(conversation_id)).first()
    if conversation is None:
        raise NotFound("No such conversation in this workspace.", path="id")
    return conversation


def conversation_delete(*, conversation: Conversation) -> None:
    conversation.delete()
