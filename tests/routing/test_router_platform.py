"""A node router on the real servers: configured through the API, a compare job and a training job
on the `training` worker, the report's curve, then runs (and the gateway) routed through it.

The candidates are the tiny teacher and a copy of it registered at ten times the price: greedy
decoding makes the copy answer every prompt the same, so the router learns that the cheap one is
always acceptable, and the routed run is answered by it."""

import pytest

from orchestra.routing import train
from routing import services as routing_services
from routing.models import Comparison
from tests.conftest import wait_until
from tests.distillation.helpers import SUMMARISE, run_many, workflow_with_traces
from tests.platform.test_runs_api import create_published
from tests.routing.test_core import synthetic
from workflows import runs, services
from workflows.models import Trace, Workflow
from workflows.tasks import run_execute_task


@pytest.fixture
def trainer(platform):
    """A Celery worker on the `training` queue only, as the compose file's trainer service."""
    worker = platform.start_worker(queues="training", beat=False)
    yield worker
    if worker.poll() is None:
        platform.kill_worker(worker)


def wait_job(api, router_id: str, job_id: str) -> dict:
    def done():
        job = api.get(f"/api/routers/{router_id}/jobs/{job_id}").json()
        return job if job["status"] in ("succeeded", "failed") else None

    return wait_until(done, timeout=180, interval=0.2, message=f"router job {job_id}")


def test_a_node_router_is_configured_compared_trained_and_routes_the_nodes_runs(api, tiny_models, trainer):
    services.model_endpoint_save(
        workspace=api.workspace,
        name="tiny-pricey",
        trusted_path=True,
        fields={"backend": "transformers", "model": str(tiny_models["teacher"]), "price_in": 5.0, "price_out": 15.0},
    )
    workflow_id = workflow_with_traces(api, 14)

    refused = api.post(
        "/api/routers",
        json={
            "name": "draft-router",
            "workflow": workflow_id,
            "node_id": "draft",
            "candidates": ["tiny", "nope"],
            "colour": "red",
        },
    )
    assert refused.status_code == 400
    assert {e["path"] for e in refused.json()["errors"]} == {"colour"}
    refused = api.post(
        "/api/routers",
        json={"name": "draft-router", "workflow": workflow_id, "node_id": "draft", "candidates": ["tiny", "nope"]},
    )
    assert refused.status_code == 400 and refused.json()["errors"][0]["path"] == "candidates[1]"
    created = api.post(
        "/api/routers",
        json={
            "name": "draft-router",
            "workflow": workflow_id,
            "node_id": "draft",
            "candidates": ["tiny", "tiny-pricey"],
            "target": 0.95,
        },
    )
    assert created.status_code == 201, created.text
    router = created.json()
    assert (router["trained"], router["candidates"], router["node_id"]) == (False, ["tiny", "tiny-pricey"], "draft")

    compare = api.post(f"/api/routers/{router['id']}/compare", json={"sample": 14})
    assert compare.status_code == 202, compare.text
    assert api.post(f"/api/routers/{router['id']}/train", json={}).status_code == 409  # one job at a time
    job = wait_job(api, router["id"], compare.json()["id"])
    assert job["status"] == "succeeded", job["error"]
    assert job["report"]["compared"] == 14 and Comparison.objects.filter(router_id=router["id"]).count() == 14
    replays = Trace.objects.filter(workspace=api.workspace, metadata__source="router-compare")
    assert replays.count() == 14 and set(replays.values_list("model", flat=True)) == {"tiny-pricey"}

    train = api.post(f"/api/routers/{router['id']}/train", json={})
    job = wait_job(api, router["id"], train.json()["id"])
    assert job["status"] == "succeeded", job["error"]
    report = api.get(f"/api/routers/{router['id']}/report").json()
    training = report["training"]
    assert training["sources"] == {"compare": 14, "shadow": 0, "incomplete": 0}
    assert training["acceptable_rate"] == [1.0]  # the copy answers the same: the cheap answer is always as good
    assert training["shares"] == [1.0, 0.0] and training["cost_saved"] > 0.8
    assert training["curve"][0]["strong_share"] == 0.0 and training["curve"][-1]["strong_share"] == 1.0
    assert report["router"]["trained"] is True
    assert [(j["kind"], j["status"]) for j in report["jobs"]] == [("train", "succeeded"), ("compare", "succeeded")]

    [run] = run_many(api, workflow_id, ["owls"])
    [trace] = api.get("/api/traces", params={"run": run["id"]}).json()["results"]  # what the run inspector shows
    decision = trace["metadata"]["routing"]
    assert (decision["router"], decision["trained"], decision["chosen"], decision["answered"]) == (
        "draft-router",
        True,
        "tiny",
        "tiny",
    )
    assert decision["escalations"] == [] and decision["decision_ms"] > 0
    assert (decision["embedding"], decision["loaded_embedder"]) == ("static", False)

    response = api.post(
        "/v1/chat/completions",
        json={"model": "draft-router", "max_tokens": 4, "messages": [{"role": "user", "content": "Say owls"}]},
    )
    assert response.status_code == 200, response.text
    assert response.json()["model"] == "tiny"
    gateway_trace = Trace.objects.get(workspace=api.workspace, run__isnull=True, metadata__has_key="routing")
    assert gateway_trace.metadata["routing"]["loaded_embedder"] is False  # the web process loaded it beforehand
    usage = api.get(f"/api/routers/{router['id']}/report").json()["usage"]
    assert usage["calls"] == 2 and usage["answered"] == {"tiny": 2, "tiny-pricey": 0} and usage["saving"] > 0

    changed = api.patch(f"/api/routers/{router['id']}", json={"candidates": ["tiny-pricey", "tiny"]})
    assert changed.status_code == 200 and changed.json()["trained"] is False  # trained for other candidates
    refused = api.patch(f"/api/routers/{router['id']}", json={"embedding": "bag-of-words"})
    assert refused.status_code == 400 and refused.json()["errors"][0]["path"] == "embedding"
    encoder = api.patch(f"/api/routers/{router['id']}", json={"embedding": "minilm"})
    assert encoder.status_code == 200 and encoder.json()["embedding"] == "minilm"


def test_a_fresh_workers_first_routed_call_finds_the_embedder_loaded(api, platform, tiny_models):
    """The worker loads the embedder when it starts: its first routed call does not wait for it."""
    services.model_endpoint_save(
        workspace=api.workspace,
        name="tiny-copy",
        trusted_path=True,
        fields={"backend": "transformers", "model": str(tiny_models["teacher"])},
    )
    workflow = Workflow.objects.get(pk=create_published(api, SUMMARISE, name="summarise"))
    router = routing_services.router_create(
        workspace=api.workspace,
        name="fresh",
        workflow=str(workflow.id),
        node_id="draft",
        candidates=["tiny", "tiny-copy"],
    )
    trained, _ = train(synthetic(30), candidates=router.candidates, target=1e-6)  # any quality: always the cheap one
    router.state = trained.as_dict()
    router.save()
    worker = platform.start_worker(queues="routing-fresh", beat=False)  # no other worker serves this queue
    try:
        run, _ = runs.run_start(workflow=workflow, inputs={"topic": "owls"}, enqueue=False)
        run_execute_task.apply_async(args=[str(run.id)], queue="routing-fresh")
        assert api.wait_run(str(run.id), timeout=120)["status"] == "succeeded"
    finally:
        platform.kill_worker(worker)
    decision = Trace.objects.get(run=run).metadata["routing"]
    assert (decision["answered"], decision["embedding"], decision["loaded_embedder"]) == ("tiny", "static", False)
