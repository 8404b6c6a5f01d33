"""MCP servers a workspace registers: their tools are fetched, called live, and their secrets kept.

The servers are real (the SDK's own server API on uvicorn); registration goes through the REST API
of a running platform, calls through the services an agent node uses."""

import pytest
from django.test import override_settings

from tests.conftest import Api
from tests.mcp.conftest import new_workspace
from tests.mcp.support import SECRET, McpTestServer
from tests.support.loopback import LoopbackServer
from tests.support.servers import free_port
from workflows import mcp
from workflows.errors import ValidationFailed
from workflows.models import McpServer


def register(client, name: str, url: str, **extra) -> dict:
    response = client.post("/api/mcp-servers", json={"name": name, "url": url, **extra})
    assert response.status_code == 201, response.text
    return response.json()


def test_registering_a_server_fetches_its_tools_with_their_schemas(client, tool_server):
    server = register(client, "tools", tool_server.url)

    assert sorted(t["name"] for t in server["tools"]) == ["echo", "fails", "slow", "weather", "whoami"]
    echo = next(t for t in server["tools"] if t["name"] == "echo")
    assert echo["description"] == "Echo the arguments back, as JSON text."
    assert echo["input_schema"]["required"] == ["text"] and set(echo["input_schema"]["properties"]) == {"text", "count"}
    assert server["url"] == tool_server.url and server["header_names"] == [] and server["tools_refreshed_at"]
    assert client.get("/api/mcp-servers").json() == [server]
    assert client.get(f"/api/mcp-servers/{server['id']}").json() == server


def test_servers_are_listed_by_name_and_names_are_unique_without_slashes(client, tool_server):
    register(client, "zeta", tool_server.url)
    register(client, "alpha", tool_server.url)

    assert [s["name"] for s in client.get("/api/mcp-servers").json()] == ["alpha", "zeta"]
    duplicate = client.post("/api/mcp-servers", json={"name": "zeta", "url": tool_server.url})
    assert duplicate.status_code == 400 and duplicate.json()["errors"][0]["path"] == "name"
    slash = client.post("/api/mcp-servers", json={"name": "a/b", "url": tool_server.url})
    assert slash.status_code == 400 and slash.json()["errors"][0]["path"] == "name"
    bad_headers = client.post("/api/mcp-servers", json={"name": "h", "url": tool_server.url, "headers": ["x"]})
    assert bad_headers.status_code == 400 and bad_headers.json()["errors"][0]["path"] == "headers"


def test_a_tool_call_returns_structured_content_or_the_text_decoded_from_json(client, tool_server):
    register(client, "tools", tool_server.url)
    workspace = client.workspace

    weather = mcp.mcp_tool_call(workspace=workspace, server_name="tools", tool="weather", arguments={"city": "Oslo"})
    echoed = mcp.mcp_tool_call(
        workspace=workspace, server_name="tools", tool="echo", arguments={"text": "hi", "count": 2}
    )

    assert weather == {"city": "Oslo", "celsius": 21.5}
    assert echoed == {"text": "hi", "count": 2}


def test_a_tool_error_and_an_unknown_tool_are_mcp_tool_errors(client, tool_server):
    register(client, "tools", tool_server.url)

    with pytest.raises(mcp.McpToolError, match="failed on purpose: no reason"):
        mcp.mcp_tool_call(
            workspace=client.workspace, server_name="tools", tool="fails", arguments={"reason": "no reason"}
        )
    with pytest.raises(mcp.McpToolError, match="nope"):
        mcp.mcp_tool_call(workspace=client.workspace, server_name="tools", tool="nope", arguments={})


def test_a_tool_that_does_not_answer_in_time_is_an_mcp_tool_error(client, tool_server):
    register(client, "tools", tool_server.url)

    with override_settings(ORCHESTRA_MCP_TIMEOUT_S=0.5), pytest.raises(mcp.McpToolError, match="within 0.5s"):
        mcp.mcp_tool_call(workspace=client.workspace, server_name="tools", tool="slow", arguments={"seconds": 2})


def test_tools_are_described_from_the_stored_list_naming_what_is_unknown(client, tool_server):
    register(client, "tools", tool_server.url)
    workspace = client.workspace

    described = mcp.mcp_tools_describe(workspace=workspace, server_name="tools", tools=["weather", "echo"])
    assert [t["name"] for t in described] == ["weather", "echo"]
    assert set(described[0]) == {"name", "description", "input_schema"}
    assert len(mcp.mcp_tools_describe(workspace=workspace, server_name="tools", tools=None)) == 5
    with pytest.raises(LookupError, match=r"no tool 'sing'.*echo, fails, slow, weather, whoami"):
        mcp.mcp_tools_describe(workspace=workspace, server_name="tools", tools=["echo", "sing"])
    with pytest.raises(LookupError, match=r"No MCP server named 'other'.*registered: tools"):
        mcp.mcp_tools_describe(workspace=workspace, server_name="other", tools=None)


def test_header_secrets_reach_the_server_are_encrypted_at_rest_and_never_shown(client, tool_server):
    server = register(client, "private", tool_server.private_url, headers={"Authorization": SECRET})

    assert server["header_names"] == ["Authorization"]
    assert (
        mcp.mcp_tool_call(workspace=client.workspace, server_name="private", tool="whoami", arguments={})
        == "authorized"
    )
    assert SECRET in tool_server.header_values("authorization")
    for response in (
        client.get("/api/mcp-servers"),
        client.get(f"/api/mcp-servers/{server['id']}"),
        client.post(f"/api/mcp-servers/{server['id']}/refresh"),
    ):
        assert response.status_code == 200 and "s3cret" not in response.text
    row = McpServer.objects.get(id=server["id"])
    assert "s3cret" not in row.headers_encrypted and "127.0.0.1" not in row.url_encrypted


