import math
import threading

import pytest
import torch
from transformers import AutoTokenizer

from orchestra.inference import Completion, InferenceError, ModelSpec, get_client
from tests.inference.conftest import CHAT


def sampled(client, seed: int = 0, **kwargs) -> Completion:
    """A sampled completion that is the same every time for the same seed."""
    torch.manual_seed(seed)
    return client.complete(CHAT, temperature=1.0, **kwargs)


def test_completes_a_chat_with_real_token_counts_and_cost(teacher_spec, tiny_family):
    completion = get_client(teacher_spec).complete(CHAT, max_tokens=12)
    prompt = AutoTokenizer.from_pretrained(tiny_family["teacher"]).apply_chat_template(
        CHAT, add_generation_prompt=True, return_dict=True
    )["input_ids"]
    assert completion.model == "tiny-teacher"
    assert completion.tokens_in == len(prompt)
    assert 1 <= completion.tokens_out <= 12
    assert completion.cost == pytest.approx(teacher_spec.cost(completion.tokens_in, completion.tokens_out))
    assert completion.cost > 0 and completion.latency_ms > 0
    assert completion.finish_reason in ("stop", "length")


def test_greedy_is_deterministic_for_none_and_zero_temperature(teacher_spec):
    client = get_client(teacher_spec)
    assert client.complete(CHAT, max_tokens=8).text == client.complete(CHAT, max_tokens=8, temperature=0).text


def test_max_tokens_bounds_the_answer_and_reports_length(teacher_spec):
    completion = sampled(get_client(teacher_spec), max_tokens=5)
    assert completion.tokens_out == 5
    assert completion.finish_reason == "length"


def test_max_tokens_defaults_to_the_spec_option(tiny_family):
    spec = ModelSpec(
        name="short",
        backend="transformers",
        model=str(tiny_family["teacher"]),
        options={"device": "cpu", "max_tokens": 3},
    )
    torch.manual_seed(0)
    assert get_client(spec).complete(CHAT, temperature=1.0).tokens_out == 3


def test_streamed_deltas_join_to_the_final_text_and_match_the_unstreamed_answer(teacher_spec):
    client = get_client(teacher_spec)
    deltas: list[str] = []
    streamed = sampled(client, max_tokens=20, on_token=deltas.append)
    assert len(deltas) > 1
    assert "".join(deltas) == streamed.text
    assert streamed.text == sampled(client, max_tokens=20).text


def test_stop_string_trims_the_answer_streamed_or_not(teacher_spec):
    client = get_client(teacher_spec)
    full = sampled(client, max_tokens=24).text
    stop = full[len(full) // 2 : len(full) // 2 + 2]
    expected = full[: full.find(stop)]
    assert expected, "the seeded answer should not start with its own stop string"
    deltas: list[str] = []
    streamed = sampled(client, max_tokens=24, stop=[stop], on_token=deltas.append)
    assert streamed.text == expected == "".join(deltas)
    assert streamed.finish_reason == "stop"
    assert sampled(client, max_tokens=24, stop=[stop]).text == expected


def test_top_logprobs_are_k_sorted_log_probabilities_per_generated_token(teacher_spec):
    completion = get_client(teacher_spec).complete(CHAT, max_tokens=6, top_logprobs=3)
    assert len(completion.top_logprobs) == len(completion.token_logprobs) == completion.tokens_out
    for top, (token, logprob) in zip(completion.top_logprobs, completion.token_logprobs):
        ids, values = zip(*top)
        assert len(top) == 3 and all(isinstance(i, int) for i in ids)
        assert list(values) == sorted(values, reverse=True)
        assert math.log(sum(math.exp(v) for v in values)) <= 1e-6
        assert (token, logprob) == pytest.approx(top[0])  # greedy picks the most likely token


def test_no_logprobs_unless_asked(teacher_spec):
    completion = get_client(teacher_spec).complete(CHAT, max_tokens=2)
    assert completion.top_logprobs is None and completion.token_logprobs is None


def test_model_is_loaded_once_per_process_and_shared_between_specs(teacher_spec, tiny_family):
    renamed = ModelSpec(
        name="other-name",
        backend="transformers",
        model=str(tiny_family["teacher"]) + "/",
        options={"device": "cpu", "max_tokens": 4},
    )
    first, second, third = get_client(teacher_spec), get_client(teacher_spec), get_client(renamed)
    assert first.loaded.model is second.loaded.model is third.loaded.model
    assert third.complete(CHAT).model == "other-name"


def test_concurrent_calls_on_one_model_each_get_a_whole_answer(teacher_spec):
    client = get_client(teacher_spec)
    expected = client.complete(CHAT, max_tokens=8).text
    answers: list[str] = []
    threads = [
        threading.Thread(target=lambda: answers.append(client.complete(CHAT, max_tokens=8).text)) for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert answers == [expected] * 3


def test_missing_model_folder_is_a_clear_error(tmp_path):
    spec = ModelSpec(name="ghost", backend="transformers", model=str(tmp_path / "nowhere"))
    with pytest.raises(InferenceError, match=r"model 'ghost': folder .*nowhere is missing"):
        get_client(spec)


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"max_tokens": 0}, "max_tokens must be a positive integer"),
        ({"top_logprobs": 21}, "top_logprobs must be between 0 and 20"),
        ({"temperature": -1.0}, "temperature must be >= 0"),
    ],
)
def test_bad_arguments_are_refused_before_generating(teacher_spec, arguments, message):
    with pytest.raises(InferenceError, match=message):
        get_client(teacher_spec).complete(CHAT, **arguments)


def test_messages_without_content_are_refused(teacher_spec):
    with pytest.raises(InferenceError, match=r"messages\[0\] must be a dict with 'role' and 'content'"):
        get_client(teacher_spec).complete([{"role": "user"}])


def test_prompt_longer_than_the_context_is_refused_as_the_callers_fault(teacher_spec):
    too_long = [{"role": "user", "content": "water " * 1100}]  # the tiny models' context is 1024
    with pytest.raises(InferenceError, match=r"the prompt is \d+ tokens; the model's context is 1024") as raised:
        get_client(teacher_spec).complete(too_long)
    assert raised.value.status == 400


def test_parallel_first_use_loads_the_model_once_in_the_dtype_asked_for(tiny_family):
    spec = ModelSpec(
        name="bf16",
        backend="transformers",
        model=str(tiny_family["student"]),
        options={"device": "cpu", "dtype": "bfloat16"},
    )
    clients: list = []
    threads = [threading.Thread(target=lambda: clients.append(get_client(spec))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(clients) == 4 and all(c.loaded is clients[0].loaded for c in clients)
    assert clients[0].loaded.model.dtype == torch.bfloat16
    completion = clients[0].complete(CHAT, max_tokens=3, top_logprobs=2)
    assert len(completion.top_logprobs) == completion.tokens_out


def test_unknown_dtype_is_refused_with_the_valid_ones_named(tiny_family):
    spec = ModelSpec(name="fp8", backend="transformers", model=str(tiny_family["student"]), options={"dtype": "float8"})
    with pytest.raises(InferenceError, match="unknown dtype 'float8'; valid dtypes are auto, float32"):
        get_client(spec)
