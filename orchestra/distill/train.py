"""The training loop: a plain PyTorch loop over a transformers student, driven through Accelerate
(CPU here; `accelerate launch` gives DDP/FSDP with the same code).

Data order is a pure function of (seed, epoch), so a checkpoint needs only the step number to
resume exactly; Accelerate's save_state/load_state keep model, optimizer, scheduler and RNGs.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Protocol

import torch
from accelerate import Accelerator
from transformers import get_scheduler

from orchestra.distill.config import LoraConfig, TrainConfig
from orchestra.distill.dataset import IGNORE_INDEX, TokenizedExample, collate
from orchestra.distill.losses import DenseTeacher, LossConfig, SparseTeacher, kd_loss
from orchestra.distill.teacher import final_hidden, target_positions
from orchestra.inference.loading import causal_lm_load


class TeacherSignal(Protocol):
    def signal(
        self, batch: dict[str, torch.Tensor], selected: torch.Tensor, keys: list[str]
    ) -> DenseTeacher | SparseTeacher: ...


@dataclass
class Progress:
    step: int
    max_steps: int
    loss: float
    lr: float
    tokens_per_s: float
    eta_s: float
    val_loss: float | None = None


@dataclass
class TrainResult:
    steps: int
    outcome: str  # "finished" | "early_stopped" | "cancelled"
    initial_val_loss: float | None
    best_val_loss: float | None
    history: list[dict] = field(default_factory=list)


def use_bf16(setting: str) -> bool:
    """bf16 only on a GPU that supports it: on the CPU it is slow and not what we measure."""
    available = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return available if setting == "auto" else setting == "on" and available


# A student whose cross-entropy on the training replies is above this share of log(vocabulary) (a
# uniform guess) has learnt no language: random init (it scores about 1.0 of log V). A pretrained
# base sits far below on any text.
RANDOM_INIT_LOSS_SHARE = 0.8


def train_threads(environ: Mapping[str, str] = os.environ, cores: int | None = None) -> int:
    """Torch threads for one training job: ORCHESTRA_TRAIN_THREADS, else this machine's cores shared
    among the ORCHESTRA_TRAIN_JOBS jobs that train at once (default 1). Two jobs each using every core
    run ~10x slower than with their own share (oversubscribed threads wait on each other)."""
    if environ.get("ORCHESTRA_TRAIN_THREADS"):
        return max(1, int(environ["ORCHESTRA_TRAIN_THREADS"]))
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // max(1, int(environ.get("ORCHESTRA_TRAIN_JOBS") or 1)))


def resolve_lora(
    lora: LoraConfig, *, model, probe: list[TokenizedExample], pad_token_id: int
) -> tuple[LoraConfig, str]:
    """`lora.enabled: auto` decided from the student: LoRA adapts what a pretrained base knows, a
    random-init student needs every weight trained. Returns the decided config and why."""
    if lora.enabled != "auto":
        return lora, "set in the job config"
    loss = validation_loss(
        model,
        probe,
        teacher=None,
        loss_config=LossConfig(method="ce"),
        batch_size=8,
        pad_token_id=pad_token_id,
        device=next(model.parameters()).device,
    )
    uniform = math.log(model.get_output_embeddings().weight.shape[0])
    if loss < RANDOM_INIT_LOSS_SHARE * uniform:
        return lora.model_copy(update={"enabled": True}), (
            f"LoRA: the student is pretrained (cross-entropy {loss:.2f} on the training replies, a uniform guess "
            f"is {uniform:.2f})"
        )
    return lora.model_copy(update={"enabled": False}), (
        f"full fine-tuning: the student looks random-init (cross-entropy {loss:.2f} on the training replies, "
        f"a uniform guess is {uniform:.2f}); LoRA cannot teach it the task"
    )


def load_student(path: str, *, lora: LoraConfig, gradient_checkpointing: bool = False):
    return prepare_student(causal_lm_load(path), lora=lora, gradient_checkpointing=gradient_checkpointing)


def prepare_student(model, *, lora: LoraConfig, gradient_checkpointing: bool = False):
    """The loaded student ready to train: LoRA-wrapped when `lora.enabled` (decided: see resolve_lora)."""
    if lora.enabled == "auto":
        raise ValueError("lora.enabled is 'auto': decide it with resolve_lora() before preparing the student")
    if gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if lora.enabled:
        from peft import LoraConfig as PeftLoraConfig, get_peft_model

        model = get_peft_model(
            model,
            PeftLoraConfig(
                r=lora.r,
                lora_alpha=lora.alpha,
                lora_dropout=lora.dropout,
                target_modules=lora.target_modules,
                task_type="CAUSAL_LM",
            ),
        )
    return model


def batch_loss(
    model, batch: dict[str, torch.Tensor], keys: list[str], teacher: TeacherSignal | None, loss_config: LossConfig
) -> tuple[torch.Tensor, int]:
    """The method's loss on one batch, from the student's hidden states and lm_head (no full logits)."""
    selected, labels = target_positions(batch["labels"])
    hidden = final_hidden(model, batch)[selected]
    head = _unwrapped(model).get_output_embeddings()
    signal = teacher.signal(batch, selected, keys) if teacher is not None and loss_config.method != "ce" else None
    loss = kd_loss(hidden, head.weight, labels, signal, loss_config, student_bias=head.bias)
    return loss, labels.numel()


def prompt_length(item: TokenizedExample) -> int:
    """Tokens before the first target: the prompt an on-policy sample continues."""
    return next((i for i, label in enumerate(item.labels) if label != IGNORE_INDEX), len(item.labels))


@torch.no_grad()
def on_policy_items(
    model,
    items: list[TokenizedExample],
    *,
    pad_token_id: int,
    eos_token_id: int,
    max_new_tokens: int,
    temperature: float,
    seed: int,
) -> list[TokenizedExample]:
    """GKD's on-policy batch: each prompt continued by a sample of the student's own (up to and with
    its end token), every sampled token a target; the loss then compares student and teacher on the
    student's tokens. Seeded, so a resumed run samples the same; the global RNG is left as it was."""
    model = _unwrapped(model)
    was_training = model.training
    model.eval()
    prompts = [item.input_ids[: prompt_length(item)] for item in items]
    width = max(map(len, prompts))
    input_ids = torch.full((len(items), width), pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((len(items), width), dtype=torch.long)
    for row, prompt in enumerate(prompts):  # left padding: every prompt ends where sampling starts
        input_ids[row, width - len(prompt) :] = torch.tensor(prompt)
        attention_mask[row, width - len(prompt) :] = 1
    device = next(model.parameters()).device
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        output = model.generate(
            input_ids=input_ids.to(device),
            attention_mask=attention_mask.to(device),
            do_sample=True,
            temperature=temperature,
            top_k=0,
            top_p=1.0,
            max_new_tokens=max_new_tokens,
            pad_token_id=pad_token_id,
            eos_token_id=eos_token_id,
        )
    model.train(was_training)
    samples = []
    for item, prompt, row in zip(items, prompts, output[:, width:].tolist()):
        if eos_token_id in row:
            row = row[: row.index(eos_token_id) + 1]
        samples.append(
            TokenizedExample(input_ids=prompt + row, labels=[IGNORE_INDEX] * len(prompt) + row, key=item.key)
        )
    return samples


def _unwrapped(model):
    return model.module if hasattr(model, "module") else model


@torch.no_grad()
def validation_loss(
    model,
    items: list[TokenizedExample],
    *,
    teacher: TeacherSignal | None,
    loss_config: LossConfig,
    batch_size: int,
    pad_token_id: int,
    device: torch.device,
) -> float:
    """Token-weighted mean of the training objective over the validation split."""
    was_training = model.training
    model.eval()
    total, tokens = 0.0, 0
    for start in range(0, len(items), batch_size):
        chunk = items[start : start + batch_size]
        batch = {k: v.to(device) for k, v in collate(chunk, pad_token_id=pad_token_id).items()}
        loss, count = batch_loss(model, batch, [i.key for i in chunk], teacher, loss_config)
        total, tokens = total + loss.item() * count, tokens + count
    model.train(was_training)
    return total / max(tokens, 1)


def _micro_batch(
    items: list[TokenizedExample], index: int, *, size: int, per_epoch: int, seed: int, rank: int, world: int
) -> list[TokenizedExample]:
    """Micro-batch number `index` of the whole run for this process; wraps so every slice is full."""
    epoch, within = divmod(index, per_epoch)
    order = torch.randperm(len(items), generator=torch.Generator().manual_seed(seed * 100003 + epoch)).tolist()
    start = (within * world + rank) * size
    return [items[order[(start + j) % len(items)]] for j in range(size)]


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    folders = sorted((Path(output_dir) / "checkpoints").glob("step-*/trainer_state.json"))
    return folders[-1].parent if folders else None


def train(
    *,
    model,
    pad_token_id: int,
    train_items: list[TokenizedExample],
    val_items: list[TokenizedExample],
    config: TrainConfig,
    loss_config: LossConfig,
    teacher: TeacherSignal | None,
    output_dir: str | Path,
    on_progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    eos_token_id: int | None = None,
) -> TrainResult:
    """Train `model` in place; resumes from the latest checkpoint under output_dir/checkpoints.
    With config.lmbda > 0, that share of micro-batches is the student's own samples (on_policy_items,
    which needs eos_token_id), scored by `teacher`."""
    if not train_items:
        raise ValueError("train() needs at least one training example")
    if config.lmbda > 0 and eos_token_id is None:
        raise ValueError("on-policy training (lmbda > 0) needs the tokenizer's eos_token_id to end samples")
    output_dir = Path(output_dir)
    accelerator = Accelerator(
        mixed_precision="bf16" if use_bf16(config.bf16) else "no", cpu=not torch.cuda.is_available()
    )
    torch.manual_seed(config.seed)
    world, rank = accelerator.num_processes, accelerator.process_index
    per_epoch = math.ceil(len(train_items) / (config.batch_size * world))
    max_steps = config.max_steps or math.ceil(config.epochs * per_epoch / config.grad_accumulation)

    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.lr, weight_decay=config.weight_decay)
    scheduler = get_scheduler(
        config.scheduler if config.scheduler != "constant" else "constant_with_warmup",
        optimizer,
        num_warmup_steps=round(config.warmup_ratio * max_steps),
        num_training_steps=max_steps,
    )
    model, optimizer = accelerator.prepare(model, optimizer)
    accelerator.register_for_checkpointing(scheduler)

    state = {"step": 0, "initial_val_loss": None, "best_val_loss": None, "bad_evals": 0, "history": []}
    resume_from = latest_checkpoint(output_dir)
    if resume_from is not None:
        accelerator.load_state(str(resume_from))
        state = json.loads((resume_from / "trainer_state.json").read_text())

    def evaluate_now() -> float:
        return validation_loss(
            model,
            val_items,
            teacher=teacher,
            loss_config=loss_config,
            batch_size=config.batch_size,
            pad_token_id=pad_token_id,
            device=accelerator.device,
        )

    def checkpoint(name: str) -> None:
        folder = output_dir / "checkpoints" / name
        accelerator.save_state(str(folder))
        if accelerator.is_main_process:
            (folder / "trainer_state.json").write_text(json.dumps(state))
            for old in sorted((output_dir / "checkpoints").glob("step-*"))[:-1]:
                shutil.rmtree(old)  # keep the latest only; "best" is separate

    if val_items and state["initial_val_loss"] is None:
        state["initial_val_loss"] = state["best_val_loss"] = evaluate_now()
        _save_best(accelerator, model, output_dir)  # training may never beat the starting point

    model.train()
    outcome, started, tokens_seen, first_step = "finished", time.perf_counter(), 0, state["step"]
    while state["step"] < max_steps:
        if should_stop is not None and should_stop():
            outcome = "cancelled"
            break
        step_loss, on_policy = 0.0, 0
        for micro in range(config.grad_accumulation):
            index = state["step"] * config.grad_accumulation + micro
            chunk = _micro_batch(
                train_items,
                index,
                size=config.batch_size,
                per_epoch=per_epoch,
                seed=config.seed,
                rank=rank,
                world=world,
            )
            seed = (config.seed * 1000003 + index) * world + rank
            if config.lmbda > 0 and random.Random(seed).random() < config.lmbda:
                chunk = on_policy_items(
                    model,
                    chunk,
                    pad_token_id=pad_token_id,
                    eos_token_id=eos_token_id,
                    max_new_tokens=config.on_policy_max_new_tokens,
                    temperature=config.on_policy_temperature,
                    seed=seed,
                )
                on_policy += 1
            batch = {k: v.to(accelerator.device) for k, v in collate(chunk, pad_token_id=pad_token_id).items()}
            last = micro == config.grad_accumulation - 1
            with accelerator.autocast(), accelerator.no_sync(model) if not last else nullcontext():
                loss, count = batch_loss(model, batch, [i.key for i in chunk], teacher, loss_config)
                accelerator.backward(loss / config.grad_accumulation)
            step_loss += loss.item() / config.grad_accumulation
            tokens_seen += int(batch["attention_mask"].sum())
        if config.max_grad_norm is not None:
            accelerator.clip_grad_norm_(trainable, config.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        state["step"] += 1

        record = {"step": state["step"], "loss": step_loss, "lr": scheduler.get_last_lr()[0]}
        if config.lmbda > 0:
            record["on_policy"] = on_policy  # micro-batches of this step on the student's own samples
        improved = False
        if val_items and config.eval_every and (state["step"] % config.eval_every == 0 or state["step"] == max_steps):
            record["val_loss"] = evaluate_now()
            improved = record["val_loss"] < state["best_val_loss"]
            state["best_val_loss"] = min(state["best_val_loss"], record["val_loss"])
            state["bad_evals"] = 0 if improved else state["bad_evals"] + 1
        state["history"].append(record)
        elapsed = time.perf_counter() - started
        done = state["step"] - first_step
        if on_progress is not None:
            on_progress(
                Progress(
                    step=state["step"],
                    max_steps=max_steps,
                    loss=step_loss,
                    lr=record["lr"],
                    tokens_per_s=tokens_seen / elapsed,
                    eta_s=elapsed / done * (max_steps - state["step"]),
                    val_loss=record.get("val_loss"),
                )
            )
        if improved:
            _save_best(accelerator, model, output_dir)
        if config.checkpoint_every and state["step"] % config.checkpoint_every == 0:
            checkpoint(f"step-{state['step']:08d}")
        if config.early_stopping_patience and state["bad_evals"] >= config.early_stopping_patience:
            outcome = "early_stopped"
            break

    if outcome == "cancelled":
        checkpoint(f"step-{state['step']:08d}")  # resume picks up exactly here
    elif (
        (output_dir / "best.pt").exists()
        and state["history"]
        and state["history"][-1].get("val_loss", math.inf) > state["best_val_loss"]
    ):
        _load_best(accelerator, model, output_dir)
    accelerator.wait_for_everyone()
    return TrainResult(
        steps=state["step"],
        outcome=outcome,
        initial_val_loss=state["initial_val_loss"],
        best_val_loss=state["best_val_loss"],
        history=state["history"],
    )


def _trainable_state(model) -> dict[str, torch.Tensor]:
    return {name: p.detach().cpu().clone() for name, p in _unwrapped(model).named_parameters() if p.requires_grad}


def _save_best(accelerator: Accelerator, model, output_dir: Path) -> None:
    """The weights with the lowest validation loss (trainable ones only: the adapter under LoRA)."""
    if accelerator.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
        torch.save(_trainable_state(model), output_dir / "best.pt")


def _load_best(accelerator: Accelerator, model, output_dir: Path) -> None:
    best = torch.load(output_dir / "best.pt", map_location="cpu")
    _unwrapped(accelerator.unwrap_model(model)).load_state_dict(best, strict=False)
