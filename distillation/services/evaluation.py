"""Evaluation runs: a finished agent job's models (its student, its teacher, the untrained base)
drive the job's workflow end to end on held-out cases, and task success is counted per model.

A case is a run of the node that the job did not train on: its trajectory's prompt fell in the
job's test split (the split is a hash of the prompt, so this is the split the job made), else the
newest runs it did not train on (the validation split, or runs made after the job started). Each
case runs again once per model, as a run of the workflow's latest version with trigger
"evaluation" on the runs queue, where `evaluation_call` (on the model-selection seam) has the
evaluated model answer the node. What happens in those runs is no production traffic: their traces
are kept out of distillation, savings, shadow stats and routing (workflows.models.in_evaluation).

The agent's tools are really called, so every tool it offers must be marked safe to call in
evaluation runs (`evaluation: "call"` in its tool entry), or nothing is started.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from distillation.models import DistillationJob, EvaluationRun
from distillation.services.deployments import job_deploy
from distillation.services.jobs import job_output_dir, stored_plan
from distillation.services.plans import distilled_node
from distillation.services.records import agent_attempts
from orchestra.distill.config import parse_job_config
from orchestra.distill.dataset import example_from, split_of
from orchestra.distill.evaluate import wilson_interval
from orchestra.distill.trajectories import trajectory_record
from orchestra.engine import ModelCall
from orchestra.engine.nodes.llm import InvalidReply, parse_json_reply
from orchestra.engine.tools import tool_name
from workflows import runs as workflow_runs
from workflows.errors import Conflict, ValidationFailed
from workflows.model_calls import MakeTrace
from workflows.models import ModelEndpoint, NodeRun, Run, RunEvent, Trace, Workflow

DEFAULT_CASES = 20
MAX_CASES = 200
DEFAULT_MODELS = ("student", "teacher")
SUCCESS_MEANS = (
    "The run succeeded, every tool call in it succeeded, and the agent's answer equals the case's "
    "golden label where it has one, else the answer the case's own run gave (the teacher's): equal "
    "JSON values for a JSON answer, the same text (surrounding whitespace aside) otherwise."
)


def evaluation_call(*, run: Run, call: ModelCall, make_trace: MakeTrace) -> Trace | None:
    """The model-selection seam's selector for evaluation runs: the evaluated model answers the
    job's node; the run's other nodes are left to their own models."""
    if run.trigger != "evaluation":
        return None
    evaluation = EvaluationRun.objects.filter(run_id=run.id).select_related("job").first()
    if evaluation is None or evaluation.job.node_id != call.node_id:
        return None
    trace = make_trace(model=evaluation.endpoint, call_key=call.call_key, stream=True)
    trace.save()
    return trace


# --- Starting them ------------------------------------------------------------------------------


def evaluation_start(*, job: DistillationJob, cases: int, models: list[str]) -> dict[str, Any]:
    """Start evaluation runs of up to `cases` held-out cases, one per case and model, and answer the
    job's evaluation report. Refused (nothing started) for a job that did not succeed, one of no
    agent node, an agent whose tools are not all marked safe to call, or a model that cannot answer."""
    if job.status != "succeeded":
        raise Conflict(f"Only a succeeded job is evaluated end to end; this one is {job.status}.", path="status")
    node = _agent_node(job)
    problems = _unsafe_tools(job.workflow, node)
    if problems:
        raise ValidationFailed(problems)
    models = list(dict.fromkeys(models))
    answering = {model: _registered_model(job, model) for model in models if model != "student"}
    chosen = held_out_cases(job=job, node=node, limit=cases)
    if not chosen:
        raise Conflict(
            f"Node {job.node_id!r} has no finished runs the job did not train on: run the workflow on new "
            f"inputs, then evaluate.",
            path="cases",
        )
    if "student" in models:  # registered as a model of its own: the node's deployment is left as it is
        answering["student"] = _student_model(job)
    with transaction.atomic():  # every run with its EvaluationRun, before a worker sees it
        for case, expected, expected_from in chosen:
            for model in models:
                run, _ = workflow_runs.run_start(
                    workflow=job.workflow, inputs=case.inputs, trigger="evaluation", trigger_ref=str(case.id)
                )
                EvaluationRun.objects.create(
                    job=job,
                    run=run,
                    model=model,
                    endpoint=answering[model],
                    case=case,
                    expected=expected,
                    expected_from=expected_from,
                )
    return evaluation_report(job=job)


def _agent_node(job: DistillationJob) -> dict:
    if job.workflow is None or not job.node_id:
        raise ValidationFailed(
            "Evaluation runs drive the job's agent node end to end; this job learnt from traces of no one node.",
            path="node_id",
        )
    node = distilled_node(workflow=job.workflow, node_id=job.node_id)
    if node["type"] != "agent":
        raise ValidationFailed(
            f"Node {job.node_id!r} is an {node['type']} node; evaluation runs drive an agent node end to end "
            f"(an llm node's held-out evaluation is the job's report).",
            path="node_id",
        )
    return node


def _unsafe_tools(workflow: Workflow, node: dict) -> list[dict[str, str]]:
    """A problem for each tool entry of the agent that is not marked safe to call in an evaluation."""
    return [
        {
            "path": f"tools[{index}].evaluation",
            "message": f"Tool {_tool_label(workflow, tool)!r} of node {node['id']!r} is not marked safe to call "
            f'in evaluation runs: set its "In evaluation runs" to "call" if calling it has no side effects.',
        }
        for index, tool in enumerate(node["config"].get("tools") or [])
        if tool.get("evaluation", "refuse") != "call"
    ]


def _tool_label(workflow: Workflow, tool: dict) -> str:
    """The tool's name as the model is offered it (an MCP entry: its server's)."""
    if tool.get("kind") == "workflow":
        called = Workflow.objects.filter(workspace_id=workflow.workspace_id, id=tool.get("workflow")).first()
        return tool.get("name") or (tool_name(called.name) if called else str(tool.get("workflow")))
    if tool.get("kind") == "mcp":
        return f"MCP server {tool.get('server')}"
    return str(tool.get("name"))


def _registered_model(job: DistillationJob, model: str) -> str:
    """The teacher, or the untrained student base, as a registered model."""
    name = job.teacher if model == "teacher" else job.student
    if not ModelEndpoint.objects.filter(workspace_id=job.workspace_id, name=name).exists():
        what = "teacher" if model == "teacher" else "untrained student's base"
        raise ValidationFailed(
            f"The {what} {name!r} is not a registered model: register it (POST /api/models) to evaluate it.",
            path="models",
        )
    return name


def _student_model(job: DistillationJob) -> str:
    """The trained student's model: the one it was deployed as, else registered now (job_deploy)."""
    if job.model and ModelEndpoint.objects.filter(workspace_id=job.workspace_id, name=job.model).exists():
        return job.model
    return job_deploy(job=job).name


