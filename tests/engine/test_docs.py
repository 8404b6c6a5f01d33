"""docs/nodes.md is generated from the node schemas; it must not drift from them."""

from pathlib import Path

from orchestra.engine.docs import node_reference


def test_node_reference_matches_the_schemas():
    committed = (Path(__file__).resolve().parents[2] / "docs" / "nodes.md").read_text()
    assert node_reference() == committed, "docs/nodes.md is stale: run python -m orchestra.engine.docs > docs/nodes.md"
