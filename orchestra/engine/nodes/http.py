"""`http`: one HTTP request to a public address (SSRF-guarded), JSON or text back."""

from __future__ import annotations

import json
from typing import Any, Literal

import httpx
from pydantic import Field

from orchestra.egress import guarded_client
from orchestra.engine.nodes.base import NodeConfig, NodeContext, NodeResult, NodeType, template_field, until_cancelled
from orchestra.engine.templates import TemplateRef, render, render_value, template_refs


class HTTPConfig(NodeConfig):
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] = Field("GET", title="Method")
    url: str = template_field(title="URL", description="http:// or https:// only.")
    headers: dict[str, str] = Field(
        default_factory=dict,
        title="Headers",
        json_schema_extra={"additionalProperties": {"type": "string", "format": "template"}},
    )
    body: str | dict[str, Any] | list[Any] | None = Field(
        None,
        title="Body",
        description="A template (sent as text) or a JSON value whose strings are templates (sent as JSON).",
    )
    timeout_s: float = Field(30, gt=0, le=600, title="Timeout (s)")
    max_response_bytes: int = Field(1_000_000, ge=1, le=100_000_000, title="Max response bytes")
    fail_on_status: bool = Field(True, title="Fail on 4xx/5xx", description="Treat an error status as a node failure.")


def _read_limited(response: httpx.Response, limit: int) -> bytes:
    body = b""
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > limit:
            raise ValueError(f"response is larger than max_response_bytes={limit}")
    return body


class HTTPNode(NodeType):
    type = "http"
    title = "HTTP request"
    description = (
        "Call an HTTP API. Private, loopback and link-local addresses are refused unless the server allows them."
    )
    category = "Integration"
    Config = HTTPConfig
    mappable = True

    def templates(self, config: HTTPConfig) -> list[TemplateRef]:
        return (
            [TemplateRef("url", config.url)]
            + [TemplateRef(f"headers.{name}", value) for name, value in config.headers.items()]
            + template_refs(config.body, "body")
        )

    def prepare(self, config: HTTPConfig, scope: dict[str, Any]) -> dict[str, Any]:
        return {
            "method": config.method,
            "url": render(config.url, scope),
            "headers": {name: render(value, scope) for name, value in config.headers.items()},
            "body": render(config.body, scope) if isinstance(config.body, str) else render_value(config.body, scope),
        }

    def run(self, config: HTTPConfig, prepared: dict[str, Any], ctx: NodeContext) -> NodeResult:
        return NodeResult(
            output=until_cancelled(
                lambda: http_request(
                    prepared,
                    timeout_s=config.timeout_s,
                    max_response_bytes=config.max_response_bytes,
                    fail_on_status=config.fail_on_status,
                    allow_private=ctx.hooks.http_allow_private,
                ),
                ctx,
            )
        )


def http_request(
    prepared: dict[str, Any], *, timeout_s: float, max_response_bytes: int, fail_on_status: bool, allow_private: bool
) -> dict[str, Any]:
    """Send a rendered request ({method, url, headers, body}) through the egress guard; the
    response as {status, headers, body}, the body parsed when it is JSON. HTTP nodes and HTTP tools."""
    body = prepared["body"]
    with guarded_client(allow_private=allow_private, timeout=timeout_s, follow_redirects=True) as client:
        with client.stream(
            prepared["method"],
            prepared["url"],
            headers=prepared["headers"],
            content=body if isinstance(body, str) else None,
            json=body if body is not None and not isinstance(body, str) else None,
        ) as response:
            raw = _read_limited(response, max_response_bytes)
    text = raw.decode(response.encoding or "utf-8", errors="replace")
    parsed: Any = text
    if "json" in response.headers.get("content-type", "") and text:
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            pass  # a server that mislabels text as JSON still gets its text through
    if fail_on_status and response.status_code >= 400:
        raise ValueError(f"HTTP {response.status_code} from {response.request.headers['host']}: {text[:200]}")
    return {"status": response.status_code, "headers": dict(response.headers), "body": parsed}
