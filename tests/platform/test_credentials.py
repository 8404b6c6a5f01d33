"""Credentials: stored encrypted per workspace, used by name as {{ credentials.NAME }} in HTTP nodes and
tools, resolved only when the request is sent, and never found in what a run stores or sends back."""

import json
import uuid

import pytest

from tests.conftest import Api, make_workspace, wait_until
from tests.platform.test_runs_api import create_published
from tests.support.loopback import LoopbackServer
from workflows import services
from workflows.models import Credential, NodeRun, RunEvent, Trace

SECRET = "sk-live-" + uuid.uuid4().hex


def calling_graph(url: str) -> dict:
    return {
        "nodes": [
            {"id": "start", "type": "input", "config": {"fields": [{"name": "topic", "type": "string"}]}},
            {
                "id": "call",
                "type": "http",
                "config": {
                    "method": "POST",
                    "url": url + "/hook?key={{ credentials.token }}",
                    "headers": {"Authorization": "Bearer {{ credentials.token }}"},
                    "body": {"secret": "{{ credentials.token }}", "topic": "{{ inputs.topic }}"},
                },
            },
            {
                "id": "draft",
                "type": "llm",
                "config": {"model": "auto", "prompt": "Summarise {{ nodes.call.output.body }}", "max_tokens": 4},
            },
            {"id": "end", "type": "output", "config": {"outputs": {"echo": "{{ nodes.call.output.body.echo }}"}}},
        ],
        "edges": [
            {"source": "start", "target": "call"},
            {"source": "call", "target": "draft"},
            {"source": "draft", "target": "end"},
        ],
    }


@pytest.fixture
def echo_server():
    server = LoopbackServer(body={"echo": f"you sent {SECRET}"})  # a careless API that reflects the token
    yield server
    server.close()


@pytest.fixture
def receiver():
    server = LoopbackServer()
    yield server
    server.close()


def test_the_secret_reaches_the_server_and_nothing_the_run_stores_or_sends_back_holds_it(api, echo_server, receiver):
    created = api.post("/api/credentials", json={"name": "token", "value": SECRET})
    assert created.status_code == 201, created.text
    assert SECRET not in created.text
    assert Credential.objects.get(workspace=api.workspace, name="token").value_encrypted != SECRET

    workflow_id = create_published(api, calling_graph(echo_server.url), name="uses-credential")
    response = api.post(
        f"/api/workflows/{workflow_id}/runs",
        json={"inputs": {"topic": "tea"}, "callback_url": f"{receiver.url}/done", "wait": 60},
    )
    run = response.json()
    assert run["status"] == "succeeded", run

    (sent,) = echo_server.requests
    assert sent["path"] == f"/hook?key={SECRET}"
    assert sent["headers"]["Authorization"] == f"Bearer {SECRET}"
    assert json.loads(sent["body"]) == {"secret": SECRET, "topic": "tea"}

    assert run["outputs"] == {"echo": "you sent [credential token]"}
    node = NodeRun.objects.get(run_id=run["id"], node_id="call")
    assert "[credential token " in json.dumps(node.input) and SECRET not in json.dumps(node.input)
    assert SECRET not in json.dumps(node.output)
    stored = [json.dumps(e.data) for e in RunEvent.objects.filter(run_id=run["id"])]
    stored += [json.dumps(t.messages) + t.output for t in Trace.objects.filter(run_id=run["id"])]
    assert stored and not [text for text in stored if SECRET in text]
    assert SECRET not in api.get(f"/api/runs/{run['id']}").text
    assert SECRET not in api.get(f"/api/runs/{run['id']}/events").text

    wait_until(lambda: receiver.requests, timeout=60, message="the run's callback")
    assert SECRET not in receiver.requests[0]["body"].decode()


