"""Agents in the browser app, end to end: an MCP server registered and tested on its page, an agent
built in the editor with a workflow tool and that server's tool, run, and its trajectory read in
the inspector. The MCP server is real (the official SDK on uvicorn, on 127.0.0.1); the model is the
tests' tiny random-weight one, whose tool calls the backend constrains to be well-formed, so the
scenario asserts what is structurally certain (turns, calls with their results, a final answer)."""

import json

import pytest
from mcp.server.mcpserver import MCPServer

from tests.e2e.test_browser import browser_login, browser_ready, run_scenario  # noqa: F401  (fixtures)
from tests.mcp.support import McpTestServer

ORDERS = {"A-17": "shipped on Monday", "B-42": "waiting for stock"}
SECRET = "demo-secret-123"  # the header value typed on the MCP servers page


def build_shop_server() -> MCPServer:
    server = MCPServer("shop")

    @server.tool(structured_output=False)
    def lookup_order(order_id: str) -> str:
        """Look up an order's status by its id."""
        return json.dumps({"order_id": order_id, "status": ORDERS.get(order_id, "no such order")})

    @server.tool(structured_output=False)
    def list_orders() -> str:
        """The ids of the open orders."""
        return json.dumps(sorted(ORDERS))

    return server


@pytest.fixture(scope="module")
def shop_server():
    server = McpTestServer(build_shop_server())
    yield server
    server.close()


def test_an_agent_with_a_workflow_tool_and_an_mcp_tool_is_built_run_and_its_trajectory_read(
    browser_login, shop_server, tmp_path
):
    login = browser_login | {"ORCHESTRA_MCP_URL": shop_server.url, "ORCHESTRA_MCP_SECRET": SECRET}
    assert "ok - agent" in run_scenario("agent.mjs", login, tmp_path)
    # The value typed once on the page went to the server with every request after it was saved.
    assert SECRET in shop_server.header_values("x-api-key")
