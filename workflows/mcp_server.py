"""Orchestra as an MCP server at /mcp: a workspace's published workflows are its tools.

Streamable HTTP through the official SDK's session manager (stateless, JSON responses: every
request stands alone, so any web process can answer it), authenticated with an Orchestra API key.
Daphne runs no ASGI lifespan, so the manager starts on the first request and lasts as long as
the process. The ORM is sync: it runs in worker threads (thread_sensitive=False, so a call that
waits minutes for its run does not hold up other requests), which close their connections.
"""

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.db.models import OuterRef, Subquery
from mcp import MCPError, types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

from orchestra.engine.nodes.input import inputs_json_schema
from orchestra.engine.tools import tool_name
from workflows import runs, services, triggers
from workflows.errors import ValidationFailed
from workflows.models import Workflow, WorkflowVersion, Workspace

WORKSPACE_SCOPE_KEY = "orchestra.workspace"  # set on the ASGI scope by the key check, read by the handlers
TOOL_NAME_LENGTH = 56


# --- Published workflows as tools (sync: called from worker threads) -----------------------------


@dataclass(frozen=True)
class WorkflowTool:
    name: str
    workflow: Workflow
    version: int
    graph: dict

    def as_mcp(self) -> types.Tool:
        return types.Tool(
            name=self.name,
            description=self.workflow.description or self.workflow.name,
            input_schema=inputs_json_schema(self.graph),
        )


def workflow_tools(*, workspace: Workspace) -> list[WorkflowTool]:
    """The workspace's published workflows, ordered by tool name.

    A tool's name is its workflow's name as a slug; when two slugs collide, the older workflow
    keeps it and the newer gets a short id suffix, so adding a workflow never renames another's tool."""
    latest = WorkflowVersion.objects.filter(workflow=OuterRef("pk")).order_by("-version")
    workflows = (
        Workflow.objects.filter(workspace=workspace)
        .annotate(
            latest_version=Subquery(latest.values("version")[:1]), latest_graph=Subquery(latest.values("graph")[:1])
        )
        .filter(latest_version__isnull=False)
        .order_by("created_at", "id")
    )
    tools, taken = [], set()
    for workflow in workflows:
        name = tool_name(workflow.name, max_length=TOOL_NAME_LENGTH)
        if name in taken:
            name = f"{name}_{workflow.id.hex[:6]}"
        taken.add(name)
        tools.append(
            WorkflowTool(name=name, workflow=workflow, version=workflow.latest_version, graph=workflow.latest_graph)
        )
    return sorted(tools, key=lambda tool: tool.name)


def workflow_tool_call(*, workspace: Workspace, name: str, arguments: dict[str, Any]) -> types.CallToolResult:
    """Run the tool's workflow (its latest published version) and wait for the outputs.

    Arguments that do not fit the inputs, a failed run and one still going at the timeout are
    tool errors (isError), which the calling model can read; an unknown tool is a protocol error."""
    tool = next((t for t in workflow_tools(workspace=workspace) if t.name == name), None)
    if tool is None:
        raise LookupError(
            f"Unknown tool {name!r}; this workspace's published workflows are tools, call tools/list to see them."
        )
    try:
        run, _ = runs.run_start(workflow=tool.workflow, inputs=arguments, version=tool.version, trigger="mcp")
    except ValidationFailed as exc:
        return _tool_error(f"Invalid arguments: {exc}")
    timeout = settings.ORCHESTRA_MCP_RUN_TIMEOUT_S
    run = triggers.run_wait(run=run, timeout_s=timeout)
    if run.status == "succeeded":
        outputs = run.outputs or {}
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=json.dumps(outputs))], structured_content=outputs
        )
    if run.status in ("failed", "cancelled"):
        return _tool_error(f"Run {run.id} {run.status}: {run.error or 'no error recorded'}")
    return _tool_error(f"Run {run.id} is still {run.status} after {timeout:g}s; follow it at /api/runs/{run.id}.")


def _tool_error(message: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=message)], is_error=True)


# --- The MCP server --------------------------------------------------------------------------------


def _workspace(ctx: ServerRequestContext) -> Workspace:
    return ctx.request.scope[WORKSPACE_SCOPE_KEY]


async def _list_tools(ctx: ServerRequestContext, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
    tools = await database_sync_to_async(workflow_tools, thread_sensitive=False)(workspace=_workspace(ctx))
    return types.ListToolsResult(tools=[tool.as_mcp() for tool in tools])


async def _call_tool(ctx: ServerRequestContext, params: types.CallToolRequestParams) -> types.CallToolResult:
    try:
        return await database_sync_to_async(workflow_tool_call, thread_sensitive=False)(
            workspace=_workspace(ctx), name=params.name, arguments=params.arguments or {}
        )
    except LookupError as exc:
        raise MCPError(types.INVALID_PARAMS, str(exc)) from None


server = Server(
    "orchestra",
    instructions="Each tool runs one of this workspace's published workflows and returns its outputs.",
    on_list_tools=_list_tools,
    on_call_tool=_call_tool,
)

_manager: StreamableHTTPSessionManager | None = None
_manager_ready: asyncio.Event | None = None
_manager_task: asyncio.Task | None = None  # referenced, so the running manager is not garbage-collected


async def _running_manager() -> StreamableHTTPSessionManager:
    """The process's session manager, started by the first request (daphne sends no lifespan events)."""
    global _manager, _manager_ready, _manager_task
    if _manager_ready is None:  # no await before these assignments: concurrent first requests start one
        _manager = StreamableHTTPSessionManager(app=server, stateless=True, json_response=True)
        _manager_ready = asyncio.Event()
        _manager_task = asyncio.get_running_loop().create_task(_serve(_manager, _manager_ready))
    await _manager_ready.wait()
    return _manager


async def _serve(manager: StreamableHTTPSessionManager, ready: asyncio.Event) -> None:
    async with manager.run():
        ready.set()
        await asyncio.Event().wait()


# --- The ASGI app: API-key check, then the SDK --------------------------------------------------------


def _bearer(scope: dict) -> str | None:
    header = dict(scope.get("headers") or []).get(b"authorization", b"").decode("latin-1")
    scheme, _, key = header.partition(" ")
    return key.strip() if scheme.lower() == "bearer" and key.strip() else None


async def _unauthorized(send, message: str) -> None:
    body = json.dumps({"errors": [{"path": "", "message": message}]}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"www-authenticate", b'Bearer realm="mcp"'),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def mcp_app(scope, receive, send) -> None:
    """/mcp: `Authorization: Bearer <Orchestra API key>`; the key's workspace is whose workflows answer."""
    key = _bearer(scope)
    if key is None:
        await _unauthorized(send, "Authorization header must be 'Bearer <Orchestra API key>'.")
        return
    api_key = await database_sync_to_async(services.api_key_authenticate, thread_sensitive=False)(key=key)
    if api_key is None:
        await _unauthorized(send, "Invalid or revoked API key.")
        return
    manager = await _running_manager()
    await manager.handle_request({**scope, WORKSPACE_SCOPE_KEY: api_key.workspace}, receive, send)
