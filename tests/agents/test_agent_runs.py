"""Agent nodes on the real platform: the tiny random-weight model on an in-process transformers
backend (constrained decoding keeps its tool calls well-formed), a real MCP server on loopback, a
workflow as a tool, a Celery worker that is killed mid-agent, and another workspace's tools."""

import json
import threading
from http.server import BaseHTTPRequestHandler

import jsonschema
import pytest

from tests.conftest import Api, make_workspace, wait_until
from tests.mcp.support import McpTestServer
from tests.platform.test_runs_api import create_published
from tests.support.loopback import send_json, serve_in_background
from workflows.models import NodeRun, RunEvent, Trace

LOOKUP_ORDER = {
    "nodes": [
        {
            "id": "start",
            "type": "input",
            "config": {
                "fields": [{"name": "order_id", "type": "string", "required": True, "description": "The order's id"}]
            },
        },
        {"id": "find", "type": "template", "config": {"template": "order {{ inputs.order_id }}: shipped"}},
        {"id": "end", "type": "output", "config": {"outputs": {"status": "{{ nodes.find.output }}"}}},
    ],
    "edges": [{"source": "start", "target": "find"}, {"source": "find", "target": "end"}],
}


def agent(node_id: str, tools: list[dict], **config) -> dict:
    return {
        "id": node_id,
        "type": "agent",
        "config": {
            "model": "auto",
            "instructions": "You help customers.",
            "task": "Help with {{ inputs.q }}",
            "tools": tools,
            "tool_choice": "required",
            "max_steps": 1,
            "max_tokens": 120,
            **config,
        },
    }


def agents_graph(*nodes: dict) -> dict:
    ids = [n["id"] for n in nodes]
    return {
        "nodes": [
            {"id": "start", "type": "input", "config": {"fields": [{"name": "q", "type": "string"}]}},
            *nodes,
            {"id": "end", "type": "output", "config": {"outputs": {i: f"{{{{ nodes.{i}.output }}}}" for i in ids}}},
        ],
        "edges": [{"source": "start", "target": i} for i in ids] + [{"source": i, "target": "end"} for i in ids],
    }


@pytest.fixture(scope="module")
def tool_server():
    server = McpTestServer()
    yield server
    server.close()


def register_mcp(api, url: str, name: str = "tools") -> None:
    response = api.post("/api/mcp-servers", json={"name": name, "url": url})
    assert response.status_code == 201, response.text


def turns(run_id: str, node_id: str) -> list[Trace]:
    return list(Trace.objects.filter(run_id=run_id, node_id=node_id).order_by("created_at"))


def assert_calls_fit_the_offered_tools(trace: Trace) -> None:
    schemas = {tool["function"]["name"]: tool["function"]["parameters"] for tool in trace.tools}
    assert trace.tool_calls, f"turn {trace.call_key} made no tool call"
    for call in trace.tool_calls:
        jsonschema.validate(json.loads(call["function"]["arguments"]), schemas[call["function"]["name"]])


def test_agents_call_a_workflow_tool_and_an_mcp_tool_and_every_turn_is_traced_and_counted(api, tool_server):
    register_mcp(api, tool_server.url)
    lookup_id = create_published(api, LOOKUP_ORDER, name="Lookup order")
    graph = agents_graph(
        agent("orders", [{"kind": "workflow", "workflow": lookup_id}]),
        agent("weather", [{"kind": "mcp", "server": "tools", "tools": ["weather"]}]),
        agent("broken", [{"kind": "mcp", "server": "tools", "tools": ["fails"]}]),
    )
    run = api.wait_run(
        api.post(f"/api/workflows/{create_published(api, graph)}/runs", json={"inputs": {"q": "order 42"}}).json()[
            "id"
        ],
        timeout=180,
    )
    assert run["status"] == "succeeded", run

    for node_id, tool in (("orders", "lookup_order"), ("weather", "weather"), ("broken", "fails")):
        first, final = turns(run["id"], node_id)  # max_steps 1: one tool turn, then the answer
        assert (first.call_key, final.call_key) == (f"{node_id}#a1#s1", f"{node_id}#a1#final")
        assert [t["function"]["name"] for t in first.tools] == [tool] and final.tools == first.tools
        assert_calls_fit_the_offered_tools(first)
        assert final.tool_calls is None  # the last turn answers, it never calls
        shown = api.get(f"/api/traces/{first.id}").json()  # what an API user reads of the turn
        assert (shown["tools"], shown["tool_calls"]) == (first.tools, first.tool_calls)
        tool_messages = [m for m in final.messages if m["role"] == "tool"]
        assert [m["tool_call_id"] for m in tool_messages] == [c["id"] for c in first.tool_calls]
        node = NodeRun.objects.get(run_id=run["id"], node_id=node_id)
        assert node.tokens_in == first.tokens_in + final.tokens_in and node.cost == pytest.approx(
            first.cost + final.cost
        )
        results = RunEvent.objects.filter(run_id=run["id"], node_id=node_id, type="tool_result")
        assert results.count() == len(first.tool_calls)
        if node_id == "orders":  # the workflow tool ran as a child run of this one
            assert all(r.data["result"]["status"].endswith(": shipped") for r in results)
        if node_id == "weather":
            assert all(r.data["result"]["celsius"] == 21.5 for r in results)
        if node_id == "broken":  # a failing tool is a result the model reads, not the node's failure
            assert all("failed on purpose" in r.data["error"] for r in results)
            assert all(m["content"].startswith("Error: ") for m in tool_messages)
    assert node.output is not None and "stopped_by" not in str(node.output)


