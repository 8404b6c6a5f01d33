"""The worker side of a run: claim it, execute its graph on the engine, record what happens.

A worker holds a lease on the run and renews it while it works. If the worker dies, the lease
lapses and the sweeper hands the run to another worker, which resumes from the LangGraph
checkpoint keyed by the run id: finished nodes are not re-run, and model calls already recorded
as traces are replayed from the trace instead of being made (and traced) again.
"""

import dataclasses
import functools
import hashlib
import json
import logging
import threading
from collections import OrderedDict
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import DateTimeField, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from orchestra import engine
from workflows import checkpoints, credentials, dbretry, events, leases, mcp, runs, tools
from workflows.errors import Conflict
from workflows.models import Run, RunEvent, Trace, Workflow
from workflows.model_calls import model_resolve, node_call_answer, node_call_trace, traced_complete
from workflows.recorder import RunRecorder

log = logging.getLogger(__name__)


# --- Persistence for LangGraph ----------------------------------------------------------------

checkpointer = checkpoints.checkpointer  # one saver per worker process (workflows/checkpoints.py)

# Bounded, least recently used first out: every distinct draft compiles to its own graph.
_compiled_cache: OrderedDict[str, Any] = OrderedDict()
_compiled_lock = threading.Lock()
COMPILED_GRAPHS_KEPT = 256


def compiled_graph(run: Run):
    """Compiled graphs are cached per published version (or per draft graph content)."""
    if run.version is not None:
        key = f"{run.workflow_id}:v{run.version}"
    else:
        key = "draft:" + hashlib.sha256(json.dumps(run.graph, sort_keys=True).encode()).hexdigest()
    with _compiled_lock:
        if key in _compiled_cache:
            _compiled_cache.move_to_end(key)
        else:
            _compiled_cache[key] = engine.compile_graph(engine.parse_graph(run.graph), checkpointer=checkpointer())
            while len(_compiled_cache) > COMPILED_GRAPHS_KEPT:
                _compiled_cache.popitem(last=False)
        return _compiled_cache[key]


# --- Orphans and what is overdue ----------------------------------------------------------------


# What beat's sweeper fires is overdue by this much: the countdown message sent at the time had its
# chance first (it fires on time while the broker keeps it); the sweeper covers the lost ones.
def _sweep_grace() -> timedelta:
    return timedelta(seconds=max(1.0, 2 * settings.ORCHESTRA_SWEEP_INTERVAL_S))


def runs_sweep() -> list[str]:
    """Re-enqueue runs whose worker died, whose queue message was lost or never sent (the broker was
    down when the run started); fire approval timeouts and callback attempts that are overdue."""
    from workflows import callbacks

    run_ids = leases.orphans(Run)
    overdue = timezone.now() - _sweep_grace()
    timeouts = Run.objects.filter(status="waiting", timeout_at__lte=overdue).values_list("id", "waiting_node")
    deliveries = Run.objects.filter(callback_next_attempt__gt=0, callback_due_at__lte=overdue).values_list(
        "id", "callback_next_attempt"
    )
    work = (
        [(f"re-enqueueing run {r}", functools.partial(runs.enqueue_run, r)) for r in run_ids]
        + [
            (f"approval timeout of run {r} is overdue", functools.partial(approval_timeout, run_id=r, node_id=n))
            for r, n in timeouts
        ]
        + [
            (
                f"callback attempt {a} of run {r} is overdue",
                functools.partial(callbacks.callback_send, run_id=r, attempt=a),
            )
            for r, a in deliveries
        ]
    )
    for what, action in work:
        log.info("sweeper: %s", what)
        try:
            action()
        except Exception:  # noqa: BLE001 (one bad row must not stop the sweep; it is tried again next time)
            log.exception("sweeper: %s: failed", what)
    return run_ids


# --- Model calls ------------------------------------------------------------------------------