def test_a_server_refusing_the_credentials_is_a_400_on_headers(client, tool_server):
    response = client.post(
        "/api/mcp-servers",
        json={"name": "private", "url": tool_server.private_url, "headers": {"Authorization": "Bearer wrong"}},
    )

    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["path"] == "headers" and "401" in error["message"]


def test_a_new_url_without_headers_clears_them_so_the_secret_never_reaches_the_new_host(
    client, tool_server, other_tool_server
):
    server = register(client, "moving", tool_server.private_url, headers={"Authorization": SECRET})

    moved = client.patch(f"/api/mcp-servers/{server['id']}", json={"url": other_tool_server.url})

    assert moved.status_code == 200, moved.text
    assert moved.json()["url"] == other_tool_server.url and moved.json()["header_names"] == []
    with pytest.raises(mcp.McpToolError, match="unauthorized"):
        mcp.mcp_tool_call(workspace=client.workspace, server_name="moving", tool="whoami", arguments={})
    assert SECRET not in other_tool_server.header_values("authorization")
    assert McpServer.objects.get(id=server["id"]).headers_encrypted == ""


def test_renaming_keeps_the_headers_and_a_new_url_with_headers_uses_the_new_ones(client, tool_server):
    server = register(client, "first", tool_server.private_url, headers={"Authorization": SECRET})

    renamed = client.patch(f"/api/mcp-servers/{server['id']}", json={"name": "second"}).json()
    assert renamed["name"] == "second" and renamed["header_names"] == ["Authorization"]
    moved = client.patch(
        f"/api/mcp-servers/{server['id']}",
        json={"url": tool_server.private_url.replace("127.0.0.1", "localhost"), "headers": {"Authorization": SECRET}},
    )
    assert moved.status_code == 200, moved.text
    assert (
        mcp.mcp_tool_call(workspace=client.workspace, server_name="second", tool="whoami", arguments={}) == "authorized"
    )


def test_refresh_fetches_the_tool_list_again(client):
    server_side = McpTestServer()
    try:
        server = register(client, "growing", server_side.url)
        server_side.mcp.add_tool(lambda: "new", name="added_later", description="Appeared after registration.")

        refreshed = client.post(f"/api/mcp-servers/{server['id']}/refresh")

        assert refreshed.status_code == 200
        assert "added_later" in [t["name"] for t in refreshed.json()["tools"]]
        assert refreshed.json()["tools_refreshed_at"] > server["tools_refreshed_at"]
        server_side.close()
        down = client.post(f"/api/mcp-servers/{server['id']}/refresh")
        assert down.status_code == 400 and down.json()["errors"][0]["path"] == "url"
        assert "added_later" in [t["name"] for t in client.get(f"/api/mcp-servers/{server['id']}").json()["tools"]]
    finally:
        server_side.close()


def test_an_unreachable_url_or_one_that_does_not_speak_mcp_is_a_400_on_url_and_stores_nothing(client, tool_server):
    plain_http = LoopbackServer(body={"hello": "not MCP"})
    try:
        answers = {
            why: client.post("/api/mcp-servers", json={"name": why, "url": url})
            for why, url in [
                ("closed", f"http://127.0.0.1:{free_port()}/mcp"),
                ("plain", plain_http.url + "/mcp"),
                ("wrong-path", tool_server.url.replace("/mcp", "/nope")),
            ]
        }
    finally:
        plain_http.close()

    errors = {why: response.json()["errors"][0] for why, response in answers.items()}
    assert all(r.status_code == 400 for r in answers.values()) and {e["path"] for e in errors.values()} == {"url"}
    assert "cannot connect" in errors["closed"]["message"]
    assert "did not answer as an MCP server" in errors["plain"]["message"]
    assert "HTTP 404" in errors["wrong-path"]["message"] and "/mcp" in errors["wrong-path"]["message"]
    assert client.get("/api/mcp-servers").json() == []


def test_a_private_address_is_refused_when_the_egress_guard_is_on(client, tool_server):
    register(client, "local", tool_server.url)

    with override_settings(ORCHESTRA_HTTP_ALLOW_PRIVATE=False):
        with pytest.raises(ValidationFailed) as refused:
            mcp.mcp_server_save(workspace=client.workspace, name="other", url=tool_server.url, headers=None)
        with pytest.raises(mcp.McpToolError, match="non-public address"):
            mcp.mcp_tool_call(workspace=client.workspace, server_name="local", tool="echo", arguments={"text": "x"})

    assert refused.value.errors[0]["path"] == "url" and "non-public" in refused.value.errors[0]["message"]
    assert not McpServer.objects.filter(workspace=client.workspace, name="other").exists()


def test_another_workspace_gets_404_and_cannot_call_the_servers_tools(client, tool_server, platform):
    server = register(client, "tools", tool_server.url)
    other_workspace, key = new_workspace()
    other = Api(platform.url, key, other_workspace)

    assert other.get("/api/mcp-servers").json() == []
    for method, path in [
        ("GET", f"/api/mcp-servers/{server['id']}"),
        ("PATCH", f"/api/mcp-servers/{server['id']}"),
        ("DELETE", f"/api/mcp-servers/{server['id']}"),
        ("POST", f"/api/mcp-servers/{server['id']}/refresh"),
    ]:
        response = other.request(method, path, json={"name": "stolen"})
        assert response.status_code == 404, (method, path, response.text)
    with pytest.raises(LookupError):
        mcp.mcp_tool_call(workspace=other_workspace, server_name="tools", tool="echo", arguments={"text": "x"})
    assert client.delete(f"/api/mcp-servers/{server['id']}").status_code == 204
    assert client.get("/api/mcp-servers").json() == []
