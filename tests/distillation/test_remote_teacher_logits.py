"""Logit distillation from a remote (OpenAI-compatible) teacher, end to end against the loopback
model server as the teacher: top-k log-probs recorded on the traces when a node or a gateway
request asks for them, the rest scored by the teacher after the fact, and a forward-KL job runs."""

import pytest

from distillation.models import TeacherScore
from orchestra.inference.server import serve
from tests.distillation.helpers import TINY_JOB, run_many, student_model, wait_job
from tests.platform.test_runs_api import create_published
from workflows import services
from workflows.models import Trace

CONFIG = TINY_JOB | {"data": {"min_examples": 6, "validation_fraction": 0.2, "test_fraction": 0.0}}


@pytest.fixture
def remote_teacher(api, tiny_models):
    """The tiny teacher behind the loopback OpenAI-compatible server, registered as `remote`."""
    server, thread = serve({"teacher": str(tiny_models["teacher"])}, options={"device": "cpu"})
    services.model_endpoint_save(
        workspace=api.workspace,
        name="remote",
        fields={"backend": "openai", "model": "teacher", "base_url": server.base_url, "options": {"token_ids": True}},
    )
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture
def trainer(platform):
    worker = platform.start_worker(queues="training", beat=False)
    yield
    if worker.poll() is None:
        platform.kill_worker(worker)


def node_run_with_logprobs(api, topics: list[str]) -> None:
    graph = {
        "nodes": [
            {"id": "start", "type": "input", "config": {"fields": [{"name": "topic", "type": "string"}]}},
            {
                "id": "draft",
                "type": "llm",
                "config": {"model": "remote", "prompt": "Say {{ inputs.topic }}", "max_tokens": 3, "logprobs": 5},
            },
            {"id": "end", "type": "output", "config": {"outputs": {"a": "{{ nodes.draft.output }}"}}},
        ],
        "edges": [{"source": "start", "target": "draft"}, {"source": "draft", "target": "end"}],
    }
    run_many(api, create_published(api, graph, name="draft"), topics)


def test_a_forward_kl_job_learns_from_a_remote_teachers_recorded_and_scored_log_probs(
    api, remote_teacher, trainer, tiny_models
):
    node_run_with_logprobs(api, ["tea", "rain"])
    for n in range(3):  # the gateway asked for log-probs
        answer = api.post(
            "/v1/chat/completions",
            json={
                "model": "remote",
                "messages": [{"role": "user", "content": f"Tell {n}"}],
                "max_tokens": 3,
                "logprobs": True,
                "top_logprobs": 5,
            },
        )
        assert answer.status_code == 200, answer.text
        content = answer.json()["choices"][0]["logprobs"]["content"]
        assert len(content) == answer.json()["usage"]["completion_tokens"] and len(content[0]["top_logprobs"]) == 5
    for n in range(3):  # and these did not
        assert (
            api.post(
                "/v1/chat/completions",
                json={"model": "remote", "messages": [{"role": "user", "content": f"Ask {n}"}], "max_tokens": 3},
            ).status_code
            == 200
        )
    recorded = Trace.objects.filter(workspace=api.workspace, model="remote")
    assert sorted(len(t.top_logprobs[0]) if t.top_logprobs else 0 for t in recorded) == [0, 0, 0, 5, 5, 5, 5, 5]

    body = {
        "teacher": "remote",
        "student": student_model(api, tiny_models["student"]),
        "method": "forward_kl",
        "config": CONFIG,
    }
    preview = api.post("/api/distillations/preview", json=body).json()
    assert preview["refusals"] == [] and preview["matched"] == 8
    assert preview["teacher_scoring"] == {"teacher": "remote", "recorded": 5, "to_score": 3}

    created = api.post("/api/distillations", json=body)
    assert created.status_code == 201, created.text
    job = wait_job(api, created.json()["id"], timeout=240)

    assert job["status"] == "succeeded", job["error"]
    assert job["report"]["teacher_store"]["tokens"] > 0
    scores = TeacherScore.objects.filter(workspace=api.workspace, teacher="remote")
    assert scores.count() == 3 and all(len(row) == 20 for s in scores for row in s.top_logprobs)  # the API's most
    assert api.post("/api/distillations/preview", json=body).json()["teacher_scoring"]["to_score"] == 0
