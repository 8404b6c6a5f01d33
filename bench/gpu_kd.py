"""KD training-step throughput and peak memory on a GPU: orchestra's chunked losses vs TRL's, bf16.

Random-initialised Qwen2-shaped models built from configs (no downloads): a Qwen2-0.5B-shaped
student (~0.5B) and a Qwen2-1.5B-shaped teacher (~1.5B) sharing the 151,936-token vocabulary.
One training step = teacher forward under no_grad to its final hidden states, student forward,
loss, backward, AdamW step. Positions are shifted and flattened; the first quarter of every
sequence is prompt (label -100).

    ours  kd_loss(student hidden, student lm_head, labels, DenseTeacher(teacher hidden, lm_head))
    trl   full logits from both lm_heads, then GKDTrainer.generalized_jsd_loss
          (beta 0 = forward KL, beta 1 = reverse KL, else JSD; no other methods)

    on_policy_jsd  GKD with lmbda 1 (ours only): every step first samples 128 tokens per prompt from
          the student (train.on_policy_items, as training does), then JSD on those tokens; its
          tokens/s counts prompt + sample tokens and includes the sampling

For each (method, implementation) it prints tokens/s (median over --steps after --warmup steps)
and the peak of torch.cuda.max_memory_allocated() over the timed steps (models, optimizer
state and activations included, so differences come from the loss).

    python bench/gpu_kd.py                  # on a GPU, the full sizes
    python bench/gpu_kd.py --dry-run        # tiny models on the CPU: checks that the script runs
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orchestra.distill.dataset import TokenizedExample, collate  # noqa: E402
from orchestra.distill.losses import DenseTeacher, LossConfig, kd_loss  # noqa: E402
from orchestra.distill.train import on_policy_items  # noqa: E402

METHODS = ["ce", "forward_kl", "reverse_kl", "adaptive_kl", "jsd", "skew_kl", "skew_reverse_kl", "on_policy_jsd"]
TRL_BETA = {"forward_kl": 0.0, "reverse_kl": 1.0, "jsd": 0.5}
ON_POLICY_NEW_TOKENS = 128  # on_policy_jsd: tokens the student samples per prompt (lmbda 1: every batch)

SHAPES = {  # Qwen2-0.5B and Qwen2-1.5B, and a tiny pair for --dry-run
    "student": dict(
        hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2
    ),
    "teacher": dict(
        hidden_size=1536, intermediate_size=8960, num_hidden_layers=28, num_attention_heads=12, num_key_value_heads=2
    ),
    "tiny_student": dict(
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2
    ),
    "tiny_teacher": dict(
        hidden_size=48, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2
    ),
}


def build_model(shape: dict, *, vocab: int, device: str) -> Qwen2ForCausalLM:
    config = Qwen2Config(**shape, vocab_size=vocab, tie_word_embeddings=True, rope_theta=1_000_000.0, rms_norm_eps=1e-6)
    with torch.device(device):  # initialise straight on the GPU, in bf16
        return Qwen2ForCausalLM._from_config(config, dtype=torch.bfloat16, attn_implementation="sdpa")


def make_batch(*, batch: int, seq: int, vocab: int, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    input_ids = torch.randint(0, vocab, (batch, seq), generator=g)
    labels = input_ids.clone()
    labels[:, : seq // 4] = -100  # the prompt
    return input_ids.to(device), labels.to(device)


def on_policy_batch(student, input_ids, labels, *, new_tokens: int) -> tuple[torch.Tensor, torch.Tensor]:
    """GKD's on-policy batch as training makes it (train.on_policy_items): each prompt continued by
    the student's own sample, every sampled token a target."""
    items = [
        TokenizedExample(input_ids=ids.tolist(), labels=row.tolist(), key=str(i))
        for i, (ids, row) in enumerate(zip(input_ids.cpu(), labels.cpu()))
    ]
    eos = student.config.vocab_size - 1  # a random model seldom samples it: full-length samples
    sampled = on_policy_items(
        student, items, pad_token_id=0, eos_token_id=eos, max_new_tokens=new_tokens, temperature=1.0, seed=0
    )
    batch = collate(sampled, pad_token_id=0)
    return batch["input_ids"].to(input_ids.device), batch["labels"].to(input_ids.device)


def loss_step(impl: str, method: str, *, student, teacher, input_ids, labels, chunk_size: int) -> torch.Tensor:
    if method == "on_policy_jsd":
        input_ids, labels = on_policy_batch(student, input_ids, labels, new_tokens=ON_POLICY_NEW_TOKENS)
        method = "jsd"
    with torch.no_grad():
        teacher_hidden = teacher.model(input_ids).last_hidden_state[:, :-1].flatten(0, 1)
    student_hidden = student.model(input_ids).last_hidden_state[:, :-1].flatten(0, 1)
    targets = labels[:, 1:].flatten()
    if impl == "ours":
        signal = None if method == "ce" else DenseTeacher(hidden=teacher_hidden, weight=teacher.lm_head.weight)
        config = LossConfig(method=method, chunk_size=chunk_size)
        return kd_loss(student_hidden, student.lm_head.weight, targets, signal, config)
    from trl.experimental.gkd import GKDTrainer

    student_logits = student.lm_head(student_hidden)
    with torch.no_grad():
        teacher_logits = teacher.lm_head(teacher_hidden)
    return GKDTrainer.generalized_jsd_loss(
        student_logits[None], teacher_logits[None], labels=targets[None], beta=TRL_BETA[method]
    )


