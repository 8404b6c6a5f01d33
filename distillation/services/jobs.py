"""Distillation jobs: plan one from a node's traces, preview it, run it on the `training` queue
under a lease (a dead trainer's job resumes from its checkpoint elsewhere). The training itself is
`orchestra.distill.run_job`."""
from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from distillation import events
from distillation.models import DistillationJob
from orchestra.distill.config import LOGIT_METHODS, ConfigError, parse_job_config
from orchestra.distill.dataset import IGNORE_INDEX, build_splits, tokenize
from orchestra.inference.base import is_hub_id
from workflows import crypto
from workflows import selectors as workflow_selectors
from workflows.errors import Conflict, NotFound, ValidationFailed
from workflows import leases
from workflows.model_calls import model_resolve
from workflows.models import ModelEndpoint, Trace, Workflow, Workspace

log = logging.getLogger(__name__)

METHODS = ("sft", *sorted(LOGIT_METHODS))
FILTER_FIELDS = {"model", "since", "until", "metadata"}
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


# --- Planning a job -------------------------------------------------------------------------


@dataclass
class JobPlan:
    """Everything a job needs, resolved from the request body and the node."""

    workflow: Workflow
    node_id: str
    teacher: ModelEndpoint
    student: str            # the base as asked for: an endpoint name, HF id or folder
    student_path: str       # what transformers loads
    method: str
    filters: dict[str, Any]
    overrides: dict[str, Any]

    def job_config(self, *, output_dir: str) -> dict[str, Any]:
        """The core's job config: the caller's overrides on top of what the node implies."""
        overrides = json.loads(json.dumps(self.overrides))  # a deep copy to fill in
        teacher = overrides.pop("teacher", {})
        if self.teacher.backend == "transformers":
            teacher_source = {"model": self.teacher.model}
        else:  # the endpoint's own key, to the endpoint's own URL only
            teacher_source = {"model": self.teacher.model, "base_url": self.teacher.base_url,
                              "api_key": crypto.decrypt(self.teacher.api_key_encrypted) or None}
        kind = "recorded" if self.method == "sft" else (
            "online" if self.teacher.backend == "transformers" else "offline")
        data = overrides.pop("data", {})
        filters = {"model": [self.teacher.name]} | self.filters
        return {**overrides, "method": self.method, "student": {"model": self.student_path},
                "teacher": {"kind": kind, **teacher_source, **teacher},
                "data": {**data, "source": "records", "filters": filters}, "output_dir": output_dir}


def llm_node(*, workflow: Workflow, node_id: str) -> dict:
    """The node as the workflow's latest published version (else the draft) defines it."""
    latest = workflow.versions.order_by("-version").first()
    graph = latest.graph if latest is not None else workflow.graph
    node = next((n for n in graph.get("nodes", []) if n.get("id") == node_id), None)
    if node is None:
        raise NotFound(f"Workflow has no node {node_id!r}.", path="node_id")
    if node.get("type") != "llm":
        raise ValidationFailed(f"Node {node_id!r} is a {node.get('type')!r} node; only llm nodes make model "
                               f"calls that can be distilled.", path="node_id")
    return node


def _student_path(*, workspace: Workspace, student: str) -> str:
    """What transformers loads for `student`: a registered model of the workspace (a transformers
    model's folder was checked when it was registered) or a Hugging Face id; never a server path."""
    endpoint = ModelEndpoint.objects.filter(workspace=workspace, name=student).first()
    if endpoint is not None and endpoint.backend == "transformers":
        return endpoint.model
    model = endpoint.model if endpoint is not None else student
    if not is_hub_id(model):
        known = ", ".join(ModelEndpoint.objects.filter(workspace=workspace).order_by("name")
                          .values_list("name", flat=True)) or "none registered"
        raise ValidationFailed(f"student is a registered model (known: {known}) or a Hugging Face id (org/name); "
                               f"{student!r} is neither.", path="student")
    return model


def _config_errors(config: dict) -> list[dict]:
    """The tenant's config overrides that would reach past the job's own data and folders."""
    errors = [{"path": f"config.{key}", "message": f"Not settable here; config sections are "
                                                   f"{', '.join(sorted(CONFIG_SECTIONS))}."}
              for key in sorted(set(config) - CONFIG_SECTIONS)]
    for section, allowed in (("teacher", TEACHER_TUNABLES), ("data", None)):
        value = config.get(section)
        if value is None:
            continue
        if not isinstance(value, dict):
            errors.append({"path": f"config.{section}", "message": "An object."})
            continue
        refused = set(value) - allowed if allowed is not None else set(value) & DATA_UNTUNABLE
        remedy = ("the teacher is a registered model: name it with `teacher`; here only "
                  f"{', '.join(sorted(TEACHER_TUNABLES))} may be set") if section == "teacher" else \
            "a job's data are the node's traces, chosen with `filters`"
        errors += [{"path": f"config.{section}.{key}", "message": f"Not settable: {remedy}."}
                   for key in sorted(refused)]
    return errors


