"""Chat with a workflow: Server-Sent Events read by a real HTTP client, history carried between turns."""

import asyncio
import json

import httpx
from django.db import transaction

from tests.triggers.support import BLOG, CHAT, create_published, sse_events
from workflows import events, runs
from workflows.api.chat_views import EVENT_BATCH, chat_stream
from workflows.models import ChatMessage, Conversation, Run, Workflow


def chat_turn(api, workflow_id: str, **body) -> list[tuple[str, dict]]:
    with api.http.stream("POST", f"/api/workflows/{workflow_id}/chat", json={**body, "stream": True}) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        return [(name, json.loads(data)) for name, data in sse_events(response)]


def test_streamed_chat_sends_tokens_then_the_stored_reply_and_the_next_turn_carries_history(api):
    workflow_id = create_published(api, CHAT, name="Chat")

    first = chat_turn(api, workflow_id, message="Hello there")

    names = [name for name, _ in first]
    assert names[0] == "conversation" and names[-1] == "message"
    # Tokens come before the node's end; how many events carry them depends on the machine's speed
    # (the recorder folds the tokens of ~50 ms into one event).
    answered = next(
        i for i, (name, data) in enumerate(first) if name == "node_succeeded" and data["node_id"] == "answer"
    )
    assert "token" in names and names.index("token") < answered
    assert "run_started" in names
    final = first[-1][1]
    conversation_id, run_id = final["conversation_id"], final["run_id"]
    assert final["status"] == "succeeded" and final["message"]["role"] == "assistant"
    assert final["reply"] == final["message"]["content"] == Run.objects.get(pk=run_id).outputs["reply"]
    assert "".join(data["text"] for name, data in first if name == "token").strip() == final["reply"].strip()
    assert [(s["node_id"], s["model"]) for s in final["steps"]] == [("answer", "tiny")]
    assert final["steps"][0]["tokens_out"] > 0 and final["steps"][0]["cost"] > 0

    second = chat_turn(api, workflow_id, message="And again", conversation_id=conversation_id)

    second_run = Run.objects.get(pk=second[-1][1]["run_id"])
    assert second_run.trigger == "chat"
    assert second_run.inputs["history"] == [
        {"role": "user", "content": "Hello there"},
        {"role": "assistant", "content": final["reply"]},
    ]
    conversation = api.get(f"/api/conversations/{conversation_id}").json()
    assert [(m["role"], m["content"]) for m in conversation["messages"]] == [
        ("user", "Hello there"),
        ("assistant", final["reply"]),
        ("user", "And again"),
        ("assistant", second[-1][1]["reply"]),
    ]
    assert conversation["messages"][1]["run"] == run_id and conversation["title"] == "Hello there"
    assert api.get("/api/runs", params={"trigger": "chat", "workflow": workflow_id}).json()["count"] == 2


def test_chat_without_streaming_answers_with_the_reply_and_conversations_can_be_listed_and_deleted(api):
    workflow_id = create_published(api, CHAT, name="Chat")

    response = api.post(f"/api/workflows/{workflow_id}/chat", json={"message": "Hi"})

    assert response.status_code == 200, response.text
    turn = response.json()
    assert turn["status"] == "succeeded" and turn["reply"] == turn["message"]["content"]
    listed = api.get("/api/conversations", params={"workflow": workflow_id}).json()["results"]
    assert [c["id"] for c in listed] == [turn["conversation_id"]]
    assert api.delete(f"/api/conversations/{turn['conversation_id']}").status_code == 204
    assert api.get(f"/api/conversations/{turn['conversation_id']}").status_code == 404
    assert not ChatMessage.objects.filter(conversation_id=turn["conversation_id"]).exists()


def test_bad_chat_requests_are_4xx_naming_the_problem_and_start_nothing(api):
    blog_id = create_published(api, BLOG, name="Blog")
    chat_id = create_published(api, CHAT, name="Chat")

    no_message_field = api.post(f"/api/workflows/{blog_id}/chat", json={"message": "Hi"})
    empty = api.post(f"/api/workflows/{chat_id}/chat", json={"message": ""})
    unknown_conversation = api.post(
        f"/api/workflows/{chat_id}/chat",
        json={"message": "Hi", "conversation_id": "00000000-0000-0000-0000-000000000000"},
    )
    unknown_workflow = api.post("/api/workflows/00000000-0000-0000-0000-000000000000/chat", json={"message": "Hi"})
    malformed = api.post(
        f"/api/workflows/{chat_id}/chat", content=b"{oops", headers={"Content-Type": "application/json"}
    )

    assert no_message_field.status_code == 400 and "'message' field" in no_message_field.json()["errors"][0]["message"]
    assert empty.status_code == 400 and empty.json()["errors"][0]["path"] == "message"
    assert unknown_conversation.status_code == 404 and unknown_workflow.status_code == 404
    assert malformed.status_code == 400
    assert not Run.objects.filter(workspace=api.workspace).exists()
    assert api.get("/api/conversations").json()["count"] == 0


def test_conversations_are_invisible_to_other_workspaces(api, platform):
    from tests.conftest import make_workspace

    workflow_id = create_published(api, CHAT, name="Chat")
    turn = api.post(f"/api/workflows/{workflow_id}/chat", json={"message": "Hi"}).json()
    _, _, other_key = make_workspace()

    other = httpx.get(
        f"{platform.url}/api/conversations/{turn['conversation_id']}", headers={"Authorization": f"Bearer {other_key}"}
    )

    assert other.status_code == 404


def test_the_stream_reads_on_past_one_batch_of_stored_events(api):
    """A long reply stores more token events than one read returns; none may be dropped."""
    workflow = Workflow.objects.get(pk=create_published(api, CHAT, name="Chat"))
    run, _ = runs.run_start(workflow=workflow, inputs={"message": "Go on"}, trigger="chat", enqueue=False)
    conversation = Conversation.objects.create(workspace=workflow.workspace, workflow=workflow)
    ChatMessage.objects.create(conversation=conversation, role="user", content="Go on", run=run)
    for i in range(EVENT_BATCH + 100):
        events.record(run_id=run.id, type="token", node_id="answer", data={"text": f"{i} "})
    with transaction.atomic():  # as the worker ends a run: on the locked, current row
        runs.run_finish(
            run=Run.objects.select_for_update().get(pk=run.pk), status="succeeded", outputs={"reply": "done"}
        )

    async def read_all():
        return [frame async for frame in chat_stream(conversation, run)]

    frames = asyncio.run(read_all())

    tokens = [json.loads(f.split("data: ", 1)[1])["text"] for f in frames if f.startswith("event: token")]
    assert tokens == [f"{i} " for i in range(EVENT_BATCH + 100)]
    assert frames[-1].startswith("event: message") and json.loads(frames[-1].split("data: ", 1)[1])["reply"] == "done"
