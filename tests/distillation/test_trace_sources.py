"""Every trace can become data: a job's source is any set of the workspace's traces by filters
(gateway traces included, no workflow needed), metadata compares numbers as numbers, and the
preview counts golden traces once."""

from tests.conftest import make_workspace
from tests.distillation.helpers import SUMMARISE, TINY_JOB, student_model
from workflows import services
from tests.distillation.test_refusals import refused
from workflows.models import Trace

ALL_IN_TRAIN = TINY_JOB | {"data": {"min_examples": 1, "validation_fraction": 0.0, "test_fraction": 0.0}}


def gateway_call(api, text: str, metadata: dict) -> None:
    response = api.post(
        "/v1/chat/completions",
        json={"model": "tiny", "messages": [{"role": "user", "content": text}], "max_tokens": 3, "metadata": metadata},
    )
    assert response.status_code == 200, response.text


def preview(api, **body) -> dict:
    response = api.post("/api/distillations/preview", json={"method": "sft", "config": ALL_IN_TRAIN} | body)
    assert response.status_code == 200, response.text
    return response.json()


def test_gateway_traces_are_distilled_by_filters_without_a_workflow(api, tiny_models):
    for n, (lang, score) in enumerate([("en", 0.2), ("en", 0.7), ("fr", "0.9"), ("en", 1)]):
        gateway_call(api, f"Say {n}", {"lang": lang, "score": score})
    workflow = services.workflow_create(workspace=api.workspace, name="summarise", graph=SUMMARISE)
    for topic in ("tea", "rain"):  # what the node's calls recorded
        Trace.objects.create(
            workspace=api.workspace,
            workflow=workflow,
            node_id="draft",
            model="tiny",
            messages=[{"role": "user", "content": f"Say {topic}"}],
            output=topic,
        )
    stranger, _, _ = make_workspace()  # the same model name in another workspace is not this one's data
    Trace.objects.create(
        workspace=stranger,
        model="tiny",
        messages=[{"role": "user", "content": "x"}],
        output="y",
        metadata={"source": "gateway", "lang": "en"},
    )
    student = student_model(api, tiny_models["student"])

    everything = preview(api, student=student, teacher="tiny")
    assert (everything["matched"], everything["refusals"]) == (6, [])
    gateway = {"equals": {"key": "source", "value": "gateway"}}
    assert preview(api, student=student, teacher="tiny", filters={"metadata": gateway})["matched"] == 4
    # numbers compare as numbers, whether sent as numbers or strings
    confident = {"all": [gateway, {"greater_than_or_equals": {"key": "score", "value": 0.5}}]}
    assert preview(api, student=student, teacher="tiny", filters={"metadata": confident})["matched"] == 3
    english = {"all": [{"equals": {"key": "lang", "value": "en"}}, {"less_than": {"key": "score", "value": "1"}}]}
    assert preview(api, student=student, teacher="tiny", filters={"metadata": english})["matched"] == 2
    assert preview(api, student=student, teacher="tiny", filters={"node": ["draft"]})["matched"] == 2

    created = api.post(
        "/api/distillations",
        json={
            "student": student,
            "teacher": "tiny",
            "method": "sft",
            "filters": {"metadata": gateway},
            "config": ALL_IN_TRAIN,
        },
    )
    assert created.status_code == 201, created.text
    assert (created.json()["workflow"], created.json()["node_id"]) == (None, None)


def test_a_source_without_a_node_needs_a_teacher_and_well_formed_filters(api, tiny_models):
    student = student_model(api, tiny_models["student"])
    errors = refused(api, {"student": student, "method": "sft", "node_id": "draft"})
    assert {e["path"] for e in errors} == {"node_id"}
    assert {e["path"] for e in refused(api, {"student": student, "method": "sft"})} == {"teacher"}
    bad = {"all": [{"greater_than": {"key": "score", "value": "high"}}, {"like": {"key": "lang"}}]}
    errors = refused(api, {"student": student, "method": "sft", "teacher": "tiny", "filters": {"metadata": bad}})
    assert [e["path"] for e in errors] == ["filters.metadata.all[0].greater_than.value", "filters.metadata.all[1]"]


def test_the_preview_counts_golden_traces_once_and_their_upsampling_apart(api, tiny_models):
    for n in range(4):
        gateway_call(api, f"Say {n}", {})
    trace = Trace.objects.filter(workspace=api.workspace).first()
    assert api.patch(f"/api/traces/{trace.id}", json={"golden_output": "Better."}).status_code == 200
    config = ALL_IN_TRAIN | {"data": ALL_IN_TRAIN["data"] | {"golden_share": 0.5}}

    shown = preview(api, student=student_model(api, tiny_models["student"]), teacher="tiny", config=config)

    assert (shown["matched"], shown["with_golden"]) == (4, 1)
    assert shown["golden_upsampled"] == {"train_examples": 3, "repeats": 2}
    assert shown["splits"]["train"] == 6


def test_a_nodes_trace_metadata_is_rendered_per_call_and_selects_by_request(django_db, tiny_models):
    from distillation.services import job_plan, job_preview
    from workflows import execution, runs

    workspace, _, _ = make_workspace()
    services.model_endpoint_save(
        workspace=workspace,
        name="tiny",
        trusted_path=True,
        fields={"backend": "transformers", "model": str(tiny_models["teacher"])},
    )
    graph = {
        "nodes": [
            {
                "id": "start",
                "type": "input",
                "config": {"fields": [{"name": "customer", "type": "string"}, {"name": "score", "type": "number"}]},
            },
            {
                "id": "draft",
                "type": "llm",
                "config": {
                    "model": "tiny",
                    "prompt": "Answer {{ inputs.customer }}",
                    "max_tokens": 2,
                    "metadata": {
                        "customer": "{{ inputs.customer | lower }}",
                        "score": "{{ inputs.score }}",
                        "team": "support",
                    },
                },
            },
            {"id": "end", "type": "output", "config": {"outputs": {"a": "{{ nodes.draft.output }}"}}},
        ],
        "edges": [{"source": "start", "target": "draft"}, {"source": "draft", "target": "end"}],
    }
    workflow = services.workflow_create(workspace=workspace, name="support", graph=graph)
    for customer, score in [("Acme", 0.9), ("Acme", 0.1), ("Globex", 0.8)]:
        run, _ = runs.run_start(
            workflow=workflow, inputs={"customer": customer, "score": score}, version="draft", enqueue=False
        )
        assert execution.run_execute(run_id=run.id) == "succeeded"

    recorded = sorted(
        (t.metadata["customer"], t.metadata["score"], t.metadata["team"])
        for t in Trace.objects.filter(workflow=workflow)
    )
    assert recorded == [("acme", 0.1, "support"), ("acme", 0.9, "support"), ("globex", 0.8, "support")]
    services.model_endpoint_save(
        workspace=workspace,
        name="student",
        trusted_path=True,
        fields={"backend": "transformers", "model": str(tiny_models["student"])},
    )
    acme_confident = {
        "all": [{"equals": {"key": "customer", "value": "acme"}}, {"greater_than": {"key": "score", "value": 0.5}}]
    }
    body = {
        "workflow": str(workflow.id),
        "node_id": "draft",
        "student": "student",
        "method": "sft",
        "filters": {"metadata": acme_confident},
        "config": ALL_IN_TRAIN,
    }
    assert job_preview(plan=job_plan(workspace=workspace, body=body))["matched"] == 1
