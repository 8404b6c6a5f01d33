"""Knowledge-distillation losses over the vocabulary, computed in chunks of positions.

Every logit-KD loss compares, per target position, the teacher's next-token distribution p with
the student's q (both softened by the temperature T) and averages over positions whose label is
not -100:

    forward_kl       KL(p || q)                                   mode-covering (DistillKit, Hinton)
    reverse_kl       KL(q || p)                                   mode-seeking (MiniLLM)
    adaptive_kl      g_head KL(p || q) + g_tail KL(q || p)        AKL, Wu et al. 2024
    jsd              b KL(p || m) + (1 - b) KL(q || m),           generalized JSD (GKD, TRL)
                     m = b p + (1 - b) q
    skew_kl          KL(p || a p + (1 - a) q)                     DistiLLM skew KL
    skew_reverse_kl  KL(q || (1 - a) p + a q)                     DistiLLM skew reverse KL
    ce               cross-entropy on the labels; no teacher

The KD term is multiplied by T^2 (Hinton et al.) so its gradient scale does not shrink with T,
and mixed with label cross-entropy at T = 1: loss = (1 - ce_weight) * T^2 * KD + ce_weight * CE.

`kd_loss` never materialises the [N, V] logits: like Liger's fused linear losses it walks the
kept positions in chunks of `chunk_size`, makes each chunk's student (and teacher) logits from
the final hidden states and the lm_head, computes the chunk's loss and, when a gradient is
needed, the chunk's gradient with respect to its logits right away (in closed form, held to
autograd by the tests), which it folds into the gradients of the hidden states and the lm_head
before freeing the chunk. The backward pass then only scales the stored gradients. Peak memory is
a handful of [chunk_size, V] buffers instead of autograd's dozen [N, V] ones, and no matmul is
recomputed (unlike per-chunk checkpointing).

Sparse teachers (top-k log-probabilities from vLLM or our trace store) are compared over k + 1
outcomes: the k recorded tokens plus one "rest" bucket holding the teacher's missing tail mass
1 - sum(p_topk), matched against the student's mass outside those k tokens. Both sides are then
proper distributions over the same outcomes, so no divergence is biased by renormalising a
truncated teacher (its KL is the exact KL of the coarse-grained distributions, a lower bound of
the full one). Log-probabilities are recorded at T = 1; for T != 1 the k + 1 teacher log-probs are
divided by T and renormalised, treating the rest bucket as one outcome (exact at T = 1, an
approximation of the unknown tail otherwise).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor

IGNORE_INDEX = -100
# The teacher's rest bucket is never given less mass than this: recorded top-k log-probs can sum
# to slightly more than 1 after rounding, and an empty bucket would make reverse KL infinite.
TAIL_MASS_FLOOR = 1e-6

Method = Literal["ce", "forward_kl", "reverse_kl", "adaptive_kl", "jsd", "skew_kl", "skew_reverse_kl"]


class LossConfig(BaseModel):
    """How the student is compared with the teacher; pydantic's errors name the field and range."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: Method
    temperature: float = Field(1.0, gt=0.0)
    ce_weight: float = Field(0.0, ge=0.0, le=1.0)
    jsd_beta: float = Field(0.5, gt=0.0, lt=1.0)
    skew_alpha: float = Field(0.1, ge=0.0, lt=1.0)
    akl_threshold: float = Field(0.5, gt=0.0, lt=1.0)
    chunk_size: int = Field(1024, ge=1)


@dataclass
class DenseTeacher:
    """An online teacher: its final hidden states and lm_head; logits are made per chunk."""

    hidden: Tensor  # [N, H_t]
    weight: Tensor  # [V, H_t]
    bias: Tensor | None = None


@dataclass
class SparseTeacher:
    """An offline teacher: top-k log-probabilities (full vocabulary, T = 1) per position."""

    indices: Tensor  # [N, k] long, distinct per row
    logprobs: Tensor  # [N, k]


Teacher = DenseTeacher | SparseTeacher


# --- target distributions ------------------------------------------------------------------------


def sparse_teacher_logprobs(logprobs: Tensor, temperature: float) -> Tensor:
    """[n, k] top-k log-probs at T = 1 -> [n, k + 1] log-probs at T, the last being the rest bucket."""
    top_mass = torch.logsumexp(logprobs, dim=-1, keepdim=True).exp()
    rest = (1.0 - top_mass).clamp_min(TAIL_MASS_FLOOR).log()
    return torch.log_softmax(torch.cat([logprobs, rest], dim=-1) / temperature, dim=-1)


