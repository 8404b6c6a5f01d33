"""Output shapes: how stored objects look on the wire."""
from workflows import selectors
from workflows.models import ModelEndpoint, NodeRun, Run, Trace, Workflow, WorkflowVersion


def iso(value):
    return value.isoformat() if value else None


def workflow_out(workflow: Workflow) -> dict:
    last_run_id = getattr(workflow, "last_run_id", None)
    return {
        "id": str(workflow.id),
        "name": workflow.name,
        "description": workflow.description,
        "graph": workflow.graph,
        "published_version": getattr(workflow, "published_version", None),
        "last_run": ({"id": str(last_run_id), "status": workflow.last_run_status,
                      "finished_at": iso(workflow.last_run_finished_at)} if last_run_id else None),
        "created_at": iso(workflow.created_at),
        "updated_at": iso(workflow.updated_at),
    }


def version_out(version: WorkflowVersion, *, with_graph: bool = True) -> dict:
    out = {"version": version.version, "created_at": iso(version.created_at)}
    if with_graph:
        out["graph"] = version.graph
    return out


def node_run_out(node: NodeRun) -> dict:
    return {
        "node_id": node.node_id, "status": node.status, "input": node.input, "output": node.output,
        "error": node.error or None, "attempts": node.attempts, "started_at": iso(node.started_at),
        "finished_at": iso(node.finished_at), "model": node.model or None, "tokens_in": node.tokens_in,
        "tokens_out": node.tokens_out, "cost": node.cost, "latency_ms": node.latency_ms,
    }


def run_out(run: Run, *, with_nodes: bool = True) -> dict:
    out = {
        "id": str(run.id), "workflow": str(run.workflow_id), "version": run.version, "status": run.status,
        "trigger": run.trigger, "inputs": run.inputs, "outputs": run.outputs, "error": run.error or None,
        "parent_run": str(run.parent_run_id) if run.parent_run_id else None,
        "waiting": ({"node_id": run.waiting_node, **(run.waiting or {})} if run.status == "waiting" else None),
        "created_at": iso(run.created_at), "started_at": iso(run.started_at),
        "finished_at": iso(run.finished_at),
    }
    out |= selectors.run_totals(run=run)
    if with_nodes:
        out["nodes"] = [node_run_out(n) for n in run.node_runs.all()]
    return out


def model_out(endpoint: ModelEndpoint) -> dict:
    return {
        "name": endpoint.name, "backend": endpoint.backend, "model": endpoint.model,
        "base_url": endpoint.base_url or None, "has_api_key": bool(endpoint.api_key_encrypted),
        "price_in": endpoint.price_in, "price_out": endpoint.price_out, "options": endpoint.options,
        "is_default": endpoint.is_default, "created_at": iso(endpoint.created_at),
        "updated_at": iso(endpoint.updated_at),
    }


def trace_out(trace: Trace) -> dict:
    return {
        "id": str(trace.id), "workflow": str(trace.workflow_id) if trace.workflow_id else None,
        "version": trace.version, "node_id": trace.node_id or None,
        "run": str(trace.run_id) if trace.run_id else None, "model": trace.model, "messages": trace.messages,
        "output": trace.output, "tokens_in": trace.tokens_in, "tokens_out": trace.tokens_out,
        "latency_ms": trace.latency_ms, "cost": trace.cost, "status": trace.status, "error": trace.error or None,
        "metadata": trace.metadata, "top_logprobs": trace.top_logprobs, "golden_output": trace.golden_output,
        "created_at": iso(trace.created_at),
    }