def held_out_cases(*, job: DistillationJob, node: dict, limit: int) -> list[tuple[Run, Any, str]]:
    """Up to `limit` finished runs of the node the job did not train on, newest first, each with the
    answer an evaluation run should reach and where that answer comes from (golden, teacher)."""
    plan = stored_plan(job)
    data = parse_job_config(plan.job_config(output_dir=str(job_output_dir(job)))).data
    config = node["config"]
    splits: dict[Any, str] = {}
    golden: dict[Any, str] = {}
    for (run_id, _), turns in agent_attempts(plan.traces()).items():
        record = trajectory_record(turns, config)
        if record is None:
            continue
        group = example_from(record).group
        splits[run_id] = split_of(group, validation_fraction=data.validation_fraction, test_fraction=data.test_fraction)
        labelled = [t.golden_output for t in turns if not t.tool_calls and t.golden_output is not None]
        if labelled:  # the person's answer; a label on a tool-call turn corrects a step, not the answer
            golden[run_id] = labelled[-1]
    answers = dict(
        NodeRun.objects.filter(run_id__in=splits, node_id=node["id"], status="succeeded").values_list(
            "run_id", "output"
        )
    )
    finished = Run.objects.filter(id__in=answers, status="succeeded").order_by("-created_at")
    test = [run for run in finished if splits[run.id] == "test"]
    unseen = [
        run
        for run in finished
        if splits[run.id] == "validation" or (job.started_at and run.created_at > job.started_at)
    ]
    return [
        (run, _parsed(golden[run.id], config), "golden") if run.id in golden else (run, answers[run.id], "teacher")
        for run in (test or unseen)[:limit]
    ]