def student_bucket_logprobs(student_logprobs: Tensor, indices: Tensor) -> Tensor:
    """Student log-probs [n, V] -> [n, k + 1] over the teacher's top-k tokens plus the rest."""
    top = student_logprobs.gather(-1, indices)
    # logsumexp over the masked row stays exact when the top-k hold nearly all the mass.
    rest = student_logprobs.scatter(-1, indices, -math.inf).logsumexp(dim=-1, keepdim=True)
    return torch.cat([top, rest], dim=-1)


def adaptive_kl_weights(student_logprobs: Tensor, teacher_logprobs: Tensor, threshold: float) -> tuple[Tensor, Tensor]:
    """AKL's per-token (g_head, g_tail): the share of |p - q| on the teacher's head and tail.

    The head is the teacher's nucleus: its most likely tokens up to and including the one whose
    cumulative probability reaches `threshold` (top-p), so it is never empty. Wu et al.'s code
    stops just before that token and adds the top-1 by hand; the two differ by one token.
    The weights are constants for the gradient, as in the paper's code.
    """
    # In place where possible: this runs on [chunk, V] and sorting already costs three buffers.
    teacher_probs, order = teacher_logprobs.detach().exp().sort(dim=-1, descending=True)
    gap = student_logprobs.detach().gather(-1, order).exp_().sub_(teacher_probs).abs_()
    del order
    total_gap = gap.sum(dim=-1).clamp_min(torch.finfo(gap.dtype).tiny)  # equal p and q: both 0
    in_tail = teacher_probs.cumsum(dim=-1).sub_(teacher_probs) >= threshold  # mass before >= threshold
    head_gap = gap.masked_fill_(in_tail, 0.0).sum(dim=-1)
    return head_gap / total_gap, (total_gap - head_gap) / total_gap


# --- divergences: value [n] and gradient [n, K] with respect to the student's log-probs ---------
#
# Each takes student and teacher log-probabilities s, t [n, K] (q = exp s, p = exp t) and returns
# (D, dD/ds), treating every s_i as free; the chunk then chains through the log-softmax. The
# gradients are derived by hand (the tests hold them to autograd on the naive reference) so a
# chunk needs a handful of [n, K] buffers instead of autograd's saved graph.

Divergence = Callable[[Tensor, Tensor, LossConfig], tuple[Tensor, Tensor]]


def _log_mixture(a_log: Tensor, b_log: Tensor, a_weight: float) -> Tensor:
    """log(w a + (1 - w) b), stable in log space; w may be 0 or 1 (then one input is returned)."""
    if a_weight in (0.0, 1.0):  # the log of a zero weight is -inf; skip the mixing
        return a_log if a_weight == 1.0 else b_log
    return torch.logaddexp(a_log + math.log(a_weight), b_log + math.log1p(-a_weight))


def _forward_kl(s: Tensor, t: Tensor, config: LossConfig) -> tuple[Tensor, Tensor]:
    """KL(p || q) = sum p (t - s);  dD/ds = -p."""
    p = t.exp()
    return (t - s).mul_(p).sum(dim=-1), p.neg_()


def _reverse_kl(s: Tensor, t: Tensor, config: LossConfig) -> tuple[Tensor, Tensor]:
    """KL(q || p) = sum q (s - t);  dD/ds = q (s - t + 1)."""
    q = s.exp()
    log_ratio = s - t
    value = (q * log_ratio).sum(dim=-1)
    return value, log_ratio.add_(1.0).mul_(q)


def _adaptive_kl(s: Tensor, t: Tensor, config: LossConfig) -> tuple[Tensor, Tensor]:
    """g_head KL(p || q) + g_tail KL(q || p), the weights held constant."""
    head, tail = adaptive_kl_weights(s, t, config.akl_threshold)
    forward, forward_grad = _forward_kl(s, t, config)
    reverse, reverse_grad = _reverse_kl(s, t, config)
    grad = forward_grad.mul_(head[:, None]).add_(reverse_grad.mul_(tail[:, None]))
    return head * forward + tail * reverse, grad


def _jsd(s: Tensor, t: Tensor, config: LossConfig) -> tuple[Tensor, Tensor]:
    """b KL(p || m) + (1 - b) KL(q || m), m = b p + (1 - b) q;  dD/ds = (1 - b) q (s - log m)."""
    beta = config.jsd_beta
    log_m = _log_mixture(t, s, beta)
    teacher_term = (t - log_m).mul_(t.exp()).sum(dim=-1)
    student_term = (s - log_m).mul_(s.exp())
    value = beta * teacher_term + (1.0 - beta) * student_term.sum(dim=-1)
    return value, student_term.mul_(1.0 - beta)


