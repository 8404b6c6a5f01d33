"""An llm node answered by a real (tiny, random) transformers model through a small call_model."""

from __future__ import annotations

import time

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, TextStreamer

from orchestra.engine import ModelCall, ModelReply
from tests.engine.support import graph, input_node, node, output_node, run
from tests.support.tiny_models import build_model, train_tokenizer


class CallbackStreamer(TextStreamer):
    """Hands each decoded text delta to the node's on_token."""

    def __init__(self, tokenizer, on_token):
        super().__init__(tokenizer, skip_prompt=True, skip_special_tokens=True)
        self.on_token = on_token

    def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
        if text:
            self.on_token(text)


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")  # only the student: the teacher is not needed here
    folder = build_model(root / "student", train_tokenizer(root / "tokenizer"), hidden_size=32, intermediate_size=64)
    return AutoTokenizer.from_pretrained(folder), AutoModelForCausalLM.from_pretrained(folder)


def test_llm_node_runs_on_a_real_tiny_model_and_streams_its_tokens(student):
    tokenizer, model = student
    torch.manual_seed(0)

    def call_model(call: ModelCall) -> ModelReply:
        started = time.perf_counter()
        prompt = tokenizer.apply_chat_template(
            call.messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        streamer = CallbackStreamer(tokenizer, call.on_token) if call.on_token else None
        output = model.generate(**prompt, max_new_tokens=call.max_tokens, do_sample=False, streamer=streamer)
        new_tokens = output[0, prompt["input_ids"].shape[1] :]
        return ModelReply(
            text=tokenizer.decode(new_tokens, skip_special_tokens=True),
            model="tiny-student",
            tokens_in=prompt["input_ids"].shape[1],
            tokens_out=len(new_tokens),
            latency_ms=(time.perf_counter() - started) * 1000,
        )

    data = graph(
        [
            input_node("topic"),
            node("draft", "llm", system="You write.", prompt="Write about {{ inputs.topic }}", max_tokens=8),
            output_node(post="{{ nodes.draft.output }}", tokens="{{ nodes.draft.tokens_out }}"),
        ],
        ["start->draft", "draft->end"],
    )
    outcome, events = run(data, inputs={"topic": "water"}, call_model=call_model)
    assert outcome.status == "succeeded"
    assert 1 <= outcome.outputs["tokens"] <= 8
    streamed = "".join(d["text"] for d in events.data("token", "draft"))
    assert streamed == outcome.outputs["post"] and streamed  # a random model may say only whitespace
    assert events.data("node_succeeded", "draft")[0]["model"] == "tiny-student"
