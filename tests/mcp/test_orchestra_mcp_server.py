"""Orchestra's own MCP server at /mcp, driven by the official SDK client against a running platform.

Published workflows are the tools; a call runs the workflow on a Celery worker and returns its outputs."""

import httpx
import pytest
from mcp import MCPError

from orchestra.engine.nodes.input import inputs_json_schema
from tests.mcp.conftest import new_workspace
from tests.mcp.support import with_session
from tests.platform.test_runs_api import create_published
from workflows import mcp
from workflows.models import Run

# input -> template -> output: no model involved.
GREET = {
    "nodes": [
        {
            "id": "start",
            "type": "input",
            "config": {
                "fields": [
                    {"name": "name", "type": "string", "required": True, "description": "Who to greet"},
                    {"name": "times", "type": "number", "default": 1},
                ]
            },
        },
        {"id": "say", "type": "template", "config": {"template": "Hello, {{ inputs.name }}!"}},
        {
            "id": "end",
            "type": "output",
            "config": {"outputs": {"greeting": "{{ nodes.say.output }}", "times": "{{ inputs.times }}"}},
        },
    ],
    "edges": [{"source": "start", "target": "say"}, {"source": "say", "target": "end"}],
}

# Its HTTP node calls a closed port, so every run fails.
BROKEN = {
    "nodes": [
        {"id": "start", "type": "input", "config": {"fields": []}},
        {"id": "call", "type": "http", "config": {"url": "http://127.0.0.1:9/down"}},
        {"id": "end", "type": "output", "config": {"outputs": {"s": "{{ nodes.call.output.status }}"}}},
    ],
    "edges": [{"source": "start", "target": "call"}, {"source": "call", "target": "end"}],
}


def mcp_url(platform) -> str:
    return platform.url + "/mcp"


def list_tools(platform, key) -> list:
    async def use(session):
        return (await session.list_tools()).tools

    return with_session(mcp_url(platform), key, use)


def call_tool(platform, key, name, arguments):
    async def use(session):
        return await session.call_tool(name, arguments)

    return with_session(mcp_url(platform), key, use)


def test_tools_are_the_published_workflows_ordered_by_name_with_their_input_schemas(client, platform):
    create_published(client, GREET, name="Zeta greeter")
    alpha_id = create_published(client, GREET, name="Alpha greeter")
    client.patch(f"/api/workflows/{alpha_id}", json={"description": "Greets someone."}).raise_for_status()
    client.post("/api/workflows", json={"name": "Draft only", "graph": GREET}).raise_for_status()

    tools = list_tools(platform, client.key)

    assert [t.name for t in tools] == ["alpha_greeter", "zeta_greeter"]
    assert tools[0].description == "Greets someone." and tools[1].description == "Zeta greeter"
    assert tools[0].input_schema == inputs_json_schema(GREET)
    assert tools[0].input_schema["required"] == ["name"]
    assert tools[0].input_schema["properties"]["name"]["description"] == "Who to greet"


def test_two_workflows_with_one_name_get_distinct_tool_names_and_the_older_keeps_the_plain_one(client, platform):
    older = create_published(client, GREET, name="Greeter")
    newer = create_published(client, GREET, name="greeter!")

    names = [t.name for t in list_tools(platform, client.key)]

    assert names == ["greeter", f"greeter_{newer.replace('-', '')[:6]}"] and older != newer


def test_calling_a_tool_runs_the_workflow_and_returns_its_outputs(client, platform):
    workflow_id = create_published(client, GREET, name="Greeter")

    result = call_tool(platform, client.key, "greeter", {"name": "Ada", "times": 2})

    assert not result.is_error
    assert result.structured_content == {"greeting": "Hello, Ada!", "times": 2}
    assert '"greeting": "Hello, Ada!"' in result.content[0].text
    run = Run.objects.get(workflow_id=workflow_id)
    assert run.trigger == "mcp" and run.status == "succeeded" and run.version == 1


def test_a_failing_workflow_and_arguments_that_do_not_fit_are_error_results(client, platform):
    create_published(client, BROKEN, name="Broken")
    create_published(client, GREET, name="Greeter")

    failed = call_tool(platform, client.key, "broken", {})
    missing = call_tool(platform, client.key, "greeter", {"times": 1})

    assert failed.is_error and "failed" in failed.content[0].text
    run = Run.objects.get(workflow__workspace=client.workspace, workflow__name="Broken")
    assert run.status == "failed" and run.error in failed.content[0].text
    assert missing.is_error and "inputs.name" in missing.content[0].text
    assert not Run.objects.filter(workflow__workspace=client.workspace, workflow__name="Greeter").exists()


def test_orchestra_registered_as_an_mcp_server_of_its_own_workspace_runs_its_workflows(client, platform):
    create_published(client, GREET, name="Greeter")
    server = client.post(
        "/api/mcp-servers",
        json={"name": "self", "url": mcp_url(platform), "headers": {"Authorization": f"Bearer {client.key}"}},
    )
    assert server.status_code == 201, server.text
    assert [t["name"] for t in server.json()["tools"]] == ["greeter"]

    outputs = mcp.mcp_tool_call(
        workspace=client.workspace, server_name="self", tool="greeter", arguments={"name": "Bo"}
    )

    assert outputs == {"greeting": "Hello, Bo!", "times": 1}
    with pytest.raises(mcp.McpToolError, match="Unknown tool 'nope'"):
        mcp.mcp_tool_call(workspace=client.workspace, server_name="self", tool="nope", arguments={})


def test_an_unknown_tool_is_a_protocol_error(client, platform):
    with pytest.raises(MCPError, match="Unknown tool 'nope'"):
        call_tool(platform, client.key, "nope", {})


def test_a_missing_or_wrong_key_is_a_401(platform):
    for headers in ({}, {"Authorization": "Bearer orc_wrong"}, {"Authorization": "Basic abc"}):
        response = httpx.post(mcp_url(platform), headers=headers, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
        assert response.status_code == 401 and response.json()["errors"][0]["message"], response.text
    with pytest.raises(MCPError, match="error response"):  # what the SDK's client makes of a 401
        list_tools(platform, "orc_wrong")


def test_another_workspaces_workflows_are_neither_listed_nor_callable(client, platform):
    create_published(client, GREET, name="Greeter")
    _, other_key = new_workspace()

    assert list_tools(platform, other_key) == []
    with pytest.raises(MCPError, match="Unknown tool 'greeter'"):
        call_tool(platform, other_key, "greeter", {"name": "Eve"})
    assert not Run.objects.filter(workflow__workspace=client.workspace).exists()