def retried_call(run: Run, call: engine.ModelCall) -> engine.ModelCall:
    """A retried run's calls are keyed by its retry, so they are made anew, not replayed from the
    attempt that failed (whose traces stay, counted in the node's cost)."""
    if not run.retries:
        return call
    return dataclasses.replace(call, call_key=f"r{run.retries}/{call.call_key}")


def call_model(run: Run, call: engine.ModelCall) -> engine.ModelReply:
    """Make (or, after a crash, replay) one model call and record it as a trace."""
    recorded = Trace.objects.filter(run=run, call_key=call.call_key, status="ok").first()
    if recorded is None:
        recorded = node_call_answer(run=run, call=call, make_trace=functools.partial(model_call_trace, run, call))
    return engine.ModelReply(
        text=recorded.output,
        model=recorded.model,
        tokens_in=recorded.tokens_in,
        tokens_out=recorded.tokens_out,
        latency_ms=recorded.latency_ms,
        cost=recorded.cost,
        tool_calls=recorded.tool_calls,
        finish_reason="tool_calls" if recorded.tool_calls else "stop",
    )


def model_call_trace(run: Run, call: engine.ModelCall, *, model: str, call_key: str, stream: bool) -> Trace:
    """Ask `model` for the call's reply; the trace comes back unsaved, except a failed call's, which
    is stored before the error propagates."""
    trace = node_call_trace(run, call, model=model, call_key=call_key)
    try:
        endpoint = model_resolve(workspace=run.workspace, name=model)
    except LookupError as exc:
        trace.status, trace.error = "error", str(exc)
        trace.save()
        raise
    traced_complete(
        trace=trace,
        endpoint=endpoint,
        max_tokens=call.max_tokens,
        temperature=call.temperature,
        stop=call.stop,
        on_token=call.on_token if stream else None,
        tools=call.tools,
        tool_choice=call.tool_choice,
        response_format=call.response_format,
        top_logprobs=call.top_logprobs,
        abandoned=call.abandoned,
    )
    if call.abandoned():  # finished after its node stopped waiting: nobody used the reply
        trace.status = "abandoned"
    return trace


# --- Executing a run ----------------------------------------------------------------------------


def run_execute(*, run_id) -> str | None:
    """Claim and execute a run to its next stop (end, approval, cancel). Returns its status, or None
    when another worker has it, or when the database went away and the run was handed back."""
    owner = leases.worker_id()
    run = dbretry.retrying(lambda: _claim(run_id, owner), what=f"run {run_id} claim")
    if run is None:
        return None
    if run.worker_losses >= settings.ORCHESTRA_RUN_MAX_WORKER_LOSSES:
        return dbretry.retrying(lambda: _fail_lost_too_often(run), what=f"run {run.id} outcome")
    with leases.holding(run.lease):
        return _execute(run, owner)


def _fail_lost_too_often(run: Run) -> str | None:
    """A run whose worker died (or stalled past its lease) again and again fails instead of taking
    down the next worker too: a node that exhausts memory or time kills every worker it runs on."""
    with transaction.atomic():
        locked = Run.objects.select_for_update().get(pk=run.pk)
        if locked.lease_owner != run.lease.owner or locked.lease_attempt != run.lease.attempt:
            return None
        runs.run_finish(
            run=locked,
            status="failed",
            error=f"The run's worker was lost {locked.worker_losses} times (killed, out of memory or over "
            "its time limit) while running it; it is not tried again.",
        )
    return "failed"


def trace_fenced(sender, instance: Trace, **kwargs) -> None:
    """pre_save of a Trace: a worker's trace of its run is refused once the run was taken over.

    An abandoned call's trace is kept whatever the lease (it often ends after its run did): it counts
    tokens that were spent, and only `ok` traces are ever replayed as a call's answer."""
    if instance.status == "abandoned":
        return
    if Trace.run.is_cached(instance) and (lease := getattr(instance.run, "lease", None)) is not None:
        leases.fence(lease)


