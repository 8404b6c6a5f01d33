"""MCP servers a workspace registers, whose tools agents call (Orchestra's own /mcp: mcp_server.py).

Services and selectors in the HackSoft sense: keyword-only arguments, ValidationFailed on bad
input (so nothing is stored). The URL and the headers are stored encrypted; the tool list is
fetched when a server is saved or refreshed, and every call is live.

The official `mcp` SDK is async and speaks httpx2, while the platform's egress guard is an httpx
transport: `_GuardedTransport` hands each request the SDK makes (redirects included) to a
`guarded_async_client`, so a registered server reaches only what an HTTP node could.
"""

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpx
import httpx2
from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import IntegrityError
from django.db.models import QuerySet
from django.utils import timezone
from mcp import ClientSession, MCPError, types
from mcp.client.streamable_http import streamable_http_client

from orchestra.egress import RequestRefused, checked_address, guarded_async_client
from workflows import credentials, crypto
from workflows.errors import ValidationFailed
from workflows.models import McpServer, Workspace
from workflows.selectors import get_or_404

MAX_URL_LENGTH = 2000
MAX_HEADERS = 20
# An HTTP header name is a token (RFC 9110); values may not break the header block.
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$")


class McpToolError(Exception):
    """A tool call that failed: the tool's own error, or why its server could not be reached."""


# --- Selectors ---------------------------------------------------------------------------------


def mcp_server_list(*, workspace: Workspace) -> QuerySet:
    return McpServer.objects.filter(workspace=workspace)


def mcp_server_get(*, workspace: Workspace, server_id) -> McpServer:
    return get_or_404(mcp_server_list(workspace=workspace), "MCP server", id=server_id)


def mcp_server_url(*, server: McpServer) -> str:
    return crypto.decrypt(server.url_encrypted)


def mcp_server_headers(*, server: McpServer) -> dict[str, str]:
    return json.loads(crypto.decrypt(server.headers_encrypted) or "{}")


def _headers_to_send(server: McpServer) -> dict[str, str]:
    return credentials.credentials_filled(workspace=server.workspace, headers=mcp_server_headers(server=server))


# --- Services ----------------------------------------------------------------------------------


def _validated_name(*, workspace: Workspace, name: Any, server: McpServer | None) -> str:
    if not isinstance(name, str) or not name.strip() or "/" in name or len(name.strip()) > 200:
        raise ValidationFailed("An MCP server needs a name of at most 200 characters, without '/'.", path="name")
    name = name.strip()
    taken = McpServer.objects.filter(workspace=workspace, name=name)
    if server is not None:
        taken = taken.exclude(pk=server.pk)
    if taken.exists():
        raise ValidationFailed(f"An MCP server named {name!r} already exists.", path="name")
    return name


def _validated_url(url: Any) -> str:
    if not isinstance(url, str) or not url.strip() or len(url) > MAX_URL_LENGTH:
        raise ValidationFailed(
            f"url is the server's streamable HTTP endpoint, an http(s) URL of at most "
            f"{MAX_URL_LENGTH} characters (e.g. https://tools.example.com/mcp).",
            path="url",
        )
    url = url.strip()
    try:
        checked_address(httpx.URL(url), allow_private=settings.ORCHESTRA_HTTP_ALLOW_PRIVATE)
    except (RequestRefused, httpx.InvalidURL) as exc:
        raise ValidationFailed(f"This URL cannot be used: {exc}.", path="url") from None
    return url


def _validated_headers(headers: Any) -> dict[str, str]:
    if not isinstance(headers, dict) or len(headers) > MAX_HEADERS:
        raise ValidationFailed(
            f"headers is an object of at most {MAX_HEADERS} header name -> value, "
            'e.g. {"Authorization": "Bearer ..."}.',
            path="headers",
        )
    for name, value in headers.items():
        if not HEADER_NAME.match(name):
            raise ValidationFailed(f"{name!r} is not an HTTP header name.", path=f"headers.{name}")
        if not isinstance(value, str) or "\r" in value or "\n" in value:
            raise ValidationFailed("A header value is a string on one line.", path=f"headers.{name}")
    return headers


