"""How small can the offline top-k store be without costing the student quality?

One run: the bench teacher of bench/distill_quality.py (trained once per --workdir, shared) scores
the same traces into both store formats; students learn from each with the same init, steps and
method; every student is scored against the truth and the teacher. Sizes are measured from the
files, and, for a vocabulary of Qwen's size (152,064) at k = 50 where DistillKit publishes 114
B/token, from the encoder on synthetic rows (random ids: gap coding gains nothing from any
clustering of the top ids, so this is the worst case for it).

    python bench/distill_store.py --quick [--workdir DIR]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from distill_quality import prepare, print_table  # noqa: E402

from orchestra.distill.store_codec import encode_block  # noqa: E402
from orchestra.distill.teacher import score_teacher  # noqa: E402

DISTILLKIT_BYTES_PER_TOKEN_AT_50 = 114  # arcee-ai/DistillKit's compressed top-k, as published


def synthetic_bytes_per_token(vocab: int, k: int, tokens: int = 256, seed: int = 0) -> tuple[float, float]:
    """(compact, float16) bytes per token for top-k rows of a random teacher over `vocab` tokens."""
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(tokens, vocab, generator=generator) * 3
    top = torch.log_softmax(logits, dim=-1).topk(k)
    block, _ = encode_block(top.indices.numpy(), top.values.numpy())
    index_bytes = 2 if vocab < 2**16 else 4
    return len(block) / tokens, k * (index_bytes + 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the quick teacher and student budgets")
    parser.add_argument("--traces", type=int, default=500)
    parser.add_argument("--workdir", type=Path, default=None, help="a folder shared with distill_quality.py")
    parser.add_argument("--methods", nargs="+", default=["forward_kl", "jsd"])
    parser.add_argument("--student-steps", type=int, default=None, help="override the mode's student steps")
    parser.add_argument("--teacher-steps", type=int, default=None, help="override the mode's teacher steps")
    parser.add_argument("--k", type=int, default=50, help="top-k kept per token (DistillKit publishes k = 50)")
    parser.add_argument("--seeds", type=int, default=1, help="students per row, each with its own data order")
    parser.add_argument("--sizes-only", action="store_true", help="only the sizes from synthetic rows, no training")
    args = parser.parse_args()
    if args.sizes_only:
        print_sizes([(600, 32), (600, 50), (152064, 32), (152064, 50), (152064, 64)])
        return
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="distill_store_"))
    setup = prepare(
        quick=args.quick, workdir=workdir, student_steps=args.student_steps, teacher_steps=args.teacher_steps
    )
    traces, _ = setup.traces(args.traces)
    stores = {}
    for name, compact in (("float16", False), ("compact", True)):
        stores[name] = score_teacher(
            model=setup.teacher,
            tokenizer=setup.tokenizer,
            examples=traces + setup.val_examples,
            folder=setup.root / f"store_{name}",
            top_k=args.k,
            max_seq_len=128,
            compact=compact,
        )
    sizes = {name: store.bytes_per_token for name, store in stores.items()}
    kl, worst = rounding_kl(stores["float16"], stores["compact"])
    print(
        f"\nwhat the compact store's rounding changes in the teacher's distribution (k={args.k} + the rest bucket), "
        f"KL(float16 || compact) per reply token: mean {kl:.5f} nats, max {worst:.4f}"
    )
    rows = []
    for method in args.methods:
        for name, store in stores.items():
            runs = [
                setup.student_row(
                    f"{method} from the {name} store, seed {seed}",
                    method=method,
                    signal=store,
                    examples=traces,
                    seed=seed,
                )
                for seed in range(args.seeds)
            ]
            rows.append(mean_row(f"{method} from the {name} store ({sizes[name]:.1f} B/token)", runs))
    print_table(
        f"students from the two store formats: {args.traces} traces, k={args.k}, vocabulary "
        f"{len(setup.tokenizer)}, {setup.student_steps} steps x 16, {len(setup.test)} held-out tickets, "
        f"mean of {args.seeds} data orders (each metric's spread across them in the log above)",
        rows,
    )
    for name, metrics, _ in rows:
        print(f"  {name}: " + ", ".join(f"{key} sd {value:.3f}" for key, value in metrics.pop("_sd").items()))

    print(
        f"\n| {len(setup.tokenizer)} (this teacher, measured on its store) | {args.k} | {sizes['float16']:.1f} B/token "
        f"| {sizes['compact']:.1f} B/token | - |"
    )
    print_sizes([(len(setup.tokenizer), 50), (152064, 32), (152064, 50), (152064, 64)])


def rounding_kl(exact, compact) -> tuple[float, float]:
    """Mean and max over reply tokens of KL(exact || compact), each row's k kept tokens plus the rest
    bucket (the mass outside them), as the loss sees the teacher."""
    divergences = []
    for key in exact.meta["rows"]:
        (ids_e, lp_e), (ids_c, lp_c) = exact.rows(key), compact.rows(key)
        for row in range(ids_e.shape[0]):
            p = dict(zip(ids_e[row].tolist(), lp_e[row].double().exp().tolist()))
            q = dict(zip(ids_c[row].tolist(), lp_c[row].double().exp().tolist()))
            p_rest, q_rest = max(1 - sum(p.values()), 1e-12), max(1 - sum(q.values()), 1e-12)
            kl = sum(pv * math.log(pv / max(q.get(i, 1e-12), 1e-12)) for i, pv in p.items() if pv > 0)
            divergences.append(kl + p_rest * math.log(p_rest / q_rest))
    return sum(divergences) / len(divergences), max(divergences)


def mean_row(name: str, runs: list[tuple]) -> tuple:
    """One table row from several students: each metric's mean (and its spread, under `_sd`)."""
    keys = runs[0][1].keys()
    values = {key: [metrics[key] for _, metrics, _ in runs] for key in keys}
    means = {key: statistics.fmean(v) for key, v in values.items()}
    means["_sd"] = {key: statistics.pstdev(v) for key, v in values.items()}
    return name, means, statistics.fmean(seconds for _, _, seconds in runs)


def print_sizes(cases: list[tuple[int, int]]) -> None:
    print("\n| vocabulary | k | float16 (format 1) | compact (format 2) | DistillKit (published) |")
    print("|---|---|---|---|---|")
    for vocab, k in cases:
        compact, exact = synthetic_bytes_per_token(vocab, k)
        published = f"{DISTILLKIT_BYTES_PER_TOKEN_AT_50} B/token" if (vocab, k) == (152064, 50) else "-"
        print(f"| {vocab} (synthetic rows) | {k} | {exact:.0f} B/token | {compact:.1f} B/token | {published} |")


if __name__ == "__main__":
    main()
