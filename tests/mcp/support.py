"""MCP servers for the tests, built with the official SDK and served by uvicorn on 127.0.0.1.

Each records the headers of every HTTP request it gets, so tests can say which secrets reached
which host. Under /private/ it answers 401 unless `Authorization: Bearer s3cret` is sent."""

import asyncio
import json
import threading
import time
from contextlib import asynccontextmanager

import anyio
import httpx2
import uvicorn
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel

from tests.support.servers import free_port

SECRET = "Bearer s3cret"


class Weather(BaseModel):
    city: str
    celsius: float


def build_tool_server() -> MCPServer:
    server = MCPServer("test-tools")

    @server.tool(structured_output=False)
    def echo(text: str, count: int = 1) -> str:
        """Echo the arguments back, as JSON text."""
        return json.dumps({"text": text, "count": count})

    @server.tool()
    def weather(city: str) -> Weather:
        """The weather in a city (structured output)."""
        return Weather(city=city, celsius=21.5)

    @server.tool()
    def fails(reason: str) -> str:
        """Always fails, with the reason given."""
        raise ToolError(f"failed on purpose: {reason}")

    @server.tool()
    async def slow(seconds: float) -> str:
        """Answers after a while."""
        await anyio.sleep(seconds)
        return "late"

    @server.tool(structured_output=False)
    def whoami(ctx: Context) -> str:
        """Needs the Authorization header."""
        if (ctx.headers or {}).get("authorization") != SECRET:
            raise ToolError("unauthorized: no valid Authorization header")
        return "authorized"

    return server


class McpTestServer:
    """An MCP server on a free loopback port, in a thread; `url` is its endpoint."""

    def __init__(self, mcp: MCPServer | None = None):
        self.mcp = mcp or build_tool_server()
        self.requests: list[dict[str, str]] = []
        app = self.mcp.streamable_http_app(stateless_http=True, json_response=True)
        owner = self

        async def recording(scope, receive, send):
            if scope["type"] == "http":
                headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
                owner.requests.append(headers)
                if scope["path"].startswith("/private/"):
                    if headers.get("authorization") != SECRET:
                        await send({"type": "http.response.start", "status": 401, "headers": []})
                        await send({"type": "http.response.body", "body": b"unauthorized"})
                        return
                    scope = {**scope, "path": scope["path"][len("/private") :]}
            await app(scope, receive, send)

        port = free_port()
        self.url = f"http://127.0.0.1:{port}/mcp"
        self.private_url = f"http://127.0.0.1:{port}/private/mcp"
        self.server = uvicorn.Server(
            uvicorn.Config(
                recording, host="127.0.0.1", port=port, log_level="warning", lifespan="on", timeout_graceful_shutdown=1
            )
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "the test MCP server did not start"
            time.sleep(0.02)

    def header_values(self, name: str) -> list[str]:
        return [r[name] for r in self.requests if name in r]

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)


@asynccontextmanager
async def mcp_session(url: str, key: str):
    """An SDK client session on Orchestra's /mcp, with an API key."""
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30) as client,
        streamable_http_client(url, http_client=client) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


def with_session(url: str, key: str, use):
    """Run `await use(session)` in a fresh event loop (the tests themselves are sync), raising what
    went wrong rather than the exception groups the SDK's task groups wrap it in."""

    async def run():
        async with mcp_session(url, key) as session:
            return await use(session)

    try:
        return asyncio.run(run())
    except BaseExceptionGroup as group:
        while isinstance(group, BaseExceptionGroup):
            group = group.exceptions[0]
        raise group from None
