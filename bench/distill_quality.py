"""Which distillation method makes the best small student from a fixed budget of teacher traces?

A CPU experiment shaped like a real workflow step: extract fields from support tickets as JSON.
1. Train a teacher (Qwen2-shaped, from scratch) on plenty of ground-truth examples.
2. Let it answer a fixed budget of new tickets (the "traces"): 500, and the few-traces regime, 100.
3. Distil a student >= 8x smaller from those traces with each method (sft = sequence KD on the
   teacher's text; forward KL and JSD from the offline top-32 store in the compact format;
   JSD with ce_weight 0.2; on-policy JSD (GKD, lmbda 0.5) from the online teacher), and train one
   student on the same tickets' ground truth without a teacher. Same init, steps and learning rate.
4. Score every student on held-out tickets: against the truth (exact match, field accuracy, valid
   JSON) next to agreement with the teacher (whole answers, fields), teacher-forced next-token
   agreement, training time.

    python bench/distill_quality.py --quick [--workdir DIR]   # 500-step teacher, 400 student steps, 100 tickets
    python bench/distill_quality.py                          # 1,000-step teacher and students, 300 tickets

--workdir keeps the trained teacher and reuses it (bench/distill_store.py takes the same folder).
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from dataclasses import dataclass
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

CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
PRODUCTS = ["laptop", "phone", "router", "headphones", "camera", "monitor", "keyboard", "tablet"]
NAMES = ["Anna", "Ben", "Chloe", "David", "Emma", "Farid", "Grace", "Hugo", "Ines", "Jonas"]
PROBLEMS = {
    "refund": ["I want my money back for the {p} from order {o}", "please refund order {o}, the {p} is useless"],
    "shipping": ["my {p} from order {o} has not arrived yet", "where is order {o}? the {p} was due last week"],
    "billing": [
        "I was charged twice for the {p} in order {o}",
        "the invoice for order {o} lists the {p} at the wrong price",
    ],
    "account": [
        "I cannot log in to see order {o} for my {p}",
        "please reset my password, I need order {o} for the {p}",
    ],
}
URGENCY = {
    "high": ["This is urgent!", "Please fix it asap.", "I need this immediately."],
    "low": ["No rush.", "Whenever you can.", "It can wait."],
    "medium": ["", "Thanks.", "Please help."],
}


def ticket(rng: random.Random) -> tuple[str, dict]:
    category, priority, product = rng.choice(list(PROBLEMS)), rng.choice(list(URGENCY)), rng.choice(PRODUCTS)
    order = str(rng.randint(1000, 9999))
    text = (
        f"{rng.choice(['Hi,', 'Hello,', 'Dear support,'])} "
        f"{rng.choice(PROBLEMS[category]).format(p=product, o=order)}. "
        f"{rng.choice(URGENCY[priority])} {rng.choice(NAMES)}"
    ).replace("  ", " ")
    return text, {"category": category, "priority": priority, "order": order, "product": product}


def messages(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]  # the instruction is implied: short sequences, fast CPU steps


def build_tokenizer(folder: Path, rng: random.Random) -> PreTrainedTokenizerFast:
    corpus = [t + " " + json.dumps(f) for t, f in (ticket(rng) for _ in range(3000))]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(
        corpus,
        trainers.BpeTrainer(
            vocab_size=600,
            special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(folder)
    return tokenizer


def build_model(folder: Path, tokenizer, *, hidden: int, layers: int, heads: int, kv_heads: int, mlp: int) -> int:
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=mlp,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=256,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(config)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return sum(p.numel() for p in model.parameters())


def fit(
    model,
    tokenizer,
    examples: list[Example],
    val: list[Example],
    *,
    steps: int,
    lr: float,
    loss: LossConfig,
    teacher,
    output_dir: Path,
    **train_options,
) -> float:
    items = [tokenize(e, tokenizer, max_seq_len=128) for e in examples]
    val_items = [tokenize(e, tokenizer, max_seq_len=128) for e in val]
    config = TrainConfig(
        max_steps=steps,
        lr=lr,
        batch_size=16,
        warmup_ratio=0.05,
        eval_every=max(steps // 4, 1),
        early_stopping_patience=None,
        checkpoint_every=None,
        max_seq_len=128,
        **train_options,
    )
    began = time.perf_counter()

    def show(progress: Progress) -> None:
        if progress.val_loss is not None:
            print(
                f"    step {progress.step}/{progress.max_steps} loss {progress.loss:.4f} "
                f"val {progress.val_loss:.4f} ({progress.tokens_per_s:.0f} tokens/s)",
                flush=True,
            )

    train(
        model=model,
        pad_token_id=tokenizer.pad_token_id,
        train_items=items,
        val_items=val_items,
        config=config,
        loss_config=loss,
        teacher=teacher,
        output_dir=output_dir,
        on_progress=show,
        eos_token_id=tokenizer.eos_token_id,
    )
    return time.perf_counter() - began


@torch.no_grad()
def next_token_agreement(model, teacher, tokenizer, examples: list[Example]) -> float:
    """Teacher-forced: share of the teacher's reply tokens where both models' top-1 next token agree
    (a graded signal even when whole answers rarely match)."""
    agree = total = 0
    for start in range(0, len(examples), 64):
        items = [tokenize(e, tokenizer, max_seq_len=128) for e in examples[start : start + 64]]
        batch = collate(items, pad_token_id=tokenizer.pad_token_id)
        selected, _ = target_positions(batch["labels"])
        picks = [m.get_output_embeddings()(final_hidden(m, batch)[selected]).argmax(-1) for m in (model, teacher)]
        agree, total = agree + int((picks[0] == picks[1]).sum()), total + picks[0].numel()
    return agree / total


def score(model, tokenizer, test: list[tuple[str, dict]], teacher_answers: list[str]) -> dict[str, float]:
    """Correctness against the truth next to agreement with the teacher, on the same answers."""
    answers = [
        g.text
        for g in greedy_generate(model, tokenizer, [messages(t) for t, _ in test], max_new_tokens=48, batch_size=64)
    ]
    truth = [json.dumps(f) for _, f in test]
    return {
        "exact_match": sum(a == t for a, t in zip(answers, truth)) / len(test),
        "field_accuracy": sum(field_accuracy(parse_json(a), f) for a, (_, f) in zip(answers, test)) / len(test),
        "json_valid": sum(parse_json(a) is not None for a in answers) / len(test),
        "agreement": sum(a == t for a, t in zip(answers, teacher_answers)) / len(test),
        "field_agreement": sum(
            field_accuracy(parse_json(a), parse_json(t) or {"_": None}) for a, t in zip(answers, teacher_answers)
        )
        / len(test),
    }


@dataclass
class Setup:
    """A trained teacher, its traces and the held-out tickets, shared by every student row."""

    root: Path
    tokenizer: PreTrainedTokenizerFast
    teacher: Qwen2ForCausalLM
    teacher_params: int
    student_params: int
    teacher_seconds: float
    test: list[tuple[str, dict]]
    teacher_on_test: list[str]
    test_examples: list[Example]
    val_examples: list[Example]
    student_steps: int

    def answer(self, tickets: list[tuple[str, dict]]) -> list[str]:
        return [
            g.text
            for g in greedy_generate(
                self.teacher, self.tokenizer, [messages(t) for t, _ in tickets], max_new_tokens=48, batch_size=64
            )
        ]

    def traces(self, n: int) -> tuple[list[Example], list[Example]]:
        """n new tickets (the same n for every caller) with the teacher's answers, and their ground truth."""
        tickets = [ticket(random.Random(f"traces-{i}")) for i in range(n)]
        return (
            [example(t, a) for (t, _), a in zip(tickets, self.answer(tickets))],
            [example(t, json.dumps(f)) for t, f in tickets],
        )

    def student_row(self, name: str, *, method: str, signal, examples: list[Example], **options) -> tuple:
        loss = LossConfig(method=method, **options.pop("loss", {}))
        torch.manual_seed(0)
        student = load_student(str(self.root / "student"), lora=LoraConfig(enabled=False))
        seconds = fit(
            student,
            self.tokenizer,
            examples,
            self.val_examples,
            steps=self.student_steps,
            lr=1e-2,
            loss=loss,
            teacher=signal,
            output_dir=self.root / name.replace(" ", "_"),
            **options,
        )
        metrics = score(student, self.tokenizer, self.test, self.teacher_on_test)
        metrics["token_agreement"] = next_token_agreement(student, self.teacher, self.tokenizer, self.test_examples)
        print(f"  {name}: {metrics}", flush=True)
        return name, metrics, seconds


