"""A worker that lost its run's lease cannot write: events, node rows, traces, checkpoints, the
outcome. Two owners of one run, on the real PostgreSQL: the stale one is refused everywhere."""

import threading
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from orchestra import engine
from tests.conftest import wait_until
from tests.platform.test_runs_api import create_published
from tests.support.loopback import LoopbackServer
from workflows import checkpoints, execution, leases, runs
from workflows.models import NodeRun, Run, RunEvent, Trace, Workflow
from workflows.recorder import RunRecorder

ACTIVE = ("queued", "running")


def http_graph(url: str) -> dict:
    return {
        "nodes": [
            {"id": "start", "type": "input", "config": {"fields": []}},
            {"id": "call", "type": "http", "config": {"method": "GET", "url": url}},
            {"id": "end", "type": "output", "config": {"outputs": {"status": "{{ nodes.call.output.status }}"}}},
        ],
        "edges": [{"source": "start", "target": "call"}, {"source": "call", "target": "end"}],
    }


def unqueued_run(api, graph: dict) -> Run:
    """A run the platform's workers are not told about: the test plays the workers."""
    workflow = Workflow.objects.get(id=create_published(api, graph))
    run, _ = runs.run_start(workflow=workflow, inputs={}, enqueue=False)
    Run.objects.filter(pk=run.pk).update(enqueued_at=timezone.now())  # not "never sent" to the sweeper
    return run


def take_over(run_id, owner: str) -> Run:
    """What the sweeper and a second worker do once the first one's lease lapsed. A first worker
    whose keeper still runs may renew the lease between the lapse and the claim: lapse it again
    until the claim wins, as a real takeover waits for a lapse that lasts."""

    def lapse_and_claim() -> Run | None:
        Run.objects.filter(pk=run_id).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
        return leases.claim(Run, pk=run_id, owner=owner, statuses=ACTIVE)

    return wait_until(lapse_and_claim, timeout=30, message=f"{owner} to take the run over")


def outcome(status: str, outputs: dict) -> engine.RunOutcome:
    return engine.RunOutcome(status=status, outputs=outputs, error=None, waiting_node=None, waiting=None)


def test_the_stale_owner_writes_nothing_after_a_takeover(api):
    run = unqueued_run(api, http_graph("http://127.0.0.1:9/unused"))
    stale = leases.claim(Run, pk=run.id, owner="worker-a", statuses=ACTIVE)
    RunRecorder(stale).emit("node_started", "call", {"input": {}, "attempt": 1})  # while it holds: lands

    current = take_over(run.id, "worker-b")
    assert current.lease.attempt == stale.lease.attempt + 1
    assert current.worker_losses == 1
    RunRecorder(current).emit("node_succeeded", "call", {"output": {"by": "b"}})
    execution._record_outcome(current, "worker-b", outcome("succeeded", {"by": "b"}))
    last = RunEvent.objects.filter(run_id=run.id).order_by("-seq").first()
    assert last.type == "run_succeeded"

    with pytest.raises(leases.LeaseLost):
        RunRecorder(stale).emit("node_failed", "call", {"error": "stale"})
    with pytest.raises(leases.LeaseLost):
        Trace(workspace_id=stale.workspace_id, workflow_id=stale.workflow_id, run=stale, node_id="call").save()
    token = leases.current.set(stale.lease)
    try:
        with pytest.raises(leases.LeaseLost):
            checkpoints.checkpointer().put_writes(
                {"configurable": {"thread_id": str(run.id), "checkpoint_ns": "", "checkpoint_id": "stale"}},
                [("x", 1)],
                "stale-task",
            )
    finally:
        leases.current.reset(token)
    execution._record_outcome(stale, "worker-a", outcome("failed", {}))

    run.refresh_from_db()
    assert (run.status, run.outputs) == ("succeeded", {"by": "b"})
    assert RunEvent.objects.filter(run_id=run.id).order_by("-seq").first().seq == last.seq  # nothing after
    assert NodeRun.objects.get(run_id=run.id, node_id="call").output == {"by": "b"}
    assert not Trace.objects.filter(run_id=run.id).exists()


def test_an_older_attempt_of_the_same_owner_is_refused(api):
    """An abandoned thread of a worker that claimed the run again (same owner name) is stale too."""
    run = unqueued_run(api, http_graph("http://127.0.0.1:9/unused"))
    first = leases.claim(Run, pk=run.id, owner="worker-a", statuses=ACTIVE)
    again = take_over(run.id, "worker-a")
    assert again.lease.attempt == first.lease.attempt + 1
    assert again.worker_losses == 0  # its own lease: no worker was lost

    with pytest.raises(leases.LeaseLost):
        RunRecorder(first).emit("node_succeeded", "call", {"output": "old"})
    RunRecorder(again).emit("node_succeeded", "call", {"output": "new"})
    assert NodeRun.objects.get(run_id=run.id, node_id="call").output == "new"


def test_a_worker_whose_run_was_taken_over_mid_node_stops_without_writing(api):
    """The first worker is stuck in a node (as one whose keeper thread was starved) while a second
    takes the run over and finishes it; when the node returns, the first one's writes are refused."""
    held = LoopbackServer(hold=True)
    try:
        run = unqueued_run(api, http_graph(held.url + "/slow"))
        result: dict = {}
        worker = threading.Thread(target=lambda: result.update(status=execution.run_execute(run_id=run.id)))
        worker.start()
        wait_until(lambda: held.requests, timeout=60, message="the http node to be in flight")

        current = take_over(run.id, "worker-b")
        with leases.holding(current.lease):
            RunRecorder(current).emit("node_succeeded", "call", {"output": {"by": "b"}})
            execution._record_outcome(current, "worker-b", outcome("succeeded", {"by": "b"}))
        final = RunEvent.objects.filter(run_id=run.id).order_by("-seq").first()
        assert final.type == "run_succeeded"

        held.released.set()
        worker.join(timeout=120)
        assert not worker.is_alive()
    finally:
        held.close()

    assert result["status"] is None  # it stopped: another worker had the run
    run.refresh_from_db()
    assert (run.status, run.outputs) == ("succeeded", {"by": "b"})
    assert not RunEvent.objects.filter(run_id=run.id, seq__gt=final.seq).exists()
    assert NodeRun.objects.get(run_id=run.id, node_id="call").output == {"by": "b"}
    assert NodeRun.objects.get(run_id=run.id, node_id="end").status != "succeeded"


def test_a_run_that_keeps_losing_its_worker_fails_instead_of_looping(api):
    run = unqueued_run(api, http_graph("http://127.0.0.1:9/unused"))
    Run.objects.filter(pk=run.id).update(
        status="running",
        lease_owner="dead-host:1:1",
        lease_expires_at=timezone.now() - timedelta(seconds=1),
        worker_losses=settings.ORCHESTRA_RUN_MAX_WORKER_LOSSES - 1,
    )

    assert execution.run_execute(run_id=run.id) == "failed"

    run.refresh_from_db()
    assert run.status == "failed"
    assert f"lost {settings.ORCHESTRA_RUN_MAX_WORKER_LOSSES} times" in run.error
    assert not NodeRun.objects.filter(run_id=run.id, status="succeeded").exists()  # nothing ran again
