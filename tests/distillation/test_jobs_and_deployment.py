"""From a node's traces to a trained student that answers the node, on the real servers: preview,
a job on the `training` worker, events, deploy, shadow, promote, roll back, savings; and a job
that survives its trainer being killed."""

import json

import pytest
from websockets.sync.client import connect

from distillation.models import DistillationJob, ShadowComparison
from tests.conftest import wait_until
from tests.distillation.helpers import TINY_JOB, TOPICS, run_many, student_model, wait_job, workflow_with_traces
from workflows.models import ModelEndpoint, Trace


@pytest.fixture
def trainer(platform):
    """A Celery worker on the `training` queue only, as the compose file's trainer service."""
    holder = {"worker": platform.start_worker(queues="training", beat=False)}
    yield holder
    if holder["worker"].poll() is None:
        platform.kill_worker(holder["worker"])


def job_body(workflow_id: str, student, **extra) -> dict:
    return {
        "workflow": workflow_id,
        "node_id": "draft",
        "student": str(student),
        "method": "sft",
        "config": TINY_JOB,
    } | extra


def test_a_node_is_distilled_deployed_in_shadow_promoted_and_rolled_back(api, platform, tiny_models, trainer):
    workflow_id = workflow_with_traces(api, 14)
    body = job_body(workflow_id, student_model(api, tiny_models["student"]))

    preview = api.post("/api/distillations/preview", json=body)
    assert preview.status_code == 200, preview.text
    preview = preview.json()
    assert preview["refusals"] == []
    assert preview["matched"] == 14 and preview["with_golden"] == 0
    assert sum(preview["splits"].values()) == 14 and preview["splits"]["train"] > 0
    assert preview["tokens"]["prompt"] > 0 and preview["tokens"]["output"] > 0
    assert preview["estimated_seconds"] > 0
    assert (preview["teacher"], preview["method"]) == ("tiny", "sft")

    created = api.post("/api/distillations", json=body)
    assert created.status_code == 201, created.text
    job_id = created.json()["id"]
    assert created.json()["status"] == "queued"
    ws_url = platform.url.replace("http", "ws") + f"/ws/distillations/{job_id}/"
    headers = {"Authorization": f"Bearer {api.key}"}
    with connect(ws_url + "?after=0", additional_headers=headers) as ws:  # live, while the job trains
        live = [json.loads(ws.recv(timeout=150))]
        while live[-1]["type"] not in ("job_succeeded", "job_failed", "job_cancelled"):
            live.append(json.loads(ws.recv(timeout=150)))
    job = wait_job(api, job_id)
    assert job["status"] == "succeeded", job["error"]
    assert job["progress"]["step"] == job["progress"]["total_steps"] == 6
    assert [p["step"] for p in job["losses"]] == list(range(1, 7))
    assert any("validation_loss" in p for p in job["losses"])
    assert {"baseline", "after", "verdict", "table"} <= set(job["report"])
    assert job["artifacts"]["merged"] and job["artifacts"]["adapter"]
    assert [
        j["id"] for j in api.get("/api/distillations", params={"workflow": workflow_id, "node_id": "draft"}).json()
    ] == [job_id]

    over_http = api.get(f"/api/distillations/{job_id}/events", params={"after": 0}).json()
    types = [e["type"] for e in over_http]
    assert types[0] == "job_queued" and types[1] == "job_started" and types[-1] == "job_succeeded"
    assert "progress" in types and "evaluation" in types
    assert [e["seq"] for e in over_http] == list(range(1, len(over_http) + 1))
    assert live == over_http
    with connect(ws_url + "?after=2", additional_headers=headers) as ws:
        replayed = [json.loads(message) for message in ws]  # the server closes once a finished job is replayed
    assert replayed == over_http[2:]

    deployed = api.post(f"/api/distillations/{job_id}/deploy", json={"name": "draft-student"})
    assert deployed.status_code == 201, deployed.text
    assert deployed.json() == {"model": "draft-student"}
    assert ModelEndpoint.objects.get(workspace=api.workspace, name="draft-student").model == job["artifacts"]["merged"]
    assert api.get(f"/api/distillations/{job_id}").json()["model"] == "draft-student"

    deployment_url = f"/api/workflows/{workflow_id}/nodes/draft/deployment"
    assert api.get(deployment_url).json()["state"] == "teacher"
    shadow = api.post(deployment_url, json={"state": "shadow", "model": "draft-student"}).json()
    assert (shadow["state"], shadow["model"], shadow["teacher_model"]) == ("shadow", "draft-student", "tiny")
    shadow_runs = run_many(api, workflow_id, TOPICS[14:17])
    assert all(r["nodes"][1]["model"] == "tiny" for r in shadow_runs)  # the teacher's answer is used
    comparisons = ShadowComparison.objects.filter(workflow_id=workflow_id, node_id="draft")
    assert comparisons.count() == 3
    assert all(c.student_trace.model == "draft-student" and c.teacher_trace.model == "tiny" for c in comparisons)
    assert all(c.student_latency_ms > 0 and c.teacher_latency_ms > 0 for c in comparisons)

    assert api.post(deployment_url, json={"state": "student"}).json()["state"] == "student"
    student_runs = run_many(api, workflow_id, TOPICS[17:19])
    assert all(r["nodes"][1]["model"] == "draft-student" for r in student_runs)
    assert set(Trace.objects.filter(run_id__in=[r["id"] for r in student_runs]).values_list("model", flat=True)) == {
        "draft-student"
    }

    rolled_back = api.post(deployment_url, json={"state": "teacher"}).json()
    assert rolled_back["state"] == "teacher"
    assert [(c["from_state"], c["to_state"]) for c in rolled_back["changes"]] == [
        ("teacher", "shadow"),
        ("shadow", "student"),
        ("student", "teacher"),
    ]
    assert all(c["user"] and c["at"] for c in rolled_back["changes"])
    assert run_many(api, workflow_id, TOPICS[19:20])[0]["nodes"][1]["model"] == "tiny"

    savings = api.get(f"/api/workflows/{workflow_id}/savings").json()
    (node,) = savings["nodes"]
    usage = {m["model"]: m for m in node["models"]}
    assert usage["tiny"]["calls"] == 14 + 3 + 1 and usage["draft-student"]["calls"] == 3 + 2
    assert usage["tiny"]["cost"] > 0 and usage["tiny"]["p95_ms"] >= usage["tiny"]["p50_ms"] > 0
    assert node["shadow"]["calls"] == 3 and 0 <= node["shadow"]["agreement"] <= 1
    assert node["potential_monthly_saving"] > 0  # the student is self-hosted, the teacher is priced
    # ... but 3 shadow comparisons are too few to tell whether it answers as well: nothing projected
    assert node["projection"]["projected"] is False and node["projected_monthly_saving"] == 0.0
    assert node["projection"]["quality"]["sample"] == 3 and "at least 10" in node["projection"]["reason"]
    assert savings["totals"]["calls"] == 14 + 3 + 3 + 2 + 1