def measure(impl: str, method: str, *, student, teacher, optimizer, input_ids, labels, args) -> dict:
    cuda = input_ids.is_cuda

    def step() -> float:
        optimizer.zero_grad(set_to_none=True)
        loss = loss_step(
            impl,
            method,
            student=student,
            teacher=teacher,
            input_ids=input_ids,
            labels=labels,
            chunk_size=args.chunk_size,
        )
        loss.backward()
        optimizer.step()
        return loss.item()

    try:
        for _ in range(args.warmup):
            step()
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        seconds, values = [], []
        for _ in range(args.steps):
            start = time.perf_counter()
            values.append(step())  # .item() synchronises
            seconds.append(time.perf_counter() - start)
    except torch.OutOfMemoryError:
        return {"impl": impl, "method": method, "error": "out of memory"}
    finally:
        optimizer.zero_grad(set_to_none=True)
        if cuda:
            torch.cuda.empty_cache()
    tokens = input_ids.numel()
    if method == "on_policy_jsd":  # trained on each prompt and its sample, which replaces the reply
        tokens = input_ids.shape[0] * (int((labels[0] == -100).sum()) + ON_POLICY_NEW_TOKENS)
    return {
        "impl": impl,
        "method": method,
        "tokens_per_s": tokens / statistics.median(seconds),
        "peak_gib": torch.cuda.max_memory_allocated() / 2**30 if cuda else None,
        "loss": values[-1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="tiny models on the CPU, one step each")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=1024)
    parser.add_argument("--vocab", type=int, default=151936)
    parser.add_argument("--chunk-size", type=int, default=1024)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=METHODS)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    if args.dry_run:
        device, student_shape, teacher_shape = "cpu", SHAPES["tiny_student"], SHAPES["tiny_teacher"]
        args.batch, args.seq, args.vocab, args.chunk_size, args.warmup, args.steps = 2, 32, 512, 16, 0, 1
    elif torch.cuda.is_available():
        device, student_shape, teacher_shape = "cuda", SHAPES["student"], SHAPES["teacher"]
    else:
        sys.exit("no CUDA device: run on a GPU, or pass --dry-run to check the script on the CPU")
    try:
        import trl  # noqa: F401

        implementations = ["ours", "trl"]
    except ImportError:
        print("trl is not installed: its rows are unavailable (pip install trl)")
        implementations = ["ours"]

    torch.manual_seed(0)
    student = build_model(student_shape, vocab=args.vocab, device=device).train()
    teacher = build_model(teacher_shape, vocab=args.vocab, device=device).eval().requires_grad_(False)
    optimizer = torch.optim.AdamW(student.parameters(), lr=1e-5, fused=device == "cuda")
    input_ids, labels = make_batch(batch=args.batch, seq=args.seq, vocab=args.vocab, device=device)
    millions = lambda m: sum(p.numel() for p in m.parameters()) / 1e6  # noqa: E731
    print(
        f"device {torch.cuda.get_device_name() if device == 'cuda' else 'cpu (dry run)'}; "
        f"student {millions(student):.0f}M, "
        f"teacher {millions(teacher):.0f}M params, bf16; {args.batch} x {args.seq} tokens, "
        f"vocab {args.vocab}, chunk {args.chunk_size}"
    )

    # The same untrained student for both: their values must agree (TRL works in bf16, we in float32).
    with torch.no_grad():
        for method in [m for m in args.methods if m in TRL_BETA and "trl" in implementations]:
            values = [
                loss_step(
                    impl,
                    method,
                    student=student,
                    teacher=teacher,
                    input_ids=input_ids,
                    labels=labels,
                    chunk_size=args.chunk_size,
                ).item()
                for impl in implementations
            ]
            print(f"value check {method:<12} ours {values[0]:.6f}  trl {values[1]:.6f}")

    results = []
    for method in args.methods:
        for impl in implementations:
            if impl == "trl" and method not in TRL_BETA:
                continue
            result = measure(
                impl,
                method,
                student=student,
                teacher=teacher,
                optimizer=optimizer,
                input_ids=input_ids,
                labels=labels,
                args=args,
            )
            results.append(result)
            if "error" in result:
                print(f"{method:<16} {impl:<5} {result['error']}", flush=True)
                continue
            peak = f"{result['peak_gib']:.2f}" if result["peak_gib"] is not None else "-"
            print(
                f"{method:<16} {impl:<5} {result['tokens_per_s']:>10.0f} tokens/s  peak {peak:>6} GiB  "
                f"loss after {args.warmup + args.steps} steps {result['loss']:.5f}",
                flush=True,
            )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
