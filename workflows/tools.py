"""An agent's hosted tools: a workflow of the workspace, or tools of a registered MCP server,
described for the model. The engine runs them through the run's hooks (workflows/execution.py)."""

from orchestra.engine.hooks import ToolDefinition
from orchestra.engine.nodes.input import inputs_json_schema
from orchestra.engine.tools import tool_name
from workflows import mcp, runs
from workflows.models import Workflow, Workspace


def tool_describe(*, workspace: Workspace, spec: dict) -> list[ToolDefinition]:
    """The definitions for one tool entry of an agent's config (kind workflow or mcp)."""
    if spec["kind"] == "workflow":
        workflow = Workflow.objects.filter(workspace=workspace, id=spec["workflow"]).first()
        if workflow is None:
            raise LookupError(f"Tool workflow {spec['workflow']!r} does not exist in this workspace.")
        _, graph = runs.graph_for(workflow=workflow, version=None)  # the version a tool call runs
        return [
            ToolDefinition(
                name=spec.get("name") or tool_name(workflow.name),
                description=spec.get("description") or workflow.description or workflow.name,
                parameters=inputs_json_schema(graph),
                spec=spec,
                target=str(workflow.id),
            )
        ]
    return [
        ToolDefinition(
            name=tool["name"],
            description=tool.get("description") or "",
            parameters=tool.get("input_schema") or {"type": "object", "properties": {}},
            spec=spec,
            target=tool["name"],
        )
        for tool in mcp.mcp_tools_describe(workspace=workspace, server_name=spec["server"], tools=spec.get("tools"))
    ]
