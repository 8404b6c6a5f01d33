"""KD loss benchmark: naive full-vocabulary vs chunked (orchestra) vs TRL, forward + backward.

For every (vocabulary, tokens, method, implementation) case this prints the time of one
forward + backward pass from the final hidden states (student hidden [N, H] and lm_head [V, H],
teacher hidden [N, H_t] and lm_head [V, H_t]; the teacher's logits are made under no_grad inside
the timed region for every implementation), the peak extra memory of that pass, and the loss.

    naive    logits = hidden @ W.T for student and teacher, then `kd_loss_reference`
    chunked  `kd_loss` (logits made and differentiated chunk by chunk, never [N, V] at once)
    trl      the same full logits, then TRL's `GKDTrainer.generalized_jsd_loss` (beta 0 = forward
             KL, beta 1 = reverse KL, else JSD); methods it has no form for print "-"

Memory, honestly: each case runs in a fresh Python process. On the CPU the process resets the
kernel's peak-RSS counter (`echo 5 > /proc/self/clear_refs`, Linux >= 4.0) after building its
inputs, runs one forward + backward, and reports VmHWM - VmRSS-before from /proc/self/status:
every byte torch allocated during the pass and touched (large tensors are mmapped and returned to
the OS when freed, so the high-water mark is the live peak), gradients of W and hidden included.
On CUDA it reports torch.cuda.max_memory_allocated() minus memory_allocated() before the pass.
Memory is that of the first pass; time is the median over --repeats passes (the first included:
on the CPU large tensors are fresh pages in every pass anyway).

The value check compares chunked and TRL against naive in the same precision (float32) and
prints the largest relative difference; it must stay under 1e-5.

    .venv/bin/python bench/kd_loss.py                       # the CPU default, a few minutes
    .venv/bin/python bench/kd_loss.py --device cuda --vocab 32000 151936 --tokens 4096 --repeats 5

The CPU default runs 152k vocabulary at 1,024 tokens (not 4,096) with a 256-token chunk, and only
the three losses TRL has there, because the naive 152k x 4,096 case needs about 20 GiB (4.8 MiB
per token, measured) on a 23 GiB, 2-core machine shared with others; tokens / chunk is 4 in both
rows. All of it takes several minutes on an idle machine, far longer on a loaded one.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orchestra.distill.losses import DenseTeacher, LossConfig, kd_loss, kd_loss_reference  # noqa: E402

ALL_METHODS = ["forward_kl", "reverse_kl", "adaptive_kl", "jsd", "skew_kl", "skew_reverse_kl"]
TRL_BETA = {"forward_kl": 0.0, "reverse_kl": 1.0, "jsd": 0.5}  # methods TRL's loss expresses
IMPLEMENTATIONS = ["naive", "chunked", "trl"]


def trl_available() -> bool:
    try:
        import trl  # noqa: F401
    except ImportError:
        return False
    return True


# --- one case, in its own process -----------------------------------------------------------------


def make_inputs(*, vocab: int, tokens: int, hidden: int, teacher_hidden: int, device: str) -> dict:
    """Qwen2-0.5B-like shapes, initialised like a trained lm_head (std 0.02), 10% positions ignored."""
    g = torch.Generator(device="cpu").manual_seed(0)
    student_hidden = torch.randn(tokens, hidden, generator=g).to(device).requires_grad_()
    student_weight = (torch.randn(vocab, hidden, generator=g) * 0.02).to(device).requires_grad_()
    teacher = DenseTeacher(
        hidden=torch.randn(tokens, teacher_hidden, generator=g).to(device),
        weight=(torch.randn(vocab, teacher_hidden, generator=g) * 0.02).to(device),
    )
    labels = torch.randint(0, vocab, (tokens,), generator=g)
    labels[torch.rand(tokens, generator=g) < 0.1] = -100
    return {"hidden": student_hidden, "weight": student_weight, "teacher": teacher, "labels": labels.to(device)}


def loss_of(impl: str, method: str, chunk_size: int, inputs: dict) -> torch.Tensor:
    hidden, weight, teacher, labels = inputs["hidden"], inputs["weight"], inputs["teacher"], inputs["labels"]
    config = LossConfig(method=method, chunk_size=chunk_size)
    if impl == "chunked":
        return kd_loss(hidden, weight, labels, teacher, config)
    student_logits = hidden @ weight.T
    with torch.no_grad():
        teacher_logits = teacher.hidden @ teacher.weight.T
    if impl == "naive":
        return kd_loss_reference(student_logits, labels, teacher_logits=teacher_logits, config=config)
    from trl.experimental.gkd import GKDTrainer

    return GKDTrainer.generalized_jsd_loss(
        student_logits[None], teacher_logits[None], labels=labels[None], beta=TRL_BETA[method], temperature=1.0
    )


def _proc_status_mib(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key):
            return int(line.split()[1]) / 1024
    raise KeyError(key)


def run_case(case: dict) -> dict:
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    device = case["device"]
    inputs = make_inputs(
        vocab=case["vocab"],
        tokens=case["tokens"],
        hidden=case["hidden"],
        teacher_hidden=case["teacher_hidden"],
        device=device,
    )
    if case["impl"] == "trl":
        from trl.experimental.gkd import GKDTrainer  # noqa: F401  (import before measuring)

    def step() -> float:
        inputs["hidden"].grad = inputs["weight"].grad = None
        loss = loss_of(case["impl"], case["method"], case["chunk_size"], inputs)
        loss.backward()
        return loss.item()

    seconds, value, peak_mib = [], 0.0, 0.0
    for repeat in range(case["repeats"]):
        if device == "cuda":
            torch.cuda.synchronize()
            before = torch.cuda.memory_allocated()
            torch.cuda.reset_peak_memory_stats()
        else:
            before = _proc_status_mib("VmRSS")
            Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        start = time.perf_counter()
        value = step()  # .item() synchronises
        seconds.append(time.perf_counter() - start)
        if repeat == 0:  # the first pass is the measured one: nothing is cached yet
            peak_mib = (
                (torch.cuda.max_memory_allocated() - before) / 2**20
                if device == "cuda"
                else _proc_status_mib("VmHWM") - before
            )
    return {**case, "value": value, "peak_mib": peak_mib, "seconds": statistics.median(seconds)}


# --- the sweep -------------------------------------------------------------------------------------


def run_in_fresh_process(case: dict) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--one-case", json.dumps(case)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        return {**case, "error": (done.stderr.strip().splitlines() or ["killed"])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def print_table(results: list[dict]) -> None:
    header = (
        f"{'vocab':>7} {'tokens':>6} {'chunk':>5} {'method':<16}"
        f" {'naive s':>8} {'chunked s':>9} {'trl s':>7}"
        f" {'naive MiB':>9} {'chunked MiB':>11} {'trl MiB':>8} {'mem naive/chunked':>17} {'max rel diff':>12}"
    )
    print(header)
    print("-" * len(header))
    rows: dict[tuple, dict] = {}
    for r in results:
        rows.setdefault((r["vocab"], r["tokens"], r["chunk_size"], r["method"]), {})[r["impl"]] = r
    worst = 0.0
    for (vocab, tokens, chunk, method), by_impl in rows.items():

        def cell(impl: str, key: str, fmt: str) -> str:
            r = by_impl.get(impl)
            if r is None:
                return "-"
            return "failed" if "error" in r else format(r[key], fmt)

        naive, chunked = by_impl.get("naive"), by_impl.get("chunked")
        ratio, diff = "-", "-"
        if naive and chunked and "error" not in naive and "error" not in chunked:
            ratio = f"{naive['peak_mib'] / chunked['peak_mib']:.1f}x"
            diffs = [
                abs(r["value"] - naive["value"]) / abs(naive["value"])
                for r in (chunked, by_impl.get("trl"))
                if r and "error" not in r
            ]
            worst = max(worst, *diffs)
            diff = f"{max(diffs):.1e}"
        print(
            f"{vocab:>7} {tokens:>6} {chunk:>5} {method:<16}"
            f" {cell('naive', 'seconds', '.2f'):>8} {cell('chunked', 'seconds', '.2f'):>9}"
            f" {cell('trl', 'seconds', '.2f'):>7}"
            f" {cell('naive', 'peak_mib', '.0f'):>9} {cell('chunked', 'peak_mib', '.0f'):>11}"
            f" {cell('trl', 'peak_mib', '.0f'):>8}"
            f" {ratio:>17} {diff:>12}"
        )
    for r in results:
        if "error" in r:
            print(f"failed: {r['impl']} {r['method']} vocab {r['vocab']}: {r['error']}")
    print(f"\nlargest relative difference from naive: {worst:.2e} ({'within' if worst <= 1e-5 else 'OVER'} 1e-5)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--one-case", help=argparse.SUPPRESS)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--vocab", type=int, nargs="+", help="default: 32000 151936")
    parser.add_argument("--tokens", type=int, nargs="+", help="one per vocab; default: 4096 1024 on cpu, 4096 on cuda")
    parser.add_argument("--chunk-size", type=int, nargs="+", help="one per vocab; default: tokens / 4")
    parser.add_argument("--hidden", type=int, default=896)
    parser.add_argument("--teacher-hidden", type=int, default=896)
    parser.add_argument("--methods", nargs="+", choices=ALL_METHODS, help="default: all at 32k, TRL's three at 152k")
    parser.add_argument(
        "--repeats", type=int, nargs="+", help="passes per case, one per vocab; default: 1 on cpu, 5 on cuda"
    )
    args = parser.parse_args()
    if args.one_case:
        print(json.dumps(run_case(json.loads(args.one_case))))
        return

    cpu = args.device == "cpu"
    vocabs = args.vocab or [32000, 151936]
    tokens = args.tokens or ([4096, 1024] if cpu else [4096])
    repeats = args.repeats or ([1] if cpu else [5])
    implementations = IMPLEMENTATIONS if trl_available() else IMPLEMENTATIONS[:2]
    if not trl_available():
        print("trl is not installed: its columns are unavailable (pip install trl)\n")
    results = []
    for i, vocab in enumerate(vocabs):
        n = tokens[min(i, len(tokens) - 1)]
        chunk = args.chunk_size[min(i, len(args.chunk_size) - 1)] if args.chunk_size else max(1, n // 4)
        methods = args.methods or (ALL_METHODS if vocab < 100_000 or not cpu else list(TRL_BETA))
        for method in methods:
            for impl in implementations:
                if impl == "trl" and method not in TRL_BETA:
                    continue
                case = {
                    "device": args.device,
                    "vocab": vocab,
                    "tokens": n,
                    "chunk_size": chunk,
                    "method": method,
                    "impl": impl,
                    "hidden": args.hidden,
                    "teacher_hidden": args.teacher_hidden,
                    "repeats": repeats[min(i, len(repeats) - 1)],
                }
                results.append(run_in_fresh_process(case))
                print(".", end="", flush=True, file=sys.stderr)
    print(file=sys.stderr)
    print(
        f"device {args.device}, {torch.get_num_threads()} threads, hidden {args.hidden}, teacher hidden "
        f"{args.teacher_hidden}, float32, forward + backward; seconds = median, MiB = peak extra memory\n"
    )
    print_table(results)


if __name__ == "__main__":
    main()
