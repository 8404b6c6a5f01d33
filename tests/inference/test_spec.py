import pytest

from orchestra.inference import InferenceError, ModelSpec


def test_cost_is_tokens_times_price_per_million():
    spec = ModelSpec(
        name="m", backend="openai", model="gpt", base_url="http://127.0.0.1:1/v1", price_in=0.5, price_out=1.5
    )
    assert spec.cost(1_000_000, 0) == pytest.approx(0.5)
    assert spec.cost(2_000, 1_000) == pytest.approx(2_000 * 0.5e-6 + 1_000 * 1.5e-6)
    assert spec.cost(0, 0) == 0


def test_free_model_costs_nothing():
    spec = ModelSpec(name="local", backend="transformers", model="/models/x")
    assert spec.cost(123_456, 7_890) == 0


def test_unknown_backend_is_refused_with_the_valid_ones_named():
    with pytest.raises(InferenceError, match=r"unknown backend 'vllm'.*openai, transformers"):
        ModelSpec(name="m", backend="vllm", model="x")


def test_openai_backend_needs_a_base_url():
    with pytest.raises(InferenceError, match="needs a base_url"):
        ModelSpec(name="m", backend="openai", model="gpt")


def test_misspelled_option_is_refused_with_the_valid_ones_named():
    with pytest.raises(
        InferenceError, match=r"unknown option\(s\) devise.*valid options are constrained_decoding, device, dtype"
    ):
        ModelSpec(name="m", backend="transformers", model="x", options={"devise": "cpu"})


def test_negative_price_is_refused():
    with pytest.raises(InferenceError, match="prices must be >= 0"):
        ModelSpec(name="m", backend="transformers", model="x", price_out=-1)
