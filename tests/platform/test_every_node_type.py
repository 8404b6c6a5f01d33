"""One workflow using every node type, run end to end through the HTTP API on a real worker."""

import json

import pytest

from tests.platform.test_runs_api import create_published
from tests.support.loopback import LoopbackServer
from workflows.models import Trace


@pytest.fixture
def echo_server():
    server = LoopbackServer(body={"items": ["red", "green", "blue"]})
    yield server
    server.close()


def child_graph() -> dict:
    return {
        "nodes": [
            {"id": "in", "type": "input", "config": {"fields": [{"name": "word", "type": "string", "required": True}]}},
            {"id": "shout", "type": "template", "config": {"template": "{{ inputs.word | upper }}!"}},
            {"id": "out", "type": "output", "config": {"outputs": {"loud": "{{ nodes.shout.output }}"}}},
        ],
        "edges": [{"source": "in", "target": "shout"}, {"source": "shout", "target": "out"}],
    }


def every_node_graph(*, url: str, child_id: str) -> dict:
    return {
        "nodes": [
            {
                "id": "start",
                "type": "input",
                "config": {
                    "fields": [
                        {"name": "topic", "type": "string", "required": True},
                        {"name": "count", "type": "number", "default": 2},
                    ]
                },
            },
            {
                "id": "fetch",
                "type": "http",
                "config": {"method": "POST", "url": url + "/colours", "body": {"topic": "{{ inputs.topic }}"}},
            },
            {
                "id": "each",
                "type": "map",
                "config": {
                    "items": "nodes.fetch.output.body['items']",
                    "concurrency": 2,
                    "workflow": child_id,
                    "inputs": {"word": "{{ item }}"},
                },
            },
            {
                "id": "draft",
                "type": "llm",
                "config": {
                    "model": "auto",
                    "prompt": "Write about {{ inputs.topic }}",
                    "max_tokens": 6,
                    "metadata": {"team": "growth"},
                },
            },
            {"id": "pick", "type": "condition", "config": {"branches": [{"name": "many", "when": "inputs.count > 1"}]}},
            {"id": "ask", "type": "approval", "config": {"prompt": "Publish {{ inputs.topic }}?"}},
            {"id": "small", "type": "template", "config": {"template": "few"}},
            {
                "id": "helper",
                "type": "agent",
                "config": {
                    "task": "Shout {{ inputs.topic }}",
                    "max_steps": 1,
                    "max_tokens": 120,
                    "tool_choice": "required",
                    "tools": [{"kind": "workflow", "workflow": child_id}],
                },
            },
            {
                "id": "sub",
                "type": "subworkflow",
                "config": {"workflow": child_id, "inputs": {"word": "{{ inputs.topic }}"}},
            },
            {
                "id": "summary",
                "type": "template",
                "config": {
                    "template": '{"colours": {{ nodes.each.output | tojson }}, '
                    '"approved": {{ nodes.ask.approved | tojson }}}',
                    "output": "json",
                },
            },
            {
                "id": "end",
                "type": "output",
                "config": {
                    "outputs": {
                        "summary": "{{ nodes.summary.output }}",
                        "sub": "{{ nodes.sub.output.loud }}",
                        "draft": "{{ nodes.draft.output }}",
                        "small": "{{ nodes.small.output }}",
                        "helper_calls": "{{ nodes.helper.tool_calls | length }}",
                    }
                },
            },
        ],
        "edges": [
            {"source": "start", "target": "fetch"},
            {"source": "fetch", "target": "each"},
            {"source": "start", "target": "draft"},
            {"source": "start", "target": "pick"},
            {"source": "pick", "target": "ask", "branch": "many"},
            {"source": "pick", "target": "small", "branch": "else"},
            {"source": "start", "target": "sub"},
            {"source": "start", "target": "helper"},
            {"source": "each", "target": "summary"},
            {"source": "ask", "target": "summary", "branch": "approved"},
            {"source": "summary", "target": "end"},
            {"source": "draft", "target": "end"},
            {"source": "small", "target": "end"},
            {"source": "sub", "target": "end"},
            {"source": "helper", "target": "end"},
        ],
    }


def test_a_workflow_of_every_node_type_runs_end_to_end(api, echo_server):
    child_id = create_published(api, child_graph(), name="shout")
    workflow_id = create_published(api, every_node_graph(url=echo_server.url, child_id=child_id))
    types = {n["type"] for n in every_node_graph(url="", child_id="")["nodes"]}
    assert types == {t["type"] for t in api.get("/api/node-types").json()}

    run = api.post(f"/api/workflows/{workflow_id}/runs", json={"inputs": {"topic": "tea"}, "wait": 60}).json()
    assert run["status"] == "waiting", run
    api.post(f"/api/runs/{run['id']}/resume", json={"node_id": "ask", "value": {"approved": True}}).raise_for_status()
    run = api.wait_run(run["id"])

    assert run["status"] == "succeeded", run["error"]
    assert run["outputs"]["summary"] == {
        "colours": [{"loud": "RED!"}, {"loud": "GREEN!"}, {"loud": "BLUE!"}],
        "approved": True,
    }
    assert run["outputs"]["sub"] == "TEA!"
    statuses = {n["node_id"]: n["status"] for n in run["nodes"]}
    assert statuses["small"] == "skipped" and statuses["ask"] == "succeeded"
    assert json.loads(echo_server.requests[0]["body"]) == {"topic": "tea"}
    trace = Trace.objects.get(run_id=run["id"], node_id="draft")
    assert trace.metadata == {"team": "growth"}
    traces = Trace.objects.filter(run_id=run["id"])
    assert {t.node_id for t in traces} == {"draft", "helper"}  # the agent: its tool turn and its answer
    assert run["tokens_out"] == sum(t.tokens_out for t in traces)
    assert run["cost"] == pytest.approx(sum(t.cost for t in traces))
    tool_runs = run["outputs"]["helper_calls"]
    assert tool_runs >= 1  # tool_choice required: the agent called the child workflow as a tool
    children = api.get("/api/runs", params={"workflow": child_id, "limit": 50}).json()
    assert children["count"] == 4 + tool_runs and {r["trigger"] for r in children["results"]} == {"subworkflow"}
