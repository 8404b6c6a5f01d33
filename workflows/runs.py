"""Run lifecycle services: start, cancel, answer an approval. Execution itself is in execution.py."""

import collections
import hashlib
import json
import logging
import threading
from typing import Any

from django.db import IntegrityError, transaction
from django.dispatch import Signal
from django.utils import timezone

from orchestra import engine
from workflows import callbacks, events, services
from workflows.errors import Conflict, Unavailable, Unprocessable, ValidationFailed
from workflows.models import NodeRun, Run, Workflow, WorkflowVersion

log = logging.getLogger(__name__)

# Sent by run_finish inside its transaction, after the final event: what reacts to a finished run
# (the chat reply, the callback, ...) connects here (WorkflowsConfig.ready) instead of being called.
run_finished = Signal()


def graph_for(*, workflow: Workflow, version: int | str | None) -> tuple[int | None, dict]:
    """The graph a run executes: a published version (default: the latest) or the draft.

    A workflow that was never published runs its draft, so a new workflow works before its first
    publish; once published, only an explicit version: "draft" runs unpublished changes.
    """
    if version == "draft":
        return None, workflow.graph
    if version is None:
        latest = workflow.versions.order_by("-version").first()
        return (latest.version, latest.graph) if latest else (None, workflow.graph)
    if not isinstance(version, int) or isinstance(version, bool):
        raise ValidationFailed('version is a published version number or "draft".', path="version")
    try:
        return version, workflow.versions.get(version=version).graph
    except WorkflowVersion.DoesNotExist:
        raise ValidationFailed(f"Workflow has no version {version}.", path="version") from None


def run_start(
    *,
    workflow: Workflow,
    inputs: Any,
    version: int | str | None = None,
    trigger: str = "api",
    idempotency_key: str = "",
    callback_url: Any = "",
    trigger_ref: str = "",
    parent_run: Run | None = None,
    enqueue: bool = True,
) -> tuple[Run, bool]:
    """The one way a run starts (API, chat, webhook, schedule, MCP, sub-workflow and agent tools):
    returns (run, created). With an Idempotency-Key, a second start answers the first one's run.

    The unique constraint on (workflow, idempotency_key) decides between concurrent requests: the
    loser's insert fails, its transaction (and so its enqueue) rolls back, and it answers with the
    winner's run. Bad input queues nothing.
    """
    if len(idempotency_key) > 200:
        raise ValidationFailed("Idempotency-Key is at most 200 characters.", path="Idempotency-Key")
    request_hash = _request_hash(inputs, version, callback_url) if idempotency_key else ""
    if idempotency_key:
        existing = Run.objects.filter(workflow=workflow, idempotency_key=idempotency_key).first()
        if existing is not None:
            return _replayed(existing, request_hash, idempotency_key), False
    callback_url = callbacks.callback_url_check(callback_url)
    try:
        return _run_create(
            workflow=workflow,
            inputs=inputs,
            version=version,
            trigger=trigger,
            parent_run=parent_run,
            enqueue=enqueue,
            idempotency_key=idempotency_key,
            trigger_ref=trigger_ref,
            callback_url=callback_url,
            request_hash=request_hash,
        ), True
    except IntegrityError:
        if not idempotency_key:
            raise
        existing = Run.objects.get(workflow=workflow, idempotency_key=idempotency_key)
        return _replayed(existing, request_hash, idempotency_key), False


def _request_hash(inputs: Any, version: Any, callback_url: Any) -> str:
    body = json.dumps(
        {"inputs": inputs, "version": version, "callback_url": callback_url or ""}, sort_keys=True, default=str
    )
    return hashlib.sha256(body.encode()).hexdigest()


def _replayed(run: Run, request_hash: str, idempotency_key: str) -> Run:
    """The run an earlier request with this key started, if this request asks for the same thing."""
    if run.request_hash and run.request_hash != request_hash:
        raise Unprocessable(
            f"Idempotency-Key {idempotency_key!r} was used for a different request (run {run.id}); "
            f"use a new key for new inputs.",
            path="Idempotency-Key",
        )
    return run


