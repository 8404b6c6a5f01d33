"""Jobs that cannot work are refused with a clear 4xx before anything is stored or queued."""

import pytest

from distillation.models import DistillationJob
from tests.conftest import Api, make_workspace
from tests.distillation.helpers import SUMMARISE, TINY_JOB, student_model, workflow_with_traces
from workflows import services
from tests.support.tiny_models import build_model, train_tokenizer
from workflows.models import Trace


@pytest.fixture(scope="module")
def foreign_student(tmp_path_factory):
    """A student whose tokenizer was trained with another vocabulary size than the teacher's."""
    root = tmp_path_factory.mktemp("foreign")
    return build_model(
        root / "model",
        train_tokenizer(root / "tokenizer", vocab_size=300),
        hidden_size=32,
        layers=1,
        intermediate_size=64,
    )


def body(workflow_id: str, student, **extra) -> dict:
    return {
        "workflow": workflow_id,
        "node_id": "draft",
        "student": str(student),
        "method": "sft",
        "config": TINY_JOB,
    } | extra


def refused(api, payload: dict, status: int = 400) -> list[dict]:
    """POST the job, expect it refused with `status` and nothing stored; the reasons."""
    before = DistillationJob.objects.count()
    response = api.post("/api/distillations", json=payload)
    assert response.status_code == status, response.text
    assert DistillationJob.objects.count() == before
    return response.json()["errors"]


def test_too_few_traces_is_refused_with_the_count_and_the_remedy(api, tiny_models):
    workflow_id = workflow_with_traces(api, 2)
    trace_id = api.get("/api/traces", params={"workflow": workflow_id, "node": "draft"}).json()["results"][0]["id"]
    assert api.patch(f"/api/traces/{trace_id}", json={"golden_output": "A better answer."}).status_code == 200
    preview = api.post(
        "/api/distillations/preview", json=body(workflow_id, student_model(api, tiny_models["student"]))
    ).json()
    assert (preview["matched"], preview["with_golden"]) == (2, 1)
    (reason,) = preview["refusals"]
    assert reason["path"] == "config.data.min_examples"
    assert "only 2 distinct prompts" in reason["message"] and "min_examples=8" in reason["message"]
    assert refused(api, body(workflow_id, student_model(api, tiny_models["student"]))) == preview["refusals"]


def test_logit_method_with_a_student_of_another_tokenizer_is_refused(api, tiny_models, foreign_student):
    workflow_id = workflow_with_traces(api, 2)
    config = TINY_JOB | {"data": {"min_examples": 1}}
    payload = body(workflow_id, student_model(api, foreign_student), method="forward_kl", config=config)
    preview = api.post("/api/distillations/preview", json=payload).json()
    assert [r["path"] for r in preview["refusals"]] == ["student"]
    assert "tokenizers differ" in preview["refusals"][0]["message"]
    assert refused(api, payload) == preview["refusals"]
    # The same student is fine for sequence-level distillation, which compares text, not token ids.
    assert api.post("/api/distillations/preview", json=payload | {"method": "sft"}).json()["refusals"] == []


def test_a_node_of_another_workspace_is_not_found(api, platform, tiny_models):
    workflow_id = workflow_with_traces(api, 1)
    workspace, _, key = make_workspace()
    stranger = Api(platform.url, key, workspace)
    assert (
        stranger.post(
            "/api/distillations/preview", json=body(workflow_id, student_model(api, tiny_models["student"]))
        ).status_code
        == 404
    )
    refused(stranger, body(workflow_id, student_model(api, tiny_models["student"])), status=404)
    assert stranger.get(f"/api/workflows/{workflow_id}/nodes/draft/deployment").status_code == 404
    assert stranger.get(f"/api/workflows/{workflow_id}/savings").status_code == 404
    stranger.http.close()


def test_a_non_llm_node_an_unknown_node_and_a_malformed_body_are_refused(api, tiny_models):
    workflow_id = workflow_with_traces(api, 1)
    (error,) = refused(api, body(workflow_id, student_model(api, tiny_models["student"]), node_id="start"))
    assert error["path"] == "node_id" and "'input' node" in error["message"]
    refused(api, body(workflow_id, student_model(api, tiny_models["student"]), node_id="nope"), status=404)
    errors = refused(api, {"workflow": workflow_id, "node_id": "draft", "method": "distil", "colour": "red"})
    assert {e["path"] for e in errors} == {"colour", "student", "method"}
    (error,) = refused(
        api, body(workflow_id, student_model(api, tiny_models["student"]), config={"train": {"max_steps": 0}})
    )
    assert error["path"] == "config.train.max_steps"


def test_a_node_cannot_shadow_or_serve_a_model_that_is_not_registered(api):
    workflow_id = workflow_with_traces(api, 1)
    url = f"/api/workflows/{workflow_id}/nodes/draft/deployment"
    response = api.post(url, json={"state": "shadow"})
    assert response.status_code == 400 and response.json()["errors"][0]["path"] == "model"
    response = api.post(url, json={"state": "student", "model": "no-such-model"})
    assert response.status_code == 400 and "no-such-model" in response.json()["errors"][0]["message"]
    assert api.post(url, json={"state": "sideways"}).status_code == 400
    assert api.get(url).json() == {
        "node_id": "draft",
        "state": "teacher",
        "model": None,
        "teacher_model": None,
        "changes": [],
    }


def test_offline_logit_distillation_from_a_remote_teacher_scores_its_replies_but_not_golden_ones(api, tiny_models):
    assert (
        api.post(
            "/api/models",
            json={"name": "remote", "backend": "openai", "model": "big", "base_url": "http://127.0.0.1:9/v1"},
        ).status_code
        == 201
    )
    workflow_id = str(services.workflow_create(workspace=api.workspace, name="summarise", graph=SUMMARISE).id)
    for n in range(3):  # what the remote teacher answered, without log-probs
        Trace.objects.create(
            workspace=api.workspace,
            workflow_id=workflow_id,
            node_id="draft",
            model="remote",
            messages=[{"role": "user", "content": f"Say {n}"}],
            output=f"{n}",
            status="ok",
        )
    payload = body(
        workflow_id,
        student_model(api, tiny_models["student"]),
        teacher="remote",
        method="forward_kl",
        config=TINY_JOB | {"data": {"min_examples": 1, "validation_fraction": 0.0, "test_fraction": 0.0}},
    )
    preview = api.post("/api/distillations/preview", json=payload).json()
    assert preview["matched"] == 3 and preview["teacher"] == "remote" and preview["refusals"] == []
    assert preview["teacher_scoring"] == {"teacher": "remote", "recorded": 0, "to_score": 3}  # by the job, first

    Trace.objects.filter(workspace=api.workspace).update(golden_output="A better answer.")
    (reason,) = api.post("/api/distillations/preview", json=payload).json()["refusals"]
    assert reason["path"] == "method" and "golden outputs" in reason["message"]
    refused(api, payload)
