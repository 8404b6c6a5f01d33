"""A node's traces as the distillation core's records (orchestra/distill/dataset.py).

An llm node's call is one record: the prompt, the reply (its tool calls too, when tools were
offered). An agent node's run is one record per attempt: its turns' traces make one trajectory
(orchestra/distill/trajectories.py), and the run says how it ended for the semantic check: an
approval node after the agent that was granted or refused.
"""
from __future__ import annotations

from typing import Any

from orchestra.distill.trajectories import Turn, attempt_of, trajectory_record
from workflows.models import NodeRun, Trace, Workflow


def trace_records(*, workflow: Workflow, node: dict) -> list[dict[str, Any]]:
    """The node's successful calls as records; the golden output wins there."""
    traces = Trace.objects.filter(workflow=workflow, node_id=node["id"], status="ok").order_by("created_at")
    if node.get("type") == "agent":
        return agent_records(traces=list(traces), config=node.get("config", {}))
    return [{"messages": t.messages, "output": t.output, "golden_output": t.golden_output, "tools": t.tools,
             "tool_calls": t.tool_calls, "topk": _topk(t.top_logprobs), "model": t.model, "node": t.node_id,
             "created_at": t.created_at.isoformat(), "status": t.status, "metadata": t.metadata}
            for t in traces]


def _topk(top_logprobs: list | None) -> list | None:
    """Traces keep (token, logprob) pairs; the core reads vLLM-style {token_id|token, logprob}."""
    if not top_logprobs:
        return None
    return [[{"token_id" if isinstance(token, int) else "token": token, "logprob": logprob}
             for token, logprob in position] for position in top_logprobs]


# --- agent trajectories ------------------------------------------------------------------------


def agent_records(*, traces: list[Trace], config: dict[str, Any]) -> list[dict[str, Any]]:
    """One record per run and attempt (orchestra/distill/trajectories.py), with the run's outcome."""
    attempts: dict[tuple, list[Turn]] = {}
    for trace in traces:
        attempt = attempt_of(trace.call_key)
        if attempt is not None and trace.run_id is not None:
            attempts.setdefault((trace.run_id, attempt), []).append(Turn(
                call_key=trace.call_key, messages=trace.messages, output=trace.output, tool_calls=trace.tool_calls,
                tools=trace.tools, model=trace.model, golden_output=trace.golden_output,
                created_at=trace.created_at.isoformat(), metadata=trace.metadata, node=trace.node_id))
    outcomes = run_outcomes({run_id for run_id, _ in attempts})
    records = []
    for (run_id, _), turns in attempts.items():
        record = trajectory_record(turns, config)
        if record is not None:
            records.append(record | {"outcome": outcomes.get(run_id, {})})
    return records


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
