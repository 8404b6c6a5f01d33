"""Planning a distillation job: parse and check a preview/launch body against the traces it names
(a node's, an llm or agent node; a workflow's; or any of the workspace's, gateway traces included,
by filters), resolve the teacher, the student and the judge, and preview what the job would train
on (the verification counts of its trajectories among it) and every reason it would be refused,
without training."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from distillation import selectors
from distillation.models import DistillationJob
from distillation.services.records import metadata_condition_errors, selected_traces, trace_records
from distillation.services.scoring import unscored
from orchestra.distill.config import LOGIT_METHODS, ConfigError, parse_job_config
from orchestra.distill.dataset import IGNORE_INDEX, DatasetError, build_splits, tokenize
from orchestra.distill.verify import STAGES, Judge, model_judge
from orchestra.inference import get_client
from orchestra.inference.base import is_hub_id
from workflows import crypto
from workflows import selectors as workflow_selectors
from workflows import services as workflow_services
from workflows.errors import NotFound, ValidationFailed
from workflows.model_calls import model_resolve
from workflows.models import ModelEndpoint, Trace, Workflow, Workspace

METHODS = ("sft", *sorted(LOGIT_METHODS))
DISTILLABLE = ("llm", "agent")  # the node types whose model calls are traced
# What the core filters the records by (metadata is matched here, in records.py, numbers as numbers).
CORE_FILTERS = {"model", "node", "since", "until"}
TRACE_FILTERS = CORE_FILTERS | {"metadata"}
# `verified`: the verification stages an example must pass (the core's data.verify); `judge`: the
# registered model that judges the semantic stage.
FILTER_FIELDS = TRACE_FILTERS | {"verified", "judge"}
BODY_FIELDS = {"workflow", "node_id", "student", "method", "teacher", "filters", "config"}
# What a tenant's `config` may tune. Everything that names a server, a URL, a key, a file or a
# folder (teacher.model/base_url/store, data.source, output_dir, the student) comes from the
# registered models and the platform's own folders instead, so a job reaches nothing else.
CONFIG_SECTIONS = {"data", "train", "eval", "lora", "loss", "teacher"}
TEACHER_TUNABLES = {"max_new_tokens", "top_k"}
DATA_UNTUNABLE = {"source"}
# Preview's training-time estimate when the workspace has no finished job to measure from: a rough
# CPU figure for small models; a measured tokens/s from the last job replaces it.
ASSUMED_TOKENS_PER_S = 2000.0


@dataclass
class JobPlan:
    """Everything a job needs, resolved from the request body and the node."""

    workspace: Workspace
    workflow: Workflow | None  # None: traces of the whole workspace (the gateway's too)
    node_id: str | None
    teacher: ModelEndpoint
    student: str  # the base as asked for: an endpoint name, HF id or folder
    student_path: str  # what transformers loads
    method: str
    filters: dict[str, Any]
    overrides: dict[str, Any]

    def job_config(self, *, output_dir: str) -> dict[str, Any]:
        """The core's job config: the caller's overrides on top of what the node implies (filters and
        the verification stages come from `filters`)."""
        overrides = json.loads(json.dumps(self.overrides))  # a deep copy to fill in
        teacher = overrides.pop("teacher", {})
        if self.teacher.backend == "transformers":
            teacher_source = {"model": self.teacher.model}
        else:  # the endpoint's own key, to the endpoint's own URL only
            teacher_source = {
                "model": self.teacher.model,
                "base_url": self.teacher.base_url,
                "api_key": crypto.decrypt(self.teacher.api_key_encrypted) or None,
            }
        kind = (
            "recorded" if self.method == "sft" else ("online" if self.teacher.backend == "transformers" else "offline")
        )
        data = overrides.pop("data", {})
        filters = {"model": self.models()} | {k: v for k, v in self.filters.items() if k in CORE_FILTERS}
        if "verified" in self.filters:
            data["verify"] = self.filters["verified"]
        return {
            **overrides,
            "method": self.method,
            "student": {"model": self.student_path},
            "teacher": {"kind": kind, **teacher_source, **teacher},
            "data": {**data, "source": "records", "filters": filters},
            "output_dir": output_dir,
        }

    def node(self) -> dict | None:
        return distilled_node(workflow=self.workflow, node_id=self.node_id) if self.node_id else None

    def models(self) -> list[str]:
        """Whose replies are learnt from: the teacher's, unless filters.model names others."""
        return self.filters.get("model") or [self.teacher.name]

    def traces(self) -> list[Trace]:
        return selected_traces(
            workspace=self.workspace,
            workflow=self.workflow,
            node=self.node(),
            models=self.models(),
            metadata=self.filters.get("metadata"),
        )

    def records(self, traces: list[Trace] | None = None) -> list[dict[str, Any]]:
        return trace_records(
            traces=self.traces() if traces is None else traces, node=self.node(), teacher=self.teacher.name
        )

    def scores_remote_teacher(self) -> bool:
        """Logit KD from a remote teacher: replies recorded without top-k are scored by it first (scoring.py)."""
        return self.method != "sft" and self.teacher.backend != "transformers"

    def judge(self) -> Judge | None:
        """The semantic stage's judge: the registered model named in filters.judge, asked for JSON."""
        name = self.filters.get("judge")
        if not name:
            return None
        return model_judge(get_client(workflow_services.model_spec(model_resolve(workspace=self.workspace, name=name))))


