"""Calls of other workflows (sub-workflows, maps, agents' workflow tools), checked at save against the workspace.

The engine sees no database: the host passes `find_workflow(id)`, giving what a call of that workflow would
run (a CalledWorkflow) or None when there is no such workflow. With it, a save checks that every called
workflow exists, is sent only inputs it has and every input it requires, and that no chain of calls comes
round again: a workflow that calls itself, directly or through others, would nest runs until a limit stops it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from orchestra.engine.graph import CalledWorkflow, GraphError, WorkflowCall, stored_nodes
from orchestra.engine.nodes import NODE_TYPES
from orchestra.engine.nodes.input import InputField

FindWorkflow = Callable[[str], CalledWorkflow | None]

# Each workflow a walk reaches is one lookup by the host (a database query), so a save follows at most this
# many; a chain of calls longer than that is left to the run-time nesting limit.
MAX_CALLED_WORKFLOWS = 100
THIS_WORKFLOW = "this workflow"


def called_workflows(graph: Any) -> list[str]:
    """The ids of the workflows a stored graph calls, valid or not (a draft is stored with its problems):
    nodes that do not parse call nothing."""
    from orchestra.engine.validation import MAX_NODES  # validation imports this module

    called: dict[str, None] = {}
    for node in stored_nodes(graph)[:MAX_NODES]:
        node_type, version = NODE_TYPES.get(node.get("type")), node.get("version", 1)
        if node_type is None or not isinstance(version, int):
            continue
        try:
            config = node_type.parse_config(node.get("config") or {}, version)
        except (ValueError, TypeError):  # pydantic's ValidationError is a ValueError
            continue
        called.update(dict.fromkeys(call.workflow for call in node_type.calls(config)))
    return list(called)


def call_problems(calls: list[WorkflowCall], find_workflow: FindWorkflow) -> list[GraphError]:
    """Calls of workflows that do not exist, and inputs sent that the called workflow does not have or
    required ones it is not sent."""
    errors = []
    for call in calls:
        called = find_workflow(call.workflow)
        if called is None:
            errors.append(
                GraphError(
                    call.path("workflow"), f"workflow {call.workflow!r} does not exist; pick an existing workflow's id"
                )
            )
            continue
        fields = _input_fields(called.graph)
        if fields is not None and call.inputs is not None:
            errors += _input_problems(call, called.name, fields)
    return errors


def _input_problems(call: WorkflowCall, name: str, fields: list[InputField]) -> list[GraphError]:
    known = [field.name for field in fields]
    errors = [
        GraphError(
            call.path(f"inputs.{sent}"),
            f"workflow {name!r} has no input {sent!r}; its inputs: {', '.join(known) or 'none'}",
        )
        for sent in call.inputs
        if sent not in known
    ]
    missing = [f.name for f in fields if f.required and f.default is None and f.name not in call.inputs]
    if missing:
        errors.append(
            GraphError(call.path("inputs"), f"workflow {name!r} requires {', '.join(missing)}, which inputs do not set")
        )
    return errors


def cycle_problems(calls: list[WorkflowCall], find_workflow: FindWorkflow, workflow_id: str | None) -> list[GraphError]:
    """A problem at each call from which a chain of calls comes round again: to this workflow (`workflow_id`,
    when it has one yet), or to another workflow along the way."""
    walk = _CallWalk(find_workflow, workflow_id)
    errors = []
    for call in calls:
        path = walk.round_path(call.workflow)
        if path is not None:
            errors.append(GraphError(call.path("workflow"), walk.describe(path)))
    return errors


class _CallWalk:
    """Depth first, without recursion, through the workflows that calls lead to; each is looked up once, and
    what was found from it is kept, so many calls of the same workflows cost one walk."""

    def __init__(self, find_workflow: FindWorkflow, root: str | None):
        self.find_workflow, self.root = find_workflow, root
        self.names: dict[str, str] = {root: THIS_WORKFLOW} if root is not None else {}
        self.callees: dict[str, list[str]] = {}
        # workflow -> a path of calls from it that comes round again ([it, ..., w, ..., w]), or None: there is none
        self.found: dict[str, list[str] | None] = {}

    def round_path(self, start: str) -> list[str] | None:
        if start == self.root:
            return [start]
        if start in self.found:
            return self.found[start]
        stack, branches = [start], [self._calls_of(start)]
        while stack:
            callee = next(branches[-1], None)
            if callee is None:  # everything below is done and comes round nowhere
                self.found[stack.pop()] = None
                branches.pop()
            elif callee == self.root or callee in stack:
                return self._remember(stack, stack.index(callee) if callee in stack else None, [callee])
            elif callee in self.found:
                if self.found[callee] is not None:
                    return self._remember(stack, None, self.found[callee])
            else:
                stack.append(callee)
                branches.append(self._calls_of(callee))
        return None

    def _remember(self, stack: list[str], loop_start: int | None, rest: list[str]) -> list[str]:
        """Keep, for each workflow on the stack, its path round; `loop_start` is where on the stack the path
        comes back to, when it does (then a workflow after it goes round from itself to itself)."""
        path = stack + rest
        for depth, workflow in enumerate(stack):
            if loop_start is not None and depth > loop_start:
                self.found[workflow] = stack[depth:] + stack[loop_start : depth + 1]
            else:
                self.found[workflow] = path[depth:]
        return path

    def _calls_of(self, workflow_id: str) -> Iterator[str]:
        if workflow_id not in self.callees:
            called = self.find_workflow(workflow_id) if len(self.callees) < MAX_CALLED_WORKFLOWS else None
            self.names[workflow_id] = called.name if called is not None else workflow_id
            self.callees[workflow_id] = [] if called is None else called_workflows(called.graph)
        return iter(self.callees[workflow_id])

    def describe(self, path: list[str]) -> str:
        route = " -> ".join([THIS_WORKFLOW, *(self.names.get(workflow, workflow) for workflow in path)])
        if path[-1] == self.root:
            return (
                f"this workflow calls itself ({route}); a workflow must not call itself, directly or through "
                "others, since its runs would nest without end"
            )
        return (
            f"this call leads to a workflow that calls itself ({route}); its runs would nest without end: "
            "remove a call from the loop"
        )


def _input_fields(graph: Any) -> list[InputField] | None:
    """The called workflow's input fields; None when its input node does not parse (its own problem)."""
    node = next((node for node in stored_nodes(graph) if node.get("type") == "input"), None)
    version = (node or {}).get("version", 1)
    if node is None or not isinstance(version, int):
        return None
    try:
        return NODE_TYPES["input"].parse_config(node.get("config") or {}, version).fields
    except (ValueError, TypeError):
        return None
