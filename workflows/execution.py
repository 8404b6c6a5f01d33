"""The worker side of a run: claim it, execute its graph on the engine, record what happens.

A worker holds a lease on the run and renews it while it works. If the worker dies, the lease
lapses and the sweeper hands the run to another worker, which resumes from the LangGraph
checkpoint keyed by the run id: finished nodes are not re-run, and model calls already recorded
as traces are replayed from the trace instead of being made (and traced) again.
"""
import functools
import hashlib
import json
import logging
import os
import sqlite3
import threading
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import Sum
from django.utils import timezone

from orchestra import engine
from workflows import events, leases, mcp, runs, tools
from workflows.models import NodeRun, Run, RunEvent, Trace, Workflow
from workflows.model_calls import model_resolve, node_call_answer, traced_complete

log = logging.getLogger(__name__)


# --- Persistence for LangGraph ----------------------------------------------------------------


@functools.cache
def checkpointer():
    """One saver per worker process: Postgres when the platform runs on Postgres, else SQLite."""
    if connection.vendor == "postgresql":
        from langgraph.checkpoint.postgres import PostgresSaver
        from psycopg.rows import dict_row
        from psycopg_pool import ConnectionPool

        pool = ConnectionPool(os.environ["DATABASE_URL"], max_size=8, open=True,
                              kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row})
        saver = PostgresSaver(pool)
    else:
        from langgraph.checkpoint.sqlite import SqliteSaver

        conn = sqlite3.connect(settings.DATA_DIR / "checkpoints.sqlite3", check_same_thread=False, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        saver = SqliteSaver(conn)
    saver.setup()
    return saver


_compiled_cache: dict[str, Any] = {}
_compiled_lock = threading.Lock()


def compiled_graph(run: Run):
    """Compiled graphs are cached per published version (or per draft graph content)."""
    if run.version is not None:
        key = f"{run.workflow_id}:v{run.version}"
    else:
        key = "draft:" + hashlib.sha256(json.dumps(run.graph, sort_keys=True).encode()).hexdigest()
    with _compiled_lock:
        if key not in _compiled_cache:
            _compiled_cache[key] = engine.compile_graph(engine.parse_graph(run.graph), checkpointer=checkpointer())
        return _compiled_cache[key]


# --- Orphans ----------------------------------------------------------------------------------


def runs_sweep() -> list[str]:
    """Re-enqueue runs whose worker died or whose queue message was lost (see leases.py)."""
    run_ids = leases.orphans(Run)
    for run_id in run_ids:
        log.info("sweeper: re-enqueueing run %s", run_id)
        runs.enqueue_run(run_id)
    return run_ids


# --- Recording what the engine does ---------------------------------------------------------

NODE_STATUS_BY_EVENT = {"node_started": "running", "node_succeeded": "succeeded", "node_failed": "failed",
                        "node_skipped": "skipped", "node_waiting": "waiting", "node_retrying": "running"}


def node_usage(run: Run, node_id: str) -> dict[str, Any]:
    """What a node's model calls used: the sum of all its traces, so failed attempts, retries,
    rejected student replies and shadow calls are counted too; {} for a node that called no model."""
    traces = Trace.objects.filter(run=run, node_id=node_id)
    totals = traces.aggregate(tokens_in=Sum("tokens_in"), tokens_out=Sum("tokens_out"), cost=Sum("cost"),
                              latency_ms=Sum("latency_ms"))
    if totals["tokens_in"] is None:
        return {}
    models = dict.fromkeys(traces.order_by("created_at").values_list("model", flat=True))
    return totals | {"model": ", ".join(models)[:200]}


def _json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def emit(run: Run, type: str, node_id: str | None, data: dict) -> None:
    """Store one engine event and fold it into the node's NodeRun row."""
    data = _json_safe(data or {})
    status = NODE_STATUS_BY_EVENT.get(type)
    if status is None or node_id is None:
        events.record(run_id=run.id, type=type, node_id=node_id, data=data)
        return
    now = timezone.now()
    update: dict[str, Any] = {"status": status}
    if type == "node_started":
        update |= {"input": data.get("input"), "attempts": data.get("attempt", 1), "started_at": now,
                   "error": "", "finished_at": None}
    elif type == "node_retrying":
        update |= {"error": data.get("error", ""), "attempts": data.get("attempt", 1)}
    elif type in ("node_succeeded", "node_failed"):
        update |= {"output": data.get("output"), "error": data.get("error") or "", "finished_at": now,
                   "attempts": data.get("attempts", 1)} | node_usage(run, node_id)
    elif type == "node_skipped":
        update |= {"finished_at": now}
    with transaction.atomic():  # the event and the node row change together: one commit
        events.record(run_id=run.id, type=type, node_id=node_id, data=data)
        NodeRun.objects.filter(run=run, node_id=node_id).update(**update)


# --- Model calls ------------------------------------------------------------------------------


def call_model(run: Run, call: engine.ModelCall) -> engine.ModelReply:
    """Make (or, after a crash, replay) one model call and record it as a trace."""
    recorded = Trace.objects.filter(run=run, call_key=call.call_key, status="ok").first()
    if recorded is None:
        recorded = node_call_answer(run=run, call=call, make_trace=functools.partial(model_call_trace, run, call))
    return engine.ModelReply(text=recorded.output, model=recorded.model, tokens_in=recorded.tokens_in,
                             tokens_out=recorded.tokens_out, latency_ms=recorded.latency_ms, cost=recorded.cost,
                             tool_calls=recorded.tool_calls,
                             finish_reason="tool_calls" if recorded.tool_calls else "stop")


def model_call_trace(run: Run, call: engine.ModelCall, *, model: str, call_key: str, stream: bool) -> Trace:
    """Ask `model` for the call's reply; the trace comes back unsaved, except a failed call's, which
    is stored before the error propagates."""
    trace = Trace(workspace_id=run.workspace_id, workflow_id=run.workflow_id, version=run.version,
                  node_id=call.node_id, run=run, call_key=call_key, messages=call.messages,
                  metadata=_json_safe(call.metadata or {}), model=model)
    try:
        endpoint = model_resolve(workspace=run.workspace, name=model)
    except LookupError as exc:
        trace.status, trace.error = "error", str(exc)
        trace.save()
        raise
    traced_complete(trace=trace, endpoint=endpoint, max_tokens=call.max_tokens, temperature=call.temperature,
                    stop=call.stop, on_token=call.on_token if stream else None, tools=call.tools,
                    tool_choice=call.tool_choice, response_format=call.response_format)
    return trace


# --- Executing a run ----------------------------------------------------------------------------


def run_execute(*, run_id) -> str | None:
    """Claim and execute a run to its next stop (end, approval, cancel). Returns its status."""
    owner = leases.worker_id()
    run = leases.claim(Run, pk=run_id, owner=owner, statuses=("queued", "running"))
    if run is None:
        return None
    keeper = leases.LeaseKeeper(Run, run.id, owner)
    keeper.start()
    try:
        return _execute(run, owner)
    finally:
        keeper.stop()


def _execute(run: Run, owner: str) -> str:
    if run.started_at is None:
        Run.objects.filter(pk=run.pk).update(started_at=timezone.now())
        events.record(run_id=run.id, type="run_started", data={})
    hooks = engine.RunHooks(
        emit=lambda type, node_id, data: emit(run, type, node_id, data),
        call_model=lambda call: call_model(run, call),
        run_workflow=lambda workflow_id, inputs: run_subworkflow(run, workflow_id, inputs),
        is_cancelled=lambda: Run.objects.filter(pk=run.pk, cancel_requested=True).exists(),
        http_allow_private=settings.ORCHESTRA_HTTP_ALLOW_PRIVATE,
        describe_tool=lambda spec: tools.tool_describe(workspace=run.workspace, spec=spec),
        call_mcp_tool=lambda server, tool, arguments: mcp.mcp_tool_call(
            workspace=run.workspace, server_name=server, tool=tool, arguments=arguments),
        recorded_tool_result=lambda call_key: tool_result_recorded(run, call_key),
    )
    resume = run.resume_value if run.has_resume_value else engine.NOT_SET
    try:
        outcome = engine.run_graph(compiled_graph(run), run_id=str(run.id), hooks=hooks, inputs=run.inputs,
                                   resume_value=resume)
    except Exception as exc:  # an engine bug must still end the run, visibly
        log.exception("run %s crashed", run.id)
        outcome = engine.RunOutcome(status="failed", outputs={}, error=f"Internal error: {exc}",
                                    waiting_node=None, waiting=None)
    _record_outcome(run, owner, outcome)
    close_old_connections()
    return outcome.status


@transaction.atomic
def _record_outcome(run: Run, owner: str, outcome: engine.RunOutcome) -> None:
    run = Run.objects.select_for_update().get(pk=run.pk)
    if run.lease_owner != owner:  # another worker took over while this one stalled: it decides
        log.warning("run %s: finished without the lease; outcome %s dropped", run.id, outcome.status)
        return
    run.has_resume_value, run.resume_value = False, None
    if outcome.status == "waiting":
        run.status, run.waiting_node, run.waiting = "waiting", outcome.waiting_node, outcome.waiting
        run.lease_owner, run.lease_expires_at = "", None
        run.save()
        events.record(run_id=run.id, type="run_waiting", node_id=outcome.waiting_node, data=outcome.waiting or {})
        timeout_s = (outcome.waiting or {}).get("timeout_s")
        if timeout_s:
            from workflows.tasks import approval_timeout_task

            transaction.on_commit(lambda: approval_timeout_task.apply_async(
                args=[str(run.id), outcome.waiting_node], countdown=float(timeout_s)))
        return
    runs.run_finish(run=run, status=outcome.status, outputs=outcome.outputs if outcome.status == "succeeded" else None,
                    error=outcome.error or "")


def approval_timeout(*, run_id, node_id: str) -> None:
    """An approval left unanswered past its timeout takes its default value."""
    run = Run.objects.filter(pk=run_id, status="waiting", waiting_node=node_id).first()
    if run is not None:
        runs.run_resume(run=run, node_id=node_id, value=(run.waiting or {}).get("default"))


def tool_result_recorded(run: Run, call_key: str) -> dict | None:
    """A tool call's result from its tool_result event: after a crash, the call is not made again."""
    event = RunEvent.objects.filter(run=run, type="tool_result", data__call_key=call_key).order_by("-seq").first()
    return event.data if event is not None else None


def run_subworkflow(parent: Run, workflow_id: str, inputs: dict) -> dict:
    """A sub-workflow runs its latest published version inline, as a child run of its own."""
    workflow = Workflow.objects.filter(workspace=parent.workspace, id=workflow_id).first()
    if workflow is None:
        raise LookupError(f"Sub-workflow {workflow_id!r} does not exist in this workspace.")
    child, _ = runs.run_start(workflow=workflow, inputs=inputs, trigger="subworkflow", parent_run=parent,
                              enqueue=False)
    status = run_execute(run_id=child.id)
    child.refresh_from_db()
    if status != "succeeded":
        raise RuntimeError(f"Sub-workflow {workflow.name!r} {child.status}: {child.error or 'no outputs'}")
    return child.outputs or {}
