"""Traces as the distillation core's records (orchestra/distill/dataset.py).

A job's source is any set of the workspace's traces: a node's, a workflow's, or the gateway's and
every other by filters (model, metadata, time, node). An llm call is one record: the prompt, the
reply (its tool calls too, when tools were offered). An agent node's run is one record per
attempt: its turns' traces make one trajectory (orchestra/distill/trajectories.py), and the run
says how it ended for the semantic check: an approval node after the agent that was granted or
refused.

Metadata conditions are evaluated here, not by the core, so values compare as numbers when both
sides are numbers (a rendered template's "0.7" included): `{"greater_than_or_equals": {"key":
"score", "value": 0.5}}`.
"""

from __future__ import annotations

import operator
from typing import Any

from distillation.models import TeacherScore
from orchestra.distill.trajectories import Turn, attempt_of, trajectory_record
from workflows.models import NodeRun, Trace, Workflow, Workspace, in_evaluation

COMPARISONS = {
    "greater_than": operator.gt,
    "greater_than_or_equals": operator.ge,
    "less_than": operator.lt,
    "less_than_or_equals": operator.le,
}
KEY_OPERATORS = ("equals", "not_equals", "in", *COMPARISONS)
OPERATORS = (*KEY_OPERATORS, "all", "any")


def selected_traces(
    *,
    workspace: Workspace,
    workflow: Workflow | None,
    node: dict | None,
    models: list[str],
    metadata: dict | None = None,
) -> list[Trace]:
    """The successful calls of `models` in the chosen scope (a node, a workflow, or the whole
    workspace: gateway traces too) whose metadata matches, oldest first; never an evaluation run's."""
    traces = Trace.objects.filter(workspace=workspace, status="ok", model__in=models).exclude(in_evaluation())
    if workflow is not None:
        traces = traces.filter(workflow=workflow)
    if node is not None:
        traces = traces.filter(node_id=node["id"])
    return [t for t in traces.order_by("created_at") if metadata is None or metadata_matches(t.metadata, metadata)]


def trace_records(*, traces: list[Trace], node: dict | None, teacher: str) -> list[dict[str, Any]]:
    """Traces as records; the golden output wins there, and a reply recorded without top-k log-probs
    carries the ones `teacher` gave it after the fact (scoring.py), if it was scored."""
    if node is not None and node.get("type") == "agent":
        return agent_records(traces=traces, config=node.get("config", {}))
    scores = dict(
        TeacherScore.objects.filter(trace__in=[t for t in traces if not t.top_logprobs], teacher=teacher).values_list(
            "trace_id", "top_logprobs"
        )
    )
    return [
        {
            "messages": t.messages,
            "output": t.output,
            "golden_output": t.golden_output,
            "tools": t.tools,
            "tool_calls": t.tool_calls,
            "topk": _topk(t.top_logprobs or scores.get(t.id)),
            "model": t.model,
            "node": t.node_id,
            "created_at": t.created_at.isoformat(),
            "status": t.status,
            "metadata": t.metadata,
        }
        for t in traces
    ]


def metadata_condition_errors(condition: Any, path: str) -> list[dict[str, str]]:
    """What is wrong with a Bedrock-style metadata condition, each with its path."""
    if not isinstance(condition, dict) or len(condition) != 1 or next(iter(condition)) not in OPERATORS:
        return [
            {
                "path": path,
                "message": f"A condition is one operator of {', '.join(OPERATORS)}, e.g. "
                f'{{"equals": {{"key": "lang", "value": "en"}}}}.',
            }
        ]
    ((op, operand),) = condition.items()
    if op in ("all", "any"):
        if not isinstance(operand, list) or not operand:
            return [{"path": f"{path}.{op}", "message": "A non-empty list of conditions."}]
        return [e for i, c in enumerate(operand) for e in metadata_condition_errors(c, f"{path}.{op}[{i}]")]
    field = "values" if op == "in" else "value"
    if (
        not isinstance(operand, dict)
        or not isinstance(operand.get("key"), str)
        or field not in operand
        or (op == "in" and not isinstance(operand["values"], list))
    ):
        shape = '"values": [...]' if op == "in" else '"value": ...'
        return [{"path": f"{path}.{op}", "message": f'{{"key": "...", {shape}}}.'}]
    if op in COMPARISONS and _number(operand["value"]) is None:
        return [{"path": f"{path}.{op}.value", "message": f"{op} compares numbers; {operand['value']!r} is not one."}]
    return []


