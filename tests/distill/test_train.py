import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from orchestra.distill.config import DataConfig, LoraConfig, TrainConfig
from orchestra.distill.dataset import build_splits, tokenize
from orchestra.distill.losses import LossConfig
from orchestra.distill.teacher import OnlineTeacher, score_teacher
from orchestra.distill.train import latest_checkpoint, load_student, resolve_lora, train, train_threads, validation_loss
from tests.distill.support import ticket_records


@pytest.fixture(scope="module")
def setup(tiny_family):
    tokenizer = AutoTokenizer.from_pretrained(tiny_family["student"])
    splits = build_splits(ticket_records(48), DataConfig(min_examples=1, validation_fraction=0.25, test_fraction=0))
    items = {name: [tokenize(e, tokenizer, max_seq_len=128) for e in part]
             for name, part in (("train", splits.train), ("validation", splits.validation))}
    return tokenizer, splits, items


def fit(family, items, tokenizer, output_dir, *, method="ce", teacher=None, lora=True, steps=8, **train_options):
    torch.manual_seed(0)
    model = load_student(str(family["student"]), lora=LoraConfig(enabled=lora, r=8))
    config = TrainConfig(**{"max_steps": steps, "lr": 5e-3, "batch_size": 8, "eval_every": steps,
                            "checkpoint_every": None, "warmup_ratio": 0.1, **train_options})
    result = train(model=model, pad_token_id=tokenizer.pad_token_id, train_items=items["train"],
                   val_items=items["validation"], config=config, loss_config=LossConfig(method=method),
                   teacher=teacher, output_dir=output_dir)
    return model, result


@pytest.mark.parametrize("method", ["ce", "forward_kl", "reverse_kl", "adaptive_kl", "jsd"])
def test_each_method_lowers_validation_loss_with_an_online_teacher(tiny_family, setup, tmp_path, method):
    tokenizer, _, items = setup
    teacher = OnlineTeacher(AutoModelForCausalLM.from_pretrained(tiny_family["teacher"])) if method != "ce" else None
    _, result = fit(tiny_family, items, tokenizer, tmp_path, method=method, teacher=teacher)
    assert result.outcome == "finished" and result.steps == 8
    assert result.best_val_loss < result.initial_val_loss


def test_offline_teacher_trains_without_the_teacher_in_memory(tiny_family, setup, tmp_path):
    tokenizer, splits, items = setup
    store = score_teacher(model=AutoModelForCausalLM.from_pretrained(tiny_family["teacher"]), tokenizer=tokenizer,
                          examples=splits.train + splits.validation, folder=tmp_path / "store", top_k=16,
                          max_seq_len=128)
    _, result = fit(tiny_family, items, tokenizer, tmp_path / "run", method="forward_kl", teacher=store)
    assert result.best_val_loss < result.initial_val_loss


def test_full_fine_tuning_with_gradient_checkpointing_and_accumulation(tiny_family, setup, tmp_path):
    tokenizer, _, items = setup
    _, result = fit(tiny_family, items, tokenizer, tmp_path, lora=False, steps=4, gradient_checkpointing=False,
                    grad_accumulation=2)
    assert result.best_val_loss < result.initial_val_loss


def test_resume_from_a_checkpoint_reproduces_the_uninterrupted_run(tiny_family, setup, tmp_path):
    tokenizer, _, items = setup
    _, straight = fit(tiny_family, items, tokenizer, tmp_path / "straight", steps=6)
    calls = iter(range(100))
    torch.manual_seed(0)
    model = load_student(str(tiny_family["student"]), lora=LoraConfig(enabled=True, r=8))
    config = TrainConfig(max_steps=6, lr=5e-3, batch_size=8, eval_every=6, checkpoint_every=None, warmup_ratio=0.1)
    common = dict(pad_token_id=tokenizer.pad_token_id, train_items=items["train"], val_items=items["validation"],
                  config=config, loss_config=LossConfig(method="ce"), teacher=None, output_dir=tmp_path / "split")
    stopped = train(model=model, should_stop=lambda: next(calls) >= 3, **common)
    assert stopped.outcome == "cancelled" and stopped.steps == 3
    assert latest_checkpoint(tmp_path / "split").name == "step-00000003"
    torch.manual_seed(123)  # a fresh process: other RNG state, other LoRA init; the checkpoint restores both
    resumed = train(model=load_student(str(tiny_family["student"]), lora=LoraConfig(enabled=True, r=8)), **common)
    assert resumed.steps == 6 and resumed.outcome == "finished"
    assert [h["loss"] for h in resumed.history] == [h["loss"] for h in straight.history]
    assert resumed.best_val_loss == straight.best_val_loss


def test_early_stopping_ends_a_diverging_run_and_keeps_the_best_weights(tiny_family, setup, tmp_path):
    tokenizer, _, items = setup
    model, result = fit(tiny_family, items, tokenizer, tmp_path, steps=40, early_stopping_patience=2,
                        eval_every=1, lr=1.0, scheduler="constant")  # far too high: validation loss rises
    assert result.outcome == "early_stopped" and result.steps < 40
    final = validation_loss(model, items["validation"], teacher=None, loss_config=LossConfig(method="ce"),
                            batch_size=8, pad_token_id=tokenizer.pad_token_id, device=torch.device("cpu"))
    assert final == pytest.approx(result.best_val_loss, rel=1e-5)


def test_lora_auto_trains_a_random_init_student_fully_and_a_pretrained_one_with_lora(tiny_family, setup, tmp_path):
    tokenizer, _, items = setup
    auto = LoraConfig()
    random_init = AutoModelForCausalLM.from_pretrained(tiny_family["student"])
    decided, reason = resolve_lora(auto, model=random_init, probe=items["train"], pad_token_id=tokenizer.pad_token_id)
    assert decided.enabled is False and reason.startswith("full fine-tuning")
    pretrained, _ = fit(tiny_family, items, tokenizer, tmp_path, lora=False, steps=30, lr=1e-2)
    decided, reason = resolve_lora(auto, model=pretrained, probe=items["train"], pad_token_id=tokenizer.pad_token_id)
    assert decided.enabled is True and reason.startswith("LoRA: the student is pretrained")
    assert resolve_lora(LoraConfig(enabled=True), model=random_init, probe=[], pad_token_id=0)[0].enabled is True


def test_train_threads_come_from_the_environment_or_the_cores_shared_among_jobs():
    assert train_threads({"ORCHESTRA_TRAIN_THREADS": "3"}, cores=16) == 3
    assert train_threads({"ORCHESTRA_TRAIN_JOBS": "2"}, cores=2) == 1
    assert train_threads({"ORCHESTRA_TRAIN_JOBS": "4"}, cores=16) == 4
    assert train_threads({}, cores=8) == 8
