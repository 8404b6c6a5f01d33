import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from orchestra.distill.config import DataConfig, LoraConfig, TrainConfig
from orchestra.distill.dataset import IGNORE_INDEX, build_splits, tokenize
from orchestra.distill.losses import LossConfig
from orchestra.distill.teacher import OnlineTeacher, score_teacher
from orchestra.distill.train import (
    latest_checkpoint,
    load_student,
    on_policy_items,
    prompt_length,
    resolve_lora,
    train,
    train_threads,
    validation_loss,
)
from tests.distill.support import ticket_records


@pytest.fixture(scope="module")
def setup(tiny_family):
    tokenizer = AutoTokenizer.from_pretrained(tiny_family["student"])
    splits = build_splits(ticket_records(48), DataConfig(min_examples=1, validation_fraction=0.25, test_fraction=0))
    items = {
        name: [tokenize(e, tokenizer, max_seq_len=128) for e in part]
        for name, part in (("train", splits.train), ("validation", splits.validation))
    }
    return tokenizer, splits, items


def fit(family, items, tokenizer, output_dir, *, method="ce", teacher=None, lora=True, steps=8, **train_options):
    torch.manual_seed(0)
    model = load_student(str(family["student"]), lora=LoraConfig(enabled=lora, r=8))
    config = TrainConfig(
        **{
            "max_steps": steps,
            "lr": 5e-3,
            "batch_size": 8,
            "eval_every": steps,
            "checkpoint_every": None,
            "warmup_ratio": 0.1,
            **train_options,
        }
    )
    result = train(
        model=model,
        pad_token_id=tokenizer.pad_token_id,
        train_items=items["train"],
        val_items=items["validation"],
        config=config,
        loss_config=LossConfig(method=method),
        teacher=teacher,
        output_dir=output_dir,
        eos_token_id=tokenizer.eos_token_id,
    )
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
    store = score_teacher(
        model=AutoModelForCausalLM.from_pretrained(tiny_family["teacher"]),
        tokenizer=tokenizer,
        examples=splits.train + splits.validation,
        folder=tmp_path / "store",
        top_k=16,
        max_seq_len=128,
    )
    _, result = fit(tiny_family, items, tokenizer, tmp_path / "run", method="forward_kl", teacher=store)
    assert result.best_val_loss < result.initial_val_loss


def test_full_fine_tuning_with_gradient_checkpointing_and_accumulation(tiny_family, setup, tmp_path):
    tokenizer, _, items = setup
    _, result = fit(
        tiny_family, items, tokenizer, tmp_path, lora=False, steps=4, gradient_checkpointing=False, grad_accumulation=2
    )
    assert result.best_val_loss < result.initial_val_loss


def test_resume_from_a_checkpoint_reproduces_the_uninterrupted_run(tiny_family, setup, tmp_path):
    tokenizer, _, items = setup
    _, straight = fit(tiny_family, items, tokenizer, tmp_path / "straight", steps=6)
    calls = iter(range(100))
    torch.manual_seed(0)
    model = load_student(str(tiny_family["student"]), lora=LoraConfig(enabled=True, r=8))
    config = TrainConfig(max_steps=6, lr=5e-3, batch_size=8, eval_every=6, checkpoint_every=None, warmup_ratio=0.1)
    common = dict(
        pad_token_id=tokenizer.pad_token_id,
        train_items=items["train"],
        val_items=items["validation"],
        config=config,
        loss_config=LossConfig(method="ce"),
        teacher=None,
        output_dir=tmp_path / "split",
    )
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
    model, result = fit(
        tiny_family,
        items,
        tokenizer,
        tmp_path,
        steps=40,
        early_stopping_patience=2,
        eval_every=1,
        lr=1.0,
        scheduler="constant",
    )  # far too high: validation loss rises
    assert result.outcome == "early_stopped" and result.steps < 40
    final = validation_loss(
        model,
        items["validation"],
        teacher=None,
        loss_config=LossConfig(method="ce"),
        batch_size=8,
        pad_token_id=tokenizer.pad_token_id,
        device=torch.device("cpu"),
    )
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


class RecordingTeacher:
    """The online teacher, keeping every training batch it is asked to score (validation runs without grad)."""

    def __init__(self, model):
        self.online, self.batches = OnlineTeacher(model), []

    def signal(self, batch, selected, keys):
        if torch.is_grad_enabled():
            self.batches.append({name: tensor.clone() for name, tensor in batch.items()})
        return self.online.signal(batch, selected, keys)


