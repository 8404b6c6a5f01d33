"""Crash recovery, live events, approvals and cancellation, on the real servers."""

import json

import pytest
from websockets.sync.client import connect

from tests.conftest import wait_until
from tests.platform.test_runs_api import create_published
from tests.support.loopback import LoopbackServer
from workflows.models import NodeRun, RunEvent, Trace


def llm_then_http(url: str) -> dict:
    return {
        "nodes": [
            {"id": "start", "type": "input", "config": {"fields": [{"name": "topic", "type": "string"}]}},
            {
                "id": "draft",
                "type": "llm",
                "config": {"model": "auto", "prompt": "About {{ inputs.topic }}", "max_tokens": 8},
            },
            {"id": "call", "type": "http", "config": {"method": "GET", "url": url}},
            {
                "id": "end",
                "type": "output",
                "config": {"outputs": {"post": "{{ nodes.draft.output }}", "status": "{{ nodes.call.output.status }}"}},
            },
        ],
        "edges": [
            {"source": "start", "target": "draft"},
            {"source": "draft", "target": "call"},
            {"source": "call", "target": "end"},
        ],
    }


@pytest.fixture
def held_server():
    server = LoopbackServer(hold=True)
    yield server
    server.close()


def test_run_resumes_after_worker_is_killed_without_rerunning_finished_nodes(api, platform, held_server):
    workflow_id = create_published(api, llm_then_http(held_server.url + "/slow"))
    run_id = api.post(f"/api/workflows/{workflow_id}/runs", json={"inputs": {"topic": "tea"}}).json()["id"]
    wait_until(lambda: held_server.requests, timeout=60, message="the http node to be in flight")
    assert NodeRun.objects.get(run_id=run_id, node_id="draft").status == "succeeded"
    # A node's start is written within ORCHESTRA_TOKEN_FLUSH_MS (with the next write, or by the flush
    # timer): a kill before that loses it by design, and the resumed node records its own.
    started = RunEvent.objects.filter(run_id=run_id, type="node_started", node_id="call")
    wait_until(started.exists, timeout=30, message="the http node's start to be stored")

    for worker in platform.live_workers("runs"):
        platform.kill_worker(worker)  # kill -9, mid-node
    held_server.released.set()
    platform.start_worker()

    run = api.wait_run(run_id, timeout=90)
    assert run["status"] == "succeeded", run
    assert run["outputs"]["status"] == 200
    assert Trace.objects.filter(run_id=run_id).count() == 1  # the LLM call was not made or traced twice
    starts = RunEvent.objects.filter(run_id=run_id, type="node_started")
    assert starts.filter(node_id="draft").count() == 1
    assert starts.filter(node_id="call").count() == 2  # the interrupted node ran again
    assert len(held_server.requests) == 2


def test_events_arrive_exactly_once_in_order_over_http_and_websocket(api, platform):
    from tests.platform.test_runs_api import BLOG

    workflow_id = create_published(api, BLOG, name="events")
    run_id = api.post(f"/api/workflows/{workflow_id}/runs", json={"inputs": {"topic": "tea"}}).json()["id"]
    ws_url = platform.url.replace("http", "ws") + f"/ws/runs/{run_id}/"
    headers = {"Authorization": f"Bearer {api.key}"}

    received = []
    with connect(ws_url + "?after=0", additional_headers=headers) as ws:
        while len(received) < 3:  # disconnect early, then resume from the last seq seen
            received.append(json.loads(ws.recv(timeout=30)))
    with connect(ws_url + f"?after={received[-1]['seq']}", additional_headers=headers) as ws:
        while received[-1]["type"] not in ("run_succeeded", "run_failed"):
            received.append(json.loads(ws.recv(timeout=60)))

    over_http = api.get(f"/api/runs/{run_id}/events", params={"after": 0}).json()
    assert [e["seq"] for e in received] == list(range(1, len(received) + 1))
    assert received == over_http
    assert [e["seq"] for e in api.get(f"/api/runs/{run_id}/events", params={"after": 4}).json()] == list(
        range(5, len(received) + 1)
    )
    assert any(e["type"] == "token" for e in received)


