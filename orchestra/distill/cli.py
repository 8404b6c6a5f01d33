"""`orchestra distill run|preview|score-teacher|eval job.yaml` (also `python -m orchestra.distill.cli`)."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

from tqdm import tqdm

from orchestra.distill.config import ConfigError, JobConfig, load_job_config
from orchestra.distill.dataset import DatasetError, build_splits, load_records, prepare_splits, preview
from orchestra.distill.teacher import TeacherError
from orchestra.distill.verify import Judge, model_judge


def _run(args: argparse.Namespace) -> int:
    from orchestra.distill.job import run_job

    bars: dict[str, tqdm] = {}
    last_val_loss: dict[str, float] = {}

    def show(event: dict) -> None:
        stage = event["stage"]
        if stage in ("train", "score_teacher") and ("step" in event or "done" in event):
            if stage not in bars:  # one bar per stage: a new one per event would print a stale 0/N line each time
                bars[stage] = tqdm(
                    total=event.get("max_steps") or event.get("total"), desc=stage.replace("_", " "), unit="step"
                )
            bar = bars[stage]
            bar.n = event.get("step") or event.get("done")
            if "loss" in event:
                if event.get("val_loss") is not None:
                    last_val_loss["value"] = event["val_loss"]
                bar.set_postfix(
                    loss=f"{event['loss']:.4f}",
                    val_loss=f"{last_val_loss.get('value', math.nan):.4f}",
                    lr=f"{event['lr']:.2e}",
                    tok_s=f"{event['tokens_per_s']:.0f}",
                    refresh=False,
                )
            bar.refresh()
        elif stage not in ("train", "score_teacher"):
            for bar in bars.values():
                bar.close()
            tqdm.write(f"[{stage}]" + (f" {event['verdict']}" if event.get("verdict") else ""))

    config = load_job_config(args.job)
    if config.teacher.base_url and config.teacher.api_key is None:
        # The operator's own key for their own relabelling server, from their shell: a job file
        # names no variable to read (config.py says why).
        config.teacher.api_key = os.environ.get("ORCHESTRA_TEACHER_API_KEY")
    judge = _judge(args)
    if judge is not None:  # named on the command line: it judges the held-out prompts too
        config = config.model_copy(update={"eval": config.eval.model_copy(update={"judge": True})})
    result = run_job(config, on_progress=show, judge=judge)
    for bar in bars.values():
        bar.close()
    report = result.report
    training = report["training"]
    print(
        f"\n{report['method']} ({report['teacher']} teacher): {training['steps']} steps, {report['outcome']}; "
        f"validation loss {training['initial_val_loss']} -> {training['best_val_loss']}"
    )
    if "teacher_store" in report:
        print(
            f"teacher store: {report['teacher_store']['bytes_per_token']:.0f} bytes/token "
            f"at k={report['teacher_store']['k']}"
        )
    if report.get("table"):
        print(report["table"])
        print(report["verdict"])
    for name, path in result.artifacts.items():
        print(f"{name}: {path}")
    return 0


def _judge(args: argparse.Namespace) -> Judge | None:
    """--judge: a model that tells right from wrong where no golden label does (and, in a run, judges
    the semantic verification stage): a local folder or hub id, or a served model with --judge-base-url
    (its key from ORCHESTRA_JUDGE_API_KEY, the operator's shell)."""
    if not args.judge:
        return None
    from orchestra.inference.base import ModelSpec
    from orchestra.inference.clients import get_client

    spec = ModelSpec(
        name="judge",
        backend="openai" if args.judge_base_url else "transformers",
        model=args.judge,
        base_url=args.judge_base_url,
        api_key=os.environ.get("ORCHESTRA_JUDGE_API_KEY"),
    )
    return model_judge(get_client(spec))


def _preview(args: argparse.Namespace) -> int:
    from transformers import AutoTokenizer

    config = load_job_config(args.job)
    tokenizer = AutoTokenizer.from_pretrained(config.student.model)
    records = list(load_records(config.data))
    summary = preview(records, config.data, tokenizer=tokenizer, max_seq_len=config.train.max_seq_len)
    if summary["ok"]:
        from transformers import AutoModelForCausalLM

        from orchestra.distill.job import student_lora

        lora, reason = student_lora(
            config,
            student=AutoModelForCausalLM.from_pretrained(config.student.model),
            tokenizer=tokenizer,
            examples=build_splits(records, config.data).train,
        )
        summary["lora"] = {"enabled": lora.enabled, "reason": reason}
    print(json.dumps(summary, indent=2))
    return 0 if summary["ok"] else 1


def _score_teacher(args: argparse.Namespace) -> int:
    from transformers import AutoTokenizer

    from orchestra.distill.job import offline_store

    config = load_job_config(args.job)
    tokenizer = AutoTokenizer.from_pretrained(config.student.model)
    splits = prepare_splits(load_records(config.data), config.data)
    bar = tqdm(desc="score teacher", unit="prompt")

    def show(event: dict) -> None:
        bar.total, bar.n = event["total"], event["done"]
        bar.refresh()

    store = offline_store(config, splits, tokenizer, show)
    bar.close()
    size = sum(f.stat().st_size for f in store.folder.iterdir())
    print(
        f"{store.folder}: {store.meta['tokens']} tokens, k={store.meta['k']}, "
        f"{store.bytes_per_token:.0f} bytes/token (format {store.version}: "
        f"{store.meta.get('encoding') or store.meta['index_dtype'] + ' ids + float16 log-probs'}), "
        f"{size / 1e6:.1f} MB on disk"
    )
    return 0


def _eval(args: argparse.Namespace) -> int:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from orchestra.distill.dataset import held_out_examples
    from orchestra.distill.evaluate import format_table, verdict
    from orchestra.distill.job import evaluate_student

    config: JobConfig = load_job_config(args.job)
    if args.with_teacher and not config.teacher.model:
        raise TeacherError(
            f"--with-teacher times teacher.model on the prompts, and this job's {config.teacher.kind} "
            f"teacher names none (its replies are the recorded ones, which the student is already "
            f"scored against): set teacher.model to a local folder or model id, or leave out "
            f"--with-teacher"
        )
    model_path = args.model or str(Path(config.output_dir) / "merged")
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    if args.data:  # an external held-out file is scored as it is: all of it, never re-split or capped
        examples = held_out_examples(
            load_records(config.data.model_copy(update={"source": args.data})), config.data.filters
        )
    else:
        examples = prepare_splits(load_records(config.data), config.data).test[: config.eval.max_examples]
    teacher = AutoModelForCausalLM.from_pretrained(config.teacher.model) if args.with_teacher else None
    judge = _judge(args)
    eval_config = config.eval.model_copy(update={"samples": args.examples, "judge": config.eval.judge or bool(judge)})
    report = evaluate_student(
        model=AutoModelForCausalLM.from_pretrained(model_path),
        tokenizer=tokenizer,
        examples=examples,
        config=eval_config,
        teacher_model=teacher,
        judge=judge,
    )
    print(format_table(report))
    print(verdict(report))
    for number, sample in enumerate(report.get("samples", []), 1):
        print(
            f"\n#{number} prompt: {sample['prompt']}\n   teacher: {sample['teacher']}"
            f"\n   student: {sample['student']}" + (f"\n   golden:  {sample['golden']}" if "golden" in sample else "")
        )
    if args.report:
        Path(args.report).write_text(json.dumps(report, indent=2))
    return 0


def add_subcommands(subparsers) -> None:
    """Register the distill commands on an argparse subparsers object (the top-level CLI's)."""
    commands = {
        "run": (_run, "train, evaluate and export a student from a job file"),
        "preview": (_preview, "show what a job would train on, and why it would refuse"),
        "score-teacher": (_score_teacher, "store the teacher's top-k log-probs for offline logit KD"),
        "eval": (_eval, "evaluate a model folder on the job's held-out prompts"),
    }
    for name, (handler, help_text) in commands.items():
        command = subparsers.add_parser(name, help=help_text)
        command.add_argument("job", help="job YAML file")
        command.set_defaults(handler=handler)
        if name in ("run", "eval"):
            command.add_argument(
                "--judge", help="a model judging correctness where no golden label does (folder, hub id or served name)"
            )
            command.add_argument(
                "--judge-base-url", help="the judge's OpenAI-compatible server, e.g. http://host:8001/v1"
            )
        if name == "eval":
            command.add_argument("--model", help="model folder (default: output_dir/merged)")
            command.add_argument("--with-teacher", action="store_true", help="also time teacher.model on the prompts")
            command.add_argument("--data", help="a held-out JSONL file scored as it is (default: the job's test split)")
            command.add_argument("--examples", type=int, default=20, help="examples to print, reply by reply")
            command.add_argument("--report", help="write the report JSON here")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="orchestra distill", description="Distil an LLM step into a small student.")
    add_subcommands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except (ConfigError, DatasetError, TeacherError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
