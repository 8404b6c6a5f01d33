import json

import pytest
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer

from orchestra.distill import run_job
from orchestra.distill.cli import main
from orchestra.distill.dataset import DatasetError
from tests.distill.support import ticket_records


def job(family, output_dir, **overrides) -> dict:
    return {
        "student": {"model": str(family["student"])},
        "teacher": {"kind": "recorded"},
        "method": "sft",
        "output_dir": str(output_dir),
        "data": {"min_examples": 40},
        "train": {"max_steps": 4, "batch_size": 8, "lr": 5e-3, "eval_every": 2, "checkpoint_every": 2},
        "eval": {"max_new_tokens": 8, "max_examples": 4},
        **overrides,
    }


def test_job_trains_evaluates_and_exports_models_that_reload_and_generate(tiny_family, tmp_path):
    events = []
    result = run_job(
        job(
            tiny_family,
            tmp_path,
            method="forward_kl",
            lora={"enabled": True},
            teacher={"kind": "online", "model": str(tiny_family["teacher"])},
        ),
        records=ticket_records(60),
        on_progress=events.append,
    )
    report = result.report
    assert report["outcome"] == "finished" and report["training"]["steps"] == 4
    assert report["training"]["best_val_loss"] < report["training"]["initial_val_loss"]
    assert report["baseline"]["vs_teacher"]["count"] == 4 and report["after"]["teacher_speed"] is not None
    assert report["verdict"].startswith("Student matches the teacher on")
    assert "too few held-out examples to judge (4 prompts" in report["verdict"]  # max_examples 4
    assert [e["stage"] for e in events if e["stage"] != "train"] == ["data", "baseline", "eval", "export", "done"]
    assert any(e["stage"] == "train" and "eta_s" in e for e in events)
    assert json.loads((tmp_path / "report.json").read_text())["verdict"] == report["verdict"]

    tokenizer = AutoTokenizer.from_pretrained(result.artifacts["merged"])
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "ticket"}], add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    merged = AutoModelForCausalLM.from_pretrained(result.artifacts["merged"])
    adapted = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(tiny_family["student"]), result.artifacts["adapter"]
    )
    with torch.no_grad():
        from_merged = merged.generate(**prompt, max_new_tokens=5, do_sample=False)
        from_adapter = adapted.generate(**prompt, max_new_tokens=5, do_sample=False)
    assert from_merged.shape[1] > prompt["input_ids"].shape[1]
    assert torch.equal(from_merged, from_adapter)  # merging changed nothing
    card = (tmp_path / "merged" / "README.md").read_text()
    assert "forward_kl" in card and "## Metrics" in card and "--lora-modules" in card


def test_too_small_dataset_is_refused_before_any_training(tiny_family, tmp_path):
    with pytest.raises(DatasetError, match="only 30 distinct prompts"):
        run_job(job(tiny_family, tmp_path, data={}), records=ticket_records(30))
    assert not (tmp_path / "checkpoints").exists()


def test_a_cancelled_job_resumes_from_its_checkpoint(tiny_family, tmp_path):
    config = job(tiny_family, tmp_path, eval={"enabled": False})
    steps = iter(range(100))
    first = run_job(config, records=ticket_records(60), should_stop=lambda: next(steps) >= 2)
    assert first.report["outcome"] == "cancelled" and first.artifacts == {}
    second = run_job(config, records=ticket_records(60))
    assert second.report["outcome"] == "finished" and second.report["training"]["steps"] == 4
    # the tiny student is random-init: the default LoRA setting resolves to full fine-tuning, and says so
    assert second.report["resolved_config"]["lora"]["enabled"] is False
    assert second.report["resolved"]["lora"].startswith("full fine-tuning") and "adapter" not in second.artifacts
    assert second.report["training"]["threads"] == 1  # ORCHESTRA_TRAIN_THREADS (conftest)
    assert [h["step"] for h in second.report["training"]["history"]] == [1, 2, 3, 4]


