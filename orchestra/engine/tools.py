"""Tools an agent can call, as data: another workflow, an HTTP request template, an MCP server's
tools. This module turns the agent config's tool entries into what the model is offered
(`ToolDefinition`) and runs one call of a tool, durably: a call whose result was recorded before
a crash is answered from the record, never made again.
"""

from __future__ import annotations

import json
import re
import time
import unicodedata
from typing import Annotated, Any, Literal

import jsonschema
from pydantic import Field, field_validator

from orchestra.engine.hooks import RunHooks, ToolDefinition, WorkflowWaiting
from orchestra.engine.nodes.base import NodeConfig, NodeContext, template_field
from orchestra.engine.nodes.http import CREDENTIALS, http_request, render_request
from orchestra.engine.nodes.subworkflow import run_workflow
from orchestra.engine.templates import TemplateRef, template_refs

TOOL_NAME = r"^[A-Za-z0-9_-]{1,64}$"  # OpenAI's rule for function names
ARGS = frozenset({"args"})  # what an HTTP tool's templates see besides inputs and nodes
EMPTY_PARAMETERS = {"type": "object", "properties": {}}
# Whether an evaluation run (a distilled student driving the agent end to end) may call the tool:
# a tool with side effects (a refund, an email) must not be called for a measurement, so it is opt-in.
InEvaluation = Annotated[
    Literal["refuse", "call"],
    Field(
        title="In evaluation runs",
        description="call: it has no side effects, so evaluation runs (a distilled student driving the "
        "agent end to end) may call it. refuse: the agent's evaluation runs are refused.",
    ),
]


def _json_schema(schema: dict[str, Any]) -> dict[str, Any]:
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as error:
        raise ValueError(f"not a valid JSON Schema: {error.message}") from error
    if schema.get("type") != "object":
        raise ValueError("a tool's parameters are a JSON Schema of type object")
    return schema


class WorkflowTool(NodeConfig):
    """Another workflow of the workspace; its input fields are the arguments, its outputs the result."""

    kind: Literal["workflow"]
    workflow: str = Field(min_length=1, title="Workflow", json_schema_extra={"format": "workflow"})
    name: str | None = Field(
        None, pattern=TOOL_NAME, title="Tool name", description="Default: from the workflow's name."
    )
    description: str = Field("", title="Description", description="Default: the workflow's description.")
    evaluation: InEvaluation = "refuse"


class HTTPTool(NodeConfig):
    """An HTTP request whose templates see the call's arguments as args.<name>."""

    kind: Literal["http"]
    name: str = Field(pattern=TOOL_NAME, title="Tool name")
    description: str = Field("", title="Description", description="What the tool does, for the model.")
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = Field("GET", title="Method")
    url: str = template_field(title="URL", description="e.g. https://api.example.com/orders/{{ args.order_id }}")
    headers: dict[str, str] = Field(default_factory=dict, title="Headers")
    body: str | dict[str, Any] | list[Any] | None = Field(None, title="Body")
    parameters: dict[str, Any] = Field(
        default_factory=lambda: dict(EMPTY_PARAMETERS),
        title="Parameters",
        description="JSON Schema of the arguments the model sends.",
    )
    timeout_s: float = Field(30, gt=0, le=300, title="Timeout (s)")
    evaluation: InEvaluation = "refuse"

    _check_parameters = field_validator("parameters")(classmethod(lambda cls, value: _json_schema(value)))


class MCPTools(NodeConfig):
    """Some or all tools of an MCP server registered in the workspace."""

    kind: Literal["mcp"]
    server: str = Field(min_length=1, title="MCP server", json_schema_extra={"format": "mcp-server"})
    tools: list[str] | None = Field(None, title="Tools", description="Which of its tools; empty: all of them.")
    evaluation: InEvaluation = "refuse"


ToolSpec = Annotated[WorkflowTool | HTTPTool | MCPTools, Field(discriminator="kind")]
MAX_RESULT_CHARS = 8000  # a tool result longer than this is cut before it reaches a small model's context


