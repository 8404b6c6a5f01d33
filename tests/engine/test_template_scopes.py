"""In templates, data comes before methods: a key named like a dict method (items, keys, values, get) is
read as that key, in inputs, in node results and in a map's items."""

from __future__ import annotations

from orchestra.engine import validate_graph
from tests.engine.support import graph, node, output_node, run

METHOD_NAMES = ("items", "keys", "values", "get")


def test_input_fields_named_like_dict_methods_are_read_as_fields():
    fields = [{"name": name, "type": "string"} for name in METHOD_NAMES]
    outputs = {f"inputs_{name}": f"{{{{ inputs.{name} }}}}" for name in METHOD_NAMES}
    outputs |= {f"node_{name}": f"{{{{ nodes.start.{name} }}}}" for name in METHOD_NAMES}
    data = graph([node("start", "input", fields=fields), output_node(**outputs)], ["start->end"])
    assert validate_graph(data) == []
    outcome, _ = run(data, inputs={name: name.upper() for name in METHOD_NAMES})
    assert outcome.outputs == {key: key.split("_")[1].upper() for key in outputs}


def test_keys_of_node_outputs_and_map_items_come_before_dict_methods():
    data = graph(
        [
            node("start", "input"),
            node("t", "template", template='{"keys": [1, 2], "other": 3}', output="json"),
            node(
                "each",
                "map",
                items='[{"get": "a"}, {"get": "b"}]',
                node={"type": "template", "config": {"template": "{{ item.get }}"}},
            ),
            node("ok", "condition", branches=[{"name": "yes", "when": "nodes.t.output.keys | length == 2"}]),
            output_node(
                keys="{{ nodes.t.output.keys }}",
                each="{{ nodes.each.output }}",
                methods="{{ nodes.t.output.items() | list | length }}",
            ),
        ],
        ["start->t", "t->each", "each->ok", "ok->end:yes"],
    )
    outcome, _ = run(data)
    assert outcome.outputs == {"keys": [1, 2], "each": ["a", "b"], "methods": 2}  # no such key: the method
