"""Saving checks the workflows a graph calls: they exist, take the inputs sent, and never lead back round."""

from __future__ import annotations

from itertools import pairwise

from orchestra.engine import CalledWorkflow, validate_graph
from orchestra.engine.calls import MAX_CALLED_WORKFLOWS
from tests.engine.support import graph, input_node, node, output_node

CHILD = graph(
    [
        node(
            "start",
            "input",
            fields=[
                {"name": "word", "type": "string", "required": True},
                {"name": "times", "type": "number", "required": True, "default": 1},
            ],
        ),
        output_node(),
    ],
    ["start->end"],
)


def calling(*middle: dict) -> dict:
    """A graph running its middle nodes one after the other."""
    ids = ["start", *(n["id"] for n in middle), "end"]
    return graph([input_node(), *middle, output_node()], [f"{a}->{b}" for a, b in pairwise(ids)])


def sub(node_id: str, workflow: str, **inputs: str) -> dict:
    return node(node_id, "subworkflow", workflow=workflow, inputs=inputs)


def agent_with_tool(node_id: str, workflow: str) -> dict:
    return node(node_id, "agent", task="go", tools=[{"kind": "workflow", "workflow": workflow}])


class Workspace:
    """find_workflow over workflows by id (named after their ids), counting the lookups."""

    def __init__(self, **graphs: dict):
        self.graphs, self.lookups = graphs, 0

    def __call__(self, workflow_id: str) -> CalledWorkflow | None:
        self.lookups += 1
        found = self.graphs.get(workflow_id)
        return CalledWorkflow(name=workflow_id.title(), graph=found) if found is not None else None


def problems(data: dict, workspace: Workspace, workflow_id: str | None = "main") -> dict[str, str]:
    return {e.path: e.message for e in validate_graph(data, find_workflow=workspace, workflow_id=workflow_id)}


def test_inputs_sent_to_a_workflow_must_be_inputs_it_has_and_include_the_ones_it_requires():
    data = calling(
        sub("ok", "child", word="{{ 1 }}"),
        sub("typo", "child", word="a", wrod="b"),
        sub("short", "child", times="{{ 2 }}"),
    )
    assert problems(data, Workspace(child=CHILD)) == {
        "nodes[2].config.inputs.wrod": "workflow 'Child' has no input 'wrod'; its inputs: word, times",
        "nodes[3].config.inputs": "workflow 'Child' requires word, which inputs do not set",
    }


def test_maps_running_a_workflow_or_an_inline_sub_workflow_are_checked_the_same_way():
    data = calling(
        node("each", "map", items="[1]", workflow="child", inputs={"word": "{{ item }}", "x": "1"}),
        node(
            "inline",
            "map",
            items="[1]",
            node={"type": "subworkflow", "config": {"workflow": "child", "inputs": {"y": "{{ item }}"}}},
        ),
        node("gone", "map", items="[1]", workflow="deleted", inputs={"word": "{{ item }}"}),
    )
    assert problems(data, Workspace(child=CHILD)) == {
        "nodes[1].config.inputs.x": "workflow 'Child' has no input 'x'; its inputs: word, times",
        "nodes[2].config.node.config.inputs.y": "workflow 'Child' has no input 'y'; its inputs: word, times",
        "nodes[2].config.node.config.inputs": "workflow 'Child' requires word, which inputs do not set",
        "nodes[3].config.workflow": "workflow 'deleted' does not exist; pick an existing workflow's id",
    }


def test_a_workflow_that_calls_itself_is_refused_with_the_path_of_calls():
    [(path, message)] = problems(calling(sub("again", "main")), Workspace()).items()
    assert path == "nodes[1].config.workflow"
    assert message.startswith("this workflow calls itself (this workflow -> this workflow)")


def test_a_workflow_calling_itself_through_others_is_refused_at_each_call_that_leads_back():
    workspace = Workspace(
        a=calling(node("each", "map", items="[1]", workflow="b")),
        b=calling(agent_with_tool("helper", "main")),
        c=calling(),
    )
    data = calling(sub("first", "a"), sub("second", "a"), sub("harmless", "c"))
    found = problems(data, workspace)
    assert set(found) == {"nodes[1].config.workflow", "nodes[2].config.workflow"}
    assert "(this workflow -> A -> B -> this workflow)" in found["nodes[1].config.workflow"]
    assert workspace.lookups == 3 + 3  # a, b, c for the calls' checks, and once each for the walk


def test_calls_into_a_loop_elsewhere_are_refused_too():
    workspace = Workspace(a=calling(sub("to_b", "b")), b=calling(sub("to_c", "c")), c=calling(sub("to_b", "b")))
    [message] = problems(calling(sub("first", "a")), workspace).values()
    assert message.startswith("this call leads to a workflow that calls itself (this workflow -> A -> B -> C -> B)")
    # without its own id (a workflow not created yet) the graph is still checked against the others
    assert list(problems(calling(sub("first", "c")), workspace, workflow_id=None).values()) == [
        message.replace("A -> B -> C -> B", "C -> B -> C")
    ]


def test_the_walk_through_calls_is_bounded():
    chain = {f"w{i}": calling(sub("next", f"w{i + 1}")) for i in range(2 * MAX_CALLED_WORKFLOWS)}
    workspace = Workspace(**chain, **{f"w{2 * MAX_CALLED_WORKFLOWS}": calling(sub("back", "main"))})
    assert problems(calling(sub("go", "w0")), workspace) == {}  # too far to follow: the run-time limit guards it
    assert workspace.lookups <= MAX_CALLED_WORKFLOWS + 1
    near = Workspace(w0=calling(sub("next", "w1")), w1=calling(sub("back", "main")))
    assert list(problems(calling(sub("go", "w0")), near)) == ["nodes[1].config.workflow"]


def test_an_input_default_must_have_the_fields_type():
    fields = [
        {"name": "n", "type": "number", "default": "three"},
        {"name": "ok", "type": "number", "default": 3},
        {"name": "flag", "type": "boolean", "default": 1},
        {"name": "tags", "type": "array", "default": ["a"]},
    ]
    data = graph([node("start", "input", fields=fields), output_node()], ["start->end"])
    found = {e.path: e.message for e in validate_graph(data)}
    assert set(found) == {"nodes[0].config.fields[0].default", "nodes[0].config.fields[2].default"}
    assert (
        "the default of a number field must be a number (or null for none); got str 'three'"
        in found["nodes[0].config.fields[0].default"]
    )
