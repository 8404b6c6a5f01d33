"""validate_graph reports every problem at once, each with a path; validate_inputs coerces run inputs."""

from __future__ import annotations

import pytest

from orchestra.engine import CalledWorkflow, GraphInvalid, parse_graph, validate_graph, validate_inputs
from tests.engine.support import graph, input_node, node, output_node

BLOG = graph(
    [
        input_node("topic"),
        node(
            "draft",
            "llm",
            model="auto",
            system="You write blog posts.",
            prompt="Write about {{ inputs.topic }}",
            max_tokens=256,
        ),
        node("ok", "condition", branches=[{"name": "long", "when": "nodes.draft.output | length > 200"}]),
        output_node(post="{{ nodes.draft.output }}"),
    ],
    ["start->draft", "draft->ok", "ok->end:long", "ok->end:else"],
)


def paths(data, **kwargs) -> list[str]:
    return sorted(e.path for e in validate_graph(data, **kwargs))


def test_design_example_graph_is_valid():
    assert validate_graph(BLOG) == []
    assert [n.id for n in parse_graph(BLOG).nodes] == ["start", "draft", "ok", "end"]


def test_every_kind_of_problem_is_reported_at_once():
    data = graph(
        [
            input_node("topic"),
            node("start", "template", template="dup"),  # nodes[1]: duplicate id
            node("mystery", "teleport"),  # nodes[2]: unknown type
            node("draft", "llm", prompt="{{ inputs.topic "),  # nodes[3]: does not parse
            node("late", "template", template="{{ nodes.after.output }} {{ inputs.nope }} {{ nodes.ghost.output }}"),
            node("after", "template", template="x", output="yaml"),  # nodes[5]: schema
            node("lonely", "template", template="x"),  # unreachable
            node("a", "template", template="x"),
            node("b", "template", template="x"),
            output_node(x="{{ nodes.after.output }}"),
        ],
        [
            "start->draft",
            "draft->late",
            "late->after",
            "after->end",
            "draft->nowhere",
            "draft->late",
            "late->end:yes",
            "start->a",
            "a->b",
            "b->a",
        ],
    )
    errors = {e.path: e.message for e in validate_graph(data)}
    assert set(errors) >= {
        "nodes[1].id",
        "nodes[2].type",
        "nodes[3].config.prompt",
        "nodes[5].config.output",
        "nodes[4].config.template",
        "nodes[6]",
        "edges[4].target",
        "edges[5]",
        "edges[6].branch",
        "edges[9]",
    }
    assert "teleport" in errors["nodes[2].type"] and "llm" in errors["nodes[2].type"]  # names the valid types
    assert "does not parse" in errors["nodes[3].config.prompt"]
    assert "cycle" in errors["edges[9]"] and "a -> b -> a" in errors["edges[9]"]
    assert "cannot be reached" in errors["nodes[6]"]


def test_template_reading_a_downstream_node_names_both_nodes():
    data = graph(
        [
            input_node("topic"),
            node("late", "template", template="{{ nodes.after.output }}"),
            node("after", "template", template="x"),
            output_node(x="{{ nodes.late.output }}"),
        ],
        ["start->late", "late->after", "after->end"],
    )
    [error] = validate_graph(data)
    assert error.path == "nodes[1].config.template"
    assert "'after' is not upstream of 'late'" in error.message


def test_template_reading_an_unknown_input_or_node_or_field_or_name_is_an_error():
    data = graph(
        [
            input_node("topic"),
            node("draft", "llm", prompt="{{ inputs.topc }} {{ nodes.nobody.output }}", system="{{ secret }}"),
            output_node(x="{{ nodes.draft.tokens }} {{ nodes.draft.tokens_in }} {{ nodes['draft'].text }}"),
        ],
        ["start->draft", "draft->end"],
    )
    messages = [(e.path, e.message) for e in validate_graph(data)]
    assert [p for p, _ in messages] == [
        "nodes[1].config.system",
        "nodes[1].config.prompt",
        "nodes[1].config.prompt",
        "nodes[2].config.outputs.x",
    ]
    text = " | ".join(m for _, m in messages)
    assert "unknown name 'secret'" in text
    assert "no field 'topc'; valid: topic" in text
    assert "no node has id 'nobody'" in text
    assert "no field 'tokens'" in text and "tokens_in" in text


def test_condition_expression_that_does_not_parse_is_an_error():
    data = graph(
        [
            input_node("topic"),
            node("ok", "condition", branches=[{"name": "yes", "when": "inputs.topic =="}]),
            output_node(),
        ],
        ["start->ok", "ok->end:yes", "ok->end:else"],
    )
    assert paths(data) == ["nodes[1].config.branches[0].when"]


