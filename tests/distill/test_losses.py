"""Specification of the chunked KD losses: they equal the naive full-vocabulary reference, value
and gradient, and obey the identities each divergence is known for."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from orchestra.distill.losses import (
    DenseTeacher,
    LossConfig,
    SparseTeacher,
    kd_loss,
    kd_loss_reference,
    sparse_teacher_logprobs,
)

KD_METHODS = ["forward_kl", "reverse_kl", "adaptive_kl", "jsd", "skew_kl", "skew_reverse_kl"]
ALL_METHODS = ["ce", *KD_METHODS]
TOL = dict(atol=1e-5, rtol=1e-5)


def make_batch(*, n: int, vocab: int, width: int, teacher_width: int, ignored: float, scale: float, seed: int):
    """Float64 student hidden/lm_head (requiring grad), teacher hidden/lm_head and labels with some -100."""
    g = torch.Generator().manual_seed(seed)
    hidden = (torch.randn(n, width, generator=g, dtype=torch.float64) * scale).requires_grad_()
    weight = torch.randn(vocab, width, generator=g, dtype=torch.float64).requires_grad_()
    teacher = DenseTeacher(
        hidden=torch.randn(n, teacher_width, generator=g, dtype=torch.float64) * scale,
        weight=torch.randn(vocab, teacher_width, generator=g, dtype=torch.float64),
    )
    labels = torch.randint(0, vocab, (n,), generator=g)
    labels[torch.rand(n, generator=g) < ignored] = -100
    labels[0] = 0  # at least one kept position
    return hidden, weight, teacher, labels


def top_k_of(teacher: DenseTeacher, k: int) -> SparseTeacher:
    top = torch.log_softmax(teacher.hidden @ teacher.weight.T, dim=-1).topk(k, dim=-1)
    return SparseTeacher(indices=top.indices, logprobs=top.values)


def value_and_grads(loss: torch.Tensor, *inputs: torch.Tensor) -> list[torch.Tensor]:
    return [loss.detach(), *torch.autograd.grad(loss, inputs)]


def assert_all_close(actual: list[torch.Tensor], expected: list[torch.Tensor]) -> None:
    for name, a, e in zip(["value", "d/d hidden", "d/d weight", "d/d bias"], actual, expected):
        torch.testing.assert_close(a, e, **TOL, msg=lambda m: f"{name}: {m}")


batches = st.fixed_dictionaries(
    {
        "n": st.integers(2, 64),
        "vocab": st.integers(3, 300),
        "width": st.integers(1, 32),
        "teacher_width": st.integers(1, 32),
        "ignored": st.sampled_from([0.0, 0.3, 0.8]),
        "scale": st.floats(0.1, 3.0),
        "seed": st.integers(0, 2**31),
    }
)
configs = st.builds(
    dict,
    method=st.sampled_from(ALL_METHODS),
    temperature=st.sampled_from([0.5, 1.0, 2.0]),
    ce_weight=st.sampled_from([0.0, 0.5]),
    jsd_beta=st.sampled_from([0.1, 0.5, 0.9]),
    skew_alpha=st.sampled_from([0.0, 0.1, 0.5]),
    akl_threshold=st.sampled_from([0.3, 0.5, 0.9]),
)


@settings(max_examples=60, deadline=None)
@given(batch=batches, config=configs, chunk_fraction=st.floats(0.05, 0.9))
def test_chunked_loss_and_gradients_equal_reference_for_dense_teacher(batch, config, chunk_fraction):
    hidden, weight, teacher, labels = make_batch(**batch)
    config = LossConfig(**config, chunk_size=max(1, int(batch["n"] * chunk_fraction)))

    chunked = value_and_grads(kd_loss(hidden, weight, labels, teacher, config), hidden, weight)
    reference = kd_loss_reference(
        hidden @ weight.T, labels, teacher_logits=teacher.hidden @ teacher.weight.T, config=config
    )

    assert_all_close(chunked, value_and_grads(reference, hidden, weight))


@settings(max_examples=60, deadline=None)
@given(batch=batches, config=configs, chunk_fraction=st.floats(0.05, 0.9), k_fraction=st.floats(0.0, 1.0))
def test_chunked_loss_and_gradients_equal_reference_for_sparse_top_k_teacher(batch, config, chunk_fraction, k_fraction):
    hidden, weight, dense, labels = make_batch(**batch)
    sparse = top_k_of(dense, k=1 + int((batch["vocab"] - 2) * k_fraction))
    config = LossConfig(**config, chunk_size=max(1, int(batch["n"] * chunk_fraction)))

    chunked = value_and_grads(kd_loss(hidden, weight, labels, sparse, config), hidden, weight)
    reference = kd_loss_reference(hidden @ weight.T, labels, teacher_sparse=sparse, config=config)

    assert_all_close(chunked, value_and_grads(reference, hidden, weight))


@pytest.mark.parametrize("method", KD_METHODS)
def test_student_bias_gets_the_reference_gradient(method):
    hidden, weight, teacher, labels = make_batch(
        n=20, vocab=40, width=8, teacher_width=6, ignored=0.3, scale=1.0, seed=1
    )
    bias = torch.randn(40, dtype=torch.float64, requires_grad=True)
    config = LossConfig(method=method, chunk_size=7, ce_weight=0.2)

    chunked = value_and_grads(kd_loss(hidden, weight, labels, teacher, config, student_bias=bias), hidden, weight, bias)
    reference = kd_loss_reference(
        hidden @ weight.T + bias, labels, teacher_logits=teacher.hidden @ teacher.weight.T, config=config
    )

    assert_all_close(chunked, value_and_grads(reference, hidden, weight, bias))


@pytest.mark.parametrize("method", KD_METHODS)
def test_divergence_is_zero_when_student_and_teacher_are_the_same_model(method):
    hidden, weight, _, labels = make_batch(n=30, vocab=50, width=8, teacher_width=8, ignored=0.2, scale=2.0, seed=2)
    itself = DenseTeacher(hidden=hidden.detach(), weight=weight.detach())

    loss = kd_loss(hidden, weight, labels, itself, LossConfig(method=method, temperature=1.5, chunk_size=8))

    assert abs(loss.item()) < 1e-12


def test_jsd_at_half_is_symmetric_when_student_and_teacher_swap_roles():
    hidden, weight, teacher, labels = make_batch(
        n=25, vocab=60, width=8, teacher_width=5, ignored=0.0, scale=2.0, seed=3
    )
    config = LossConfig(method="jsd", jsd_beta=0.5, chunk_size=6)

    forward = kd_loss(hidden, weight, labels, teacher, config)
    swapped = kd_loss(
        teacher.hidden, teacher.weight, labels, DenseTeacher(hidden=hidden.detach(), weight=weight.detach()), config
    )

    torch.testing.assert_close(forward.detach(), swapped, **TOL)


def test_jsd_never_exceeds_log_two_even_for_disjoint_distributions():
    # Sharp, unrelated distributions push JSD toward its supremum log 2.
    hidden, weight, teacher, labels = make_batch(
        n=40, vocab=30, width=8, teacher_width=8, ignored=0.0, scale=50.0, seed=4
    )

    loss = kd_loss(hidden, weight, labels, teacher, LossConfig(method="jsd", chunk_size=9))

    assert 0.5 < loss.item() <= math.log(2) + 1e-12


@pytest.mark.parametrize(("skewed", "plain"), [("skew_kl", "forward_kl"), ("skew_reverse_kl", "reverse_kl")])
def test_skew_divergence_with_zero_alpha_is_the_plain_divergence(skewed, plain):
    hidden, weight, teacher, labels = make_batch(
        n=30, vocab=70, width=8, teacher_width=5, ignored=0.3, scale=1.5, seed=5
    )

    skew = kd_loss(hidden, weight, labels, teacher, LossConfig(method=skewed, skew_alpha=0.0, chunk_size=7))
    exact = kd_loss(hidden, weight, labels, teacher, LossConfig(method=plain, chunk_size=7))

    torch.testing.assert_close(skew, exact, **TOL)


def test_ce_matches_torch_cross_entropy_and_needs_no_teacher():
    hidden, weight, _, labels = make_batch(n=33, vocab=90, width=8, teacher_width=1, ignored=0.4, scale=1.0, seed=6)

    loss = kd_loss(hidden, weight, labels, None, LossConfig(method="ce", chunk_size=5))
    expected = F.cross_entropy(hidden @ weight.T, labels, ignore_index=-100)

    assert_all_close(value_and_grads(loss, hidden, weight), value_and_grads(expected, hidden, weight))


def test_sparse_teacher_puts_its_missing_tail_mass_in_one_rest_bucket():
    recorded = torch.tensor([[math.log(0.5), math.log(0.3)]], dtype=torch.float64)

    target = sparse_teacher_logprobs(recorded, temperature=1.0).exp()

    torch.testing.assert_close(target, torch.tensor([[0.5, 0.3, 0.2]], dtype=torch.float64))


def test_sparse_forward_kl_is_a_lower_bound_of_the_dense_one():
    # Merging outcomes into a rest bucket can only lose information (data-processing inequality).
    hidden, weight, teacher, labels = make_batch(
        n=30, vocab=80, width=8, teacher_width=6, ignored=0.0, scale=2.0, seed=7
    )
    config = LossConfig(method="forward_kl", chunk_size=8)

    sparse = kd_loss(hidden, weight, labels, top_k_of(teacher, k=5), config)
    dense = kd_loss(hidden, weight, labels, teacher, config)

    assert 0.0 < sparse.item() < dense.item()


def test_batch_with_every_position_ignored_gives_zero_loss_and_zero_gradient():
    hidden, weight, teacher, labels = make_batch(
        n=5, vocab=20, width=4, teacher_width=4, ignored=0.0, scale=1.0, seed=8
    )
    labels[:] = -100

    loss = kd_loss(hidden, weight, labels, teacher, LossConfig(method="jsd"))
    loss.backward()

    assert loss.item() == 0.0 and hidden.grad.abs().sum().item() == 0.0


def test_evaluation_without_grad_gives_the_training_value():
    hidden, weight, teacher, labels = make_batch(
        n=24, vocab=50, width=8, teacher_width=5, ignored=0.3, scale=1.0, seed=9
    )
    config = LossConfig(method="adaptive_kl", chunk_size=5)

    with torch.no_grad():
        evaluated = kd_loss(hidden, weight, labels, teacher, config)

    assert not evaluated.requires_grad
    torch.testing.assert_close(evaluated, kd_loss(hidden, weight, labels, teacher, config).detach(), **TOL)


def test_bfloat16_inputs_give_the_float32_loss_and_gradients_approximately():
    hidden, weight, teacher, labels = make_batch(
        n=48, vocab=200, width=16, teacher_width=8, ignored=0.2, scale=1.0, seed=10
    )
    config = LossConfig(method="jsd", chunk_size=16)
    low = [t.detach().to(torch.bfloat16).requires_grad_() for t in (hidden, weight)]
    low_teacher = DenseTeacher(hidden=teacher.hidden.to(torch.bfloat16), weight=teacher.weight.to(torch.bfloat16))
    high = [t.detach().float().requires_grad_() for t in low]  # same rounded inputs, float32 maths

    low_result = value_and_grads(kd_loss(*low, labels, low_teacher, config), *low)
    high_teacher = DenseTeacher(hidden=low_teacher.hidden.float(), weight=low_teacher.weight.float())
    high_result = value_and_grads(kd_loss(*high, labels, high_teacher, config), *high)

    assert low_result[2].dtype == torch.bfloat16
    for low_tensor, high_tensor in zip(low_result, high_result):
        torch.testing.assert_close(low_tensor.float(), high_tensor, atol=2e-3, rtol=2e-2)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("method", "kl"),
        ("temperature", 0.0),
        ("ce_weight", 1.5),
        ("jsd_beta", 1.0),
        ("jsd_beta", 0.0),
        ("skew_alpha", -0.1),
        ("akl_threshold", 1.0),
        ("chunk_size", 0),
    ],
)
def test_config_rejects_out_of_range_values_naming_the_field(field, value):
    with pytest.raises(ValidationError) as error:
        LossConfig(**{"method": "jsd", field: value})

    assert error.value.errors()[0]["loc"] == (field,)
    assert field in str(error.value)


def test_logit_kd_without_a_teacher_is_rejected_by_name():
    hidden, weight, _, labels = make_batch(n=4, vocab=10, width=4, teacher_width=4, ignored=0.0, scale=1.0, seed=11)

    with pytest.raises(ValueError, match="'reverse_kl' needs a DenseTeacher or SparseTeacher"):
        kd_loss(hidden, weight, labels, None, LossConfig(method="reverse_kl"))


def test_teacher_with_another_vocabulary_is_rejected():
    hidden, weight, teacher, labels = make_batch(
        n=4, vocab=10, width=4, teacher_width=4, ignored=0.0, scale=1.0, seed=12
    )
    other_vocabulary = DenseTeacher(hidden=teacher.hidden, weight=teacher.weight[:9])

    with pytest.raises(ValueError, match="same vocabulary"):
        kd_loss(hidden, weight, labels, other_vocabulary, LossConfig(method="forward_kl"))


def test_frozen_lm_head_gets_no_gradient_while_hidden_states_still_do():
    # LoRA freezes the lm_head: its [V, H] gradient must not be built.
    hidden, weight, teacher, labels = make_batch(
        n=20, vocab=40, width=8, teacher_width=6, ignored=0.2, scale=1.0, seed=13
    )
    frozen = weight.detach()
    config = LossConfig(method="reverse_kl", chunk_size=6)

    kd_loss(hidden, frozen, labels, teacher, config).backward()
    expected = kd_loss_reference(
        hidden @ frozen.T, labels, teacher_logits=teacher.hidden @ teacher.weight.T, config=config
    )

    assert frozen.grad is None
    torch.testing.assert_close(hidden.grad, torch.autograd.grad(expected, hidden)[0], **TOL)
