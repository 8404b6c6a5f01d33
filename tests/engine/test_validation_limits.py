"""Validation is linear in the graph's size and refuses graphs past its limits, as errors like any other."""

from __future__ import annotations

from itertools import pairwise

from orchestra.engine import validate_graph
from orchestra.engine.templates import MAX_NESTING
from orchestra.engine.validation import MAX_EDGES, MAX_NODES, MAX_TEMPLATE_CHARS
from tests.engine.support import graph, input_node, node, output_node


def chain(length: int) -> dict:
    """input -> t0 -> t1 -> ... -> output, each template node reading the one before it."""
    steps = [
        node(f"t{i}", "template", template=f"{{{{ nodes.{f't{i - 1}' if i else 'start'}.output }}}}!")
        for i in range(length)
    ]
    ids = ["start", *(step["id"] for step in steps), "end"]
    return graph(
        [input_node("topic"), *steps, output_node(out=f"{{{{ nodes.t{length - 1}.output }}}}")],
        [f"{a}->{b}" for a, b in pairwise(ids)],
    )


def test_a_chain_longer_than_the_node_limit_is_refused_with_a_clear_error():
    errors = validate_graph(chain(3_000))  # recursed past Python's stack before
    assert [(e.path, e.message) for e in errors] == [
        ("nodes", f"3,002 nodes; a workflow has at most {MAX_NODES} (move parts into sub-workflows)"),
        ("edges", f"3,001 edges; a workflow has at most {MAX_EDGES:,}"),
    ]


def test_a_long_chain_within_the_limit_validates():
    assert validate_graph(chain(450)) == []


def test_a_long_chain_reading_a_node_after_it_names_it():
    data = chain(450)
    data["nodes"][1]["config"]["template"] = "{{ nodes.t449.output }}"
    [error] = validate_graph(data)
    assert error.path == "nodes[1].config.template" and "'t449' is not upstream of 't0'" in error.message


def test_too_many_edges_are_refused_before_anything_else_is_checked():
    data = chain(400)
    data["edges"] += [data["edges"][-2]] * 8_000
    errors = validate_graph(data)
    assert [(e.path, e.message) for e in errors] == [("edges", f"8,401 edges; a workflow has at most {MAX_EDGES:,}")]


def test_copies_of_an_edge_are_one_error_naming_the_edge():
    data = chain(400)
    data["edges"] += [data["edges"][-2]] * 1_500 + [data["edges"][0]]
    errors = {e.path: e.message for e in validate_graph(data)}
    assert errors == {
        "edges[401]": "duplicate of edges[399] (t398 -> t399), and so are 1,499 more edges after it; remove the copies",
        "edges[1901]": "duplicate of edges[0] (start -> t0); remove the copies",
    }


def test_a_cycle_in_a_long_chain_is_named_without_recursion():
    data = chain(480)
    data["edges"].append({"source": "t470", "target": "t10"})
    errors = {e.path: e.message for e in validate_graph(data)}
    path = " -> ".join(["t10", *(f"t{i}" for i in range(11, 471)), "t10"])
    assert errors == {
        "edges[481]": f"this edge closes a cycle ({path}); workflows must be acyclic, use a map to repeat work"
    }


def test_each_separate_cycle_is_reported_once():
    data = graph(
        [
            input_node(),
            node("a", "template", template="x"),
            node("b", "template", template="x"),
            node("c", "template", template="x"),
            node("d", "template", template="x"),
            output_node(),
        ],
        ["start->a", "a->b", "b->a", "b->c", "c->d", "d->c", "d->end", "c->c"],
    )
    errors = {e.path: e.message for e in validate_graph(data)}
    assert set(errors) == {"edges[2]", "edges[5]", "edges[7]"}  # the second and third are after the first
    assert "(a -> b -> a)" in errors["edges[2]"] and "(c -> d -> c)" in errors["edges[5]"]
    assert "(c -> c)" in errors["edges[7]"]


def test_templates_past_their_total_size_are_refused_without_being_parsed():
    per_node = MAX_TEMPLATE_CHARS // 4 + 1
    data = graph(
        [
            input_node(),
            *(node(f"t{i}", "template", template="{{ ((( " + "x" * per_node) for i in range(4)),
            output_node(),
        ],
        ["start->t0", "t0->t1", "t1->t2", "t2->t3", "t3->end"],
    )
    errors = [(e.path, e.message) for e in validate_graph(data)]
    assert errors == [
        (
            "nodes",
            (
                f"the templates add up to {4 * (per_node + 7):,} characters; a workflow has at most "
                f"{MAX_TEMPLATE_CHARS:,} (pass long text in as an input)"
            ),
        )
    ]


def test_a_deeply_nested_template_is_an_error_not_a_crash():
    data = graph(
        [
            input_node(),
            node("brackets", "template", template="{{ " + "(" * 5_000 + "1" + ")" * 5_000 + " }}"),
            node("chain", "template", template="{{ inputs" + ".a" * 5_000 + " }}"),
            output_node(),
        ],
        ["start->brackets", "brackets->chain", "chain->end"],
    )
    errors = {e.path: e.message for e in validate_graph(data)}
    assert errors == {
        "nodes[1].config.template": f"nests too deeply; the limit is {MAX_NESTING} levels",
        "nodes[2].config.template": f"nests 5,003 levels deep; the limit is {MAX_NESTING} levels",
    }