def test_websocket_refuses_another_workspaces_run(api, platform):
    from tests.conftest import make_workspace
    from tests.platform.test_runs_api import BLOG

    workflow_id = create_published(api, BLOG)
    run_id = api.post(f"/api/workflows/{workflow_id}/runs", json={"inputs": {"topic": "x"}}).json()["id"]
    _, _, other_key = make_workspace()
    ws_url = platform.url.replace("http", "ws") + f"/ws/runs/{run_id}/"
    with pytest.raises(Exception):
        with connect(ws_url, additional_headers={"Authorization": f"Bearer {other_key}"}) as ws:
            ws.recv(timeout=10)


APPROVAL = {
    "nodes": [
        {"id": "start", "type": "input", "config": {"fields": [{"name": "amount", "type": "number"}]}},
        {"id": "ask", "type": "approval", "config": {"prompt": "Refund {{ inputs.amount }}?"}},
        {"id": "yes", "type": "template", "config": {"template": "refunded {{ inputs.amount }}"}},
        {"id": "no", "type": "template", "config": {"template": "declined"}},
        {
            "id": "end",
            "type": "output",
            "config": {"outputs": {"result": "{{ nodes.yes.output if nodes.yes.output else nodes.no.output }}"}},
        },
    ],
    "edges": [
        {"source": "start", "target": "ask"},
        {"source": "ask", "target": "yes", "branch": "approved"},
        {"source": "ask", "target": "no", "branch": "rejected"},
        {"source": "yes", "target": "end"},
        {"source": "no", "target": "end"},
    ],
}


@pytest.mark.parametrize("answer,result", [({"approved": True}, "refunded 12"), ({"approved": False}, "declined")])
def test_approval_pauses_the_run_until_answered(api, answer, result):
    workflow_id = create_published(api, APPROVAL)
    run = api.post(f"/api/workflows/{workflow_id}/runs", json={"inputs": {"amount": 12}, "wait": 30}).json()
    assert run["status"] == "waiting" and run["waiting"]["node_id"] == "ask"
    assert run["waiting"]["prompt"] == "Refund 12?"

    wrong = api.post(f"/api/runs/{run['id']}/resume", json={"node_id": "yes", "value": answer})
    assert wrong.status_code == 400
    assert api.post(f"/api/runs/{run['id']}/resume", json={"node_id": "ask", "value": answer}).status_code == 202

    finished = api.wait_run(run["id"])
    assert finished["status"] == "succeeded" and finished["outputs"]["result"] == result


def test_cancel_abandons_an_http_request_in_flight(api, held_server):
    workflow_id = create_published(api, llm_then_http(held_server.url))
    run_id = api.post(f"/api/workflows/{workflow_id}/runs", json={"inputs": {"topic": "tea"}}).json()["id"]
    wait_until(lambda: held_server.requests, timeout=60, message="the http node to be in flight")

    assert api.post(f"/api/runs/{run_id}/cancel").status_code == 202

    run = api.wait_run(run_id)  # while the server still holds the request
    assert run["status"] == "cancelled"
    statuses = {n["node_id"]: n["status"] for n in run["nodes"]}
    assert statuses["draft"] == "succeeded" and statuses["call"] == "cancelled" and statuses["end"] == "not_run"
    assert api.post(f"/api/runs/{run_id}/cancel").status_code == 409


