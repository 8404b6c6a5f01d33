"""One validated config describes a distillation job (like DistillKit's): data, teacher, student,
method, loss, LoRA, training, evaluation and where to write. Every problem is reported at once,
each with its path, before any work starts."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from orchestra.distill.losses import LossConfig

Method = Literal["sft", "forward_kl", "reverse_kl", "adaptive_kl", "jsd", "skew_kl", "skew_reverse_kl"]
LOGIT_METHODS = {"forward_kl", "reverse_kl", "adaptive_kl", "jsd", "skew_kl", "skew_reverse_kl"}


class ConfigError(ValueError):
    """All problems of a job config, each as `path: problem`."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("invalid distillation job config:\n" + "\n".join(f"  {p}: {m}" for p, m in problems))


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FilterConfig(_Section):
    """Which records to use. `metadata` is a condition tree like Bedrock's invocation-log filters:
    {"equals": {"key": k, "value": v}}, {"not_equals": ...}, {"in": {"key": k, "values": [...]}},
    {"all": [cond, ...]}, {"any": [cond, ...]}."""

    model: list[str] | None = None
    node: list[str] | None = None
    status: list[str] | None = None
    since: datetime | None = None
    until: datetime | None = None
    metadata: dict[str, Any] | None = None


class DataConfig(_Section):
    source: str = Field("records", description='a JSONL path, or "records" when the caller passes them')
    filters: FilterConfig = FilterConfig()
    min_examples: int = Field(100, ge=1)
    max_examples: int = Field(15000, ge=1)
    seed: int = 0
    validation_fraction: float = Field(0.1, ge=0.0, lt=1.0)
    test_fraction: float = Field(0.1, ge=0.0, lt=1.0)
    golden_share: float | None = Field(None, ge=0.0, lt=1.0, description="target share of golden examples in train")
    verify: list[Literal["format", "execution", "semantic"]] = Field(
        default_factory=lambda: ["format", "execution"],
        description="verification stages an example must pass to be trained on (verify.py); all are counted",
    )


class TeacherConfig(_Section):
    kind: Literal["recorded", "relabel", "online", "offline"] = "recorded"
    model: str | None = Field(None, description="local path / HF id, or the served model name with base_url")
    base_url: str | None = None
    # The key itself, sent to base_url and nowhere else: never the name of a variable to read, so a
    # config cannot make the trainer send its own environment anywhere. Not shown or serialised.
    api_key: str | None = Field(None, repr=False, exclude=True)
    max_new_tokens: int = Field(512, ge=1)
    top_k: int = Field(64, ge=1, le=4096)
    store: str | None = Field(None, description="folder of the offline top-k store (default: output_dir/teacher_topk)")
    store_format: Literal["compact", "float16"] = Field(
        "compact", description="compact: ~42 B/token at k=32 (4-bit log-probs); float16: exact, 4 B per kept logit"
    )


class StudentConfig(_Section):
    model: str


class LoraConfig(_Section):
    # "auto": LoRA for a pretrained base, full fine-tuning for a random-init student, where a low-rank
    # update of random weights cannot learn the task (train.resolve_lora decides, the report says why).
    enabled: bool | Literal["auto"] = "auto"
    r: int = Field(16, ge=1)
    alpha: int = Field(32, ge=1)
    dropout: float = Field(0.05, ge=0.0, lt=1.0)
    target_modules: list[str] | str = "all-linear"


class TrainConfig(_Section):
    epochs: int = Field(1, ge=1)
    max_steps: int | None = Field(None, ge=1, description="optimizer steps; overrides epochs")
    lr: float = Field(2e-4, gt=0)
    warmup_ratio: float = Field(0.05, ge=0.0, lt=1.0)
    scheduler: Literal["cosine", "linear", "constant"] = "cosine"
    batch_size: int = Field(8, ge=1)
    grad_accumulation: int = Field(1, ge=1)
    max_grad_norm: float | None = Field(1.0, gt=0)
    weight_decay: float = Field(0.0, ge=0.0)
    max_seq_len: int = Field(1024, ge=8)
    bf16: Literal["auto", "on", "off"] = "auto"
    gradient_checkpointing: bool = False
    seed: int = 0
    eval_every: int | None = Field(50, ge=1, description="optimizer steps between validation passes")
    early_stopping_patience: int | None = Field(3, ge=1, description="validation passes without improvement")
    checkpoint_every: int | None = Field(100, ge=1)
    # On-policy distillation as TRL's GKD does it (Agarwal et al. 2024): a share lmbda of the
    # micro-batches trains on the student's own samples of the prompts, scored by the teacher.
    lmbda: float = Field(0.0, ge=0.0, le=1.0, description="share of batches on the student's own samples")
    on_policy_max_new_tokens: int = Field(128, ge=1, description="longest student sample of an on-policy batch")
    on_policy_temperature: float = Field(0.9, gt=0.0, description="sampling temperature of those samples (TRL's)")