def tool_name(text: str, *, max_length: int = 64) -> str:
    """A function name (OpenAI's and MCP's rule) for a title such as a workflow's name: "Look up
    order" -> "look_up_order". Agents' workflow tools and the /mcp server's tools are named so."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_")[:max_length] or "workflow"


def http_tool_definition(tool: HTTPTool) -> ToolDefinition:
    return ToolDefinition(
        name=tool.name, description=tool.description, parameters=tool.parameters, spec=tool.model_dump()
    )


def tool_template_refs(tools: list[WorkflowTool | HTTPTool | MCPTools]) -> list[TemplateRef]:
    refs: list[TemplateRef] = []
    for index, tool in enumerate(tools):
        if isinstance(tool, HTTPTool):
            path = f"tools[{index}]"
            sources = (
                [TemplateRef(f"{path}.url", tool.url)]
                + [TemplateRef(f"{path}.headers.{k}", v) for k, v in tool.headers.items()]
                + template_refs(tool.body, f"{path}.body")
            )
            refs += [TemplateRef(r.path, r.source, r.kind, r.extra_names | ARGS | CREDENTIALS) for r in sources]
    return refs


def resolve_tools(tools: list[WorkflowTool | HTTPTool | MCPTools], hooks: RunHooks) -> list[ToolDefinition]:
    """The definitions the model is offered, in config order; names must come out unique."""
    definitions: list[ToolDefinition] = []
    for tool in tools:
        if isinstance(tool, HTTPTool):
            definitions.append(http_tool_definition(tool))
        elif hooks.describe_tool is None:
            raise RuntimeError(f"this run cannot use {tool.kind} tools: its host gave no describe_tool hook")
        else:
            definitions += hooks.describe_tool(tool.model_dump())
    names = [d.name for d in definitions]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"more than one tool is named {', '.join(repeated)}: give each a unique name")
    return definitions


def call_tool(
    definition: ToolDefinition,
    arguments: str,
    ctx: NodeContext,
    *,
    call_key: str,
    step: int,
    answer: tuple[Any, str] | None = None,
) -> dict[str, Any]:
    """Run one tool call; {"result": ...} or {"error": "..."}: a failing tool is the model's to handle.

    Recorded as two run events, tool_called and tool_result (with the call key); a call whose
    tool_result was recorded before a crash is answered from that record. A workflow tool whose run
    waits for an answer raises WorkflowWaiting (no result yet): the call is made again with `answer`,
    the (value, child node) its agent got for that run."""
    recorded = ctx.hooks.recorded_tool_result(call_key)
    if recorded is not None:
        return {key: recorded[key] for key in ("result", "error") if key in recorded}
    event = {"call_key": call_key, "step": step, "tool": definition.name, "kind": definition.spec["kind"]}
    ctx.emit("tool_called", {**event, "arguments": arguments})
    started = time.perf_counter()
    try:
        outcome = {"result": _execute(definition, _arguments(definition, arguments), ctx, call_key, answer)}
    except WorkflowWaiting:
        raise
    except Exception as error:
        outcome = {"error": f"{type(error).__name__}: {error}" if str(error) else type(error).__name__}
    ctx.emit("tool_result", {**event, **outcome, "latency_ms": round((time.perf_counter() - started) * 1000, 1)})
    return outcome


def _arguments(definition: ToolDefinition, arguments: str) -> dict[str, Any]:
    try:
        value = json.loads(arguments or "{}")
    except json.JSONDecodeError as error:
        raise ValueError(f"the arguments are not JSON: {error}") from error
    try:
        jsonschema.validate(value, definition.parameters)
    except jsonschema.ValidationError as error:
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        raise ValueError(f"the arguments do not match the tool's parameters at {where}: {error.message}") from error
    return value


def _execute(
    definition: ToolDefinition,
    arguments: dict[str, Any],
    ctx: NodeContext,
    call_key: str,
    answer: tuple[Any, str] | None,
) -> Any:
    spec = definition.spec
    if spec["kind"] == "workflow":  # keyed by the call: made again, it finds the same run
        return run_workflow(ctx.hooks, definition.target or spec["workflow"], arguments, key=call_key, answer=answer)
    if spec["kind"] == "mcp":
        if ctx.hooks.call_mcp_tool is None:
            raise RuntimeError("this run cannot call MCP tools: its host gave no call_mcp_tool hook")
        return ctx.hooks.call_mcp_tool(spec["server"], definition.target or definition.name, arguments)
    prepared = render_request(
        spec["method"], spec["url"], spec["headers"], spec["body"], {**ctx.scope, "args": arguments}
    )
    response = http_request(
        prepared,
        timeout_s=spec["timeout_s"],
        max_response_bytes=1_000_000,
        fail_on_status=True,
        allow_private=ctx.hooks.http_allow_private,
        credential=ctx.hooks.credential,
    )
    return response["body"]


def tool_message(call_id: str, outcome: dict[str, Any]) -> dict[str, Any]:
    """The `tool` message the model reads: the result as JSON text, or the error, cut to size."""
    if "error" in outcome:
        content = f"Error: {outcome['error']}"
    else:
        result = outcome["result"]
        content = result if isinstance(result, str) else json.dumps(result, ensure_ascii=False, default=str)
    if len(content) > MAX_RESULT_CHARS:
        content = content[:MAX_RESULT_CHARS] + f"... [cut: {len(content) - MAX_RESULT_CHARS} more characters]"
    return {"role": "tool", "tool_call_id": call_id, "content": content}