def test_unanswered_approval_takes_its_default_after_the_timeout(api):
    graph = {
        **APPROVAL,
        "nodes": [
            APPROVAL["nodes"][0],
            {**APPROVAL["nodes"][1], "config": {"prompt": "Refund?", "timeout_s": 1, "default": {"approved": False}}},
            *APPROVAL["nodes"][2:],
        ],
    }
    workflow_id = create_published(api, graph)
    run = api.post(f"/api/workflows/{workflow_id}/runs", json={"inputs": {"amount": 3}, "wait": 30}).json()
    assert run["status"] == "waiting" and run["waiting"]["timeout_s"] == 1

    finished = api.wait_run(run["id"], timeout=60)

    assert finished["status"] == "succeeded" and finished["outputs"]["result"] == "declined"
    resumed = [e for e in api.get(f"/api/runs/{run['id']}/events").json() if e["type"] == "run_resumed"]
    assert resumed[0]["data"]["value"] == {"approved": False}


def calls_approval(child_id: str) -> dict:
    return {
        "nodes": [
            {"id": "start", "type": "input", "config": {"fields": [{"name": "amount", "type": "number"}]}},
            {
                "id": "sub",
                "type": "subworkflow",
                "config": {"workflow": child_id, "inputs": {"amount": "{{ inputs.amount }}"}},
            },
            {"id": "end", "type": "output", "config": {"outputs": {"child": "{{ nodes.sub.result }}"}}},
        ],
        "edges": [{"source": "start", "target": "sub"}, {"source": "sub", "target": "end"}],
    }


@pytest.mark.parametrize("answered_on", ["parent", "child"])
def test_an_approval_inside_a_sub_workflow_pauses_the_parent_until_answered(api, answered_on):
    child_id = create_published(api, APPROVAL, name="Refund")
    parent_id = create_published(api, calls_approval(child_id), name="Caller")

    parent = api.post(f"/api/workflows/{parent_id}/runs", json={"inputs": {"amount": 7}, "wait": 30}).json()

    assert parent["status"] == "waiting", parent
    waiting = parent["waiting"]
    assert waiting["node_id"] == "sub" and waiting["child_node"] == "ask" and waiting["prompt"] == "Refund 7?"
    child = api.get(f"/api/runs/{waiting['child_run']}").json()
    assert child["status"] == "waiting" and child["parent_run"] == parent["id"]

    if answered_on == "parent":
        answer = api.post(f"/api/runs/{parent['id']}/resume", json={"node_id": "sub", "value": {"approved": True}})
    else:
        answer = api.post(f"/api/runs/{child['id']}/resume", json={"node_id": "ask", "value": {"approved": True}})
    assert answer.status_code == 202, answer.text

    finished = api.wait_run(parent["id"])
    assert finished["status"] == "succeeded", finished
    assert finished["outputs"]["child"] == "refunded 7"
    assert api.get(f"/api/runs/{child['id']}").json()["status"] == "succeeded"
    assert api.get("/api/runs", params={"workflow": child_id}).json()["count"] == 1  # the same child run went on


def test_workflow_calls_nested_past_the_limit_fail_naming_the_chain(api):
    from workflows.execution import MAX_NESTED_RUNS

    callee = create_published(
        api,
        {
            "nodes": [
                {"id": "start", "type": "input", "config": {"fields": []}},
                {"id": "end", "type": "output", "config": {"outputs": {"depth": "bottom"}}},
            ],
            "edges": [{"source": "start", "target": "end"}],
        },
        name=f"W{MAX_NESTED_RUNS + 1}",
    )
    for depth in range(MAX_NESTED_RUNS, -1, -1):  # W0 calls W1 ... calls W11: no cycle, only too deep
        graph = calls_approval(callee)
        graph["nodes"][0]["config"]["fields"] = []
        graph["nodes"][1]["config"]["inputs"] = {}
        graph["nodes"][2]["config"]["outputs"] = {"depth": "{{ nodes.sub.depth }}"}
        callee = create_published(api, graph, name=f"W{depth}")

    run = api.post(f"/api/workflows/{callee}/runs", json={"inputs": {}, "wait": 60}).json()

    assert run["status"] == "failed", run
    assert f"Workflow calls nest more than {MAX_NESTED_RUNS} deep" in run["error"]
    assert " -> ".join(f"W{i}" for i in range(MAX_NESTED_RUNS + 1)) in run["error"]
