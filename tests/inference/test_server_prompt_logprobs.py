"""vLLM's prompt scoring on the loopback server: `prompt_logprobs` with `continue_final_message`
scores a recorded reply token by token, as the model itself computes it."""

import httpx
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from tests.inference.conftest import CHAT

REPLY = "the water is warm"


@pytest.fixture
def http(model_server):
    with httpx.Client(base_url=model_server.base_url, timeout=30) as client:
        yield client


def test_prompt_logprobs_score_a_continued_reply_as_the_model_computes_it(http, tiny_family):
    response = http.post(
        "/chat/completions",
        json={
            "model": "teacher",
            "messages": [*CHAT, {"role": "assistant", "content": REPLY}],
            "max_tokens": 1,
            "prompt_logprobs": 3,
            "continue_final_message": True,
        },
    )
    assert response.status_code == 200, response.text
    rows = response.json()["prompt_logprobs"]

    tokenizer = AutoTokenizer.from_pretrained(tiny_family["teacher"])
    context = tokenizer.encode(
        tokenizer.apply_chat_template(CHAT, add_generation_prompt=True, tokenize=False), add_special_tokens=False
    )
    reply = tokenizer.encode(REPLY, add_special_tokens=False)
    ids = context + reply
    model = AutoModelForCausalLM.from_pretrained(tiny_family["teacher"])
    with torch.no_grad():
        expected = torch.log_softmax(model(torch.tensor([ids])).logits[0, :-1].float(), dim=-1)
    assert len(rows) == len(ids) and rows[0] is None
    for position in range(len(context), len(ids)):  # the reply's own tokens
        row, token = rows[position], ids[position]
        assert row[str(token)]["logprob"] == pytest.approx(float(expected[position - 1, token]), abs=1e-4)
        best = torch.topk(expected[position - 1], 3)
        assert [row[str(t)]["rank"] for t in best.indices.tolist()] == [1, 2, 3]
        assert row[str(token)]["decoded_token"] == tokenizer.decode([token])


def test_prompt_logprobs_and_continue_final_message_are_checked(http):
    continued = http.post(
        "/chat/completions",
        json={"model": "teacher", "messages": CHAT, "continue_final_message": True, "prompt_logprobs": 1},
    )
    assert continued.status_code == 400 and continued.json()["error"]["param"] == "messages"
    too_many = http.post("/chat/completions", json={"model": "teacher", "messages": CHAT, "prompt_logprobs": 99})
    assert too_many.status_code == 400 and too_many.json()["error"]["param"] == "prompt_logprobs"
