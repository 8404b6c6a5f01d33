"""The openai backend against the loopback server: a real HTTP round trip, no mocks."""

import socket

import pytest

from orchestra.inference import InferenceError, ModelSpec, get_client
from tests.inference.conftest import CHAT


def test_completes_with_token_counts_from_usage_and_cost(remote_spec, teacher_spec):
    remote = get_client(remote_spec).complete(CHAT, max_tokens=6)
    local = get_client(teacher_spec).complete(CHAT, max_tokens=6)
    assert remote.model == "remote-teacher"
    assert (remote.text, remote.tokens_in, remote.tokens_out) == (local.text, local.tokens_in, local.tokens_out)
    assert remote.finish_reason == local.finish_reason
    assert remote.cost == pytest.approx(remote_spec.cost(remote.tokens_in, remote.tokens_out))


def test_streams_deltas_that_join_to_the_text_and_still_counts_tokens(remote_spec):
    client = get_client(remote_spec)
    deltas: list[str] = []
    streamed = client.complete(CHAT, max_tokens=8, on_token=deltas.append)
    assert "".join(deltas) == streamed.text == client.complete(CHAT, max_tokens=8).text
    assert streamed.tokens_in > 0 and streamed.tokens_out >= 1


def test_top_logprobs_match_the_local_model_token_for_token(remote_spec, teacher_spec, tiny_family):
    remote = get_client(remote_spec).complete(CHAT, max_tokens=4, top_logprobs=3)
    local = get_client(teacher_spec).complete(CHAT, max_tokens=4, top_logprobs=3)
    tokenizer = get_client(teacher_spec).loaded.tokenizer
    assert [[t for t, _ in top] for top in remote.top_logprobs] == [
        [tokenizer.decode([i]) for i, _ in top] for top in local.top_logprobs
    ]
    assert [lp for top in remote.top_logprobs for _, lp in top] == pytest.approx(
        [lp for top in local.top_logprobs for _, lp in top], abs=1e-5
    )


def test_token_ids_option_returns_ids_like_the_local_backend(remote_spec, teacher_spec):
    spec = ModelSpec(
        name="ids",
        backend="openai",
        model="teacher",
        base_url=remote_spec.base_url,
        options={"token_ids": True, "max_retries": 0},
    )
    remote = get_client(spec).complete(CHAT, max_tokens=3, top_logprobs=2, on_token=lambda _: None)
    local = get_client(teacher_spec).complete(CHAT, max_tokens=3, top_logprobs=2)
    assert [t for t, _ in remote.token_logprobs] == [t for t, _ in local.token_logprobs]
    assert [[t for t, _ in top] for top in remote.top_logprobs] == [[t for t, _ in top] for top in local.top_logprobs]


def test_stop_is_honoured_by_the_server(remote_spec):
    client = get_client(remote_spec)
    full = client.complete(CHAT, max_tokens=16).text
    stop = full[-2:]
    expected = full[: full.find(stop)]
    assert expected, "the greedy answer should not start with its own stop string"
    stopped = client.complete(CHAT, max_tokens=16, stop=[stop])
    assert stopped.text == expected and stopped.finish_reason == "stop"


def test_unknown_remote_model_names_the_status_and_the_server_message(remote_spec):
    spec = ModelSpec(
        name="typo", backend="openai", model="gpt-9", base_url=remote_spec.base_url, options={"max_retries": 0}
    )
    with pytest.raises(
        InferenceError,
        match=r"model 'typo': .* answered HTTP 404: The model `gpt-9` "
        r"does not exist",
    ) as raised:
        get_client(spec).complete(CHAT)
    assert raised.value.status == 404 and raised.value.model == "typo"


def test_connection_refused_is_a_clear_error():
    with socket.socket() as unused:  # a port nobody listens on: bind, read it, close
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    spec = ModelSpec(
        name="down",
        backend="openai",
        model="m",
        base_url=f"http://127.0.0.1:{port}/v1",
        options={"max_retries": 0, "timeout_s": 5},
    )
    with pytest.raises(
        InferenceError,
        match=rf"model 'down': cannot reach http://127.0.0.1:{port}/v1: "
        r".*[Cc]onnection refused",
    ):
        get_client(spec).complete(CHAT)


def test_a_server_that_never_answers_times_out_with_a_clear_error():
    with socket.socket() as silent:  # listens (the kernel completes the handshake) but never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/v1"
        spec = ModelSpec(
            name="stuck", backend="openai", model="m", base_url=url, options={"max_retries": 0, "timeout_s": 0.5}
        )
        with pytest.raises(InferenceError, match=rf"model 'stuck': {url} did not answer within 0.5 s"):
            get_client(spec).complete(CHAT)
