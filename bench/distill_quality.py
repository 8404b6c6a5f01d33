"""Which distillation method makes the best small student from a fixed budget of teacher traces?

A CPU experiment shaped like a real workflow step: extract fields from support tickets as JSON.
1. Train a teacher (Qwen2-shaped, from scratch) on plenty of ground-truth examples.
2. Let it answer a fixed budget of new tickets (the "traces"; 500 by default).
3. Distil a student >= 8x smaller from those traces with each method (sft = sequence KD on the
   teacher's text; forward/reverse/adaptive KL and JSD = logit KD from the offline top-32 store;
   the full run adds forward KL from the online teacher), and train one student on the same
   number of ground-truth labels without a teacher. Same init, steps and learning rate for all.
4. Score every student on held-out tickets: exact match and field accuracy against the truth,
   agreement with the teacher (exact match with its answer), teacher-forced next-token agreement,
   training time.

    python bench/distill_quality.py            # full run (not yet measured; estimated ~30 min CPU)
    python bench/distill_quality.py --quick    # fewer steps and tickets, no online run (14 min CPU measured)
"""
from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

from orchestra.distill.config import LoraConfig, TrainConfig
from orchestra.distill.dataset import Example, collate, prompt_key, tokenize
from orchestra.distill.evaluate import field_accuracy, greedy_generate, parse_json
from orchestra.distill.losses import LossConfig
from orchestra.distill.teacher import OnlineTeacher, final_hidden, score_teacher, target_positions
from orchestra.distill.train import Progress, load_student, train