def _claim(run_id, owner: str) -> Run | None:
    """Take the run, and mark it started (once) in the same transaction."""
    now = timezone.now()
    with transaction.atomic():
        run = leases.claim(
            Run,
            pk=run_id,
            owner=owner,
            statuses=("queued", "running"),
            also={"started_at": Coalesce("started_at", Value(now, output_field=DateTimeField()))},
        )
        if run is not None and run.started_at == now:  # this claim started it
            # No WAL flush to wait for: a claim lost with the database is a queued run the sweeper re-enqueues.
            events.record(run_id=run.id, type="run_started", data={}, async_commit=True)
    return run


class _Hooks:
    """The engine's callbacks for one run. They may run on the engine's threads (parallel branches,
    node timeouts): a thread other than the run's gives its connection back after each call, so
    the pool is never drained by threads that end."""

    def __init__(self, run: Run, recorder: RunRecorder):
        self.run, self.recorder, self.thread = run, recorder, threading.get_ident()

    def _db(self, work, what: str):
        return self._released(lambda: dbretry.retrying(work, what=f"run {self.run.id} {what}"))

    def _released(self, work):
        """`work()`; on another thread than the run's, its connection goes back to the pool after."""
        try:
            return work()
        finally:
            if threading.get_ident() != self.thread and not connection.in_atomic_block:
                dbretry.drop_connection()

    def engine_hooks(self) -> engine.RunHooks:
        run = self.run
        return engine.RunHooks(
            emit=lambda type, node_id, data: self._db(lambda: self.recorder.emit(type, node_id, data), type),
            call_model=lambda call: self._db(lambda: call_model(run, retried_call(run, call)), "model call"),
            # Not retried as a whole (the child run's own writes are); map items and tool calls run it on
            # threads of their own, whose connections must not be kept by threads that end.
            run_workflow=lambda workflow_id, inputs, **call: self._released(
                lambda: run_subworkflow(run, workflow_id, inputs, **call)
            ),
            is_cancelled=lambda: self._db(self.recorder.is_cancelled, "cancel check"),
            http_allow_private=settings.ORCHESTRA_HTTP_ALLOW_PRIVATE,
            credential=lambda name: self._db(
                lambda: credentials.credential_value(workspace=run.workspace, name=name), "credential"
            ),
            describe_tool=lambda spec: self._db(
                lambda: tools.tool_describe(workspace=run.workspace, spec=spec), "tool"
            ),
            call_mcp_tool=lambda server, tool, arguments: self._released(
                lambda: mcp.mcp_tool_call(workspace=run.workspace, server_name=server, tool=tool, arguments=arguments)
            ),
            recorded_tool_result=lambda call_key: self._db(lambda: tool_result_recorded(run, call_key), "tool result"),
            recorded_items=lambda node_id: self._db(lambda: items_recorded(run, node_id), "map items"),
        )


def _execute(run: Run, owner: str) -> str | None:
    recorder = RunRecorder(run)
    hooks = _Hooks(run, recorder).engine_hooks()
    resume = run.resume_value if run.has_resume_value else engine.NOT_SET
    gave_up: dict = {}
    token = dbretry.gave_up.set(gave_up)
    try:
        outcome = engine.run_graph(
            compiled_graph(run),
            run_id=str(run.id),
            hooks=hooks,
            inputs=run.inputs,
            resume_value=resume,
            fresh=run.lease.attempt == 1 and resume is engine.NOT_SET,  # no worker ever ran it before
        )
        recorder.close()
        if recorder.lease_lost:  # the engine met LeaseLost in a write and ended the run as it could
            raise leases.LeaseLost(run.lease)
    except leases.LeaseLost as exc:  # another worker has the run now: it writes, this one stops
        log.warning("run %s: %s; this worker stops", run.id, exc)
        return None
    except Exception as exc:  # an engine bug must still end the run, visibly; the database going away must not
        if dbretry.is_infra_error(exc) or gave_up:
            gave_up.setdefault("error", exc)
        else:
            log.exception("run %s crashed", run.id)
            outcome = engine.RunOutcome(
                status="failed", outputs={}, error=f"Internal error: {exc}", waiting_node=None, waiting=None
            )
    finally:
        dbretry.gave_up.reset(token)
    if gave_up:  # whatever the engine made of it, the run did not fail: the database was away
        _hand_back(run, owner, gave_up["error"])
        return None
    dbretry.retrying(lambda: _record_outcome(run, owner, outcome), what=f"run {run.id} outcome")
    close_old_connections()
    return outcome.status