def distilled_node(*, workflow: Workflow, node_id: str) -> dict:
    """The node as the workflow's latest published version (else the draft) defines it; an llm or
    agent node (the nodes whose calls are traced)."""
    node = selectors.node_of(workflow=workflow, node_id=node_id)
    if node is None:
        raise NotFound(f"Workflow has no node {node_id!r}.", path="node_id")
    if node.get("type") not in DISTILLABLE:
        raise ValidationFailed(
            f"Node {node_id!r} is a {node.get('type')!r} node; only llm and agent nodes make "
            f"model calls that can be distilled.",
            path="node_id",
        )
    return node


def _student_path(*, workspace: Workspace, student: str) -> str:
    """What transformers loads for `student`: a registered model of the workspace (a transformers
    model's folder was checked when it was registered) or a Hugging Face id; never a server path."""
    endpoint = ModelEndpoint.objects.filter(workspace=workspace, name=student).first()
    if endpoint is not None and endpoint.backend == "transformers":
        return endpoint.model
    model = endpoint.model if endpoint is not None else student
    if not is_hub_id(model):
        known = (
            ", ".join(ModelEndpoint.objects.filter(workspace=workspace).order_by("name").values_list("name", flat=True))
            or "none registered"
        )
        raise ValidationFailed(
            f"student is a registered model (known: {known}) or a Hugging Face id (org/name); {student!r} is neither.",
            path="student",
        )
    return model


def _config_errors(config: dict) -> list[dict]:
    """The tenant's config overrides that would reach past the job's own data and folders."""
    errors = [
        {
            "path": f"config.{key}",
            "message": f"Not settable here; config sections are {', '.join(sorted(CONFIG_SECTIONS))}.",
        }
        for key in sorted(set(config) - CONFIG_SECTIONS)
    ]
    for section, allowed in (("teacher", TEACHER_TUNABLES), ("data", None)):
        value = config.get(section)
        if value is None:
            continue
        if not isinstance(value, dict):
            errors.append({"path": f"config.{section}", "message": "An object."})
            continue
        refused = set(value) - allowed if allowed is not None else set(value) & DATA_UNTUNABLE
        remedy = (
            (
                "the teacher is a registered model: name it with `teacher`; here only "
                f"{', '.join(sorted(TEACHER_TUNABLES))} may be set"
            )
            if section == "teacher"
            else "a job's data are the node's traces, chosen with `filters`"
        )
        errors += [
            {"path": f"config.{section}.{key}", "message": f"Not settable: {remedy}."} for key in sorted(refused)
        ]
    return errors


