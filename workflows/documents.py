"""A run as a JSON document: what the API answers and what a run's callback delivers, in one place."""

from workflows import selectors
from workflows.models import NodeRun, Run


def iso(value):
    return value.isoformat() if value else None


def node_run_out(node: NodeRun) -> dict:
    return {
        "node_id": node.node_id,
        "status": node.status,
        "input": node.input,
        "output": node.output,
        "error": node.error or None,
        "attempts": node.attempts,
        "started_at": iso(node.started_at),
        "finished_at": iso(node.finished_at),
        "model": node.model or None,
        "tokens_in": node.tokens_in,
        "tokens_out": node.tokens_out,
        "cost": node.cost,
        "latency_ms": node.latency_ms,
    }


def run_out(run: Run, *, with_nodes: bool = True) -> dict:
    out = {
        "id": str(run.id),
        "workflow": str(run.workflow_id),
        "version": run.version,
        "status": run.status,
        "trigger": run.trigger,
        "inputs": run.inputs,
        "outputs": run.outputs,
        "error": run.error or None,
        "parent_run": str(run.parent_run_id) if run.parent_run_id else None,
        "waiting": ({"node_id": run.waiting_node, **(run.waiting or {})} if run.status == "waiting" else None),
        "created_at": iso(run.created_at),
        "started_at": iso(run.started_at),
        "finished_at": iso(run.finished_at),
    }
    out |= selectors.run_totals(run=run)
    if with_nodes:
        out["nodes"] = [node_run_out(n) for n in run.node_runs.all()]
    return out
