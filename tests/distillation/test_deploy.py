"""Deploying a finished job's student. The vLLM path is checked against a loopback stand-in that
records the request: it shows we send vLLM's documented `/v1/load_lora_adapter` body, not that a
real vLLM accepts it (no GPU server here)."""

import json

import pytest

from distillation.models import DistillationJob
from tests.distillation.helpers import SUMMARISE
from tests.platform.test_runs_api import create_published
from tests.support.loopback import LoopbackServer
from workflows.models import ModelEndpoint


@pytest.fixture
def vllm_stand_in():
    server = LoopbackServer(body={"ok": True})
    yield server
    server.close()


def finished_job(api, *, student: str, status: str = "succeeded") -> DistillationJob:
    """A job as the trainer leaves it: stored state, the folders it would have exported."""
    workflow_id = create_published(api, SUMMARISE, name="summarise")
    return DistillationJob.objects.create(
        workspace=api.workspace,
        workflow_id=workflow_id,
        node_id="draft",
        teacher="tiny",
        student=student,
        method="sft",
        status=status,
        artifacts={"adapter": "/shared/jobs/1/adapter", "merged": "/shared/jobs/1/merged"},
    )


def test_a_student_served_by_vllm_is_deployed_by_loading_its_adapter_there(api, vllm_stand_in):
    registered = api.post(
        "/api/models",
        json={
            "name": "qwen-small",
            "backend": "openai",
            "model": "Qwen/Qwen2-0.5B",
            "base_url": vllm_stand_in.url + "/v1",
            "api_key": "sk-vllm",
            "price_in": 0.02,
            "price_out": 0.04,
        },
    )
    assert registered.status_code == 201, registered.text
    job = finished_job(api, student="qwen-small")

    response = api.post(f"/api/distillations/{job.id}/deploy", json={"name": "draft-lora"})
    assert response.status_code == 201, response.text

    (request,) = vllm_stand_in.requests
    assert (request["method"], request["path"]) == ("POST", "/v1/load_lora_adapter")
    assert json.loads(request["body"]) == {"lora_name": "draft-lora", "lora_path": "/shared/jobs/1/adapter"}
    assert request["headers"]["Authorization"] == "Bearer sk-vllm"
    endpoint = ModelEndpoint.objects.get(workspace=api.workspace, name="draft-lora")
    assert (endpoint.backend, endpoint.model, endpoint.base_url) == ("openai", "draft-lora", vllm_stand_in.url + "/v1")
    assert (endpoint.price_in, endpoint.price_out) == (0.02, 0.04)


def test_a_local_student_is_deployed_as_a_transformers_model_on_the_merged_folder(api):
    job = finished_job(api, student="/models/student")
    response = api.post(f"/api/distillations/{job.id}/deploy", json={})
    assert response.status_code == 201, response.text
    name = response.json()["model"]
    assert name == f"draft-student-{str(job.id)[:8]}"
    endpoint = ModelEndpoint.objects.get(workspace=api.workspace, name=name)
    assert (endpoint.backend, endpoint.model) == ("transformers", "/shared/jobs/1/merged")


def test_an_unfinished_job_cannot_be_deployed(api):
    job = finished_job(api, student="/models/student", status="running")
    response = api.post(f"/api/distillations/{job.id}/deploy", json={})
    assert response.status_code == 409
    assert "running" in response.json()["errors"][0]["message"]
