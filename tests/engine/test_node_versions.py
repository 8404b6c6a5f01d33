"""Node types have versions: a graph saved before a type's config changed keeps validating and running."""

from __future__ import annotations

import pytest

from orchestra.engine import node_type_catalog, parse_graph, validate_graph, with_versions
from orchestra.engine.docs import node_reference
from orchestra.engine.nodes import NODE_TYPES
from tests.engine.greet_types import GreetV1, GreetV2
from tests.engine.support import graph, input_node, node, output_node, run


def greeting_graph(*nodes: dict) -> dict:
    ids = [n["id"] for n in nodes]
    return graph(
        [input_node("name"), *nodes, output_node(**{i: f"{{{{ nodes.{i}.output }}}}" for i in ids})],
        [f"start->{i}" for i in ids] + [f"{i}->end" for i in ids],
    )


@pytest.fixture
def greet(monkeypatch):
    """Registers the test type; call it with the class of the version this server has."""
    return lambda node_type: monkeypatch.setitem(NODE_TYPES, "greet", node_type())


def test_a_graph_saved_before_a_config_field_was_renamed_still_validates_and_runs(greet):
    greet(GreetV1)
    saved = greeting_graph(node("hello", "greet", text="Hello {{ inputs.name }}"))  # no version: as graphs are today
    assert validate_graph(saved) == []
    greet(GreetV2)  # `text` is now `greeting`, and new nodes end with "!"
    assert validate_graph(saved) == []
    outcome, _ = run(saved, inputs={"name": "Ada"})
    assert outcome.outputs == {"hello": "Hello Ada"}


def test_nodes_built_with_the_current_version_use_its_config(greet):
    greet(GreetV2)
    new = greeting_graph({**node("hi", "greet", greeting="Hi {{ inputs.name }}"), "version": 2})
    outcome, _ = run(new, inputs={"name": "Ada"})
    assert outcome.outputs == {"hi": "Hi Ada!"}
    stale = greeting_graph({**node("hi", "greet", text="Hi"), "version": 2})  # the old field on a new node
    assert [e.path for e in validate_graph(stale)] == ["nodes[1].config.greeting", "nodes[1].config.text"]


def test_parse_graph_gives_every_node_at_its_types_current_version(greet):
    greet(GreetV2)
    parsed = parse_graph(greeting_graph(node("hello", "greet", text="Hello")))
    spec = parsed.node("hello")
    assert spec.version == 2 and spec.config == {"greeting": "Hello", "punctuation": ""}
    assert parsed.node("start").version == 1


def test_a_node_from_a_newer_version_is_refused_naming_the_versions_known(greet):
    greet(GreetV2)
    [error] = validate_graph(greeting_graph({**node("hello", "greet", greeting="Hi"), "version": 3}))
    assert error.path == "nodes[1].version"
    assert "has versions 1, 2; version 3 comes from a newer Orchestra" in error.message


def test_an_old_config_the_migration_cannot_read_is_that_nodes_problem(greet):
    greet(GreetV2)
    [error] = validate_graph(greeting_graph(node("hello", "greet")))  # version 1 required text
    assert error.path == "nodes[1].config"
    assert error.message == "cannot be upgraded from version 1 to 2: KeyError: 'text'"


def test_a_maps_inline_node_is_upgraded_too(greet):
    greet(GreetV2)
    data = greeting_graph(
        node("each", "map", items="inputs.name.split()", node={"type": "greet", "config": {"text": "hi {{ item }}"}})
    )
    outcome, _ = run(data, inputs={"name": "a b"})
    assert outcome.outputs == {"each": ["hi a", "hi b"]}
    newer = greeting_graph(node("each", "map", items="[1]", node={"type": "greet", "version": 5, "config": {}}))
    assert [e.path for e in validate_graph(newer)] == ["nodes[1].config.node.version"]


def test_the_catalog_and_the_reference_say_each_types_versions(greet):
    greet(GreetV2)
    catalog = {entry["type"]: entry for entry in node_type_catalog()}
    assert (catalog["greet"]["version"], catalog["greet"]["versions"]) == (2, [1, 2])
    assert "greeting" in catalog["greet"]["config_schema"]["properties"]
    assert all(entry["versions"] == [1] for name, entry in catalog.items() if name != "greet")
    assert "Version 2; nodes of version 1 are upgraded when a graph is read." in node_reference()


def test_saving_keeps_the_version_of_nodes_the_draft_had_and_gives_new_ones_the_current(greet):
    greet(GreetV1)
    before = greeting_graph(node("old", "greet", text="Hello"))
    greet(GreetV2)
    inline = {"type": "greet", "config": {"greeting": "{{ item }}"}}
    sent = greeting_graph(
        node("old", "greet", text="Hello"),
        node("new", "greet", greeting="Hi"),
        node("each", "map", items="[1]", node=inline),
    )  # an editor sends no versions
    stored = with_versions(sent, previous=before)
    by_id = {n["id"]: n for n in stored["nodes"]}
    assert "version" not in by_id["old"]  # version 1, as it was built
    assert by_id["new"]["version"] == 2 and by_id["each"]["config"]["node"]["version"] == 2
    assert "version" not in by_id["start"] and "version" not in by_id["each"]  # types still at version 1
    assert validate_graph(stored) == [] and "version" not in sent["nodes"][2]  # the graph sent is not changed
    assert with_versions(stored, previous=stored) == stored
