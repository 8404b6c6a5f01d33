"""The loopback server, spoken to with plain HTTP and with the official openai SDK."""

import httpx
import openai
import pytest

from tests.inference.conftest import CHAT


@pytest.fixture
def http(model_server):
    with httpx.Client(base_url=model_server.base_url, timeout=30) as client:
        yield client


@pytest.fixture
def sdk(model_server):
    return openai.OpenAI(base_url=model_server.base_url, api_key="unused", max_retries=0)


def sse_events(response: httpx.Response) -> list[str]:
    return [line.removeprefix("data: ") for line in response.iter_lines() if line.startswith("data: ")]


def test_models_lists_every_served_model(http):
    body = http.get("/models").json()
    assert body["object"] == "list"
    assert [(m["id"], m["object"]) for m in body["data"]] == [("teacher", "model"), ("student", "model")]
    assert http.get("/models/student").json()["id"] == "student"


def test_chat_completion_answers_with_usage(http):
    response = http.post("/chat/completions", json={"model": "student", "messages": CHAT, "max_tokens": 4})
    body = response.json()
    assert response.status_code == 200
    assert body["object"] == "chat.completion" and body["model"] == "student"
    assert body["choices"][0]["message"]["role"] == "assistant"
    assert body["choices"][0]["finish_reason"] in ("stop", "length")
    usage = body["usage"]
    assert usage["prompt_tokens"] > 0 and 1 <= usage["completion_tokens"] <= 4
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_streamed_chat_is_server_sent_events_ending_with_usage_and_done(http):
    request = {
        "model": "student",
        "messages": CHAT,
        "max_tokens": 6,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    with http.stream("POST", "/chat/completions", json=request) as response:
        assert response.headers["content-type"] == "text/event-stream"
        events = sse_events(response)
    assert events[-1] == "[DONE]"
    chunks = [httpx.Response(200, content=e).json() for e in events[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-2]["choices"][0]["finish_reason"] in ("stop", "length")
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] >= 1
    streamed = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks[:-1])
    plain = http.post("/chat/completions", json={"model": "student", "messages": CHAT, "max_tokens": 6}).json()
    assert streamed == plain["choices"][0]["message"]["content"]


def test_logprobs_come_in_openai_shape(http):
    body = http.post(
        "/chat/completions",
        json={"model": "teacher", "messages": CHAT, "max_tokens": 3, "logprobs": True, "top_logprobs": 2},
    ).json()
    content = body["choices"][0]["logprobs"]["content"]
    assert len(content) == body["usage"]["completion_tokens"]
    for entry in content:
        assert isinstance(entry["token"], str) and entry["logprob"] <= 0
        assert len(entry["top_logprobs"]) == 2 and entry["top_logprobs"][0]["logprob"] >= entry["logprob"]


@pytest.mark.parametrize(
    "content, status, param, code",
    [
        (b'{"model": "teacher", "messages": [', 400, None, None),
        (b'{"model": "gpt-9", "messages": [{"role": "user", "content": "hi"}]}', 404, "model", "model_not_found"),
        (b'{"model": "teacher", "messages": []}', 400, "messages", None),
        (b'{"model": "teacher", "messages": [{"role": "user", "content": "hi"}], "n": 2}', 400, "n", None),
        (
            b'{"model": "teacher", "messages": [{"role": "user", "content": "hi"}], "top_logprobs": 2}',
            400,
            "logprobs",
            None,
        ),
    ],
)
def test_bad_requests_get_openai_error_shape_and_status(http, content, status, param, code):
    response = http.post("/chat/completions", content=content, headers={"Content-Type": "application/json"})
    assert response.status_code == status
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error" and error["message"]
    assert (error["param"], error["code"]) == (param, code)


def test_unknown_path_is_a_404_in_error_shape(http):
    response = http.get("/embeddings")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_official_sdk_completes(sdk):
    response = sdk.chat.completions.create(model="teacher", messages=CHAT, max_tokens=5)
    assert response.choices[0].message.content is not None
    assert response.usage.completion_tokens >= 1


def test_official_sdk_streams(sdk):
    stream = sdk.chat.completions.create(
        model="teacher", messages=CHAT, max_tokens=5, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    plain = sdk.chat.completions.create(model="teacher", messages=CHAT, max_tokens=5)
    assert text == plain.choices[0].message.content
    assert chunks[-1].usage.total_tokens == plain.usage.total_tokens


def test_official_sdk_raises_not_found_for_an_unknown_model(sdk):
    with pytest.raises(openai.NotFoundError, match="does not exist"):
        sdk.chat.completions.create(model="gpt-9", messages=CHAT)


def test_prompt_longer_than_the_context_is_a_400_not_a_server_error(http):
    response = http.post(
        "/chat/completions", json={"model": "teacher", "messages": [{"role": "user", "content": "water " * 1100}]}
    )
    assert response.status_code == 400
    assert "model's context is 1024" in response.json()["error"]["message"]


def test_logprobs_without_top_logprobs_give_the_chosen_tokens_only(http):
    body = http.post(
        "/chat/completions", json={"model": "student", "messages": CHAT, "max_tokens": 2, "logprobs": True}
    ).json()
    content = body["choices"][0]["logprobs"]["content"]
    assert len(content) == body["usage"]["completion_tokens"]
    assert all(entry["top_logprobs"] == [] and entry["logprob"] <= 0 for entry in content)