def example(text: str, output: str) -> Example:
    return Example(messages=messages(text), teacher_output=output, key=prompt_key(messages(text)))


def prepare(*, quick: bool, workdir: Path, student_steps: int | None = None, teacher_steps: int | None = None) -> Setup:
    """The tokenizer, the teacher (trained once per workdir and reused: the store bench shares it),
    the student's init and the held-out tickets."""
    default_teacher_steps, default_steps, test_size = (500, 400, 100) if quick else (1000, 1000, 300)
    student_steps, teacher_steps = student_steps or default_steps, teacher_steps or default_teacher_steps
    rng = random.Random(0)
    workdir.mkdir(parents=True, exist_ok=True)
    trained = workdir / f"teacher_trained_{teacher_steps}"
    if not (trained / "config.json").exists():
        tokenizer = build_tokenizer(workdir / "tokenizer", rng)
        build_model(workdir / "teacher", tokenizer, hidden=64, layers=3, heads=4, kv_heads=2, mlp=256)
        build_model(workdir / "student", tokenizer, hidden=24, layers=2, heads=2, kv_heads=1, mlp=64)
        print(f"training the teacher ({teacher_steps} steps)", flush=True)
        began = time.perf_counter()
        teacher = AutoModelForCausalLM.from_pretrained(workdir / "teacher")
        golden = [ticket(rng) for _ in range(16 * teacher_steps // 4)]
        fit(
            teacher,
            tokenizer,
            [example(t, json.dumps(f)) for t, f in golden],
            [example(t, json.dumps(f)) for t, f in (ticket(rng) for _ in range(64))],
            steps=teacher_steps,
            lr=5e-3,
            loss=LossConfig(method="ce"),
            teacher=None,
            output_dir=workdir / "teacher_run",
        )
        teacher.save_pretrained(trained)
        tokenizer.save_pretrained(trained)
        (trained / "seconds.txt").write_text(str(time.perf_counter() - began))
    tokenizer = PreTrainedTokenizerFast.from_pretrained(trained)
    teacher = AutoModelForCausalLM.from_pretrained(trained).eval()
    count = lambda folder: sum(p.numel() for p in AutoModelForCausalLM.from_pretrained(folder).parameters())  # noqa: E731
    test_rng = random.Random(1)
    test, val = [ticket(test_rng) for _ in range(test_size)], [ticket(test_rng) for _ in range(64)]
    setup = Setup(
        root=workdir,
        tokenizer=tokenizer,
        teacher=teacher,
        teacher_params=count(trained),
        student_params=count(workdir / "student"),
        teacher_seconds=float((trained / "seconds.txt").read_text()),
        test=test,
        teacher_on_test=[],
        test_examples=[],
        val_examples=[],
        student_steps=student_steps,
    )
    setup.teacher_on_test = setup.answer(test)
    setup.test_examples = [example(t, a) for (t, _), a in zip(test, setup.teacher_on_test)]
    setup.val_examples = [example(t, a) for (t, _), a in zip(val, setup.answer(val))]
    return setup


def print_table(title: str, rows: list[tuple]) -> None:
    print(f"\n{title}\n")
    print(
        f"| {'model':<44} | exact match | field acc. | valid JSON | agrees w/ teacher | fields as teacher "
        f"| next-token agr. | train s |"
    )
    print(
        f"|{'-' * 46}|-------------|------------|------------|-------------------|-------------------"
        f"|-----------------|---------|"
    )
    for name, metrics, seconds in rows:
        tokens = f"{metrics['token_agreement']:.1%}" if "token_agreement" in metrics else "-"
        print(
            f"| {name:<44} | {metrics['exact_match']:>11.1%} | {metrics['field_accuracy']:>10.1%} "
            f"| {metrics['json_valid']:>10.1%} | {metrics['agreement']:>17.1%} | {metrics['field_agreement']:>17.1%} "
            f"| {tokens:>15} | {seconds:>7.0f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller teacher run, fewer student steps and tickets")
    parser.add_argument("--traces", type=int, nargs="+", default=[500, 100], help="trace budgets (regimes)")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the trained teacher here and reuse it")
    parser.add_argument("--student-steps", type=int, default=None, help="override the mode's student steps")
    parser.add_argument("--teacher-steps", type=int, default=None, help="override the mode's teacher steps")
    parser.add_argument("--only", nargs="+", default=None, help="run only the rows whose names start so")
    args = parser.parse_args()
    setup = prepare(
        quick=args.quick,
        workdir=args.workdir or Path(tempfile.mkdtemp(prefix="distill_quality_")),
        student_steps=args.student_steps,
        teacher_steps=args.teacher_steps,
    )
    teacher_row = (
        "teacher (trained on ground truth)",
        score(setup.teacher, setup.tokenizer, setup.test, setup.teacher_on_test),
        setup.teacher_seconds,
    )
    for budget in args.traces:
        traces, truth = setup.traces(budget)
        store = score_teacher(
            model=setup.teacher,
            tokenizer=setup.tokenizer,
            examples=traces + setup.val_examples,
            folder=setup.root / f"topk_{budget}",
            top_k=32,
            max_seq_len=128,
        )
        online = OnlineTeacher(setup.teacher)
        runs = [
            ("sft on teacher traces", "ce", None, traces, {}),
            *[
                (f"{m} (offline top-32, compact store)", m, store, traces, {}) for m in ("forward_kl", "jsd")
            ],  # AKL matched forward KL in the earlier run (docs)
            ("jsd, ce_weight 0.2 (offline, compact)", "jsd", store, traces, {"loss": {"ce_weight": 0.2}}),
            (
                "on-policy jsd, lmbda 0.5, ce_weight 0.2 (online)",
                "jsd",
                online,
                traces,
                {"loss": {"ce_weight": 0.2}, "lmbda": 0.5, "on_policy_max_new_tokens": 48},
            ),
            ("sft on ground truth, no teacher", "ce", None, truth, {}),
        ]
        if budget != max(args.traces):  # the few-traces regime: the rows that decide which method to use
            runs = [r for r in runs if not r[0].startswith(("jsd (offline", "on-policy"))]
        if args.only:
            runs = [r for r in runs if r[0].startswith(tuple(args.only))]
        rows = [teacher_row] + [
            setup.student_row(name, method=method, signal=signal, examples=examples, **options)
            for name, method, signal, examples, options in runs
        ]
        print_table(
            f"ticket -> JSON extraction; {budget} traces, {len(setup.test)} held-out tickets, student "
            f"{setup.student_params / 1e3:.0f}k params vs teacher {setup.teacher_params / 1e3:.0f}k "
            f"({setup.teacher_params / setup.student_params:.1f}x smaller), {setup.student_steps} steps x 16; "
            f"teacher store {store.bytes_per_token:.0f} B/token at k=32 (compact)",
            rows,
        )


if __name__ == "__main__":
    main()