def test_offline_job_scores_the_teacher_once_and_reports_bytes_per_token(tiny_family, tmp_path):
    config = job(
        tiny_family,
        tmp_path,
        method="jsd",
        eval={"enabled": False},
        teacher={"kind": "offline", "model": str(tiny_family["teacher"]), "top_k": 8},
    )
    report = run_job(config, records=ticket_records(50)).report
    store = report["teacher_store"]
    assert store["version"] == 2 and store["bytes_per_token"] < 32 and store["tokens"] > 0  # float16: 4 B per logit
    assert report["training"]["best_val_loss"] < report["training"]["initial_val_loss"]


def test_cli_runs_a_job_file_and_prints_a_summary(tiny_family, tmp_path, capsys):
    records = tmp_path / "traces.jsonl"
    records.write_text("\n".join(json.dumps(r) for r in ticket_records(50)))
    config = job(tiny_family, tmp_path / "out", data={"source": str(records), "min_examples": 40})
    (tmp_path / "job.yaml").write_text(json.dumps(config))  # JSON is YAML
    assert main(["run", str(tmp_path / "job.yaml")]) == 0
    captured = capsys.readouterr()
    assert "sft (recorded teacher): 4 steps, finished" in captured.out and "Student matches the teacher" in captured.out
    assert captured.err.count("0/4") == 1  # one bar, not a fresh one (and a stale 0/4 line) per event
    assert "val_loss=" in captured.err

    # an external held-out file is scored as it is: every one of its 7 prompts, no re-split
    held_out = tmp_path / "held_out.jsonl"
    held_out.write_text("\n".join(json.dumps(r) for r in ticket_records(7, seed=5, golden_every=2)))
    assert (
        main(
            [
                "eval",
                str(tmp_path / "job.yaml"),
                "--data",
                str(held_out),
                "--examples",
                "7",
                "--report",
                str(tmp_path / "eval.json"),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "exact_match (vs teacher)" in printed and "field category (vs teacher)" in printed
    assert "field priority (correct)" in printed and "#7 prompt: ticket 6" in printed
    report = json.loads((tmp_path / "eval.json").read_text())
    assert report["vs_teacher"]["count"] == 7 and report["correctness"]["count"] == 4
    assert "too few held-out examples to judge (7 prompts" in printed

    # a judge model (here a local folder, constrained to {"accepted": ...}) rules where no golden label does
    judged = ["eval", str(tmp_path / "job.yaml"), "--data", str(held_out), "--report", str(tmp_path / "judged.json")]
    assert main([*judged, "--judge", str(tiny_family["teacher"])]) == 0
    correctness = json.loads((tmp_path / "judged.json").read_text())["correctness"]
    assert correctness["count"] == 7 and "judge" in correctness["judged_by"] and "golden" in correctness["judged_by"]
    assert f"by {correctness['judged_by']}" in capsys.readouterr().out


def test_cli_eval_with_teacher_says_a_recorded_teacher_names_no_model(tiny_family, tmp_path, capsys):
    (tmp_path / "job.yaml").write_text(json.dumps(job(tiny_family, tmp_path / "out")))
    assert main(["eval", str(tmp_path / "job.yaml"), "--with-teacher"]) == 2
    assert "recorded teacher names none" in capsys.readouterr().err


def test_cli_reports_bad_config_paths_and_fails(tmp_path, capsys):
    (tmp_path / "job.yaml").write_text("student: {}\nmethod: kl\n")
    assert main(["run", str(tmp_path / "job.yaml")]) == 2
    error = capsys.readouterr().err
    assert "student.model: Field required" in error and "method:" in error and "output_dir" in error


def test_relabel_job_asks_a_local_teacher_once_and_caches_its_replies(tiny_family, tmp_path):
    config = job(
        tiny_family,
        tmp_path,
        teacher={"kind": "relabel", "model": str(tiny_family["teacher"]), "max_new_tokens": 3},
        eval={"enabled": False},
        train={"max_steps": 2, "batch_size": 8},
    )
    records = ticket_records(45)
    run_job(config, records=records)
    replies = json.loads((tmp_path / "relabelled.json").read_text())
    assert len(replies) == 45 and not set(replies.values()) & {r["output"] for r in records}
