"""The OpenAI-compatible gateway, driven by the official `openai` SDK (sync, async, streaming)."""

import asyncio

import httpx
import openai
import pytest

from workflows.models import Trace


def v1(api) -> str:
    return str(api.http.base_url).rstrip("/") + "/v1"


def sdk(api, **kwargs) -> openai.OpenAI:
    return openai.OpenAI(base_url=v1(api), api_key=api.key, max_retries=0, **kwargs)


def test_sdk_chat_completion_is_answered_by_a_registered_model_and_traced_with_metadata(api):
    client = sdk(api, default_headers={"X-Orchestra-Metadata": '{"app": "support-bot", "team": "a"}'})

    completion = client.chat.completions.create(
        model="tiny",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        max_tokens=6,
        metadata={"team": "b"},
    )

    assert completion.object == "chat.completion" and completion.model == "tiny"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].finish_reason in ("stop", "length")
    assert 0 < completion.usage.completion_tokens <= 6
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens
    trace = Trace.objects.get(workspace=api.workspace)
    assert trace.run_id is None and trace.workflow_id is None and trace.model == "tiny"
    assert trace.output == completion.choices[0].message.content
    assert trace.messages[-1] == {"role": "user", "content": "Hi"}
    assert trace.metadata == {"source": "gateway", "app": "support-bot", "team": "b"}  # the body wins
    assert trace.tokens_out == completion.usage.completion_tokens
    traced = api.get("/api/traces", params={"meta.source": "gateway", "meta.app": "support-bot"}).json()
    assert [t["id"] for t in traced["results"]] == [str(trace.id)]


def test_sdk_stream_delivers_chunks_that_add_up_to_the_traced_reply_and_usage(api):
    stream = sdk(api).chat.completions.create(
        model="auto",
        messages=[{"role": "user", "content": "Tell me"}],
        max_tokens=8,
        stream=True,
        stream_options={"include_usage": True},
    )

    chunks = list(stream)

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert finish in (["stop"], ["length"])
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) >= 2
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    trace = Trace.objects.get(workspace=api.workspace)
    assert trace.output == text and trace.model == "tiny" and trace.metadata == {"source": "gateway"}


def test_async_sdk_answers_concurrent_requests(api):
    async def ask_twice():
        async with openai.AsyncOpenAI(base_url=v1(api), api_key=api.key, max_retries=0) as client:
            return await asyncio.gather(
                *[
                    client.chat.completions.create(
                        model="tiny", messages=[{"role": "user", "content": f"n{i}"}], max_tokens=4
                    )
                    for i in range(2)
                ]
            )

    completions = asyncio.run(ask_twice())

    assert all(c.usage.completion_tokens > 0 for c in completions)
    assert Trace.objects.filter(workspace=api.workspace, metadata__source="gateway").count() == 2


def test_models_lists_the_workspace_registry(api):
    assert [m.id for m in sdk(api).models.list().data] == ["tiny"]


def test_errors_have_openai_shape_and_status_and_are_raised_by_the_sdk(api):
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=v1(api), api_key="orc_wrong", max_retries=0).models.list()
    with pytest.raises(openai.NotFoundError) as not_found:
        sdk(api).chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "x"}])
    assert "gpt-9" in not_found.value.message and not_found.value.body["code"] == "model_not_found"
    with pytest.raises(openai.BadRequestError) as bad:
        sdk(api).chat.completions.create(model="tiny", messages=[])
    assert bad.value.body["param"] == "messages"

    malformed = httpx.post(
        v1(api) + "/chat/completions",
        content=b"{not json",
        headers={"Authorization": f"Bearer {api.key}", "Content-Type": "application/json"},
    )
    assert malformed.status_code == 400
    assert set(malformed.json()["error"]) == {"message", "type", "param", "code"}
    bad_header = api.post(
        "/v1/chat/completions",
        headers={"X-Orchestra-Metadata": "[1]"},
        json={"model": "tiny", "messages": [{"role": "user", "content": "x"}]},
    )
    assert bad_header.status_code == 400 and bad_header.json()["error"]["param"] == "X-Orchestra-Metadata"
    assert not Trace.objects.filter(workspace=api.workspace).exists()