def job_plan(*, workspace: Workspace, body: Any) -> JobPlan:
    """Parse a preview/launch body. Malformed fields are a 400 at once; a workflow of another
    workspace or an unknown node is a 404."""
    if not isinstance(body, dict):
        raise ValidationFailed("The request body must be a JSON object.", path="")
    errors = [
        {"path": f, "message": f"Unknown field; valid fields are {', '.join(sorted(BODY_FIELDS))}."}
        for f in sorted(set(body) - BODY_FIELDS)
    ]
    if not isinstance(body.get("student"), str) or not body["student"].strip():
        errors.append({"path": "student", "message": "student is required: a non-empty string."})
    for field in ("workflow", "node_id"):  # optional: without them the source is the workspace's traces
        if body.get(field) is not None and (not isinstance(body[field], str) or not body[field].strip()):
            errors.append({"path": field, "message": f"{field} is a non-empty string, or absent."})
    if body.get("node_id") and not body.get("workflow"):
        errors.append(
            {
                "path": "node_id",
                "message": "node_id names a node of `workflow`: name the workflow too, "
                "or select traces of any node with filters.node.",
            }
        )
    if not body.get("node_id") and not body.get("teacher"):
        errors.append(
            {
                "path": "teacher",
                "message": "teacher is required without a node_id (whose model it "
                "would default to): the registered model whose traces to "
                "learn from.",
            }
        )
    if body.get("method") not in METHODS:
        errors.append({"path": "method", "message": f"method is one of {', '.join(METHODS)}."})
    if body.get("teacher") is not None and not isinstance(body["teacher"], str):
        errors.append({"path": "teacher", "message": "teacher is a model endpoint name."})
    filters = body.get("filters") or {}
    if not isinstance(filters, dict):
        errors.append({"path": "filters", "message": "filters is an object."})
    else:
        errors += [
            {"path": f"filters.{f}", "message": f"Unknown filter; use {', '.join(sorted(FILTER_FIELDS))}."}
            for f in sorted(set(filters) - FILTER_FIELDS)
        ]
        verified = filters.get("verified", [])
        if not isinstance(verified, list) or not all(stage in STAGES for stage in verified):
            errors.append(
                {"path": "filters.verified", "message": f"A list of verification stages: {', '.join(STAGES)}."}
            )
        if filters.get("judge") is not None and not isinstance(filters["judge"], str):
            errors.append({"path": "filters.judge", "message": "The judge is a registered model's name."})
        for field in ("model", "node"):
            value = filters.get(field)
            if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
                errors.append({"path": f"filters.{field}", "message": f"A list of {field} names."})
        if filters.get("metadata") is not None:
            errors += metadata_condition_errors(filters["metadata"], "filters.metadata")
    if not isinstance(body.get("config") or {}, dict):
        errors.append({"path": "config", "message": "config is an object of job config sections (data, train, ...)."})
    else:
        errors += _config_errors(body.get("config") or {})
    if errors:
        raise ValidationFailed(errors)
    workflow = (
        workflow_selectors.workflow_get(workspace=workspace, workflow_id=body["workflow"])
        if body.get("workflow")
        else None
    )
    node = distilled_node(workflow=workflow, node_id=body["node_id"]) if body.get("node_id") else None
    teacher_name = body.get("teacher") or node.get("config", {}).get("model", "auto")
    try:
        teacher = model_resolve(workspace=workspace, name=teacher_name)
    except LookupError as exc:
        raise ValidationFailed(str(exc), path="teacher") from None
    if filters.get("judge"):
        try:
            model_resolve(workspace=workspace, name=filters["judge"])
        except LookupError as exc:
            raise ValidationFailed(str(exc), path="filters.judge") from None
    return JobPlan(
        workspace=workspace,
        workflow=workflow,
        node_id=node["id"] if node else None,
        teacher=teacher,
        student=body["student"],
        student_path=_student_path(workspace=workspace, student=body["student"]),
        method=body["method"],
        filters=filters,
        overrides=body.get("config") or {},
    )


def _tokenizer(path: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)


def _measured_tokens_per_s(workspace: Workspace) -> float:
    last = (
        DistillationJob.objects.filter(workspace=workspace, status="succeeded", progress__isnull=False)
        .order_by("-finished_at")
        .first()
    )
    measured = (last.progress or {}).get("tokens_per_s") if last else None
    return float(measured) if measured else ASSUMED_TOKENS_PER_S


