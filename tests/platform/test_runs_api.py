"""Runs through the HTTP API, executed by a real Celery worker on Redis, stored in PostgreSQL."""

from workflows.models import RunEvent, Trace

BLOG = {
    "nodes": [
        {"id": "start", "type": "input", "config": {"fields": [{"name": "topic", "type": "string", "required": True}]}},
        {
            "id": "draft",
            "type": "llm",
            "config": {
                "model": "auto",
                "system": "You write blog posts.",
                "prompt": "Write about {{ inputs.topic }}",
                "max_tokens": 12,
            },
        },
        {"id": "end", "type": "output", "config": {"outputs": {"post": "{{ nodes.draft.output }}"}}},
    ],
    "edges": [{"source": "start", "target": "draft"}, {"source": "draft", "target": "end"}],
}


def create_published(api, graph=BLOG, name="Blog") -> str:
    response = api.post("/api/workflows", json={"name": name, "graph": graph})
    assert response.status_code == 201, response.text
    workflow_id = response.json()["id"]
    assert api.post(f"/api/workflows/{workflow_id}/publish").status_code == 201
    return workflow_id


def test_run_executes_on_a_worker_and_records_nodes_events_and_a_trace(api):
    workflow_id = create_published(api)

    response = api.post(f"/api/workflows/{workflow_id}/runs", json={"inputs": {"topic": "tea"}, "wait": 60})

    assert response.status_code == 200, response.text
    run = response.json()
    assert run["status"] == "succeeded", run
    assert run["version"] == 1
    draft = next(n for n in run["nodes"] if n["node_id"] == "draft")
    assert draft["status"] == "succeeded" and draft["model"] == "tiny"
    assert draft["tokens_in"] > 0 and 0 < draft["tokens_out"] <= 12
    assert run["outputs"]["post"] == draft["output"]
    traces = Trace.objects.filter(run_id=run["id"])
    assert traces.count() == 1
    trace = traces.get()
    assert trace.node_id == "draft" and trace.model == "tiny" and "tea" in trace.messages[-1]["content"]
    assert trace.cost == (trace.tokens_in * 0.5 + trace.tokens_out * 1.5) / 1e6
    listed = api.get("/api/runs", params={"workflow": workflow_id}).json()["results"][0]
    assert (listed["tokens_out"], listed["cost"]) == (draft["tokens_out"], run["cost"]) and "nodes" not in listed
    seqs = list(RunEvent.objects.filter(run_id=run["id"]).values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))


def test_missing_input_is_a_400_naming_the_field_and_queues_nothing(api):
    workflow_id = create_published(api)

    response = api.post(f"/api/workflows/{workflow_id}/runs", json={"inputs": {}})

    assert response.status_code == 400
    assert any(e["path"] == "inputs.topic" for e in response.json()["errors"])
    assert api.get("/api/runs", params={"workflow": workflow_id}).json()["count"] == 0


def test_a_never_published_workflow_runs_its_draft_and_later_its_published_version(api):
    workflow_id = api.post("/api/workflows", json={"name": "Fresh", "graph": BLOG}).json()["id"]

    draft_run = api.post(f"/api/workflows/{workflow_id}/runs", json={"inputs": {"topic": "x"}, "wait": 60}).json()
    assert draft_run["status"] == "succeeded" and draft_run["version"] is None

    api.post(f"/api/workflows/{workflow_id}/publish").raise_for_status()
    published_run = api.post(f"/api/workflows/{workflow_id}/runs", json={"inputs": {"topic": "x"}}).json()
    assert published_run["version"] == 1
