"""`http`: one HTTP request to a public address (SSRF-guarded), JSON or text back."""
from __future__ import annotations

import ipaddress
import json
import socket
from typing import Any, Literal

import httpx
from pydantic import Field

from orchestra.engine.nodes.base import NodeConfig, NodeContext, NodeResult, NodeType, template_field
from orchestra.engine.templates import TemplateRef, render, render_value, template_refs

MAX_REDIRECTS = 5


class HTTPConfig(NodeConfig):
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] = Field("GET", title="Method")
    url: str = template_field(title="URL", description="http:// or https:// only.")
    headers: dict[str, str] = Field(default_factory=dict, title="Headers",
                                    json_schema_extra={"additionalProperties": {"type": "string", "format": "template"}})
    body: str | dict[str, Any] | list[Any] | None = Field(
        None, title="Body", description="A template (sent as text) or a JSON value whose strings are templates (sent as JSON).")
    timeout_s: float = Field(30, gt=0, le=600, title="Timeout (s)")
    max_response_bytes: int = Field(1_000_000, ge=1, le=100_000_000, title="Max response bytes")
    fail_on_status: bool = Field(True, title="Fail on 4xx/5xx", description="Treat an error status as a node failure.")


class RequestRefused(ValueError):
    """The URL is not one this node may reach."""


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is loopback too
    return address.is_global and not (address.is_multicast or address.is_reserved)


def checked_address(url: httpx.URL, *, allow_private: bool) -> str:
    """Resolve the URL's host and return the address to connect to; refuse non-public ones.

    Every resolved address is checked (an attacker's DNS may mix public and private answers), and
    the caller connects to the returned address itself, so a second lookup cannot be rebound.
    """
    if url.scheme not in ("http", "https"):
        raise RequestRefused(f"URL scheme {url.scheme!r} is not allowed; use http or https")
    if not url.host:
        raise RequestRefused(f"URL {str(url)!r} has no host")
    try:
        infos = socket.getaddrinfo(url.host, url.port or (443 if url.scheme == "https" else 80),
                                   type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise RequestRefused(f"cannot resolve host {url.host!r}: {error}") from error
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    if not allow_private:
        refused = [str(a) for a in addresses if not is_public(a)]
        if refused:
            raise RequestRefused(f"host {url.host!r} resolves to non-public address {', '.join(refused)}; "
                                 "only public addresses are allowed")
    return str(addresses[0])


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
    description = "Call an HTTP API. Private, loopback and link-local addresses are refused unless the server allows them."
    category = "Integration"
    Config = HTTPConfig
    mappable = True

    def templates(self, config: HTTPConfig) -> list[TemplateRef]:
        return ([TemplateRef("url", config.url)]
                + [TemplateRef(f"headers.{name}", value) for name, value in config.headers.items()]
                + template_refs(config.body, "body"))

    def prepare(self, config: HTTPConfig, scope: dict[str, Any]) -> dict[str, Any]:
        return {
            "method": config.method,
            "url": render(config.url, scope),
            "headers": {name: render(value, scope) for name, value in config.headers.items()},
            "body": render(config.body, scope) if isinstance(config.body, str) else render_value(config.body, scope),
        }

    def run(self, config: HTTPConfig, prepared: dict[str, Any], ctx: NodeContext) -> NodeResult:
        method, url, body = prepared["method"], httpx.URL(prepared["url"]), prepared["body"]
        # trust_env=False: a proxy from the environment would make the address check meaningless.
        with httpx.Client(timeout=config.timeout_s, follow_redirects=False, trust_env=False) as client:
            for _ in range(MAX_REDIRECTS + 1):
                address = checked_address(url, allow_private=ctx.hooks.http_allow_private)
                request = client.build_request(
                    method, url.copy_with(host=address),
                    headers={**prepared["headers"], "Host": url.netloc.decode("ascii")},
                    content=body if isinstance(body, str) else None,
                    json=body if body is not None and not isinstance(body, str) else None,
                    extensions={"sni_hostname": url.host} if url.scheme == "https" else {},
                )
                response = client.send(request, stream=True)
                try:
                    if not response.has_redirect_location:
                        return self._result(response, config)
                finally:
                    response.close()
                url = url.join(response.headers["location"])
                if response.status_code == 303 or (response.status_code in (301, 302) and method == "POST"):
                    method, body = "GET", None
        raise ValueError(f"more than {MAX_REDIRECTS} redirects")

    @staticmethod
    def _result(response: httpx.Response, config: HTTPConfig) -> NodeResult:
        raw = _read_limited(response, config.max_response_bytes)
        text = raw.decode(response.encoding or "utf-8", errors="replace")
        body: Any = text
        if "json" in response.headers.get("content-type", "") and text:
            try:
                body = json.loads(text)
            except json.JSONDecodeError:
                pass  # a server that mislabels text as JSON still gets its text through
        if config.fail_on_status and response.status_code >= 400:
            raise ValueError(f"HTTP {response.status_code} from {response.request.headers['host']}: {text[:200]}")
        return NodeResult(output={"status": response.status_code, "headers": dict(response.headers), "body": body})