def _run_create(
    *,
    workflow: Workflow,
    inputs: Any,
    version: int | str | None,
    trigger: str,
    parent_run: Run | None,
    enqueue: bool,
    idempotency_key: str,
    trigger_ref: str,
    callback_url: str,
    request_hash: str,
) -> Run:
    if inputs is None:
        inputs = {}
    if not isinstance(inputs, dict):
        raise ValidationFailed("inputs must be a JSON object of input field values.", path="inputs")
    version_number, graph = graph_for(workflow=workflow, version=version)
    if version_number is None and (
        problems := services.graph_problems(workspace=workflow.workspace, graph=graph, workflow=workflow)
    ):
        raise ValidationFailed(problems)  # a draft is saved with its problems, but runs only without them
    coerced, errors = engine.validate_inputs(_parsed(workflow.id, version_number, graph), inputs)
    if errors:
        raise ValidationFailed([e.as_dict() for e in errors])
    with transaction.atomic():
        run = Run.objects.create(
            workspace=workflow.workspace,
            workflow=workflow,
            version=version_number,
            graph=graph,
            inputs=coerced,
            trigger=trigger,
            parent_run=parent_run,
            for_evaluation=trigger == "evaluation" or (parent_run is not None and parent_run.for_evaluation),
            idempotency_key=idempotency_key,
            trigger_ref=trigger_ref,
            callback_url=callback_url,
            request_hash=request_hash,
            enqueued_at=timezone.now(),
        )
        NodeRun.objects.bulk_create(NodeRun(run=run, node_id=n["id"]) for n in graph["nodes"])
        events.record(run_id=run.id, type="run_queued", data={"trigger": trigger, "version": version_number})
        if enqueue:
            transaction.on_commit(lambda: enqueue_run(run.id, stamped=True))
    return run


def _broker_errors() -> tuple[type[BaseException], ...]:
    import kombu.exceptions

    errors: list[type[BaseException]] = [kombu.exceptions.OperationalError, ConnectionError, OSError, TimeoutError]
    try:
        import redis.exceptions

        errors.append(redis.exceptions.RedisError)
    except ImportError:
        pass
    return tuple(errors)


_parsed_versions: "collections.OrderedDict[tuple, Any]" = collections.OrderedDict()
_parsed_lock = threading.Lock()


def _parsed(workflow_id, version: int | None, graph: dict):
    """A published version never changes: parse (and validate) it once per process, not per run."""
    if version is None:
        return engine.parse_graph(graph)
    key = (workflow_id, version)
    with _parsed_lock:
        if key in _parsed_versions:
            _parsed_versions.move_to_end(key)
            return _parsed_versions[key]
    parsed = engine.parse_graph(graph)
    with _parsed_lock:
        _parsed_versions[key] = parsed
        while len(_parsed_versions) > 256:
            _parsed_versions.popitem(last=False)
    return parsed


def enqueue_run(run_id, *, countdown: float | None = None, stamped: bool = False) -> None:
    """Send the run to a worker. A broker that cannot take the message leaves the run queued with no
    `enqueued_at`, which the sweeper re-enqueues (leases.orphans), and is answered as a 503 that
    names the run: it is stored and will run, so a client must not start it again."""
    from workflows.tasks import run_execute_task

    if not stamped:  # a new run carries its enqueued_at from its INSERT
        Run.objects.filter(pk=run_id).update(enqueued_at=timezone.now())
    try:
        run_execute_task.apply_async(args=[str(run_id)], countdown=countdown)
    except _broker_errors() as exc:
        log.warning("run %s: not enqueued (%s); the sweeper will", run_id, exc)
        Run.objects.filter(pk=run_id, status="queued").update(enqueued_at=None)
        raise Unavailable(
            f"The task queue is unavailable ({type(exc).__name__}); run {run_id} is stored and "
            "starts once the queue is back. Do not start it again: GET /api/runs/<id> follows it.",
            run_id=str(run_id),
        ) from exc


def run_cancel(*, run: Run) -> Run:
    """Queued or waiting runs stop now; a running run stops within about a second: its worker
    checks between nodes, a map between items, and an HTTP or model call in flight is abandoned.
    Its sub-workflow runs are cancelled with it."""
    with transaction.atomic():
        run = Run.objects.select_for_update().get(pk=run.pk)
        if run.status not in Run.ACTIVE:
            raise Conflict(f"Run is already {run.status}.", path="status")
        run.cancel_requested = True
        if run.status in ("queued", "waiting"):
            run_finish(run=run, status="cancelled", error="Cancelled by request.")
        else:
            run.save(update_fields=["cancel_requested"])
        for child in Run.objects.filter(parent_run=run, status__in=Run.ACTIVE):
            run_cancel(run=child)
    return run


RETRYABLE = ("failed", "cancelled")