def job_plan(*, workspace: Workspace, body: Any) -> JobPlan:
    """Parse a preview/launch body. Malformed fields are a 400 at once; a workflow of another
    workspace or an unknown node is a 404."""
    if not isinstance(body, dict):
        raise ValidationFailed("The request body must be a JSON object.", path="")
    errors = [{"path": f, "message": f"Unknown field; valid fields are {', '.join(sorted(BODY_FIELDS))}."}
              for f in sorted(set(body) - BODY_FIELDS)]
    for field in ("workflow", "node_id", "student"):
        if not isinstance(body.get(field), str) or not body[field].strip():
            errors.append({"path": field, "message": f"{field} is required: a non-empty string."})
    if body.get("method") not in METHODS:
        errors.append({"path": "method", "message": f"method is one of {', '.join(METHODS)}."})
    if body.get("teacher") is not None and not isinstance(body["teacher"], str):
        errors.append({"path": "teacher", "message": "teacher is a model endpoint name."})
    filters = body.get("filters") or {}
    if not isinstance(filters, dict):
        errors.append({"path": "filters", "message": "filters is an object."})
    else:
        errors += [{"path": f"filters.{f}", "message": f"Unknown filter; use {', '.join(sorted(FILTER_FIELDS))}."}
                   for f in sorted(set(filters) - FILTER_FIELDS)]
    if not isinstance(body.get("config") or {}, dict):
        errors.append({"path": "config", "message": "config is an object of job config sections (data, train, ...)."})
    else:
        errors += _config_errors(body.get("config") or {})
    if errors:
        raise ValidationFailed(errors)
    workflow = workflow_selectors.workflow_get(workspace=workspace, workflow_id=body["workflow"])
    node = llm_node(workflow=workflow, node_id=body["node_id"])
    teacher_name = body.get("teacher") or node.get("config", {}).get("model", "auto")
    try:
        teacher = model_resolve(workspace=workspace, name=teacher_name)
    except LookupError as exc:
        raise ValidationFailed(str(exc), path="teacher") from None
    return JobPlan(workflow=workflow, node_id=node["id"], teacher=teacher, student=body["student"],
                   student_path=_student_path(workspace=workspace, student=body["student"]), method=body["method"],
                   filters=filters, overrides=body.get("config") or {})


def trace_records(*, workflow: Workflow, node_id: str) -> list[dict[str, Any]]:
    """The node's successful calls as the core's records (dataset.py); the golden output wins there."""
    traces = Trace.objects.filter(workflow=workflow, node_id=node_id, status="ok").order_by("created_at")
    return [{"messages": t.messages, "output": t.output, "golden_output": t.golden_output,
             "topk": _topk(t.top_logprobs), "model": t.model, "node": t.node_id,
             "created_at": t.created_at.isoformat(), "status": t.status, "metadata": t.metadata}
            for t in traces]


def _topk(top_logprobs: list | None) -> list | None:
    """Traces keep (token, logprob) pairs; the core reads vLLM-style {token_id|token, logprob}."""
    if not top_logprobs:
        return None
    return [[{"token_id" if isinstance(token, int) else "token": token, "logprob": logprob}
             for token, logprob in position] for position in top_logprobs]


def _tokenizer(path: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)


def _measured_tokens_per_s(workspace: Workspace) -> float:
    last = (DistillationJob.objects.filter(workspace=workspace, status="succeeded", progress__isnull=False)
            .order_by("-finished_at").first())
    measured = (last.progress or {}).get("tokens_per_s") if last else None
    return float(measured) if measured else ASSUMED_TOKENS_PER_S


