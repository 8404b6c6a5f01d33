"""One distillation job from start to finish: data -> teacher signal -> baseline -> train ->
evaluate -> export. The platform calls `run_job` from a Celery task; calling it again with the
same output_dir after a crash resumes from the last checkpoint."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable

import torch
from transformers import AutoTokenizer

from orchestra.distill.config import EvalConfig, JobConfig, LoraConfig, load_job_config, parse_job_config
from orchestra.distill.dataset import DatasetError, Example, Splits, load_records, prepare_splits, tokenize
from orchestra.distill.evaluate import evaluate_model, format_table, verdict
from orchestra.distill.steps import evaluate_agent
from orchestra.distill.export import export_student
from orchestra.distill.teacher import (
    OnlineTeacher,
    TopKStore,
    check_same_vocabulary,
    local_completer,
    openai_completer,
    relabel,
    score_teacher,
    store_recorded_topk,
)
from orchestra.distill.train import latest_checkpoint, prepare_student, resolve_lora, train, train_threads, use_bf16
from orchestra.distill.verify import Judge
from orchestra.inference.loading import causal_lm_load

OnProgress = Callable[[dict[str, Any]], None]


@dataclass
class JobResult:
    report: dict[str, Any]
    artifacts: dict[str, str] = field(default_factory=dict)


def as_job_config(config: JobConfig | dict | str | Path) -> JobConfig:
    if isinstance(config, JobConfig):
        return config
    return parse_job_config(config) if isinstance(config, dict) else load_job_config(config)


def load_teacher(config: JobConfig):
    """The teacher model on the training device, in bf16 where the student trains in bf16."""
    dtype = torch.bfloat16 if use_bf16(config.train.bf16) else None
    model = causal_lm_load(config.teacher.model, dtype=dtype)
    return model.to("cuda" if torch.cuda.is_available() else "cpu")


def _relabelled(config: JobConfig, splits: Splits) -> Splits:
    """Fresh teacher replies, cached in output_dir so a resumed job does not ask again."""
    cache = Path(config.output_dir) / "relabelled.json"
    if cache.exists():
        replies = json.loads(cache.read_text())
    else:
        if config.teacher.base_url:
            complete = openai_completer(
                base_url=config.teacher.base_url,
                model=config.teacher.model or "default",
                api_key=config.teacher.api_key,
                max_tokens=config.teacher.max_new_tokens,
            )
        else:
            complete = local_completer(
                model=load_teacher(config),
                tokenizer=AutoTokenizer.from_pretrained(config.teacher.model),
                max_new_tokens=config.teacher.max_new_tokens,
            )
        everything = {e.key: e for e in splits.train + splits.validation + splits.test}
        replies = {e.key: e.teacher_output for e in relabel(everything.values(), complete)}
        cache.write_text(json.dumps(replies))

    def fresh(examples):
        return [replace(e, teacher_output=replies[e.key], tool_calls=None, topk=None) for e in examples]

    return replace(splits, train=fresh(splits.train), validation=fresh(splits.validation), test=fresh(splits.test))


def offline_store(config: JobConfig, splits: Splits, tokenizer, on_progress: OnProgress | None = None) -> TopKStore:
    """The job's top-k store: reuse it, or build it from the traces' own top-k, or score the teacher."""
    folder = Path(config.teacher.store or Path(config.output_dir) / "teacher_topk")
    examples = splits.train + splits.validation
    compact = config.teacher.store_format == "compact"
    if (folder / "meta.json").exists():
        store = TopKStore(folder)
        if all(e.key in store for e in examples):
            return store
    if all(e.topk and e.golden_output is None and not e.trajectory for e in examples):
        return store_recorded_topk(
            examples=examples,
            tokenizer=tokenizer,
            folder=folder,
            top_k=config.teacher.top_k,
            max_seq_len=config.train.max_seq_len,
            compact=compact,
        )
    if not config.teacher.model:
        raise ValueError(
            "teacher.model: an offline teacher needs a model to score the prompts that came without "
            "top-k log-probs (or with golden outputs)"
        )
    teacher_tokenizer = AutoTokenizer.from_pretrained(config.teacher.model)
    check_same_vocabulary(tokenizer, teacher_tokenizer)
    return score_teacher(
        model=load_teacher(config),
        tokenizer=tokenizer,
        examples=examples,
        folder=folder,
        top_k=config.teacher.top_k,
        max_seq_len=config.train.max_seq_len,
        batch_size=config.train.batch_size,
        compact=compact,
        on_progress=(lambda done, total: on_progress({"stage": "score_teacher", "done": done, "total": total}))
        if on_progress
        else None,
    )


def student_lora(config: JobConfig, *, student, tokenizer, examples: list[Example]) -> tuple[LoraConfig, str]:
    """The job's LoRA choice with `enabled: auto` decided from the loaded student on a few of its
    training examples (train.resolve_lora), and why; the preview shows the same."""
    probe = [tokenize(e, tokenizer, max_seq_len=config.train.max_seq_len) for e in examples[:32]]
    return resolve_lora(config.lora, model=student, probe=probe, pad_token_id=tokenizer.pad_token_id)


def evaluate_student(
    *, model, tokenizer, examples: list[Example], config: EvalConfig, teacher_model=None, judge: Judge | None = None
) -> dict[str, Any]:
    """Agents (examples that offered tools) step by step (steps.py), other nodes reply by reply;
    `judge` tells right from wrong where no golden label does, when eval.judge asks for it."""
    if any(e.tools for e in examples):
        return evaluate_agent(
            model=model,
            tokenizer=tokenizer,
            examples=examples,
            max_new_tokens=config.max_new_tokens,
            teacher_model=teacher_model,
        )
    return evaluate_model(
        model=model,
        tokenizer=tokenizer,
        examples=examples,
        max_new_tokens=config.max_new_tokens,
        batch_size=config.batch_size,
        teacher_model=teacher_model,
        judge=judge if config.judge else None,
        samples=config.samples,
    )


def run_job(
    config: JobConfig | dict | str | Path,
    records: Iterable[dict[str, Any]] | None = None,
    on_progress: OnProgress | None = None,
    should_stop: Callable[[], bool] | None = None,
    judge: Judge | None = None,
) -> JobResult:
    """`judge`, when given, is the semantic verification's judge model (verify.py)."""
    config = as_job_config(config)
    emit = on_progress or (lambda event: None)
    output_dir = Path(config.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    resuming = latest_checkpoint(output_dir) is not None

    emit({"stage": "data"})
    splits = prepare_splits(load_records(config.data, records), config.data, judge=judge)
    tokenizer = AutoTokenizer.from_pretrained(config.student.model)
    if config.teacher.kind == "relabel" and any(e.trajectory for e in splits.train + splits.test):
        raise DatasetError(
            "teacher.kind 'relabel' asks the teacher one prompt at a time; an agent's trajectory "
            "needs its tools to be answered again: use the recorded trajectories (method 'sft') "
            "or a logit teacher ('online' or 'offline')"
        )
    if config.teacher.kind == "relabel":
        emit({"stage": "relabel"})
        splits = _relabelled(config, splits)

    teacher_model, signal = None, None
    if config.teacher.kind == "online":
        check_same_vocabulary(tokenizer, AutoTokenizer.from_pretrained(config.teacher.model))
        teacher_model = load_teacher(config)
        signal = OnlineTeacher(teacher_model)
    elif config.teacher.kind == "offline":
        emit({"stage": "score_teacher"})
        signal = offline_store(config, splits, tokenizer, on_progress)

    threads = train_threads()
    torch.set_num_threads(threads)
    items = {
        name: [tokenize(e, tokenizer, max_seq_len=config.train.max_seq_len) for e in part]
        for name, part in (("train", splits.train), ("validation", splits.validation))
    }
    student = causal_lm_load(config.student.model)
    lora, lora_reason = student_lora(config, student=student, tokenizer=tokenizer, examples=splits.train)
    config = config.model_copy(update={"lora": lora})
    torch.manual_seed(config.train.seed)  # LoRA initialisation
    student = prepare_student(student, lora=config.lora, gradient_checkpointing=config.train.gradient_checkpointing)
    test = splits.test[: config.eval.max_examples]

    def evaluate(model, teacher=None) -> dict[str, Any]:
        return evaluate_student(
            model=model, tokenizer=tokenizer, examples=test, config=config.eval, teacher_model=teacher, judge=judge
        )

    baseline_path = output_dir / "baseline.json"
    baseline = json.loads(baseline_path.read_text()) if baseline_path.exists() else None
    if config.eval.enabled and config.eval.baseline and test and baseline is None and not resuming:
        emit({"stage": "baseline"})
        baseline = evaluate(student)
        baseline_path.write_text(json.dumps(baseline, indent=2))

    emit({"stage": "train"})
    result = train(
        model=student,
        pad_token_id=tokenizer.pad_token_id,
        train_items=items["train"],
        val_items=items["validation"],
        config=config.train,
        loss_config=config.loss_config(),
        teacher=signal,
        output_dir=output_dir,
        on_progress=lambda p: emit({"stage": "train", **asdict(p)}),
        should_stop=should_stop,
        eos_token_id=tokenizer.eos_token_id,
    )
    report: dict[str, Any] = {
        "outcome": result.outcome,
        "method": config.method,
        "teacher": config.teacher.kind,
        "data": {
            "matched": splits.matched,
            "duplicates": splits.duplicates,
            "train": len(splits.train),
            "validation": len(splits.validation),
            "test": len(splits.test),
            "verification": splits.verification,
        },
        "training": {
            "steps": result.steps,
            "initial_val_loss": result.initial_val_loss,
            "best_val_loss": result.best_val_loss,
            "history": result.history,
            "threads": threads,
        },
        # every "auto" decided, and why: what the platform's preview and the model card show
        "resolved_config": config.model_dump(mode="json"),
        "resolved": {"lora": lora_reason},
        "baseline": baseline,
    }
    if isinstance(signal, TopKStore):
        report["teacher_store"] = {
            "folder": str(signal.folder),
            "bytes_per_token": signal.bytes_per_token,
            "tokens": signal.meta["tokens"],
            "k": signal.meta["k"],
            "version": signal.version,
        }
    if result.outcome == "cancelled":
        (output_dir / "report.json").write_text(json.dumps(report, indent=2))
        return JobResult(report=report)

    if config.eval.enabled and test:
        emit({"stage": "eval"})
        report["after"] = evaluate(student, teacher_model)
        report["verdict"] = verdict(report["after"], baseline)
        report["table"] = format_table(report["after"], baseline)

    emit({"stage": "export"})
    card = {
        "teacher": config.teacher.model or config.teacher.kind,
        "data": report["data"]
        | {"source": config.data.source, "filters": config.data.filters.model_dump(mode="json", exclude_none=True)},
        "method": {"method": config.method, "loss": config.loss_config().model_dump(), "teacher": config.teacher.kind},
        "hyperparameters": {
            "lora": config.lora.model_dump() if config.lora.enabled else None,
            "train": config.train.model_dump(),
        },
        "metrics": {
            k: report.get("after", {}).get(k)
            for k in ("vs_teacher", "vs_golden", "correctness", "student_speed", "steps")
            if k in report.get("after", {})
        },
        "verdict": report.get("verdict"),
    }
    artifacts = export_student(
        model=student, tokenizer=tokenizer, output_dir=output_dir, base_model=config.student.model, card=card
    )
    report["artifacts"] = artifacts
    (output_dir / "report.json").write_text(json.dumps(report, indent=2, default=str))
    emit({"stage": "done", "verdict": report.get("verdict")})
    return JobResult(report=report, artifacts=artifacts)
