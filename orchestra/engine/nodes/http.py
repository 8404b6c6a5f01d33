"""`http`: one HTTP request to a public address (SSRF-guarded), JSON or text back."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable
from typing import Any, Literal

import httpx
from pydantic import Field

from orchestra.egress import guarded_client
from orchestra.engine.nodes.base import NodeConfig, NodeContext, NodeResult, NodeType, template_field, until_cancelled
from orchestra.engine.templates import TemplateRef, render, render_value, template_refs

# --- Credentials: {{ credentials.NAME }} in a request's URL, headers and body ---------------------
#
# Rendering turns each reference into a placeholder tagged with a nonce of that render; the value
# replaces it only in the request that is sent (http_request), and is redacted from what comes
# back. So node inputs, events, outputs and errors hold "[credential NAME <tag>]", never the
# secret, and text from run inputs or a model, which cannot know the tag, is never taken for one.
CREDENTIALS = frozenset({"credentials"})
MIN_REDACTED_LENGTH = 4  # a shorter secret would garble every response it is redacted from


class _CredentialPlaceholders(dict):
    def __init__(self) -> None:
        super().__init__()
        self.tag, self.used = secrets.token_hex(6), False

    def __contains__(self, name: object) -> bool:  # the sandbox reads credentials.NAME as an item
        return isinstance(name, str)

    def __missing__(self, name: str) -> str:
        self.used = True
        return f"[credential {name} {self.tag}]"


def render_request(method: str, url: str, headers: dict[str, str], body: Any, scope: dict[str, Any]) -> dict[str, Any]:
    """A request's templates rendered (HTTP nodes and HTTP tools), credentials as placeholders."""
    placeholders = _CredentialPlaceholders()
    scope = {**scope, "credentials": placeholders}
    prepared = {
        "method": method,
        "url": render(url, scope),
        "headers": {name: render(value, scope) for name, value in headers.items()},
        "body": render(body, scope) if isinstance(body, str) else render_value(body, scope),
    }
    if placeholders.used:
        prepared["credential_tag"] = placeholders.tag
    return prepared


def _map_strings(value: Any, change: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return change(value)
    if isinstance(value, dict):
        return {change(k): _map_strings(v, change) for k, v in value.items()}
    if isinstance(value, list):
        return [_map_strings(v, change) for v in value]
    return value


def _with_credentials(
    prepared: dict[str, Any], resolve: Callable[[str], str] | None
) -> tuple[dict[str, Any], dict[str, str]]:
    """The request to send, placeholders replaced by values resolved now; and {value: "[credential NAME]"}."""
    placeholder = re.compile(r"\[credential ([^\s\]]+) " + re.escape(prepared["credential_tag"]) + r"\]")
    values: dict[str, str] = {}

    def swap(match: re.Match) -> str:
        name = match[1]
        if name not in values:
            if resolve is None:
                raise LookupError("this run has no credentials to send (its host gave no credential hook)")
            values[name] = resolve(name)
        return values[name]

    request = {key: _map_strings(value, lambda text: placeholder.sub(swap, text)) for key, value in prepared.items()}
    request.pop("credential_tag")
    redactions = {value: f"[credential {name}]" for name, value in values.items() if len(value) >= MIN_REDACTED_LENGTH}
    return request, redactions


def _redacted(value: Any, redactions: dict[str, str]) -> Any:
    def redact(text: str) -> str:
        for secret, label in redactions.items():
            text = text.replace(secret, label)
        return text

    return _map_strings(value, redact) if redactions else value


class HTTPConfig(NodeConfig):
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] = Field("GET", title="Method")
    url: str = template_field(
        title="URL", description="http:// or https:// only. A secret goes in as {{ credentials.NAME }}."
    )
    headers: dict[str, str] = Field(
        default_factory=dict,
        title="Headers",
        description="e.g. Authorization: Bearer {{ credentials.NAME }}, a credential of the workspace "
        "(Credentials page), sent but never stored with the run.",
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
        refs = (
            [TemplateRef("url", config.url)]
            + [TemplateRef(f"headers.{name}", value) for name, value in config.headers.items()]
            + template_refs(config.body, "body")
        )
        return [TemplateRef(r.path, r.source, r.kind, r.extra_names | CREDENTIALS) for r in refs]

    def prepare(self, config: HTTPConfig, scope: dict[str, Any]) -> dict[str, Any]:
        return render_request(config.method, config.url, config.headers, config.body, scope)

    def run(self, config: HTTPConfig, prepared: dict[str, Any], ctx: NodeContext) -> NodeResult:
        return NodeResult(
            output=until_cancelled(
                lambda: http_request(
                    prepared,
                    timeout_s=config.timeout_s,
                    max_response_bytes=config.max_response_bytes,
                    fail_on_status=config.fail_on_status,
                    allow_private=ctx.hooks.http_allow_private,
                    credential=ctx.hooks.credential,
                ),
                ctx,
            )
        )


def http_request(
    prepared: dict[str, Any],
    *,
    timeout_s: float,
    max_response_bytes: int,
    fail_on_status: bool,
    allow_private: bool,
    credential: Callable[[str], str] | None = None,
) -> dict[str, Any]:
    """Send a rendered request ({method, url, headers, body}) through the egress guard; the
    response as {status, headers, body}, the body parsed when it is JSON. HTTP nodes and HTTP tools.
    Credentials are resolved here, at call time, and redacted from the response and from errors."""
    if "credential_tag" not in prepared:
        return _send(prepared, timeout_s, max_response_bytes, fail_on_status, allow_private)
    request, redactions = _with_credentials(prepared, credential)
    try:
        response = _send(request, timeout_s, max_response_bytes, fail_on_status, allow_private)
    except Exception as error:  # its message may quote the URL or a header: say it without the secret
        raise ValueError(_redacted(str(error) or type(error).__name__, redactions)) from None
    return _redacted(response, redactions)


def _send(
    prepared: dict[str, Any], timeout_s: float, max_response_bytes: int, fail_on_status: bool, allow_private: bool
) -> dict[str, Any]:
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