def _parsed(label: str, config: dict) -> Any:
    """A golden label as the node's answer: JSON for a JSON node (as it was written, if it is not JSON)."""
    if config.get("output") != "json":
        return label
    try:
        return parse_json_reply(label, None)
    except InvalidReply:
        return label


# --- What they showed ----------------------------------------------------------------------------


def evaluation_report(*, job: DistillationJob) -> dict[str, Any]:
    """The job's evaluation runs, newest first, and per model how many started, finished and succeeded."""
    evaluations = list(job.evaluation_runs.select_related("run"))
    run_ids = [e.run_id for e in evaluations]
    answers = dict(NodeRun.objects.filter(run_id__in=run_ids, node_id=job.node_id).values_list("run_id", "output"))
    failed_tools: dict[Any, str] = {}
    for run_id, tool in RunEvent.objects.filter(
        run_id__in=run_ids, type="tool_result", data__has_key="error"
    ).values_list("run_id", "data__tool"):
        failed_tools.setdefault(run_id, tool)
    rows = []
    for evaluation in evaluations:
        success, failure = _outcome(evaluation, answers.get(evaluation.run_id), failed_tools.get(evaluation.run_id))
        rows.append(
            {
                "run": evaluation.run_id,
                "model": evaluation.model,
                "endpoint": evaluation.endpoint,
                "case": evaluation.case_id,
                "status": evaluation.run.status,
                "expected_from": evaluation.expected_from,
                "success": success,
                "failure": failure,
                "created_at": evaluation.created_at,
            }
        )
    return {
        "success_means": SUCCESS_MEANS,
        "models": [
            _aggregate(model, [r for r in rows if r["model"] == model])
            for model in EvaluationRun.MODELS
            if any(r["model"] == model for r in rows)
        ],
        "runs": rows,
    }


def _outcome(evaluation: EvaluationRun, answer: Any, failed_tool: str | None) -> tuple[bool | None, str]:
    """Whether the run reached its case's answer (None while it runs), and why not."""
    run = evaluation.run
    if run.status in Run.ACTIVE:
        return None, ""
    if run.status != "succeeded":
        return False, f"The run {run.status}" + (f": {run.error[:300]}" if run.error else ".")
    if failed_tool is not None:
        return False, f"Tool {failed_tool!r} failed."
    node = next((n for n in run.graph.get("nodes", []) if n.get("id") == evaluation.job.node_id), {})
    if not _same_answer(answer, evaluation.expected, node.get("config", {})):
        return False, f"The answer differs from the {evaluation.expected_from} answer."
    return True, ""


def _same_answer(answer: Any, expected: Any, config: dict) -> bool:
    """As shadow mode compares replies: equal JSON values for a JSON node, else the same text."""
    if config.get("output") == "json":
        return answer == expected
    return isinstance(answer, str) and isinstance(expected, str) and answer.strip() == expected.strip()


def _aggregate(model: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    finished = [r for r in rows if r["success"] is not None]
    succeeded = sum(r["success"] for r in finished)
    return {
        "model": model,
        "endpoints": sorted({r["endpoint"] for r in rows}),
        "started": len(rows),
        "finished": len(finished),
        "task_success": {
            "count": succeeded,
            "rate": round(succeeded / len(finished), 4) if finished else None,
            "interval": [round(x, 4) for x in wilson_interval(succeeded, len(finished))] if finished else None,
        },
    }