def job_preview(*, plan: JobPlan) -> dict[str, Any]:
    """What the job would train on and every reason it would be refused, without training."""
    refusals: list[dict[str, str]] = []
    out: dict[str, Any] = {"matched": 0, "with_golden": 0, "tokens": {"prompt": 0, "output": 0},
                           "splits": {"train": 0, "validation": 0, "test": 0}, "estimated_seconds": None,
                           "refusals": refusals, "teacher": plan.teacher.name, "student": plan.student,
                           "method": plan.method}
    try:
        config = parse_job_config(plan.job_config(output_dir=str(settings.DATA_DIR / "distillation" / "preview")))
    except ConfigError as error:
        refusals += [{"path": f"config.{path}", "message": message} for path, message in error.problems]
        return out
    try:
        student_tokenizer = _tokenizer(plan.student_path)
    except Exception as exc:
        refusals.append({"path": "student", "message": f"Cannot load a tokenizer from {plan.student_path!r} "
                                                       f"({exc}); name a local model folder, a Hugging Face id or "
                                                       f"a registered transformers model."})
        student_tokenizer = None
    if config.uses_logits and student_tokenizer is not None:
        refusals += _logit_refusals(plan=plan, config=config, student_tokenizer=student_tokenizer)

    records = trace_records(workflow=plan.workflow, node_id=plan.node_id)
    splits = build_splits(records, config.data)
    everything = splits.train + splits.validation + splits.test
    out |= {"matched": splits.matched, "with_golden": sum(e.golden_output is not None for e in everything),
            "splits": {"train": len(splits.train), "validation": len(splits.validation), "test": len(splits.test)}}
    refusals += [{"path": "config.data.min_examples", "message": r} for r in splits.refusals]
    if config.teacher.kind == "offline" and config.teacher.base_url and \
            not all(e.topk and e.golden_output is None for e in splits.train + splits.validation):
        refusals.append({"path": "method", "message": f"Offline logit distillation from {plan.teacher.name!r} (a "
                                                      f"remote server) needs top-k log-probs on every trace, and some "
                                                      f"have none (or have golden outputs): use method 'sft'."})
    if student_tokenizer is not None and everything:
        sizes = [tokenize(e, student_tokenizer, max_seq_len=config.train.max_seq_len) for e in splits.train]
        output_tokens = sum(sum(1 for x in t.labels if x != IGNORE_INDEX) for t in sizes)
        total_tokens = sum(len(t.input_ids) for t in sizes)
        out["tokens"] = {"prompt": total_tokens - output_tokens, "output": output_tokens}
        out["estimated_seconds"] = round(_tokens_trained(config, len(splits.train), total_tokens)
                                         / _measured_tokens_per_s(plan.workflow.workspace), 1)
    return out


def _logit_refusals(*, plan: JobPlan, config, student_tokenizer) -> list[dict[str, str]]:
    from orchestra.distill.teacher import TeacherError, check_same_vocabulary

    if plan.teacher.backend != "transformers":
        if config.teacher.kind == "online":
            return [{"path": "teacher", "message": f"An online logit teacher runs in the training process; "
                                                   f"{plan.teacher.name!r} is a remote server: use kind 'offline' "
                                                   f"with recorded top-k, or method 'sft'."}]
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


# --- Job lifecycle -------------------------------------------------------------------------


def job_output_dir(job: DistillationJob) -> Path:
    return settings.DATA_DIR / "distillation" / str(job.id)


def job_create(*, workspace: Workspace, body: Any) -> DistillationJob:
    """Preview, and only when nothing is refused store a queued job and hand it to a trainer."""
    plan = job_plan(workspace=workspace, body=body)
    preview = job_preview(plan=plan)
    if preview["refusals"]:
        raise ValidationFailed(preview["refusals"])
    with transaction.atomic():
        job = DistillationJob.objects.create(
            workspace=workspace, workflow=plan.workflow, node_id=plan.node_id, filters=plan.filters,
            teacher=plan.teacher.name, student=plan.student, method=plan.method, config=plan.overrides)
        events.record(job_id=job.id, type="job_queued", data={"preview": preview})
        transaction.on_commit(lambda: job_enqueue(job.id))
    return job


def job_enqueue(job_id) -> None:
    from distillation.tasks import distillation_job_run_task

    DistillationJob.objects.filter(pk=job_id).update(enqueued_at=timezone.now())
    distillation_job_run_task.apply_async(args=[str(job_id)])


def job_cancel(*, job: DistillationJob) -> DistillationJob:
    """A queued job stops now; a running one at its next optimizer step (its checkpoint stays)."""
    with transaction.atomic():
        job = DistillationJob.objects.select_for_update().get(pk=job.pk)
        if job.status not in DistillationJob.ACTIVE:
            raise Conflict(f"Job is already {job.status}.", path="status")
        job.cancel_requested = True
        if job.status == "queued":
            _finish(job, status="cancelled", error="Cancelled by request.")
        else:
            job.save(update_fields=["cancel_requested"])
    return job