def _hand_back(run: Run, owner: str, error: BaseException) -> None:
    """Give the run back for a later attempt instead of failing it: its lease ends now and it is
    re-enqueued; if even that cannot be written, the lease lapses and the sweeper re-enqueues it."""
    log.warning("run %s: database unavailable (%s); handing it back to be resumed", run.id, error)
    try:
        dbretry.drop_connection()
        Run.objects.filter(pk=run.pk, lease_owner=owner).update(lease_owner="", lease_expires_at=timezone.now())
        runs.enqueue_run(run.id, countdown=dbretry.BACKOFF_MAX_S)
    except Exception as exc:  # noqa: BLE001
        log.warning("run %s: not handed back (%s); its lease will lapse and the sweeper resumes it", run.id, exc)


def _record_outcome(run: Run, owner: str, outcome: engine.RunOutcome) -> None:
    """The run's result, committed synchronously (a client told "succeeded" can rely on it). Safe to
    repeat after a broken connection: a repeat finds the lease released and changes nothing."""
    attempt = run.lease.attempt
    with transaction.atomic():
        run = Run.objects.select_for_update().get(pk=run.pk)
        # another worker took over while this one stalled: it decides
        if run.lease_owner != owner or run.lease_attempt != attempt:
            if run.status not in Run.ACTIVE or run.status == "waiting":
                return  # this worker's own earlier try committed before its connection broke
            log.warning("run %s: finished without the lease; outcome %s dropped", run.id, outcome.status)
            return
        run.has_resume_value, run.resume_value = False, None
        if outcome.status == "waiting":
            timeout_s = (outcome.waiting or {}).get("timeout_s")
            run.status, run.waiting_node, run.waiting = "waiting", outcome.waiting_node, outcome.waiting
            run.lease_owner, run.lease_expires_at = "", None
            run.timeout_at = timezone.now() + timedelta(seconds=float(timeout_s)) if timeout_s else None
            run.save()
            events.record(run_id=run.id, type="run_waiting", node_id=outcome.waiting_node, data=outcome.waiting or {})
            runs.parent_wake(child=run)
            if timeout_s:
                from workflows.tasks import approval_timeout_task

                # On time while the broker keeps the message; the sweeper fires it from timeout_at if not.
                transaction.on_commit(
                    lambda: _send_quietly(
                        approval_timeout_task, [str(run.id), outcome.waiting_node], countdown=float(timeout_s)
                    )
                )
            return
        runs.run_finish(
            run=run,
            status=outcome.status,
            outputs=outcome.outputs if outcome.status == "succeeded" else None,
            error=outcome.error or "",
        )


def _send_quietly(task, args: list, *, countdown: float | None = None) -> None:
    """Send a task whose due time is also stored: if the broker is away, the sweeper sends it later."""
    try:
        task.apply_async(args=args, countdown=countdown)
    except Exception as exc:  # noqa: BLE001 (kombu's OperationalError, redis' ConnectionError, ...)
        log.warning("%s not sent (%s); the sweeper fires it when due", task.name, exc)