def mcp_server_save(
    *, workspace: Workspace, name: str | None, url: str | None, headers: dict | None, server: McpServer | None = None
) -> McpServer:
    """Create (server=None) or update a server; None leaves a field as it is.

    A new URL without headers clears the stored headers: secrets never follow a URL to another host.
    Whenever the URL or the headers are set, the tool list is fetched with them first: a server that
    cannot be reached or does not answer as MCP is a ValidationFailed, and nothing is stored.
    """
    creating = server is None
    if creating:
        if url is None:
            raise ValidationFailed("url is required: the server's streamable HTTP endpoint.", path="url")
        server = McpServer(workspace=workspace)
    if creating or name is not None:
        server.name = _validated_name(workspace=workspace, name=name, server=None if creating else server)
    old_url = None if creating else mcp_server_url(server=server)
    new_url = _validated_url(url) if url is not None else old_url
    if headers is not None:
        new_headers = _validated_headers(headers)
    elif new_url != old_url:
        new_headers = {}
    else:
        new_headers = mcp_server_headers(server=server)
    if url is not None or headers is not None:
        to_send = credentials.credentials_filled(workspace=workspace, headers=new_headers)
        server.tools = _fetch_tools(url=new_url, headers=to_send)
        server.tools_refreshed_at = timezone.now()
    server.url_encrypted = crypto.encrypt(new_url)
    server.headers_encrypted = crypto.encrypt(json.dumps(new_headers)) if new_headers else ""
    try:
        server.save()
    except IntegrityError:  # a concurrent save took the name between the check and here
        raise ValidationFailed(f"An MCP server named {server.name!r} already exists.", path="name") from None
    return server


def mcp_server_refresh(*, server: McpServer) -> McpServer:
    """Fetch the tool list again; a server that does not answer keeps its last list (and is a 400)."""
    server.tools = _fetch_tools(url=mcp_server_url(server=server), headers=_headers_to_send(server))
    server.tools_refreshed_at = timezone.now()
    server.save(update_fields=["tools", "tools_refreshed_at", "updated_at"])
    return server


def mcp_server_delete(*, server: McpServer) -> None:
    server.delete()


def _server_named(*, workspace: Workspace, server_name: str) -> McpServer:
    server = McpServer.objects.filter(workspace=workspace, name=server_name).first()
    if server is None:
        known = ", ".join(mcp_server_list(workspace=workspace).values_list("name", flat=True)) or "none"
        raise LookupError(f"No MCP server named {server_name!r} in this workspace; registered: {known}.")
    return server


def mcp_tools_describe(*, workspace: Workspace, server_name: str, tools: list[str] | None) -> list[dict]:
    """The server's tools as last fetched, [{name, description, input_schema}]: all, or the named ones."""
    server = _server_named(workspace=workspace, server_name=server_name)
    by_name = {tool["name"]: tool for tool in server.tools}
    if tools is None:
        return [dict(tool) for tool in server.tools]
    unknown = [name for name in tools if name not in by_name]
    if unknown:
        raise LookupError(
            f"MCP server {server_name!r} has no tool {', '.join(map(repr, unknown))}; "
            f"its tools: {', '.join(sorted(by_name)) or 'none'} (refresh it if it gained tools)."
        )
    return [dict(by_name[name]) for name in tools]


def mcp_tool_call(*, workspace: Workspace, server_name: str, tool: str, arguments: dict) -> Any:
    """Call a tool live: its structuredContent if it sent one, else its text (JSON-decoded when it is JSON).

    The tool's own error (isError) and a server that cannot be reached are McpToolError."""
    server = _server_named(workspace=workspace, server_name=server_name)

    async def call(session: ClientSession):
        try:
            return await session.call_tool(tool, arguments)
        except MCPError as exc:  # a JSON-RPC error answering the call (an unknown tool, bad params)
            raise McpToolError(f"MCP server {server_name!r} refused tool {tool!r}: {exc.message}") from None

    try:
        result = _with_session(url=mcp_server_url(server=server), headers=_headers_to_send(server), use=call)
    except _Unreachable as exc:
        raise McpToolError(f"MCP server {server_name!r} failed on tool {tool!r}: {exc}") from None
    text = "\n".join(block.text if block.type == "text" else f"[{block.type} content]" for block in result.content)
    if result.is_error:
        raise McpToolError(text or f"Tool {tool!r} of MCP server {server_name!r} failed without a message.")
    if result.structured_content is not None:
        return result.structured_content
    try:
        return json.loads(text)
    except ValueError:
        return text


