"""A job's config cannot make the trainer send a secret anywhere or read a server path: the
teacher, the student and the stores are registered models and the platform's own folders."""

import pytest

from distillation.models import DistillationJob
from tests.distillation.helpers import TINY_JOB, student_model, workflow_with_traces
from tests.support.loopback import LoopbackServer


@pytest.fixture
def listener():
    server = LoopbackServer(body={"choices": [{"message": {"content": "x"}}]})
    yield server
    server.close()


def refused_paths(api, payload: dict) -> set[str]:
    before = DistillationJob.objects.count()
    for url in ("/api/distillations/preview", "/api/distillations"):
        response = api.post(url, json=payload)
        assert response.status_code == 400, response.text
    assert DistillationJob.objects.count() == before
    return {error["path"] for error in response.json()["errors"]}


def test_a_teacher_url_or_key_variable_in_the_config_is_refused_and_nothing_is_sent(api, tiny_models, listener):
    workflow_id = workflow_with_traces(api, 1)
    config = TINY_JOB | {
        "teacher": {
            "kind": "relabel",
            "model": "x",
            "base_url": listener.url + "/v1",
            "api_key_env": "SECRET_KEY",
            "store": "/etc",
        }
    }
    payload = {
        "workflow": workflow_id,
        "node_id": "draft",
        "student": student_model(api, tiny_models["student"]),
        "method": "sft",
        "config": config,
    }
    assert refused_paths(api, payload) == {
        "config.teacher.kind",
        "config.teacher.model",
        "config.teacher.base_url",
        "config.teacher.api_key_env",
        "config.teacher.store",
    }
    assert listener.requests == []


def test_server_paths_for_the_student_the_data_and_the_output_are_refused(api, tiny_models):
    workflow_id = workflow_with_traces(api, 1)
    base = {"workflow": workflow_id, "node_id": "draft", "method": "sft", "config": TINY_JOB}
    # The folder holds a real model: named directly, it is still refused.
    assert refused_paths(api, base | {"student": str(tiny_models["student"])}) == {"student"}
    assert refused_paths(api, base | {"student": "../../etc"}) == {"student"}
    escaping = TINY_JOB | {"output_dir": "/tmp/elsewhere", "data": {"source": "/etc/passwd"}}
    assert refused_paths(api, base | {"student": student_model(api, tiny_models["student"]), "config": escaping}) == {
        "config.output_dir",
        "config.data.source",
    }


def test_a_tenant_registers_a_local_model_only_inside_the_operators_model_folders(api, tiny_models):
    from django.conf import settings

    outside = api.post(
        "/api/models", json={"name": "mine", "backend": "transformers", "model": str(tiny_models["student"])}
    )
    assert outside.status_code == 400 and outside.json()["errors"][0]["path"] == "model"
    assert "model folders" in outside.json()["errors"][0]["message"]
    shared = settings.ORCHESTRA_MODEL_DIRS[0] / "shared-base"
    inside = api.post("/api/models", json={"name": "shared", "backend": "transformers", "model": str(shared)})
    assert inside.status_code == 201, inside.text
    hub = api.post("/api/models", json={"name": "hub", "backend": "transformers", "model": "Qwen/Qwen2.5-0.5B"})
    assert hub.status_code == 201, hub.text