def approval_timeout(*, run_id, node_id: str) -> None:
    """An approval left unanswered past its timeout takes its default value (once, whoever fires it)."""
    run = Run.objects.filter(pk=run_id, status="waiting", waiting_node=node_id).first()
    if run is None:
        return
    if run.timeout_at is not None and run.timeout_at > timezone.now():
        return  # not due yet (a message from an earlier wait of the same node)
    try:
        runs.run_resume(run=run, node_id=node_id, value=(run.waiting or {}).get("default"))
    except Conflict:
        pass  # answered (or timed out by the other path) meanwhile


def items_recorded(run: Run, node_id: str) -> dict[int, dict]:
    """A map node's items that succeeded, from their item_succeeded events (across retries: a retry
    of the run redoes only the items that failed)."""
    events = RunEvent.objects.filter(run=run, type="item_succeeded", node_id=node_id).order_by("seq")
    return {data["item"]: data for data in events.values_list("data", flat=True)}


def tool_result_recorded(run: Run, call_key: str) -> dict | None:
    """A tool call's result from its tool_result event: after a crash, the call is not made again."""
    events = RunEvent.objects.filter(run=run, type="tool_result", data__call_key=call_key)
    if run.retries:  # a retry calls the tools again; only a crash within this retry replays them
        retried = RunEvent.objects.filter(run=run, type="run_retried").order_by("-seq").values("seq").first()
        events = events.filter(seq__gt=retried["seq"]) if retried else events
    event = events.order_by("-seq").first()
    return event.data if event is not None else None


# Runs started by runs (sub-workflows, map items, agents' workflow tools) nest at most this deep; a
# save refuses a workflow that calls itself, this stops what a save cannot see (a chain changed later).
MAX_NESTED_RUNS = 10


def run_subworkflow(parent: Run, workflow_id: str, inputs: dict, *, key: str, answer=None) -> dict:
    """A called workflow runs its latest published version inline, as a child run of its own.

    The child run is keyed by the call's `key` (a sub-workflow node's, a map item's, an agent tool
    call's), so a re-run of the node (its resume) finds the same run, finished or not: a child that
    waits for an answer raises WorkflowWaiting, and `answer` (value, node) answers it when it still
    waits on that node.
    """
    workflow = Workflow.objects.filter(workspace=parent.workspace, id=workflow_id).first()
    if workflow is None:
        raise LookupError(f"Sub-workflow {workflow_id!r} does not exist in this workspace.")
    chain = _run_chain(parent)
    if len(chain) >= MAX_NESTED_RUNS:
        raise RuntimeError(
            f"Workflow calls nest more than {MAX_NESTED_RUNS} deep ({' -> '.join([*chain, workflow.name])}); "
            "a workflow that calls itself, directly or through others, never ends"
        )
    child, _ = runs.run_start(
        workflow=workflow,
        inputs=inputs,
        trigger="subworkflow",
        parent_run=parent,
        enqueue=False,
        idempotency_key=f"{parent.id}/r{parent.retries}/{key}",
    )
    if child.status == "waiting" and answer is not None and answer[1] == child.waiting_node:
        child = runs.run_resume(run=child, node_id=child.waiting_node, value=answer[0], enqueue=False)
    if child.status in ("queued", "running"):
        run_execute(run_id=child.id)
        child.refresh_from_db()
    if child.status == "waiting":
        raise engine.WorkflowWaiting(str(child.id), child.waiting_node, child.waiting or {})
    if child.status != "succeeded":
        raise RuntimeError(f"Sub-workflow {workflow.name!r} {child.status}: {child.error or 'no outputs'}")
    return child.outputs or {}


def _run_chain(run: Run) -> list[str]:
    """The names of the workflows from the outermost run down to `run` (at most one past the limit)."""
    chain = [run.workflow.name]
    while run.parent_run_id is not None and len(chain) <= MAX_NESTED_RUNS:
        run = Run.objects.select_related("workflow").get(pk=run.parent_run_id)
        chain.insert(0, run.workflow.name)
    return chain