def _fetch_tools(*, url: str, headers: dict[str, str]) -> list[dict]:
    async def list_all(session: ClientSession) -> list[dict]:
        tools, cursor = [], None
        while True:
            page = await session.list_tools(params=types.PaginatedRequestParams(cursor=cursor) if cursor else None)
            tools += [
                {"name": t.name, "description": t.description or "", "input_schema": t.input_schema} for t in page.tools
            ]
            cursor = page.next_cursor
            if not cursor:
                return tools

    try:
        return _with_session(url=url, headers=headers, use=list_all)
    except _Unreachable as exc:
        path = "headers" if exc.status in (401, 403) else "url"
        raise ValidationFailed(f"Cannot list this server's tools: {exc}", path=path) from None


# --- The SDK client, through the egress guard -------------------------------------------------


class _Unreachable(Exception):
    """Why an MCP exchange failed, in words; `status` is the HTTP status that ended it, if any."""

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.status = status


class _Stream(httpx2.AsyncByteStream):
    def __init__(self, response: httpx.Response):
        self.response = response

    async def __aiter__(self):
        async for chunk in self.response.aiter_raw():
            yield chunk

    async def aclose(self) -> None:
        await self.response.aclose()


class _GuardedTransport(httpx2.AsyncBaseTransport):
    """An httpx2 transport that sends through the egress guard's httpx client, streaming the answer
    back (SSE). It remembers the first POST that failed with an HTTP error, which the SDK reports only
    as a generic error (a GET or DELETE may be refused by a stateless server, and that is fine)."""

    def __init__(self, client: httpx.AsyncClient):
        self.client = client
        self.refusal: tuple[int, str] | None = None

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        outgoing = self.client.build_request(
            request.method, str(request.url), headers=request.headers.raw, content=await request.aread()
        )
        response = await self.client.send(outgoing, stream=True)
        if request.method == "POST" and response.status_code >= 400 and self.refusal is None:
            self.refusal = (
                response.status_code,
                f"{request.method} {request.url} answered HTTP {response.status_code} {response.reason_phrase}",
            )
        return httpx2.Response(response.status_code, headers=response.headers.raw, stream=_Stream(response))

    async def aclose(self) -> None:
        await self.client.aclose()


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def _with_session(*, url: str, headers: dict[str, str], use: Callable[[ClientSession], Awaitable[Any]]) -> Any:
    """Open an MCP session on the URL, run `use` on it, close it; failures become _Unreachable.

    Sync, for Celery worker threads and sync views: async_to_sync runs it on its own loop there."""
    timeout = settings.ORCHESTRA_MCP_TIMEOUT_S

    async def exchange():
        transport = _GuardedTransport(
            guarded_async_client(allow_private=settings.ORCHESTRA_HTTP_ALLOW_PRIVATE, headers=headers, timeout=timeout)
        )
        try:
            with anyio.fail_after(timeout):
                async with (
                    httpx2.AsyncClient(transport=transport, timeout=timeout) as client,
                    streamable_http_client(url, http_client=client) as (read, write),
                    ClientSession(read, write) as session,
                ):
                    await session.initialize()
                    return await use(session)
        except BaseException as exc:  # the SDK's task groups wrap what went wrong in exception groups
            raise _explained(exc, transport.refusal, timeout) from None

    return async_to_sync(exchange)()


def _explained(exc: BaseException, refusal: tuple[int, str] | None, timeout: float) -> BaseException:
    if isinstance(exc, (asyncio.CancelledError, KeyboardInterrupt, SystemExit)):
        return exc
    leaves = _leaves(exc)
    for leaf in leaves:
        if isinstance(leaf, McpToolError):
            return leaf
    if refusal is not None:
        status, what = refusal
        hint = "; check the headers" if status in (401, 403) else " (is this the server's MCP endpoint, often /mcp?)"
        return _Unreachable(f"{what}{hint}", status=status)
    leaf = leaves[0]
    if isinstance(leaf, TimeoutError):
        return _Unreachable(f"no answer within {timeout:g}s")
    if isinstance(leaf, RequestRefused):
        return _Unreachable(f"refused by the egress guard: {leaf}")
    if isinstance(leaf, httpx.HTTPError):
        return _Unreachable(f"cannot connect: {leaf or type(leaf).__name__}")
    if isinstance(leaf, MCPError):
        return _Unreachable(f"it did not answer as an MCP server: {leaf.message}")
    return _Unreachable(f"{type(leaf).__name__}: {leaf}")