def _skew_kl(s: Tensor, t: Tensor, config: LossConfig) -> tuple[Tensor, Tensor]:
    """KL(p || m), m = a p + (1 - a) q;  dD/ds = -(1 - a) p q / m."""
    alpha = config.skew_alpha
    log_m = _log_mixture(t, s, alpha)
    p = t.exp()
    value = (t - log_m).mul_(p).sum(dim=-1)
    return value, (s - log_m).exp_().mul_(p).mul_(alpha - 1.0)


def _skew_reverse_kl(s: Tensor, t: Tensor, config: LossConfig) -> tuple[Tensor, Tensor]:
    """KL(q || m), m = (1 - a) p + a q;  dD/ds = q (s - log m + 1 - a q / m)."""
    alpha = config.skew_alpha
    log_m = _log_mixture(t, s, 1.0 - alpha)
    q = s.exp()
    log_ratio = s - log_m
    value = (q * log_ratio).sum(dim=-1)
    q_over_m = log_ratio.exp().mul_(alpha)
    return value, log_ratio.add_(1.0).sub_(q_over_m).mul_(q)


DIVERGENCES: dict[str, Divergence] = {
    "forward_kl": _forward_kl,
    "reverse_kl": _reverse_kl,
    "adaptive_kl": _adaptive_kl,
    "jsd": _jsd,
    "skew_kl": _skew_kl,
    "skew_reverse_kl": _skew_reverse_kl,
}


# --- one chunk: loss [n] and its gradient [n, V] with respect to the student's logits ----------


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """Softmaxes over 150k tokens need at least float32; float64 stays float64 (tests)."""
    return torch.promote_types(dtype, torch.float32)