class EvalConfig(_Section):
    enabled: bool = True
    baseline: bool = True
    max_new_tokens: int = Field(256, ge=1)
    batch_size: int = Field(8, ge=1)
    max_examples: int | None = Field(None, ge=1)
    samples: int = Field(5, ge=0, description="held-out examples shown in the report, reply by reply")
    judge: bool = Field(
        False,
        description="judge correctness with the job's judge model on prompts without a "
        "golden label (golden labels are always used)",
    )


class JobConfig(_Section):
    data: DataConfig = DataConfig()
    teacher: TeacherConfig = TeacherConfig()
    student: StudentConfig
    method: Method = "sft"
    loss: dict[str, Any] = Field(default_factory=dict, description="LossConfig fields other than method")
    lora: LoraConfig = LoraConfig()
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()
    output_dir: str

    @model_validator(mode="after")
    def _consistent(self) -> "JobConfig":
        problems: list[tuple[str, str]] = []
        if self.method in LOGIT_METHODS and self.teacher.kind not in ("online", "offline"):
            problems.append(
                (
                    "teacher.kind",
                    f"method {self.method!r} needs the teacher's logits: "
                    f"use 'online' or 'offline' (got {self.teacher.kind!r}), or method 'sft'",
                )
            )
        if self.method == "sft" and self.teacher.kind in ("online", "offline"):
            problems.append(
                (
                    "method",
                    f"teacher.kind {self.teacher.kind!r} gives logits; pick a logit method "
                    f"({', '.join(sorted(LOGIT_METHODS))}) or teacher.kind 'recorded'/'relabel'",
                )
            )
        if self.teacher.kind == "online" and not self.teacher.model:
            problems.append(("teacher.model", "required for an online teacher (a local path or model id)"))
        if self.teacher.kind == "relabel" and not (self.teacher.model or self.teacher.base_url):
            problems.append(
                ("teacher.model", "required for relabelling (with base_url for a server, alone for a local model)")
            )
        if self.train.lmbda > 0 and (self.teacher.kind != "online" or not self.uses_logits):
            problems.append(
                (
                    "train.lmbda",
                    f"on-policy batches are the student's own samples, scored by the teacher "
                    f"as they are written: they need a logit method and teacher.kind "
                    f"'online' (got method {self.method!r}, teacher.kind "
                    f"{self.teacher.kind!r}), or lmbda 0",
                )
            )
        if self.train.lmbda > 0 and self.train.on_policy_max_new_tokens >= self.train.max_seq_len:
            # a sample longer than the window is cut anyway; unbounded it is a tenant's CPU and memory
            problems.append(
                (
                    "train.on_policy_max_new_tokens",
                    f"must be below train.max_seq_len ({self.train.max_seq_len}): a sample is part of the sequence",
                )
            )
        if self.data.validation_fraction + self.data.test_fraction >= 1.0:
            problems.append(("data.test_fraction", "validation_fraction + test_fraction must be below 1"))
        if self.data.min_examples > self.data.max_examples:
            problems.append(("data.min_examples", f"must not exceed max_examples ({self.data.max_examples})"))
        try:
            self.loss_config()
        except ValidationError as error:
            problems += [("loss." + ".".join(map(str, e["loc"])), e["msg"]) for e in error.errors()]
        if problems:
            raise ConfigError(problems)
        return self

    def loss_config(self) -> LossConfig:
        return LossConfig(method="ce" if self.method == "sft" else self.method, **self.loss)

    @property
    def uses_logits(self) -> bool:
        return self.method in LOGIT_METHODS


def parse_job_config(raw: dict[str, Any]) -> JobConfig:
    """Validate a plain dict; raise ConfigError listing every problem with its path."""
    try:
        return JobConfig.model_validate(raw)
    except ConfigError:
        raise
    except ValidationError as error:
        problems = []
        for e in error.errors():
            nested = e.get("ctx", {}).get("error")
            if isinstance(nested, ConfigError):
                problems += nested.problems
            else:
                problems.append((".".join(map(str, e["loc"])) or "(top level)", e["msg"]))
        raise ConfigError(problems) from None


def load_job_config(path: str | Path) -> JobConfig:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError([(str(path), f"cannot read YAML: {error}")]) from None
    if not isinstance(raw, dict):
        raise ConfigError([(str(path), "must be a YAML mapping with at least student and output_dir")])
    return parse_job_config(raw)
