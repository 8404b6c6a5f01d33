"""Never lose work (drafts saved with their problems, conflict-safe, restorable), lists in a stable
newest-first order with cursors, bad filters as JSON 400s, and every model call's cost counted."""

import uuid

import pytest

from tests.platform.test_runs_api import BLOG, create_published
from workflows.models import NodeRun, Trace


def broken(graph: dict) -> dict:
    """The graph with its LLM node's prompt removed (a problem the editor shows)."""
    nodes = [
        dict(n, config={k: v for k, v in n["config"].items() if k != "prompt"}) if n["type"] == "llm" else n
        for n in graph["nodes"]
    ]
    return {**graph, "nodes": nodes}


def test_a_draft_with_problems_is_saved_as_it_is_and_only_publishing_and_running_refuse_it(api):
    workflow = api.post("/api/workflows", json={"name": "Blog", "graph": BLOG}).json()
    saved = api.patch(f"/api/workflows/{workflow['id']}", json={"graph": broken(BLOG)})
    assert saved.status_code == 200, saved.text
    assert [p["path"] for p in saved.json()["problems"]] == ["nodes[1].config.prompt"]
    stored = api.get(f"/api/workflows/{workflow['id']}").json()
    assert stored["graph"] == broken(BLOG) and stored["problems"] == saved.json()["problems"]

    refused = api.post(f"/api/workflows/{workflow['id']}/publish")
    assert refused.status_code == 400 and refused.json()["errors"][0]["path"] == "nodes[1].config.prompt"
    run = api.post(f"/api/workflows/{workflow['id']}/runs", json={"inputs": {"topic": "x"}, "version": "draft"})
    assert run.status_code == 400 and run.json()["errors"][0]["path"] == "nodes[1].config.prompt"
    assert api.get("/api/runs", params={"workflow": workflow["id"]}).json()["count"] == 0
    assert api.patch(f"/api/workflows/{workflow['id']}", json={"graph": [1, 2]}).status_code == 400


def test_a_save_based_on_a_stale_revision_is_a_409_and_changes_nothing(api):
    workflow = api.post("/api/workflows", json={"name": "Blog", "graph": BLOG}).json()
    url = f"/api/workflows/{workflow['id']}"
    first = api.patch(url, json={"description": "mine", "revision": workflow["revision"]})
    assert first.status_code == 200 and first.json()["revision"] == workflow["revision"] + 1
    assert first.headers["ETag"] == f'"{workflow["revision"] + 1}"'

    stale = api.patch(url, json={"description": "theirs"}, headers={"If-Match": f'"{workflow["revision"]}"'})
    assert stale.status_code == 409 and stale.json()["errors"][0]["path"] == "revision"
    assert "reload" in stale.json()["errors"][0]["message"]
    assert api.get(url).json()["description"] == "mine"
    assert (
        api.patch(url, json={"description": "theirs"}, headers={"If-Match": first.headers["ETag"]}).status_code == 200
    )


def test_publishing_an_unchanged_draft_answers_the_existing_version_and_a_version_can_be_restored(api):
    workflow_id = create_published(api, BLOG)
    url = f"/api/workflows/{workflow_id}"
    again = api.post(f"{url}/publish")
    assert again.status_code == 200 and again.json()["version"] == 1
    assert [v["version"] for v in api.get(f"{url}/versions").json()] == [1]
    assert api.get(url).json()["unpublished_changes"] is False

    api.patch(url, json={"graph": broken(BLOG)})
    assert api.get(url).json()["unpublished_changes"] is True
    restored = api.post(f"{url}/versions/1/restore")
    assert restored.status_code == 200, restored.text
    assert restored.json()["graph"] == BLOG and restored.json()["problems"] == []
    assert restored.json()["unpublished_changes"] is False
    assert api.post(f"{url}/versions/7/restore").status_code == 404


def test_runs_are_listed_newest_first_and_cursors_page_through_without_repeats(api):
    workflow_id = create_published(
        api,
        {
            "nodes": [
                {"id": "start", "type": "input", "config": {"fields": [{"name": "n", "type": "number"}]}},
                {"id": "end", "type": "output", "config": {"outputs": {"n": "{{ inputs.n }}"}}},
            ],
            "edges": [{"source": "start", "target": "end"}],
        },
        name="count",
    )
    started = [api.post(f"/api/workflows/{workflow_id}/runs", json={"inputs": {"n": n}}).json()["id"] for n in range(5)]
    seen, url, params = [], "/api/runs", {"workflow": workflow_id, "limit": 2}
    while url:
        page = api.get(url, params=params).json()
        assert page["count"] == 5
        seen += [run["id"] for run in page["results"]]
        url, params = page["next"], None
    assert seen == started[::-1]


