"""Output shapes: how stored objects look on the wire (runs: workflows/documents.py, shared with callbacks)."""

from workflows.documents import iso, node_run_out, run_out  # noqa: F401  (re-exported for the views)
from workflows.models import ModelEndpoint, Trace, Workflow, WorkflowVersion


def workflow_out(workflow: Workflow) -> dict:
    last_run_id = getattr(workflow, "last_run_id", None)
    return {
        "id": str(workflow.id),
        "name": workflow.name,
        "description": workflow.description,
        "graph": workflow.graph,
        "revision": workflow.revision,
        "published_version": getattr(workflow, "published_version", None),
        # The draft differs from what runs (the latest version); false before the first publish too.
        "unpublished_changes": getattr(workflow, "published_version", None) is not None
        and workflow.published_graph != workflow.graph,
        "last_run": (
            {
                "id": str(last_run_id),
                "status": workflow.last_run_status,
                "finished_at": iso(workflow.last_run_finished_at),
            }
            if last_run_id
            else None
        ),
        "created_at": iso(workflow.created_at),
        "updated_at": iso(workflow.updated_at),
    }


def version_out(version: WorkflowVersion, *, with_graph: bool = True) -> dict:
    out = {"version": version.version, "created_at": iso(version.created_at)}
    if with_graph:
        out["graph"] = version.graph
    return out


def model_out(endpoint: ModelEndpoint) -> dict:
    return {
        "name": endpoint.name,
        "backend": endpoint.backend,
        "model": endpoint.model,
        "base_url": endpoint.base_url or None,
        "has_api_key": bool(endpoint.api_key_encrypted),
        "price_in": endpoint.price_in,
        "price_out": endpoint.price_out,
        "options": endpoint.options,
        "is_default": endpoint.is_default,
        "created_at": iso(endpoint.created_at),
        "updated_at": iso(endpoint.updated_at),
    }


def trace_out(trace: Trace) -> dict:
    return {
        "id": str(trace.id),
        "workflow": str(trace.workflow_id) if trace.workflow_id else None,
        "version": trace.version,
        "node_id": trace.node_id or None,
        "run": str(trace.run_id) if trace.run_id else None,
        "model": trace.model,
        "messages": trace.messages,
        "output": trace.output,
        "tokens_in": trace.tokens_in,
        "tokens_out": trace.tokens_out,
        "latency_ms": trace.latency_ms,
        "cost": trace.cost,
        "status": trace.status,
        "error": trace.error or None,
        "metadata": trace.metadata,
        "top_logprobs": trace.top_logprobs,
        "golden_output": trace.golden_output,
        "created_at": iso(trace.created_at),
    }