def run_retry(*, run: Run) -> Run:
    """Continue a failed (or cancelled) run from where it stopped: the nodes that finished keep their
    results, traces and costs (the LangGraph checkpoint holds them); the node that failed and those
    after it run again, with fresh model calls."""
    with transaction.atomic():
        run = Run.objects.select_for_update().get(pk=run.pk)
        if run.status not in RETRYABLE:
            raise Conflict(f"Run is {run.status}; only a failed or cancelled run can be retried.", path="status")
        run.status, run.outputs, run.error, run.finished_at = "queued", None, "", None
        run.cancel_requested = False
        run.retries += 1
        run.enqueued_at = timezone.now()
        run.save(
            update_fields=["status", "outputs", "error", "finished_at", "cancel_requested", "retries", "enqueued_at"]
        )
        NodeRun.objects.filter(run=run, status__in=["failed", "cancelled", "not_run", "running"]).update(
            status="queued", error=""
        )
        events.record(run_id=run.id, type="run_retried", data={"retry": run.retries})
        transaction.on_commit(lambda: enqueue_run(run.id, stamped=True))
    return run


def run_rerun(*, run: Run, inputs: Any = None) -> Run:
    """A new run of the same workflow version (the draft, for a draft run), with edited inputs or,
    without them, the same inputs; checked as an API run's are."""
    rerun, _ = run_start(
        workflow=run.workflow,
        inputs=run.inputs if inputs is None else inputs,
        version="draft" if run.version is None else run.version,
        trigger="rerun",
        trigger_ref=str(run.id),
    )
    return rerun


def run_resume(*, run: Run, node_id: Any, value: Any, enqueue: bool = True) -> Run:
    """Answer the approval node a run is waiting on; the run continues on a worker (or, without
    `enqueue`, in the caller: a parent run answering its sub-workflow's run). A parent waiting on a
    child run's approval (a sub-workflow's, a map item's, an agent tool's) is answered on the node
    that waits, or on the child run itself."""
    return _resume(run=run, node_id=node_id, value=value, enqueue=enqueue, answers=True)


def _resume(*, run: Run, node_id: Any, value: Any, enqueue: bool, answers: bool) -> Run:
    with transaction.atomic():
        run = Run.objects.select_for_update().get(pk=run.pk)
        if run.status != "waiting":
            raise Conflict(f"Run is {run.status}, not waiting for an answer.", path="status")
        if node_id != run.waiting_node:
            raise ValidationFailed(f"Run is waiting on node {run.waiting_node!r}, not {node_id!r}.", path="node_id")
        waiting = run.waiting or {}
        run.status = "queued"
        # An answer for a child run names the run and node it is for: the waiting node re-runs from the top,
        # replaying its earlier answers, and gives each only to the child still waiting where it was asked.
        run.resume_value = (
            {"child_run": waiting["child_run"], "child_node": waiting.get("child_node"), "value": value}
            if answers and waiting.get("child_run")
            else value
        )
        run.has_resume_value = True
        run.timeout_at = None
        run.enqueued_at = timezone.now()
        run.save(update_fields=["status", "resume_value", "has_resume_value", "timeout_at", "enqueued_at"])
        events.record(run_id=run.id, type="run_resumed", node_id=node_id, data={"value": value})
        if enqueue:
            transaction.on_commit(lambda: enqueue_run(run.id, stamped=True))
    return run


def parent_wake(*, child: Run) -> None:
    """A child run (a sub-workflow's, a map item's, an agent tool's) that was answered on its own has moved
    on (finished, or waits elsewhere): its parent, waiting on it, runs its node again, which reads the
    child's state. The wake answers nothing (a resume value that names no child)."""
    if child.parent_run_id is None:
        return
    parent = Run.objects.filter(pk=child.parent_run_id, status="waiting", waiting__child_run=str(child.id)).first()
    if parent is not None:
        _resume(run=parent, node_id=parent.waiting_node, value=None, enqueue=True, answers=False)


def run_finish(*, run: Run, status: str, outputs: dict | None = None, error: str = "") -> None:
    """Move a run to a terminal state (within the caller's transaction) and record the event."""
    run.status = status
    run.outputs = outputs
    run.error = error or ""
    run.finished_at = timezone.now()
    run.lease_owner = ""
    run.lease_expires_at = None
    run.waiting_node = ""
    run.timeout_at = None
    run.save()
    if status != "succeeded":  # every node ends in a final state: what never started did not run
        NodeRun.objects.filter(run=run, status="queued").update(status="not_run")
    if status == "cancelled":
        NodeRun.objects.filter(run=run, status__in=["running", "waiting"]).update(status="cancelled")
    events.record(run_id=run.id, type=f"run_{status}", data={"outputs": outputs, "error": error or None})
    parent_wake(child=run)
    run_finished.send(sender=Run, run=run)