class HoldingServer:
    """Answers its first request at once and holds every later one until released; counts them."""

    def __init__(self):
        self.requests, self.released = [], threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                owner.requests.append(self.path)
                if len(owner.requests) > 1:
                    owner.released.wait(timeout=60)
                send_json(self, 200, {"stock": 3})

            def log_message(self, *args):
                pass

        self.server = serve_in_background(Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def holding_server():
    server = HoldingServer()
    yield server
    server.close()


def test_a_worker_killed_mid_agent_resumes_without_repeating_finished_turns_or_tool_calls(
    api, platform, holding_server
):
    stock = {
        "kind": "http",
        "name": "check_stock",
        "description": "Units in stock of an item.",
        "method": "POST",
        "url": holding_server.url + "/stock",
        "body": {"item": "{{ args.item }}"},
        "parameters": {
            "type": "object",
            "properties": {"item": {"type": "string", "maxLength": 8}},
            "required": ["item"],
            "additionalProperties": False,
        },
    }
    workflow_id = create_published(api, agents_graph(agent("stock", [stock], max_steps=3)))
    run_id = api.post(f"/api/workflows/{workflow_id}/runs", json={"inputs": {"q": "tea"}}).json()["id"]
    wait_until(lambda: len(holding_server.requests) >= 2, timeout=120, message="a second tool call in flight")
    finished_before = {e.data["call_key"] for e in RunEvent.objects.filter(run_id=run_id, type="tool_result")}
    turns_before = {t.call_key for t in turns(run_id, "stock")}
    assert finished_before and turns_before

    for worker in platform.live_workers("runs"):
        platform.kill_worker(worker)  # kill -9, with a tool call in flight
    holding_server.released.set()
    platform.start_worker()

    run = api.wait_run(run_id, timeout=180)
    assert run["status"] == "succeeded", run
    called = RunEvent.objects.filter(run_id=run_id, type="tool_called")
    results = RunEvent.objects.filter(run_id=run_id, type="tool_result")
    for key in finished_before:  # a finished call is replayed from its record, not made again
        assert called.filter(data__call_key=key).count() == 1 and results.filter(data__call_key=key).count() == 1
    assert len(holding_server.requests) == called.count()  # every execution counted: none unrecorded
    assert sorted(results.values_list("data__call_key", flat=True)) == sorted(
        set(results.values_list("data__call_key", flat=True))
    )  # one result per call
    keys = [t.call_key for t in turns(run_id, "stock")]
    assert len(keys) == len(set(keys)) and turns_before <= set(keys)  # no model turn made twice


def test_another_workspaces_workflows_and_mcp_servers_cannot_be_used_as_tools(api, platform, tool_server):
    register_mcp(api, tool_server.url, name="private-tools")
    lookup_id = create_published(api, LOOKUP_ORDER, name="Lookup order")
    workspace, _, key = make_workspace()
    stranger = Api(platform.url, key, workspace)
    try:
        saved = stranger.post(
            "/api/workflows",
            json={"name": "steal", "graph": agents_graph(agent("a", [{"kind": "workflow", "workflow": lookup_id}]))},
        )
        assert saved.status_code in (201, 400)
        problems = saved.json().get("problems") or saved.json().get("errors") or []
        assert any(p["path"] == "nodes[1].config.tools[0].workflow" for p in problems), saved.text

        workflow_id = create_published(
            stranger, agents_graph(agent("a", [{"kind": "mcp", "server": "private-tools"}])), name="steal-mcp"
        )
        run = stranger.wait_run(
            stranger.post(f"/api/workflows/{workflow_id}/runs", json={"inputs": {"q": "x"}}).json()["id"], timeout=60
        )
        assert run["status"] == "failed" and "private-tools" in run["error"], run
        assert not Trace.objects.filter(run_id=run["id"]).exists()  # refused before any model call
    finally:
        stranger.http.close()