def _targets(labels):
    return [[t for t in row if t != IGNORE_INDEX] for row in labels.tolist()]


def test_with_lmbda_1_every_batch_trains_on_the_students_own_samples(tiny_family, setup, tmp_path):
    tokenizer, _, items = setup
    teacher = RecordingTeacher(AutoModelForCausalLM.from_pretrained(tiny_family["teacher"]))
    _, result = fit(
        tiny_family,
        items,
        tokenizer,
        tmp_path / "on",
        method="jsd",
        teacher=teacher,
        steps=3,
        lmbda=1.0,
        on_policy_max_new_tokens=12,
        eval_every=None,
    )
    replies = {tuple(t for t in i.labels if t != IGNORE_INDEX) for i in items["train"]}
    prompts = {tuple(i.input_ids[: prompt_length(i)]) for i in items["train"]}
    assert [h["on_policy"] for h in result.history] == [1, 1, 1]
    for batch in teacher.batches:
        for ids, mask, targets in zip(
            batch["input_ids"].tolist(), batch["attention_mask"].tolist(), _targets(batch["labels"])
        ):
            ids = ids[: sum(mask)]
            assert tuple(ids[: len(ids) - len(targets)]) in prompts  # a training prompt ...
            assert tuple(targets) not in replies  # ... continued by the student, not by the teacher's reply
            assert targets[-1] == tokenizer.eos_token_id or len(targets) == 12

    teacher.batches.clear()
    fit(tiny_family, items, tokenizer, tmp_path / "off", method="jsd", teacher=teacher, steps=1, eval_every=None)
    assert all(tuple(t) in replies for t in _targets(teacher.batches[0]["labels"]))  # lmbda 0: the replies


def test_on_policy_samples_are_seeded_and_leave_the_global_rng_alone(tiny_family, setup):
    tokenizer, _, items = setup
    student = AutoModelForCausalLM.from_pretrained(tiny_family["student"])
    options = dict(
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id, max_new_tokens=10, temperature=1.0
    )
    torch.manual_seed(5)
    before = torch.random.get_rng_state()
    first = on_policy_items(student, items["train"][:4], seed=1, **options)
    assert torch.equal(torch.random.get_rng_state(), before)
    assert [i.labels for i in on_policy_items(student, items["train"][:4], seed=1, **options)] == [
        i.labels for i in first
    ]
    assert [i.key for i in first] == [i.key for i in items["train"][:4]]


def test_a_short_on_policy_jsd_run_lowers_the_validation_loss(tiny_family, setup, tmp_path):
    tokenizer, _, items = setup
    teacher = OnlineTeacher(AutoModelForCausalLM.from_pretrained(tiny_family["teacher"]))
    _, result = fit(
        tiny_family, items, tokenizer, tmp_path, method="jsd", teacher=teacher, lmbda=0.5, on_policy_max_new_tokens=16
    )
    assert sum(h["on_policy"] for h in result.history) > 0
    assert result.best_val_loss < result.initial_val_loss


def test_a_student_from_the_compact_store_learns_as_well_as_from_the_float16_one(tiny_family, setup, tmp_path):
    tokenizer, splits, items = setup
    teacher = AutoModelForCausalLM.from_pretrained(tiny_family["teacher"])
    stores = {
        compact: score_teacher(
            model=teacher,
            tokenizer=tokenizer,
            examples=splits.train + splits.validation,
            folder=tmp_path / f"store-{compact}",
            top_k=32,
            max_seq_len=128,
            compact=compact,
        )
        for compact in (False, True)
    }
    exact = stores[False]

    def forward_kl_to_the_exact_teacher(model) -> float:  # one yardstick for both students
        return validation_loss(
            model,
            items["validation"],
            teacher=exact,
            loss_config=LossConfig(method="forward_kl"),
            batch_size=8,
            pad_token_id=tokenizer.pad_token_id,
            device=torch.device("cpu"),
        )

    losses = {
        compact: forward_kl_to_the_exact_teacher(
            fit(tiny_family, items, tokenizer, tmp_path / f"run-{compact}", method="forward_kl", teacher=store)[0]
        )
        for compact, store in stores.items()
    }
    assert stores[True].bytes_per_token < exact.bytes_per_token / 2.5
    assert losses[True] == pytest.approx(losses[False], rel=0.02), losses