def metadata_matches(metadata: dict[str, Any], condition: dict[str, Any]) -> bool:
    """Whether a trace's metadata satisfies a (checked) condition; numbers compare as numbers."""
    ((op, operand),) = condition.items()
    if op == "all":
        return all(metadata_matches(metadata, c) for c in operand)
    if op == "any":
        return any(metadata_matches(metadata, c) for c in operand)
    present, value = operand["key"] in metadata, metadata.get(operand["key"])
    if op == "equals":
        return present and _same(value, operand["value"])
    if op == "not_equals":
        return not (present and _same(value, operand["value"]))
    if op == "in":
        return present and any(_same(value, v) for v in operand["values"])
    number = _number(value)
    return number is not None and COMPARISONS[op](number, _number(operand["value"]))


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _same(value: Any, wanted: Any) -> bool:
    a, b = _number(value), _number(wanted)
    return a == b if a is not None and b is not None else value == wanted


def _topk(top_logprobs: list | None) -> list | None:
    """Traces keep (token, logprob) pairs; the core reads vLLM-style {token_id|token, logprob}."""
    if not top_logprobs:
        return None
    return [
        [{"token_id" if isinstance(token, int) else "token": token, "logprob": logprob} for token, logprob in position]
        for position in top_logprobs
    ]


# --- agent trajectories ------------------------------------------------------------------------


def agent_records(*, traces: list[Trace], config: dict[str, Any]) -> list[dict[str, Any]]:
    """One record per run and attempt (orchestra/distill/trajectories.py), with the run's outcome."""
    attempts = agent_attempts(traces)
    outcomes = run_outcomes({run_id for run_id, _ in attempts})
    records = []
    for (run_id, _), turns in attempts.items():
        record = trajectory_record(turns, config)
        if record is not None:
            records.append(record | {"outcome": outcomes.get(run_id, {})})
    return records


def agent_attempts(traces: list[Trace]) -> dict[tuple, list[Turn]]:
    """An agent node's turns by (run id, attempt), in the traces' order."""
    attempts: dict[tuple, list[Turn]] = {}
    for trace in traces:
        attempt = attempt_of(trace.call_key)
        if attempt is not None and trace.run_id is not None:
            attempts.setdefault((trace.run_id, attempt), []).append(
                Turn(
                    call_key=trace.call_key,
                    messages=trace.messages,
                    output=trace.output,
                    tool_calls=trace.tool_calls,
                    tools=trace.tools,
                    model=trace.model,
                    golden_output=trace.golden_output,
                    created_at=trace.created_at.isoformat(),
                    metadata=trace.metadata,
                    node=trace.node_id,
                )
            )
    return attempts


def run_outcomes(run_ids: set) -> dict[Any, dict[str, bool]]:
    """Per run, whether the approvals it asked for were granted ({"approved": bool}), where it had any."""
    outcomes: dict[Any, dict[str, bool]] = {}
    for node_run in NodeRun.objects.filter(run_id__in=run_ids, status="succeeded").select_related("run"):
        node = next((n for n in node_run.run.graph.get("nodes", []) if n.get("id") == node_run.node_id), {})
        if node.get("type") == "approval":
            granted = not (isinstance(node_run.output, dict) and node_run.output.get("approved") is False)
            so_far = outcomes.get(node_run.run_id, {}).get("approved", True)
            outcomes[node_run.run_id] = {"approved": so_far and granted}
    return outcomes