def test_missing_input_and_output_nodes_are_reported():
    data = graph([node("t", "template", template="x")], [])
    errors = validate_graph(data)
    assert [e.path for e in errors] == ["nodes", "nodes"]
    assert "no input node" in errors[0].message and "no output node" in errors[1].message


def test_second_input_node_and_edges_into_the_input_are_errors():
    data = graph([input_node(), input_node(node_id="again"), output_node()], ["start->end", "end->start", "again->end"])
    assert paths(data) == ["edges[1]", "edges[1].target", "nodes[1].type"]  # end->start is also a cycle


def test_config_errors_carry_the_full_path_into_nested_fields():
    data = graph(
        [node("start", "input", fields=[{"name": "ok"}, {"name": "bad name", "type": "date"}]), output_node()],
        ["start->end"],
    )
    assert paths(data) == ["nodes[0].config.fields[1].name", "nodes[0].config.fields[1].type"]


def test_error_outlet_needs_on_error_branch():
    data = graph([input_node(), node("t", "template", template="x"), output_node()], ["start->t", "t->end:error"])
    [error] = validate_graph(data)
    assert error.path == "edges[1].branch" and "on_error" in error.message
    data["nodes"][1]["on_error"] = "branch"
    assert validate_graph(data) == []


def test_structure_errors_are_paths_too():
    assert paths({"nodes": [{"type": "input"}], "edges": [{"source": "x"}]}) == [
        "edges[0].target",
        "nodes",
        "nodes[0].id",
    ]  # the id is missing, and there is no output node
    assert paths({"nodes": "nope"}) == [""]
    bad_policy = graph([input_node(), output_node()], ["start->end"])
    bad_policy["nodes"][1].update(retry={"attempts": 0}, on_error="explode", timeout_s=-1)
    assert paths(bad_policy) == ["nodes[1].on_error", "nodes[1].retry.attempts", "nodes[1].timeout_s"]


def test_missing_workflow_is_reported_through_the_hook():
    data = graph(
        [
            input_node(),
            node("sub", "subworkflow", workflow="wf-404"),
            node("each", "map", items="[1]", workflow="wf-1"),
            output_node(),
        ],
        ["start->sub", "sub->each", "each->end"],
    )
    found = CalledWorkflow(name="One", graph=graph([input_node(), output_node()], ["start->end"]))
    assert paths(data, find_workflow=lambda wid: found if wid == "wf-1" else None) == ["nodes[1].config.workflow"]


def test_map_inline_node_config_and_templates_are_checked_with_item_in_scope():
    data = graph(
        [
            input_node("topic"),
            node(
                "each",
                "map",
                items="inputs.topic.split()",
                node={
                    "type": "template",
                    "config": {"template": "{{ item }} {{ index }} {{ inputs.topic }} {{ nodes.each.output }}"},
                },
            ),
            node("bad", "map", items="[1]", node={"type": "approval", "config": {}}),
            node("worse", "map", items="[1]", node={"type": "llm", "config": {"prompt": 3}}),
            output_node(),
        ],
        ["start->each", "each->bad", "bad->worse", "worse->end"],
    )
    errors = {e.path: e.message for e in validate_graph(data)}
    assert set(errors) == {
        "nodes[1].config.node.config.template",
        "nodes[2].config.node.type",
        "nodes[3].config.node.config.prompt",
    }
    assert "'each' is not upstream of 'each'" in errors["nodes[1].config.node.config.template"]


def test_parse_graph_raises_with_every_error():
    with pytest.raises(GraphInvalid) as raised:
        parse_graph(graph([node("t", "template")], []))
    assert len(raised.value.errors) == 3  # template missing, no input node, no output node
    assert all(e.as_dict().keys() == {"path", "message"} for e in raised.value.errors)


def test_inputs_are_coerced_defaulted_and_checked():
    data = graph(
        [
            node(
                "start",
                "input",
                fields=[
                    {"name": "topic", "type": "string", "required": True},
                    {"name": "count", "type": "number", "default": 3},
                    {"name": "loud", "type": "boolean"},
                    {"name": "tags", "type": "array"},
                    {"name": "extra", "type": "object"},
                ],
            ),
            output_node(),
        ],
        ["start->end"],
    )
    values, errors = validate_inputs(data, {"topic": "cats", "loud": "true", "tags": '["a"]', "extra": {"k": 1}})
    assert errors == []
    assert values == {"topic": "cats", "count": 3, "loud": True, "tags": ["a"], "extra": {"k": 1}}
    values, errors = validate_inputs(data, {"count": "many", "tags": {"no": 1}, "surprise": 1})
    assert {e.path: e.message for e in errors} == {
        "inputs.surprise": "unknown input 'surprise'; valid: count, extra, loud, tags, topic",
        "inputs.topic": "required string input is missing",
        "inputs.count": 'expected number, got str "many"',
        "inputs.tags": 'expected array, got dict {"no": 1}',
    }