CHAT_TEMPLATE = ("{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}"
                 "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
PRODUCTS = ["laptop", "phone", "router", "headphones", "camera", "monitor", "keyboard", "tablet"]
NAMES = ["Anna", "Ben", "Chloe", "David", "Emma", "Farid", "Grace", "Hugo", "Ines", "Jonas"]
PROBLEMS = {
    "refund": ["I want my money back for the {p} from order {o}", "please refund order {o}, the {p} is useless"],
    "shipping": ["my {p} from order {o} has not arrived yet", "where is order {o}? the {p} was due last week"],
    "billing": ["I was charged twice for the {p} in order {o}", "the invoice for order {o} lists the {p} at the wrong price"],
    "account": ["I cannot log in to see order {o} for my {p}", "please reset my password, I need order {o} for the {p}"],
}
URGENCY = {"high": ["This is urgent!", "Please fix it asap.", "I need this immediately."],
           "low": ["No rush.", "Whenever you can.", "It can wait."], "medium": ["", "Thanks.", "Please help."]}


def ticket(rng: random.Random) -> tuple[str, dict]:
    category, priority, product = rng.choice(list(PROBLEMS)), rng.choice(list(URGENCY)), rng.choice(PRODUCTS)
    order = str(rng.randint(1000, 9999))
    text = (f"{rng.choice(['Hi,', 'Hello,', 'Dear support,'])} "
            f"{rng.choice(PROBLEMS[category]).format(p=product, o=order)}. "
            f"{rng.choice(URGENCY[priority])} {rng.choice(NAMES)}").replace("  ", " ")
    return text, {"category": category, "priority": priority, "order": order, "product": product}


def messages(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]  # the instruction is implied: short sequences, fast CPU steps


def build_tokenizer(folder: Path, rng: random.Random) -> PreTrainedTokenizerFast:
    corpus = [t + " " + json.dumps(f) for t, f in (ticket(rng) for _ in range(3000))]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=600, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                                                         initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(folder)
    return tokenizer


def build_model(folder: Path, tokenizer, *, hidden: int, layers: int, heads: int, kv_heads: int, mlp: int) -> int:
    config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=mlp, num_hidden_layers=layers,
                         num_attention_heads=heads, num_key_value_heads=kv_heads, max_position_embeddings=256,
                         tie_word_embeddings=True, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(config)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return sum(p.numel() for p in model.parameters())


def fit(model, tokenizer, examples: list[Example], val: list[Example], *, steps: int, lr: float, loss: LossConfig,
        teacher, output_dir: Path) -> float:
    items = [tokenize(e, tokenizer, max_seq_len=128) for e in examples]
    val_items = [tokenize(e, tokenizer, max_seq_len=128) for e in val]
    config = TrainConfig(max_steps=steps, lr=lr, batch_size=16, warmup_ratio=0.05, eval_every=max(steps // 4, 1),
                         early_stopping_patience=None, checkpoint_every=None, max_seq_len=128)
    began = time.perf_counter()

    def show(progress: Progress) -> None:
        if progress.val_loss is not None:
            print(f"    step {progress.step}/{progress.max_steps} loss {progress.loss:.4f} "
                  f"val {progress.val_loss:.4f} ({progress.tokens_per_s:.0f} tokens/s)", flush=True)

    train(model=model, pad_token_id=tokenizer.pad_token_id, train_items=items, val_items=val_items, config=config,
          loss_config=loss, teacher=teacher, output_dir=output_dir, on_progress=show)
    return time.perf_counter() - began


@torch.no_grad()
def next_token_agreement(model, teacher, tokenizer, examples: list[Example]) -> float:
    """Teacher-forced: share of the teacher's reply tokens where both models' top-1 next token agree
    (a graded signal even when whole answers rarely match)."""
    agree = total = 0
    for start in range(0, len(examples), 64):
        items = [tokenize(e, tokenizer, max_seq_len=128) for e in examples[start:start + 64]]
        batch = collate(items, pad_token_id=tokenizer.pad_token_id)
        selected, _ = target_positions(batch["labels"])
        picks = [m.get_output_embeddings()(final_hidden(m, batch)[selected]).argmax(-1) for m in (model, teacher)]
        agree, total = agree + int((picks[0] == picks[1]).sum()), total + picks[0].numel()
    return agree / total


def score(model, tokenizer, test: list[tuple[str, dict]], teacher_answers: list[str]) -> dict[str, float]:
    answers = [g.text for g in greedy_generate(model, tokenizer, [messages(t) for t, _ in test],
                                               max_new_tokens=48, batch_size=64)]
    truth = [json.dumps(f) for _, f in test]
    return {"exact_match": sum(a == t for a, t in zip(answers, truth)) / len(test),
            "field_accuracy": sum(field_accuracy(parse_json(a), f) for a, (_, f) in zip(answers, test)) / len(test),
            "agreement": sum(a == t for a, t in zip(answers, teacher_answers)) / len(test)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller teacher run, budget and test set")
    parser.add_argument("--traces", type=int, default=500, help="teacher traces each student learns from")
    args = parser.parse_args()
    torch.set_num_threads(max(torch.get_num_threads(), 1))
    teacher_steps, student_steps, test_size = (500, 600, 100) if args.quick else (1000, 1000, 300)
    rng = random.Random(0)
    root = Path(tempfile.mkdtemp(prefix="distill_quality_"))
    tokenizer = build_tokenizer(root / "tokenizer", rng)
    teacher_params = build_model(root / "teacher", tokenizer, hidden=64, layers=3, heads=4, kv_heads=2, mlp=256)
    student_params = build_model(root / "student", tokenizer, hidden=24, layers=2, heads=2, kv_heads=1, mlp=64)

    def golden(n: int) -> list[tuple[str, dict]]:
        return [ticket(rng) for _ in range(n)]

    def example(text: str, output: str) -> Example:
        return Example(messages=messages(text), teacher_output=output, key=prompt_key(messages(text)))

    print(f"teacher {teacher_params / 1e3:.0f}k params, student {student_params / 1e3:.0f}k; training the teacher", flush=True)
    # 1. the teacher, from scratch, on plenty of ground truth
    began = time.perf_counter()
    teacher = AutoModelForCausalLM.from_pretrained(root / "teacher")
    fit(teacher, tokenizer, [example(t, json.dumps(f)) for t, f in golden(16 * teacher_steps // 4)],
        [example(t, json.dumps(f)) for t, f in golden(64)], steps=teacher_steps, lr=5e-3,
        loss=LossConfig(method="ce"), teacher=None, output_dir=root / "teacher_run")
    teacher_time = time.perf_counter() - began

    # 2. the traces: the teacher's answers to new tickets
    traces, test, val = golden(args.traces), golden(test_size), golden(64)
    answer = lambda tickets: [g.text for g in greedy_generate(teacher, tokenizer, [messages(t) for t, _ in tickets],  # noqa: E731
                                                              max_new_tokens=48, batch_size=64)]
    trace_examples = [example(t, a) for (t, _), a in zip(traces, answer(traces))]
    val_examples = [example(t, a) for (t, _), a in zip(val, answer(val))]
    teacher_on_test = answer(test)
    test_examples = [example(t, a) for (t, _), a in zip(test, teacher_on_test)]
    rows = [("teacher (trained on ground truth)", teacher_params, score(teacher, tokenizer, test, teacher_on_test),
             teacher_time)]
    print(f"  teacher: {rows[0][2]}", flush=True)

    # 3. students, all from the same init, same steps
    store = score_teacher(model=teacher, tokenizer=tokenizer, examples=trace_examples + val_examples,
                          folder=root / "topk", top_k=32, max_seq_len=128)
    # logit methods read the offline store (fast on a CPU); the full run adds one online teacher
    runs = [("sft on teacher traces", "ce", None, trace_examples),
            *[(f"{m} (offline top-32)", m, store, trace_examples) for m in ("forward_kl", "reverse_kl", "adaptive_kl", "jsd")],
            *([] if args.quick else [("forward_kl (online)", "forward_kl", OnlineTeacher(teacher), trace_examples)]),
            ("sft on ground truth, no teacher", "ce", None, [example(t, json.dumps(f)) for t, f in traces])]
    for name, method, signal, examples in runs:
        torch.manual_seed(0)
        student = load_student(str(root / "student"), lora=LoraConfig(enabled=False))
        seconds = fit(student, tokenizer, examples, val_examples, steps=student_steps, lr=1e-2,
                      loss=LossConfig(method=method), teacher=signal, output_dir=root / name.replace(" ", "_"))
        metrics = score(student, tokenizer, test, teacher_on_test)
        metrics["token_agreement"] = next_token_agreement(student, teacher, tokenizer, test_examples)
        rows.append((name, student_params, metrics, seconds))
        print(f"  {name}: {rows[-1][2]}", flush=True)

    print(f"\nticket -> JSON extraction; {args.traces} traces, {test_size} held-out tickets, student "
          f"{student_params / 1e3:.0f}k params vs teacher {teacher_params / 1e3:.0f}k ({teacher_params / student_params:.1f}x "
          f"smaller), {student_steps} steps x 16; teacher store {store.bytes_per_token:.0f} B/token at k=32\n")
    print(f"| {'model':<34} | exact match | field acc. | agrees w/ teacher | next-token agreement | train s |")
    print(f"|{'-' * 36}|-------------|------------|-------------------|----------------------|---------|")
    for name, _, metrics, seconds in rows:
        tokens = f"{metrics['token_agreement']:.1%}" if "token_agreement" in metrics else "-"
        print(f"| {name:<34} | {metrics['exact_match']:>11.1%} | {metrics['field_accuracy']:>10.1%} "
              f"| {metrics['agreement']:>17.1%} | {tokens:>20} | {seconds:>7.0f} |")


if __name__ == "__main__":
    main()
