"""Credentials: a workspace's secrets, encrypted at rest, used by name from HTTP nodes and tools.

A request template says `{{ credentials.github }}`; the engine renders that to a placeholder and asks
`credential_value` for the value only when it sends the request (orchestra/engine/nodes/http.py),
so node inputs, events, traces, callbacks and logs never hold it. The value is never returned by
the API after it was set; owners create, rotate and delete, members' workflows use them.
"""

import re
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from workflows import crypto
from workflows.errors import NotFound, ValidationFailed
from workflows.models import Credential, Workspace

NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_VALUE_LENGTH = 16_384
# `credentials.NAME` or `credentials["NAME"]` in a template.
REFERENCE = re.compile(r"""\bcredentials\s*(?:\.\s*([A-Za-z_]\w*)|\[\s*["']([^"']+)["']\s*\])""")


def _checked_value(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValidationFailed("value is the secret, a non-empty string.", path="value")
    if len(value) > MAX_VALUE_LENGTH:
        raise ValidationFailed(f"value is at most {MAX_VALUE_LENGTH:,} characters.", path="value")
    return value


def credential_list(*, workspace: Workspace) -> list[Credential]:
    return list(Credential.objects.filter(workspace=workspace))


def credential_get(*, workspace: Workspace, name: str) -> Credential:
    credential = Credential.objects.filter(workspace=workspace, name=name).first() if NAME.match(name) else None
    if credential is None:
        raise NotFound(f"No credential named {name!r} in this workspace.", path="name")
    return credential


def credential_create(*, workspace: Workspace, name: Any, value: Any) -> Credential:
    if not isinstance(name, str) or not NAME.match(name):
        raise ValidationFailed(
            "name is lowercase letters, digits and _, starting with a letter (at most 64), "
            "as templates write it: {{ credentials.NAME }}.",
            path="name",
        )
    encrypted = crypto.encrypt(_checked_value(value))
    try:
        with transaction.atomic():
            return Credential.objects.create(workspace=workspace, name=name, value_encrypted=encrypted)
    except IntegrityError:
        raise ValidationFailed(f"A credential named {name!r} already exists; rotate it instead.", path="name") from None


def credential_rotate(*, credential: Credential, value: Any) -> Credential:
    """A new value under the same name: every workflow that uses it sends the new one from now on."""
    credential.value_encrypted = crypto.encrypt(_checked_value(value))
    credential.rotated_at = timezone.now()
    credential.save(update_fields=["value_encrypted", "rotated_at"])
    return credential


def credential_delete(*, credential: Credential) -> None:
    credential.delete()


def credential_value(*, workspace: Workspace, name: str) -> str:
    """The secret, decrypted to be sent; LookupError (a clear run-time failure) for an unknown name."""
    credential = Credential.objects.filter(workspace=workspace, name=name).first() if NAME.match(name) else None
    if credential is None:
        raise LookupError(
            f"credential {name!r} does not exist in this workspace; an owner creates it under Credentials"
        )
    return crypto.decrypt(credential.value_encrypted)


def _strings(value: Any, path: str) -> list[tuple[str, str]]:
    if isinstance(value, str):
        return [(path, value)]
    if isinstance(value, dict):
        return [item for key, v in value.items() for item in _strings(v, f"{path}.{key}")]
    if isinstance(value, list):
        return [item for i, v in enumerate(value) for item in _strings(v, f"{path}[{i}]")]
    return []


def _request_templates(graph: dict) -> list[tuple[str, str]]:
    """(path, text) of every string of the graph's HTTP nodes and HTTP tools, where credentials may be used."""
    found: list[tuple[str, str]] = []
    for i, node in enumerate(graph.get("nodes") or []):
        if not isinstance(node, dict) or not isinstance(node.get("config"), dict):
            continue
        config, path = node["config"], f"nodes[{i}].config"
        if node.get("type") == "http":
            found += _strings({k: config.get(k) for k in ("url", "headers", "body")}, path)
        for j, tool in enumerate(config.get("tools") or [] if isinstance(config.get("tools"), list) else []):
            if isinstance(tool, dict) and tool.get("kind") == "http":
                found += _strings({k: tool.get(k) for k in ("url", "headers", "body")}, f"{path}.tools[{j}]")
    return found


def credential_problems(*, workspace: Workspace, graph: Any) -> list[dict]:
    """Credentials the graph uses that the workspace does not have, one problem per use."""
    if not isinstance(graph, dict):
        return []
    uses = [
        (path, match[1] or match[2]) for path, text in _request_templates(graph) for match in REFERENCE.finditer(text)
    ]
    known = set(Credential.objects.filter(workspace=workspace).values_list("name", flat=True)) if uses else set()
    return [
        {"path": path, "message": f"credentials.{name}: no credential named {name!r} in this workspace"}
        for path, name in uses
        if name not in known
    ]


# `{{ credentials.NAME }}` as the whole or part of an MCP server's header value.
HEADER_REFERENCE = re.compile(r"\{\{\s*credentials\s*\.\s*([A-Za-z_]\w*)\s*\}\}")


def credentials_filled(*, workspace: Workspace, headers: dict[str, str]) -> dict[str, str]:
    """Headers to send, each {{ credentials.NAME }} replaced by its value (only here: what is stored
    and shown keeps the reference); an unknown name is a problem on that header."""

    def value(header: str, match: re.Match) -> str:
        try:
            return credential_value(workspace=workspace, name=match[1])
        except LookupError as error:
            raise ValidationFailed(str(error), path=f"headers.{header}") from None

    return {
        header: HEADER_REFERENCE.sub(lambda match, header=header: value(header, match), text)
        for header, text in headers.items()
    }
