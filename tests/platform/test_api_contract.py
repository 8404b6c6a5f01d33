"""The REST API's contract: validation errors, workspace isolation, models, traces, schema."""

import pytest

from tests.conftest import Api, make_workspace
from tests.platform.test_runs_api import BLOG, create_published
from workflows.models import ModelEndpoint, Trace


def test_saving_a_graph_reports_every_problem_at_once_with_paths(api):
    graph = {
        "nodes": [
            {"id": "start", "type": "input", "config": {"fields": [{"name": "topic", "type": "string"}]}},
            {"id": "draft", "type": "llm", "config": {"model": "auto", "prompt": "{{ nodes.end.output }}"}},
            {"id": "dup", "type": "template", "config": {"template": "{{ unclosed"}},
            {"id": "dup", "type": "template", "config": {"template": "x"}},
            {"id": "odd", "type": "teleport", "config": {}},
            {"id": "end", "type": "output", "config": {"outputs": {"x": "{{ inputs.nope }}"}}},
        ],
        "edges": [
            {"source": "start", "target": "draft"},
            {"source": "draft", "target": "end"},
            {"source": "draft", "target": "end"},
            {"source": "draft", "target": "ghost"},
            {"source": "start", "target": "end", "branch": "maybe"},
        ],
    }
    response = api.post("/api/workflows", json={"name": "broken", "graph": graph})

    assert response.status_code == 201  # a draft is kept as it is; its problems are listed
    assert response.json()["problems"] == api.get(f"/api/workflows/{response.json()['id']}").json()["problems"]
    published = api.post(f"/api/workflows/{response.json()['id']}/publish")
    assert published.status_code == 400 and published.json()["errors"] == response.json()["problems"]
    errors = response.json()["problems"]
    paths = {e["path"] for e in errors}
    assert {
        "nodes[1].config.prompt",
        "nodes[2].config.template",
        "nodes[3].id",
        "nodes[4].type",
        "nodes[5].config.outputs.x",
        "edges[2]",
        "edges[3].target",
        "edges[4].branch",
    } <= paths, errors
    assert all(e["message"] for e in errors)


def test_malformed_json_and_wrong_shapes_are_clear_400s(api):
    bad = api.post("/api/workflows", content=b"{not json", headers={"Content-Type": "application/json"})
    assert bad.status_code == 400 and "Malformed" in bad.json()["errors"][0]["message"]
    assert api.post("/api/workflows", json={"name": "", "graph": BLOG}).json()["errors"][0]["path"] == "name"
    assert api.post("/api/workflows", json={"name": "x", "graph": []}).json()["errors"][0]["path"] == "graph"
    wf = create_published(api)
    wrong = api.post(f"/api/workflows/{wf}/runs", json={"inputs": {"topic": 5}})
    assert wrong.status_code == 400 and wrong.json()["errors"][0]["path"] == "inputs.topic"
    assert api.post(f"/api/workflows/{wf}/runs", json={"inputs": {"topic": "x"}, "version": 9}).status_code == 400


def test_publish_versions_export_import_round_trip(api):
    created = api.post("/api/workflows", json={"name": "Blog", "graph": BLOG}).json()
    assert created["published_version"] is None
    assert api.post(f"/api/workflows/{created['id']}/publish").json()["version"] == 1
    patched = dict(BLOG, nodes=[*BLOG["nodes"][:2], {**BLOG["nodes"][2], "name": "The end"}])
    assert api.patch(f"/api/workflows/{created['id']}", json={"graph": patched}).status_code == 200
    assert api.post(f"/api/workflows/{created['id']}/publish").json()["version"] == 2
    assert [v["version"] for v in api.get(f"/api/workflows/{created['id']}/versions").json()] == [2, 1]
    assert api.get(f"/api/workflows/{created['id']}/versions/1").json()["graph"] == BLOG

    exported = api.get(f"/api/workflows/{created['id']}/export").json()
    imported = api.post("/api/workflows/import", json=exported)
    assert imported.status_code == 201
    assert imported.json()["graph"] == patched and imported.json()["name"] == "Blog"


def test_another_workspace_sees_nothing_and_gets_404_everywhere(api, platform):
    workflow_id = create_published(api)
    run = api.post(f"/api/workflows/{workflow_id}/runs", json={"inputs": {"topic": "t"}, "wait": 60}).json()
    trace_id = str(Trace.objects.get(run_id=run["id"]).id)
    _, _, key = make_workspace()
    other = Api(platform.url, key, None)

    assert other.get("/api/workflows").json() == []
    assert other.get("/api/runs").json()["count"] == 0
    assert other.get("/api/traces").json()["count"] == 0
    assert other.get("/api/models").json() == []
    for method, path in [
        ("GET", f"/api/workflows/{workflow_id}"),
        ("PATCH", f"/api/workflows/{workflow_id}"),
        ("DELETE", f"/api/workflows/{workflow_id}"),
        ("POST", f"/api/workflows/{workflow_id}/publish"),
        ("GET", f"/api/workflows/{workflow_id}/versions"),
        ("GET", f"/api/workflows/{workflow_id}/versions/1"),
        ("GET", f"/api/workflows/{workflow_id}/export"),
        ("POST", f"/api/workflows/{workflow_id}/runs"),
        ("GET", f"/api/runs/{run['id']}"),
        ("GET", f"/api/runs/{run['id']}/events"),
        ("POST", f"/api/runs/{run['id']}/cancel"),
        ("POST", f"/api/runs/{run['id']}/resume"),
        ("GET", "/api/models/tiny"),
        ("PATCH", "/api/models/tiny"),
        ("DELETE", "/api/models/tiny"),
        ("GET", f"/api/traces/{trace_id}"),
        ("PATCH", f"/api/traces/{trace_id}"),
    ]:
        response = other.request(method, path, json={})
        assert response.status_code == 404, (method, path, response.status_code)
    assert api.get(f"/api/workflows/{workflow_id}").status_code == 200  # nothing was touched


