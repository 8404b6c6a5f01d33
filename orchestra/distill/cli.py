"""`orchestra distill run|preview|score-teacher|eval job.yaml` (also `python -m orchestra.distill.cli`)."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from tqdm import tqdm

from orchestra.distill.config import ConfigError, JobConfig, load_job_config
from orchestra.distill.dataset import DatasetError, load_records, prepare_splits, preview
from orchestra.distill.teacher import TeacherError


def _run(args: argparse.Namespace) -> int:
    from orchestra.distill.job import run_job

    bars: dict[str, tqdm] = {}

    def show(event: dict) -> None:
        stage = event["stage"]
        if stage in ("train", "score_teacher") and ("step" in event or "done" in event):
            total = event.get("max_steps") or event.get("total")
            bar = bars.setdefault(stage, tqdm(total=total, desc=stage.replace("_", " "), unit="step"))
            bar.n = event.get("step") or event.get("done")
            if "loss" in event:
                bar.set_postfix(loss=f"{event['loss']:.4f}", lr=f"{event['lr']:.2e}",
                                tok_s=f"{event['tokens_per_s']:.0f}", refresh=False)
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
    result = run_job(config, on_progress=show)
    for bar in bars.values():
        bar.close()
    report = result.report
    training = report["training"]
    print(f"\n{report['method']} ({report['teacher']} teacher): {training['steps']} steps, {report['outcome']}; "
          f"validation loss {training['initial_val_loss']} -> {training['best_val_loss']}")
    if "teacher_store" in report:
        print(f"teacher store: {report['teacher_store']['bytes_per_token']:.0f} bytes/token at k={report['teacher_store']['k']}")
    if report.get("table"):
        print(report["table"])
        print(report["verdict"])
    for name, path in result.artifacts.items():
        print(f"{name}: {path}")
    return 0


def _preview(args: argparse.Namespace) -> int:
    from transformers import AutoTokenizer

    config = load_job_config(args.job)
    tokenizer = AutoTokenizer.from_pretrained(config.student.model)
    summary = preview(load_records(config.data), config.data, tokenizer=tokenizer, max_seq_len=config.train.max_seq_len)
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
    print(f"{store.folder}: {store.meta['tokens']} tokens, k={store.meta['k']}, "
          f"{store.bytes_per_token:.0f} bytes/token ({store.meta['index_dtype']} ids + float16 log-probs), "
          f"{size / 1e6:.1f} MB on disk")
    return 0


def _eval(args: argparse.Namespace) -> int:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from orchestra.distill.evaluate import format_table, verdict
    from orchestra.distill.job import evaluate_student

    config: JobConfig = load_job_config(args.job)
    model_path = args.model or str(Path(config.output_dir) / "merged")
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    splits = prepare_splits(load_records(config.data), config.data)
    teacher = AutoModelForCausalLM.from_pretrained(config.teacher.model) if args.with_teacher else None
    report = evaluate_student(model=AutoModelForCausalLM.from_pretrained(model_path), tokenizer=tokenizer,
                              examples=splits.test[: config.eval.max_examples], config=config.eval,
                              teacher_model=teacher)
    print(format_table(report))
    print(verdict(report))
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
        if name == "eval":
            command.add_argument("--model", help="model folder (default: output_dir/merged)")
            command.add_argument("--with-teacher", action="store_true", help="also time teacher.model on the prompts")
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