def test_a_job_resumes_from_its_checkpoint_after_the_trainer_is_killed(api, platform, tiny_models, trainer):
    workflow_id = workflow_with_traces(api, 12)
    config = TINY_JOB | {"train": {"max_steps": 60, "batch_size": 2, "checkpoint_every": 5, "eval_every": 30}}
    created = api.post(
        "/api/distillations", json=job_body(workflow_id, student_model(api, tiny_models["student"]), config=config)
    )
    assert created.status_code == 201, created.text
    job_id = created.json()["id"]

    def past_a_checkpoint():
        progress = api.get(f"/api/distillations/{job_id}").json()["progress"]
        return progress and progress["step"] >= 7

    wait_until(past_a_checkpoint, timeout=120, interval=0.05, message="training past its first checkpoint")
    platform.kill_worker(trainer["worker"])  # kill -9, mid-training
    killed_at = api.get(f"/api/distillations/{job_id}").json()["progress"]["step"]
    assert killed_at < 60, "the job finished before the trainer could be killed"
    trainer["worker"] = platform.start_worker(queues="training", beat=False)

    job = wait_job(api, job_id, timeout=180)
    assert job["status"] == "succeeded", job["error"]
    events = api.get(f"/api/distillations/{job_id}/events").json()
    starts = [e for e in events if e["type"] == "job_started"]
    assert [s["data"]["resumed"] for s in starts] == [False, True]
    after_restart = [
        e["data"]["step"]
        for e in events
        if e["seq"] > starts[1]["seq"] and e["type"] == "progress" and "step" in e["data"]
    ]
    assert after_restart[0] > 5  # resumed from a checkpoint (every 5 steps), not from step 1
    assert after_restart[-1] == 60
    assert [p["step"] for p in job["losses"]] == list(range(1, 61))
    assert DistillationJob.objects.get(pk=job_id).lease_owner == ""


def test_a_running_job_is_cancelled_at_its_next_step_and_a_finished_one_cannot_be(api, tiny_models, trainer):
    workflow_id = workflow_with_traces(api, 12)
    config = TINY_JOB | {"train": {"max_steps": 500, "batch_size": 2, "checkpoint_every": 50, "eval_every": 250}}
    created = api.post(
        "/api/distillations", json=job_body(workflow_id, student_model(api, tiny_models["student"]), config=config)
    )
    job_id = created.json()["id"]
    wait_until(
        lambda: (api.get(f"/api/distillations/{job_id}").json()["progress"] or {}).get("step"),
        timeout=120,
        interval=0.05,
        message="training to start",
    )

    assert api.post(f"/api/distillations/{job_id}/cancel").status_code == 202
    job = wait_job(api, job_id)
    assert job["status"] == "cancelled"
    assert job["progress"]["step"] < 500
    assert job["report"]["outcome"] == "cancelled" and job["artifacts"] == {}
    assert [e["type"] for e in api.get(f"/api/distillations/{job_id}/events").json()][-1] == "job_cancelled"
    again = api.post(f"/api/distillations/{job_id}/cancel")
    assert again.status_code == 409 and "already cancelled" in again.json()["errors"][0]["message"]