def test_requests_without_a_valid_key_are_refused(platform):
    import httpx

    assert httpx.get(platform.url + "/api/workflows").status_code in (401, 403)
    assert httpx.get(platform.url + "/api/workflows", headers={"Authorization": "Bearer orc_wrong"}).status_code == 401


def test_model_keys_are_write_only_and_encrypted_at_rest(api):
    response = api.post(
        "/api/models",
        json={
            "name": "remote",
            "backend": "openai",
            "model": "gpt-x",
            "base_url": "http://127.0.0.1:9/v1",
            "api_key": "sk-secret-value",
            "price_in": 1,
            "price_out": 2,
        },
    )
    assert response.status_code == 201, response.text
    assert response.json()["has_api_key"] is True and "api_key" not in response.json()
    stored = ModelEndpoint.objects.get(workspace=api.workspace, name="remote")
    assert "sk-secret-value" not in stored.api_key_encrypted and stored.api_key_encrypted
    bad = api.post("/api/models", json={"name": "bad", "backend": "vllm", "model": "", "price_in": -1})
    assert {e["path"] for e in bad.json()["errors"]} >= {"backend", "model", "price_in"}
    typo = api.patch("/api/models/remote", json={"options": {"temprature": 1}})
    assert typo.status_code == 400 and "temprature" in typo.json()["errors"][0]["message"]


def test_traces_filter_by_metadata_and_take_golden_labels_append_only(api):
    graph = {
        **BLOG,
        "nodes": [
            BLOG["nodes"][0],
            {**BLOG["nodes"][1], "config": {**BLOG["nodes"][1]["config"], "metadata": {"customer": "acme"}}},
            BLOG["nodes"][2],
        ],
    }
    workflow_id = create_published(api, graph)
    run = api.post(f"/api/workflows/{workflow_id}/runs", json={"inputs": {"topic": "t"}, "wait": 60}).json()

    found = api.get("/api/traces", params={"workflow": workflow_id, "node": "draft", "meta.customer": "acme"}).json()
    assert found["count"] == 1 and found["results"][0]["run"] == run["id"]
    assert api.get("/api/traces", params={"meta.customer": "other"}).json()["count"] == 0
    trace_id = found["results"][0]["id"]
    assert api.patch(f"/api/traces/{trace_id}", json={"output": "edited"}).status_code == 400
    labelled = api.patch(f"/api/traces/{trace_id}", json={"golden_output": "A better post."}).json()
    assert labelled["golden_output"] == "A better post." and labelled["output"] == found["results"][0]["output"]
    assert labelled["golden_updated_at"] and found["results"][0]["golden_updated_at"] is None
    assert api.get("/api/traces", params={"since": "yesterday"}).status_code == 400


def test_openapi_schema_is_served_with_bodies_and_the_bearer_scheme(api):
    response = api.get("/api/schema", params={"format": "json"})
    assert response.status_code == 200
    schema = response.json()
    assert schema["components"]["securitySchemes"]["apiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An Orchestra API key: `Bearer orc_...`",
    }

    def body(content: dict) -> dict:
        ref = content["application/json"]["schema"]["$ref"]
        return schema["components"]["schemas"][ref.rsplit("/", 1)[1]]

    start_run = schema["paths"]["/api/workflows/{workflow_id}/runs"]["post"]
    assert "inputs" in body(start_run["requestBody"]["content"])["properties"]
    run = body(start_run["responses"]["202"]["content"])
    assert {"id", "status", "outputs", "nodes", "parent_run"} <= set(run["properties"])
    errors = body(schema["paths"]["/api/workflows"]["post"]["responses"]["400"]["content"])
    assert errors["required"] == ["errors"]


def test_unknown_api_paths_and_methods_answer_the_json_error_shape(api):
    for path in ("/api/nope", "/api/workflows/x/nope", "/api"):
        response = api.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"] == "application/json"
        assert "/api/schema" in response.json()["errors"][0]["message"]
    gateway = api.get("/v1/nope")
    assert gateway.status_code == 404 and gateway.json()["error"]["code"] == "unknown_url"
    wrong_method = api.request("PUT", "/api/workflows", json={})
    assert wrong_method.status_code == 405
    assert wrong_method.json() == {"errors": [{"path": "", "message": 'Method "PUT" not allowed.'}]}


@pytest.mark.parametrize("status", ["nonsense"])
def test_runs_list_rejects_unknown_status(api, status):
    assert api.get("/api/runs", params={"status": status}).status_code == 400


def test_text_postgres_cannot_store_and_malformed_filter_ids_are_400s(api):
    for body in ('{"name": "a\\u0000b", "graph": {"nodes": [], "edges": []}}', '{"name": "\\udac4"}'):
        response = api.post("/api/workflows", content=body.encode(), headers={"Content-Type": "application/json"})
        assert response.status_code == 400 and "name" in response.json()["errors"][0]["message"], response.text
    bad_filter = api.get("/api/distillations", params={"workflow": "not-a-uuid"})
    assert bad_filter.status_code == 400 and bad_filter.json()["errors"][0]["path"] == "workflow"


def test_distillation_methods_are_served_from_the_one_registry(api):
    from distillation.services.plans import METHODS
    from orchestra.distill.config import LOGIT_METHODS

    methods = api.get("/api/distillation-methods").json()
    assert [m["name"] for m in methods] == list(METHODS)
    assert {"skew_kl", "skew_reverse_kl"} <= {m["name"] for m in methods}
    assert {m["name"] for m in methods if m["logit"]} == LOGIT_METHODS
    assert all(m["description"] for m in methods)