def _cross_entropy(logits: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    """CE at T = 1 and its gradient softmax(z) - onehot(label)."""
    log_probs = torch.log_softmax(logits, dim=-1)
    loss = -log_probs.gather(-1, labels[:, None]).squeeze(-1)
    grad = log_probs.exp_()
    grad.scatter_add_(-1, labels[:, None], grad.new_full((labels.shape[0], 1), -1.0))
    return loss, grad


def _log_softmax_(logits: Tensor, temperature: float) -> Tensor:
    """log_softmax(logits / T) written over `logits`: one [chunk, V] buffer fewer per side."""
    if temperature != 1.0:
        logits.div_(temperature)
    return logits.sub_(logits.logsumexp(dim=-1, keepdim=True))


def _distillation(logits: Tensor, teacher: Teacher, rows: slice, config: LossConfig) -> tuple[Tensor, Tensor]:
    """T^2 * D(teacher_T, student_T) per token, and its gradient with respect to the logits.

    Consumes `logits`: its buffer is reused for the student's log-probabilities.
    """
    temperature = config.temperature
    s = _log_softmax_(logits, temperature)
    if isinstance(teacher, DenseTeacher):
        teacher_logits = F.linear(teacher.hidden[rows], teacher.weight, teacher.bias).to(logits.dtype)
        t = _log_softmax_(teacher_logits, temperature)
        kd, ds = DIVERGENCES[config.method](s, t, config)
        del t, teacher_logits
    else:
        indices = teacher.indices[rows]
        s_buckets = student_bucket_logprobs(s, indices)
        t_buckets = sparse_teacher_logprobs(teacher.logprobs[rows].to(logits.dtype), temperature)
        kd, d_buckets = DIVERGENCES[config.method](s_buckets, t_buckets, config)
        # Back to the vocabulary: s_rest = log sum_{j outside top-k} q_j, so ds_rest/ds_j = q_j / q_rest.
        ds = (s - s_buckets[:, -1:]).exp_().mul_(d_buckets[:, -1:])
        ds.scatter_(-1, indices, d_buckets[:, :-1])
    # Through s = log_softmax(z / T): dD/dz = (dD/ds - q * sum(dD/ds)) / T; times T^2 (convention).
    q = s.exp_()
    ds.sub_(q.mul_(ds.sum(dim=-1, keepdim=True)))
    return kd * temperature**2, ds.mul_(temperature)


def _chunk_loss_and_grad(
    logits: Tensor, labels: Tensor, teacher: Teacher | None, rows: slice, config: LossConfig
) -> tuple[Tensor, Tensor]:
    """Per-token loss [n] of one chunk and its gradient with respect to the chunk's logits [n, V].

    Consumes `logits` (see `_distillation`).
    """
    if config.method == "ce":
        return _cross_entropy(logits, labels)
    assert teacher is not None  # checked by kd_loss
    if config.ce_weight == 0.0:
        return _distillation(logits, teacher, rows, config)
    ce, ce_grad = _cross_entropy(logits, labels)  # before the logits are overwritten
    loss, grad = _distillation(logits, teacher, rows, config)
    weight = config.ce_weight
    return (1.0 - weight) * loss + weight * ce, grad.mul_(1.0 - weight).add_(ce_grad, alpha=weight)


class _ChunkedLinearKDLoss(torch.autograd.Function):
    """Mean loss over rows; each chunk's gradient is made in forward and folded in (Liger's trick)."""

    @staticmethod
    def forward(ctx, hidden, weight, bias, labels, teacher, config):  # type: ignore[override]
        # Only what is trained gets a gradient: with LoRA the lm_head is frozen, and its [V, H]
        # gradient would be the biggest buffer here.
        need_hidden, need_weight, need_bias = ctx.needs_input_grad[:3]
        compute_dtype = _compute_dtype(hidden.dtype)
        total = torch.zeros((), dtype=compute_dtype, device=hidden.device)
        grad_hidden = torch.empty_like(hidden) if need_hidden else None
        # Accumulate in float32 even for bf16 weights: many chunks add into the same matrix.
        grad_weight = torch.zeros_like(weight, dtype=compute_dtype) if need_weight else None
        grad_bias = torch.zeros_like(bias, dtype=compute_dtype) if need_bias else None
        n = hidden.shape[0]
        for start in range(0, n, config.chunk_size):
            rows = slice(start, start + config.chunk_size)
            chunk_hidden = hidden[rows]
            logits = F.linear(chunk_hidden, weight, bias).to(compute_dtype)
            chunk_loss, grad_logits = _chunk_loss_and_grad(logits, labels[rows], teacher, rows, config)
            del logits
            total += chunk_loss.sum()
            grad_logits = grad_logits.div_(n)
            grad_step = grad_logits.to(hidden.dtype)
            if need_hidden:
                grad_hidden[rows] = grad_step @ weight
            if need_weight and grad_weight.dtype == hidden.dtype:
                grad_weight.addmm_(grad_step.T, chunk_hidden)
            elif need_weight:  # bf16/fp16: the matmul at input precision (fast), the sum over chunks in float32
                grad_weight += grad_step.T @ chunk_hidden
            if need_bias:
                grad_bias += grad_logits.sum(dim=0)
        ctx.save_for_backward(
            grad_hidden,
            grad_weight.to(weight.dtype) if need_weight else None,
            grad_bias.to(bias.dtype) if need_bias else None,
        )
        return total / n  # float32 for bf16/fp16 inputs: a precise value to log

    @staticmethod
    def backward(ctx, grad_output):  # type: ignore[override]
        # In place: these buffers are ours alone, and a [V, H] copy is worth avoiding.
        grads = [g.mul_(grad_output) if g is not None else None for g in ctx.saved_tensors]
        return (*grads, None, None, None)


# --- public entry points -------------------------------------------------------------------------


def _check_inputs(
    student_hidden: Tensor, student_weight: Tensor, labels: Tensor, teacher: Teacher | None, config: LossConfig
) -> None:
    if labels.dim() != 1:
        raise ValueError(
            f"labels must be 1-D [N] (positions already shifted and flattened); got shape {tuple(labels.shape)}"
        )
    n = labels.shape[0]
    if student_hidden.dim() != 2 or student_hidden.shape[0] != n:
        raise ValueError(f"student_hidden must be [N, H] with N = len(labels) = {n}; got {tuple(student_hidden.shape)}")
    vocab, width = student_weight.shape
    if width != student_hidden.shape[1]:
        raise ValueError(
            f"student_weight must be [V, H] with H = {student_hidden.shape[1]}; got {tuple(student_weight.shape)}"
        )
    if config.method == "ce":
        return
    if teacher is None:
        raise ValueError(
            f"method {config.method!r} needs a DenseTeacher or SparseTeacher; only 'ce' takes teacher=None"
        )
    if isinstance(teacher, DenseTeacher):
        if teacher.hidden.shape[0] != n or teacher.weight.shape[0] != vocab:
            raise ValueError(
                f"DenseTeacher needs hidden [N={n}, H_t] and weight [V={vocab}, H_t] (same vocabulary as the "
                f"student); got hidden {tuple(teacher.hidden.shape)}, weight {tuple(teacher.weight.shape)}"
            )
    elif teacher.indices.shape != teacher.logprobs.shape or teacher.indices.shape[0] != n:
        raise ValueError(
            f"SparseTeacher needs indices and logprobs both [N={n}, k]; "
            f"got {tuple(teacher.indices.shape)} and {tuple(teacher.logprobs.shape)}"
        )
    elif not 0 < teacher.indices.shape[1] < vocab:
        raise ValueError(
            f"SparseTeacher k must be in 1..V-1 = {vocab - 1} (use a DenseTeacher for all V); "
            f"got k = {teacher.indices.shape[1]}"
        )


def _select(teacher: Teacher | None, keep: Tensor) -> Teacher | None:
    """The teacher's signal at the kept positions, cut off from any autograd graph."""
    if isinstance(teacher, DenseTeacher):
        return DenseTeacher(
            hidden=teacher.hidden[keep].detach(),
            weight=teacher.weight.detach(),
            bias=None if teacher.bias is None else teacher.bias.detach(),
        )
    if isinstance(teacher, SparseTeacher):
        return SparseTeacher(indices=teacher.indices[keep].long(), logprobs=teacher.logprobs[keep].detach())
    return None


def kd_loss(
    student_hidden: Tensor,
    student_weight: Tensor,
    labels: Tensor,
    teacher: DenseTeacher | SparseTeacher | None,
    config: LossConfig,
    student_bias: Tensor | None = None,
) -> Tensor:
    """Mean distillation loss over positions whose label is not -100, never holding [N, V] logits.

    student_hidden [N, H] are the student's final hidden states at already shifted and flattened
    positions, student_weight [V, H] its lm_head (gradients flow to both, and to student_bias).
    The loss is float32 for bf16/fp16 inputs (the gradients keep the inputs' dtype); a batch with
    no kept position gives 0. The gradient is computed during the forward pass (under no_grad
    its matmuls are skipped), so the loss supports one backward, not double backward.
    """
    _check_inputs(student_hidden, student_weight, labels, teacher, config)
    keep = labels != IGNORE_INDEX
    hidden = student_hidden[keep]
    if hidden.shape[0] == 0:
        return student_hidden.sum() * 0.0  # keeps the graph connected for a uniform training step
    signal = _select(teacher, keep) if config.method != "ce" else None
    return _ChunkedLinearKDLoss.apply(hidden, student_weight, student_bias, labels[keep], signal, config)


def kd_loss_reference(
    student_logits: Tensor,
    labels: Tensor,
    teacher_logits: Tensor | None = None,
    teacher_sparse: SparseTeacher | None = None,
    config: LossConfig = LossConfig(method="forward_kl"),
) -> Tensor:
    """The same loss computed naively from full [N, V] logits with torch's own KL, for tests/bench.

    It shares only the definitions of the sparse targets and of AKL's weights with `kd_loss`.
    """
    keep = labels != IGNORE_INDEX
    if not keep.any():
        return student_logits.sum() * 0.0
    logits = student_logits[keep].to(_compute_dtype(student_logits.dtype))
    ce = F.cross_entropy(logits, labels[keep])
    if config.method == "ce":
        return ce
    temperature = config.temperature
    q = torch.softmax(logits / temperature, dim=-1)
    if teacher_sparse is not None:
        idx = teacher_sparse.indices[keep]
        outside_top_k = torch.ones_like(q).scatter(-1, idx, 0.0)
        q = torch.cat([q.gather(-1, idx), (q * outside_top_k).sum(dim=-1, keepdim=True)], dim=-1)
        p = sparse_teacher_logprobs(teacher_sparse.logprobs[keep].to(logits.dtype), temperature).exp()
    elif teacher_logits is not None:
        p = torch.softmax(teacher_logits[keep].to(logits.dtype).detach() / temperature, dim=-1)
    else:
        raise ValueError(f"method {config.method!r} needs teacher_logits or teacher_sparse")

    def kl(a: Tensor, b: Tensor) -> Tensor:  # KL(a || b) per row, torch's argument order reversed
        return F.kl_div(b.log(), a, reduction="none").sum(dim=-1)

    method, alpha, beta = config.method, config.skew_alpha, config.jsd_beta
    if method == "forward_kl":
        kd = kl(p, q)
    elif method == "reverse_kl":
        kd = kl(q, p)
    elif method == "adaptive_kl":
        head, tail = adaptive_kl_weights(q.log(), p.log(), config.akl_threshold)
        kd = head * kl(p, q) + tail * kl(q, p)
    elif method == "jsd":
        m = beta * p + (1 - beta) * q
        kd = beta * kl(p, m) + (1 - beta) * kl(q, m)
    elif method == "skew_kl":
        kd = kl(p, alpha * p + (1 - alpha) * q)
    else:  # skew_reverse_kl
        kd = kl(q, (1 - alpha) * p + alpha * q)
    kd = kd.mean() * temperature**2
    return (1.0 - config.ce_weight) * kd + config.ce_weight * ce