@pytest.mark.parametrize(
    "path, params, bad",
    [
        ("/api/runs", {"workflow": "not-a-uuid"}, "workflow"),
        ("/api/runs", {"trigger": "telepathy"}, "trigger"),
        ("/api/traces", {"workflow": "not-a-uuid"}, "workflow"),
        ("/api/traces", {"run": "7"}, "run"),
        ("/api/traces", {"meta.x__regex": "("}, "meta.x__regex"),
        ("/api/traces", {"golden": "maybe"}, "golden"),
        ("/api/conversations", {"workflow": "nope"}, "workflow"),
    ],
)
def test_a_bad_filter_is_a_json_400_naming_it(api, path, params, bad):
    response = api.get(path, params=params)
    assert response.status_code == 400 and response.json()["errors"][0]["path"] == bad


def test_traces_filter_by_golden_label(api):
    workflow_id = create_published(api)
    api.post(f"/api/workflows/{workflow_id}/runs", json={"inputs": {"topic": "tea"}, "wait": 60})
    api.post(f"/api/workflows/{workflow_id}/runs", json={"inputs": {"topic": "rain"}, "wait": 60})
    traces = api.get("/api/traces", params={"workflow": workflow_id}).json()["results"]
    api.patch(f"/api/traces/{traces[0]['id']}", json={"golden_output": "A better post."})
    assert [t["id"] for t in api.get("/api/traces", params={"golden": "true"}).json()["results"]] == [traces[0]["id"]]
    assert [t["id"] for t in api.get("/api/traces", params={"golden": "false"}).json()["results"]] == [traces[1]["id"]]


def test_an_idempotency_key_reused_for_another_request_is_a_422(api):
    workflow_id = create_published(api)
    key = {"Idempotency-Key": uuid.uuid4().hex}
    first = api.post(f"/api/workflows/{workflow_id}/runs", json={"inputs": {"topic": "tea"}}, headers=key)
    replay = api.post(f"/api/workflows/{workflow_id}/runs", json={"inputs": {"topic": "tea"}}, headers=key)
    assert replay.status_code == 200 and replay.json()["id"] == first.json()["id"]
    other = api.post(f"/api/workflows/{workflow_id}/runs", json={"inputs": {"topic": "coffee"}}, headers=key)
    assert other.status_code == 422 and other.json()["errors"][0]["path"] == "Idempotency-Key"


def test_failed_attempts_are_counted_and_nodes_that_never_ran_end_as_not_run(api):
    graph = {
        "nodes": [
            {"id": "start", "type": "input", "config": {"fields": [{"name": "topic", "type": "string"}]}},
            # The tiny model writes no JSON, so every one of the 3 calls is refused: the node fails.
            {
                "id": "extract",
                "type": "llm",
                "config": {"prompt": "{{ inputs.topic }}", "output": "json", "json_retries": 2, "max_tokens": 3},
            },
            {"id": "after", "type": "template", "config": {"template": "{{ nodes.extract.output }}"}},
            {"id": "end", "type": "output", "config": {"outputs": {"x": "{{ nodes.after.output }}"}}},
        ],
        "edges": [
            {"source": "start", "target": "extract"},
            {"source": "extract", "target": "after"},
            {"source": "after", "target": "end"},
        ],
    }
    workflow_id = create_published(api, graph, name="json")
    run = api.wait_run(api.post(f"/api/workflows/{workflow_id}/runs", json={"inputs": {"topic": "x"}}).json()["id"])
    assert run["status"] == "failed"
    traces = Trace.objects.filter(run_id=run["id"], node_id="extract")
    assert traces.count() == 3
    node = NodeRun.objects.get(run_id=run["id"], node_id="extract")
    assert node.tokens_in == sum(t.tokens_in for t in traces) > 0
    assert node.cost == pytest.approx(sum(t.cost for t in traces)) and node.cost > 0
    assert run["tokens_in"] == node.tokens_in and run["cost"] == pytest.approx(node.cost)
    statuses = {n.node_id: n.status for n in NodeRun.objects.filter(run_id=run["id"])}
    assert statuses == {"start": "succeeded", "extract": "failed", "after": "not_run", "end": "not_run"}