def job_preview(*, plan: JobPlan) -> dict[str, Any]:
    """What the job would train on and every reason it would be refused, without training."""
    refusals: list[dict[str, str]] = []
    out: dict[str, Any] = {
        "matched": 0,
        "with_golden": 0,
        "golden_upsampled": {"train_examples": 0, "repeats": 0},
        "tokens": {"prompt": 0, "output": 0},
        "splits": {"train": 0, "validation": 0, "test": 0},
        "estimated_seconds": None,
        "refusals": refusals,
        "teacher": plan.teacher.name,
        "student": plan.student,
        "method": plan.method,
    }
    try:
        config = parse_job_config(plan.job_config(output_dir=str(settings.DATA_DIR / "distillation" / "preview")))
    except ConfigError as error:
        refusals += [{"path": f"config.{path}", "message": message} for path, message in error.problems]
        return out
    try:
        student_tokenizer = _tokenizer(plan.student_path)
    except Exception as exc:
        refusals.append(
            {
                "path": "student",
                "message": f"Cannot load a tokenizer from {plan.student_path!r} "
                f"({exc}); name a local model folder, a Hugging Face id or "
                f"a registered transformers model.",
            }
        )
        student_tokenizer = None
    if config.uses_logits and student_tokenizer is not None:
        refusals += _logit_refusals(plan=plan, config=config, student_tokenizer=student_tokenizer)

    traces = plan.traces()
    splits = build_splits(plan.records(traces), config.data, judge=plan.judge())
    everything = splits.train + splits.validation + splits.test
    # Upsampling (data.golden_share) repeats golden examples in train: count each once, the repeats apart.
    golden_in_train = [e for e in splits.train if e.golden_output is not None]
    distinct_golden = {id(e) for e in everything if e.golden_output is not None}
    out |= {
        "matched": splits.matched,
        "with_golden": len(distinct_golden),
        "golden_upsampled": {
            "train_examples": len(golden_in_train),
            "repeats": len(golden_in_train) - len({id(e) for e in golden_in_train}),
        },
        "splits": {"train": len(splits.train), "validation": len(splits.validation), "test": len(splits.test)},
        "verification": splits.verification,
    }
    refusals += [{"path": "config.data.min_examples", "message": r} for r in splits.refusals]
    if plan.scores_remote_teacher():
        to_score = len(unscored(traces=traces, teacher=plan.teacher))
        out["teacher_scoring"] = {
            "teacher": plan.teacher.name,
            "recorded": len(traces) - to_score,
            "to_score": to_score,
        }
        if not all(e.golden_output is None and not e.trajectory for e in splits.train + splits.validation):
            refusals.append(
                {
                    "path": "method",
                    "message": f"Offline logit distillation from {plan.teacher.name!r} "
                    f"(a remote server) learns the teacher's own replies, "
                    f"scored token by token; some traces have golden outputs "
                    f"or are agent trajectories (whose turns are scored by a "
                    f"teacher in memory): filter them out or use method "
                    f"'sft'.",
                }
            )
    if student_tokenizer is not None and splits.train:
        out["lora"] = _lora_choice(plan=plan, config=config, tokenizer=student_tokenizer, train=splits.train)
    if student_tokenizer is not None and everything:
        try:
            sizes = [tokenize(e, student_tokenizer, max_seq_len=config.train.max_seq_len) for e in splits.train]
        except DatasetError as exc:
            refusals.append({"path": "student", "message": str(exc)})
            return out
        output_tokens = sum(sum(1 for x in t.labels if x != IGNORE_INDEX) for t in sizes)
        total_tokens = sum(len(t.input_ids) for t in sizes)
        out["tokens"] = {"prompt": total_tokens - output_tokens, "output": output_tokens}
        out["estimated_seconds"] = round(
            _tokens_trained(config, len(splits.train), total_tokens) / _measured_tokens_per_s(plan.workspace), 1
        )
    return out


def _lora_choice(*, plan: JobPlan, config, tokenizer, train: list) -> dict[str, Any]:
    """LoRA or every weight, and why, as the job will decide it (`lora.enabled: auto` looks at the
    student: LoRA for a pretrained base, full fine-tuning for a random-init one)."""
    from orchestra.distill.job import student_lora

    student = None
    if config.lora.enabled == "auto":  # only then is the student loaded to be looked at
        from orchestra.inference.loading import causal_lm_load

        student = causal_lm_load(plan.student_path)
    lora, reason = student_lora(config, student=student, tokenizer=tokenizer, examples=train)
    return {"enabled": lora.enabled, "fine_tuning": "lora" if lora.enabled else "full", "reason": reason}


def _logit_refusals(*, plan: JobPlan, config, student_tokenizer) -> list[dict[str, str]]:
    from orchestra.distill.teacher import TeacherError, check_same_vocabulary

    if plan.teacher.backend != "transformers":
        if config.teacher.kind == "online":
            return [
                {
                    "path": "teacher",
                    "message": f"An online logit teacher runs in the training process; "
                    f"{plan.teacher.name!r} is a remote server: use kind 'offline' "
                    f"with recorded top-k, or method 'sft'.",
                }
            ]
        return []
    try:
        check_same_vocabulary(student_tokenizer, _tokenizer(plan.teacher.model))
    except TeacherError as exc:
        return [{"path": "student", "message": str(exc)}]
    return []


def _tokens_trained(config, train_examples: int, train_tokens: int) -> float:
    """Tokens the optimizer will see: epochs over the set, or max_steps worth of batches."""
    if not train_examples:
        return 0.0
    per_step = config.train.batch_size * config.train.grad_accumulation
    steps_per_epoch = math.ceil(train_examples / per_step)
    steps = config.train.max_steps or config.train.epochs * steps_per_epoch
    return train_tokens * steps / steps_per_epoch