def test_values_are_never_returned_members_use_them_and_owners_rotate_and_delete(api, echo_server):
    member_user = services.user_create(username=f"member-{uuid.uuid4().hex[:8]}", workspace=api.workspace)
    _, member_key = services.api_key_create(user=member_user, workspace=api.workspace, name="member's")
    member = Api(api.http.base_url, member_key, api.workspace)

    assert api.post("/api/credentials", json={"name": "token", "value": "first-value"}).status_code == 201
    duplicate = api.post("/api/credentials", json={"name": "token", "value": "x"})
    assert duplicate.status_code == 400 and duplicate.json()["errors"][0]["path"] == "name"
    bad_name = api.post("/api/credentials", json={"name": "Not A Name", "value": "x"})
    assert bad_name.status_code == 400 and bad_name.json()["errors"][0]["path"] == "name"
    assert api.post("/api/credentials", json={"name": "empty"}).json()["errors"][0]["path"] == "value"

    listed = member.get("/api/credentials")
    assert listed.status_code == 200 and [c["name"] for c in listed.json()] == ["token"]
    assert "first-value" not in listed.text and "value" not in listed.json()[0]
    assert member.post("/api/credentials", json={"name": "mine", "value": "v"}).status_code == 403
    assert member.put("/api/credentials/token", json={"value": "v"}).status_code == 403
    assert member.delete("/api/credentials/token").status_code == 403

    workflow_id = create_published(member, calling_graph(echo_server.url), name="member-uses-it")
    rotated = api.put("/api/credentials/token", json={"value": SECRET})
    assert rotated.status_code == 200 and rotated.json()["rotated_at"] and SECRET not in rotated.text
    run = member.post(f"/api/workflows/{workflow_id}/runs", json={"inputs": {"topic": "t"}, "wait": 60}).json()
    assert run["status"] == "succeeded", run
    assert echo_server.requests[-1]["headers"]["Authorization"] == f"Bearer {SECRET}"  # the rotated value

    assert api.delete("/api/credentials/token").status_code == 204
    assert api.delete("/api/credentials/token").status_code == 404
    run = member.post(f"/api/workflows/{workflow_id}/runs", json={"inputs": {"topic": "t"}, "wait": 60}).json()
    assert run["status"] == "failed"
    failed = NodeRun.objects.get(run_id=run["id"], node_id="call")
    assert "credential 'token' does not exist in this workspace" in failed.error
    member.http.close()


def test_another_workspace_cannot_use_a_credential(api, platform, echo_server):
    assert api.post("/api/credentials", json={"name": "token", "value": SECRET}).status_code == 201
    workspace, _, key = make_workspace()
    other = Api(platform.url, key, workspace)

    assert other.get("/api/credentials").json() == []
    assert other.delete("/api/credentials/token").status_code == 404
    saved = other.post("/api/workflows", json={"name": "thief", "graph": calling_graph(echo_server.url)})
    assert saved.status_code == 201
    published = other.post(f"/api/workflows/{saved.json()['id']}/publish")
    assert published.status_code == 400
    problems = [e for e in published.json()["errors"] if "credentials.token" in e["message"]]
    assert {e["path"] for e in problems} == {
        "nodes[1].config.url",
        "nodes[1].config.headers.Authorization",
        "nodes[1].config.body.secret",
    }
    assert echo_server.requests == []
    other.http.close()


def test_credentials_are_only_read_in_request_templates(api):
    graph = calling_graph("http://127.0.0.1:9")
    graph["nodes"][2]["config"]["prompt"] = "Leak {{ credentials.token }}"
    saved = api.post("/api/workflows", json={"name": "leaky", "graph": graph}).json()
    published = api.post(f"/api/workflows/{saved['id']}/publish")
    assert published.status_code == 400
    (problem,) = [e for e in published.json()["errors"] if e["path"] == "nodes[2].config.prompt"]
    assert "unknown name 'credentials'" in problem["message"]


def test_an_mcp_servers_headers_can_use_a_credential_which_is_sent_but_not_stored_with_it(api):
    from tests.mcp.support import SECRET as MCP_SECRET
    from tests.mcp.support import McpTestServer
    from workflows import mcp
    from workflows.models import McpServer

    server = McpTestServer()
    try:
        headers = {"Authorization": "{{ credentials.mcp_token }}"}
        unknown = api.post("/api/mcp-servers", json={"name": "tools", "url": server.private_url, "headers": headers})
        assert unknown.status_code == 400 and unknown.json()["errors"][0]["path"] == "headers.Authorization"
        assert "credential 'mcp_token' does not exist" in unknown.json()["errors"][0]["message"]

        assert api.post("/api/credentials", json={"name": "mcp_token", "value": MCP_SECRET}).status_code == 201
        created = api.post("/api/mcp-servers", json={"name": "tools", "url": server.private_url, "headers": headers})
        assert created.status_code == 201, created.text
        called = mcp.mcp_tool_call(workspace=api.workspace, server_name="tools", tool="whoami", arguments={})
        assert called == "authorized" and MCP_SECRET in server.header_values("authorization")
        stored = McpServer.objects.get(workspace=api.workspace, name="tools")
        assert mcp.mcp_server_headers(server=stored) == headers  # the reference is stored, not the secret
    finally:
        server.close()