def _finish(job: DistillationJob, *, status: str, error: str = "") -> None:
    job.status, job.error, job.finished_at = status, error, timezone.now()
    job.lease_owner, job.lease_expires_at = "", None
    # Named fields only: event_seq in memory is stale once events have been recorded.
    job.save(update_fields=["status", "error", "finished_at", "lease_owner", "lease_expires_at", "cancel_requested",
                            "report", "artifacts"])
    events.record(job_id=job.id, type=f"job_{status}", data={"error": error or None})


def jobs_sweep() -> list[str]:
    """Re-enqueue jobs whose trainer died or whose queue message was lost (see workflows/leases.py)."""
    job_ids = leases.orphans(DistillationJob)
    for job_id in job_ids:
        log.info("sweeper: re-enqueueing distillation job %s", job_id)
        job_enqueue(job_id)
    return job_ids


def job_execute(*, job_id) -> str | None:
    """Claim and train a job to the end; a second call after a crash resumes from its checkpoint."""
    from orchestra.distill.job import run_job

    owner = leases.worker_id()
    job = leases.claim(DistillationJob, pk=job_id, owner=owner, statuses=DistillationJob.ACTIVE)
    if job is None:
        return None
    if job.cancel_requested:  # cancelled while its trainer was dead: nothing left to train
        with transaction.atomic():
            _finish(job, status="cancelled", error="Cancelled by request.")
        return "cancelled"
    keeper = leases.LeaseKeeper(DistillationJob, job.id, owner)
    keeper.start()
    resumed = job.started_at is not None
    if not resumed:
        DistillationJob.objects.filter(pk=job.pk).update(started_at=timezone.now())
    events.record(job_id=job.id, type="job_started", data={"resumed": resumed})

    def should_stop() -> bool:
        return keeper.lost.is_set() or DistillationJob.objects.filter(pk=job.pk, cancel_requested=True).exists()

    try:
        plan = job_plan(workspace=job.workspace, body={
            "workflow": str(job.workflow_id), "node_id": job.node_id, "student": job.student,
            "method": job.method, "teacher": job.teacher, "filters": job.filters, "config": job.config})
        result = run_job(plan.job_config(output_dir=str(job_output_dir(job))),
                         records=trace_records(workflow=plan.workflow, node_id=plan.node_id),
                         on_progress=lambda update: _progress(job.pk, update), should_stop=should_stop)
    except Exception as exc:  # data, teacher or training problems end the job, visibly
        log.exception("distillation job %s failed", job.id)
        outcome, report, artifacts, error = "failed", None, {}, f"{type(exc).__name__}: {exc}"
    else:
        outcome = "cancelled" if result.report["outcome"] == "cancelled" else "succeeded"
        report, artifacts, error = result.report, result.artifacts, ""
    finally:
        keeper.stopped.set()
    return _record_outcome(job.pk, owner, outcome=outcome, report=report, artifacts=artifacts, error=error)


@transaction.atomic
def _record_outcome(job_pk, owner: str, *, outcome: str, report, artifacts: dict, error: str) -> str | None:
    job = DistillationJob.objects.select_for_update().get(pk=job_pk)
    if job.lease_owner != owner:  # another trainer took over while this one stalled: it decides
        log.warning("distillation job %s: finished without the lease; outcome %s dropped", job.pk, outcome)
        return None
    if outcome == "cancelled" and not job.cancel_requested:
        return None  # stopped because the lease was lost, not because anyone asked
    job.report, job.artifacts = report, artifacts
    if outcome == "succeeded" and report.get("after") is not None:
        events.record(job_id=job.pk, type="evaluation", data={
            k: report.get(k) for k in ("baseline", "after", "verdict", "table")})
    _finish(job, status=outcome, error=error)
    return outcome


def _progress(job_pk, update: dict[str, Any]) -> None:
    """Fold one core progress update into the job row and its event stream."""
    if update.get("stage") != "train" or "step" not in update:
        events.record(job_id=job_pk, type="progress", data=update)
        return
    progress = {"step": update["step"], "total_steps": update["max_steps"], "loss": update["loss"],
                "learning_rate": update["lr"], "tokens_per_s": update["tokens_per_s"], "eta_s": update["eta_s"]}
    point = {"step": update["step"], "loss": update["loss"]}
    if update.get("val_loss") is not None:
        point["validation_loss"] = update["val_loss"]
    with transaction.atomic():
        job = DistillationJob.objects.select_for_update().get(pk=job_pk)
        # A resumed job repeats the steps after its last checkpoint: the newer values win.
        job.losses = [p for p in job.losses if p["step"] < point["step"]] + [point]
        job.progress = progress
        job.save(update_fields=["losses", "progress"])
        events.record(job_id=job_pk, type="progress", data={"stage": "train", **progress,
                                                              "validation_loss": point.get("validation_loss")})
