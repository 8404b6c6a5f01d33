"""A streaming caller that gives up (its on_token raises) stops the generation, not only the reading."""

import pytest

from orchestra.inference import CallAbandoned, get_client
from tests.inference.conftest import CHAT


class GaveUp(Exception):
    pass


def test_generation_stops_when_on_token_raises(teacher_spec):
    client = get_client(teacher_spec)
    model = client.loaded.model
    lengths, generate = [], model.generate

    def observed_generate(**kwargs):  # the library's own generate, watched for how far it went
        output = generate(**kwargs)
        lengths.append(output.sequences.shape[1] - kwargs["input_ids"].shape[1])
        return output

    def on_token(text: str) -> None:
        raise GaveUp

    model.generate = observed_generate
    try:
        with pytest.raises(GaveUp):
            client.complete(CHAT, max_tokens=400, temperature=1.0, on_token=on_token)
        completion = client.complete(CHAT, max_tokens=5, on_token=lambda text: None)
    finally:
        del model.generate
    assert lengths[0] < 20  # stopped at the next token, not after 400
    assert completion.tokens_out > 0  # and the model is free for the next call


def test_generation_not_streamed_stops_when_its_caller_gave_up(teacher_spec):
    client = get_client(teacher_spec)
    model = client.loaded.model
    lengths, generate = [], model.generate

    def observed_generate(**kwargs):
        output = generate(**kwargs)
        lengths.append(output.sequences.shape[1] - kwargs["input_ids"].shape[1])
        return output

    model.generate = observed_generate
    try:
        with pytest.raises(CallAbandoned):
            client.complete(CHAT, max_tokens=400, temperature=1.0, abandoned=lambda: True)
        completion = client.complete(CHAT, max_tokens=5, abandoned=lambda: False)
    finally:
        del model.generate
    assert lengths[0] < 20  # stopped at its first token, not after 400
    assert completion.tokens_out > 0  # a caller that still waits gets its reply
