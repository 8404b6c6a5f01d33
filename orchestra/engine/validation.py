"""Graph and input validation that reports every problem at once, each with its path."""

from __future__ import annotations

import json
from typing import Any

from jinja2 import meta
from jinja2 import nodes as jinja_nodes
from pydantic import ValidationError

from orchestra.engine.calls import FindWorkflow, call_problems, cycle_problems
from orchestra.engine.graph import (
    EdgeSpec,
    Graph,
    GraphError,
    GraphInvalid,
    NodeSpec,
    TopologicalSort,
    error_path,
    untagged,
)
from orchestra.engine.nodes import NODE_TYPES
from orchestra.engine.nodes.input import InputConfig
from orchestra.engine.templates import ENV, TemplateError, TemplateRef, parse, references
from orchestra.engine.versions import upgraded

COMMON_FIELDS = ("output", "error", "status")  # readable on every node: nodes.<id>.output etc.

# Saving validates on the web server, so what a graph may cost is capped: validation is linear in nodes
# and edges, and parsing templates dense with tags costs about 13 ms per 1,000 characters (measured), so
# the largest graph validates in about 1.5 s. Well past what a person draws; bigger flows nest sub-workflows.
MAX_NODES = 500
MAX_EDGES = 2_000
MAX_TEMPLATE_CHARS = 100_000  # all of a graph's templates and expressions together


def validate_graph(
    data: dict[str, Any] | Graph, *, find_workflow: FindWorkflow | None = None, workflow_id: str | None = None
) -> list[GraphError]:
    """Every problem in a graph; an empty list means it compiles and runs.

    With `find_workflow` (see calls.py) the workflows it calls are checked too; `workflow_id` is the graph's
    own workflow, so that calls coming back to it are found.
    """
    if isinstance(data, Graph):
        data = data.model_dump()
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("nodes"), list)
        or not isinstance(data.get("edges", []), list)
    ):
        return [GraphError("", 'a graph is an object {"nodes": [...], "edges": [...]}')]
    too_big = _check_counts(data["nodes"], data.get("edges", []))
    if too_big:  # everything after this costs time in proportion to the counts
        return too_big
    errors: list[GraphError] = []
    specs = _parse_items(data["nodes"], NodeSpec, "nodes", errors)
    edges = _parse_items(data.get("edges", []), EdgeSpec, "edges", errors)
    configs = _check_nodes(specs, errors)
    # From here on only well-formed nodes with known types take part.
    ids = {spec.id for spec in specs.values()}
    # Ids and types of malformed nodes still count as present, so one bad node is one error, not many.
    raw_nodes = [item for item in data["nodes"] if isinstance(item, dict)]
    joined = _check_edges(edges, specs, configs, {item.get("id") for item in raw_nodes}, errors)
    _check_input_and_output(specs, {item.get("type") for item in raw_nodes}, errors)
    closing = _check_cycles(joined, [spec.id for spec in specs.values()], errors)
    _check_reachable(Graph(nodes=list(specs.values()), edges=[edge for _, edge in joined]), specs, errors)
    # Reads are checked against the graph without the edges closing cycles, so every node has its ancestors.
    acyclic = Graph(nodes=list(specs.values()), edges=[edge for j, edge in joined if j not in closing])
    _check_templates(acyclic, specs, configs, ids, errors)
    if find_workflow is not None:
        calls = [
            call.under(f"nodes[{i}].config")
            for i, spec in specs.items()
            if i in configs
            for call in NODE_TYPES[spec.type].calls(configs[i])
        ]
        errors += call_problems(calls, find_workflow) + cycle_problems(calls, find_workflow, workflow_id)
    return errors


def _check_counts(raw_nodes: list[Any], raw_edges: list[Any]) -> list[GraphError]:
    errors = []
    if len(raw_nodes) > MAX_NODES:
        errors.append(
            GraphError(
                "nodes",
                f"{len(raw_nodes):,} nodes; a workflow has at most {MAX_NODES:,} (move parts into sub-workflows)",
            )
        )
    if len(raw_edges) > MAX_EDGES:
        errors.append(GraphError("edges", f"{len(raw_edges):,} edges; a workflow has at most {MAX_EDGES:,}"))
    return errors


def parse_graph(data: dict[str, Any]) -> Graph:
    """The graph, validated, with every node at its type's current version; raises GraphInvalid with every
    error otherwise."""
    errors = validate_graph(data)
    if errors:
        raise GraphInvalid(errors)
    return Graph.model_validate({**data, "nodes": [upgraded(node) for node in data["nodes"]]})


def _parse_items(items: list[Any], model: type, name: str, errors: list[GraphError]) -> dict[int, Any]:
    parsed = {}
    for i, item in enumerate(items):
        try:
            parsed[i] = model.model_validate(item)
        except ValidationError as error:
            errors += [GraphError(error_path((name, i, *e["loc"])), e["msg"]) for e in error.errors()]
    return parsed


def _check_nodes(specs: dict[int, NodeSpec], errors: list[GraphError]) -> dict[int, Any]:
    configs: dict[int, Any] = {}
    seen: dict[str, int] = {}
    for i, spec in list(specs.items()):
        if spec.id in seen:
            errors.append(
                GraphError(
                    f"nodes[{i}].id", f"duplicate node id {spec.id!r} (also nodes[{seen[spec.id]}]); ids must be unique"
                )
            )
            del specs[i]
            continue
        seen[spec.id] = i
        node_type = NODE_TYPES.get(spec.type)
        if node_type is None:
            errors.append(
                GraphError(f"nodes[{i}].type", f"unknown node type {spec.type!r}; valid types: {', '.join(NODE_TYPES)}")
            )
            del specs[i]
            continue
        if spec.version > node_type.version:  # like a config that does not validate: the node has no config
            errors.append(GraphError(f"nodes[{i}].version", node_type.unknown_version(spec.version)))
            continue
        try:
            config = node_type.upgrade(spec.config, spec.version)
            configs[i] = node_type.Config.model_validate(config)
        except ValidationError as error:
            errors += [
                GraphError(error_path(untagged(e["loc"], config), f"nodes[{i}].config"), e["msg"])
                for e in error.errors()
            ]
            continue
        except ValueError as error:  # a migration that could not read the old config
            errors.append(GraphError(f"nodes[{i}].config", str(error)))
            continue
        errors += [GraphError(f"nodes[{i}].config.{e.path}", e.message) for e in node_type.check(configs[i])]
    return configs


def _check_edges(
    edges: dict[int, EdgeSpec],
    specs: dict[int, NodeSpec],
    configs: dict[int, Any],
    raw_ids: set[Any],
    errors: list[GraphError],
) -> list[tuple[int, EdgeSpec]]:
    """Report bad edges; return those joining two well-formed nodes, each once (the graph's shape, for later checks)."""
    index_of = {spec.id: i for i, spec in specs.items()}
    copies: dict[tuple[str, str, str | None], list[int]] = {}  # an edge's indexes, the first one and its copies
    joined = []
    for j, edge in edges.items():
        dangling = [end for end in ("source", "target") if getattr(edge, end) not in raw_ids]
        errors += [
            GraphError(
                f"edges[{j}].{end}", f"no node has id {getattr(edge, end)!r}; an edge must join two existing nodes"
            )
            for end in dangling
        ]
        if edge.source not in index_of or edge.target not in index_of:
            continue
        indexes = copies.setdefault((edge.source, edge.target, edge.branch), [])
        indexes.append(j)
        if len(indexes) > 1:  # a copy adds nothing to check, and is reported below
            continue
        joined.append((j, edge))
        if specs[index_of[edge.target]].type == "input":
            errors.append(
                GraphError(f"edges[{j}].target", "the input node is where a run starts; no edge may lead into it")
            )
        if edge.branch is not None:
            i = index_of[edge.source]
            spec = specs[i]
            outlets = NODE_TYPES[spec.type].outlets(configs.get(i)) + (["error"] if spec.on_error == "branch" else [])
            if edge.branch not in outlets:
                valid = ", ".join(outlets) if outlets else "none (leave branch empty)"
                hint = "" if spec.on_error == "branch" else "; `error` needs the node's on_error set to branch"
                errors.append(
                    GraphError(
                        f"edges[{j}].branch", f"node {spec.id!r} has no outlet {edge.branch!r}; valid: {valid}{hint}"
                    )
                )
    errors += [_duplicates_error(key, indexes) for key, indexes in copies.items() if len(indexes) > 1]
    return joined


def _duplicates_error(key: tuple[str, str, str | None], indexes: list[int]) -> GraphError:
    """One error for all the copies of an edge, at the first copy."""
    (source, target, branch), (first, copy, *more) = key, indexes
    outlet = f":{branch}" if branch else ""
    also = f", and so are {len(more):,} more edges after it" if more else ""
    return GraphError(
        f"edges[{copy}]", f"duplicate of edges[{first}] ({source}{outlet} -> {target}){also}; remove the copies"
    )


def _check_input_and_output(specs: dict[int, NodeSpec], raw_types: set[Any], errors: list[GraphError]) -> None:
    inputs = [i for i, spec in specs.items() if spec.type == "input"]
    if "input" not in raw_types:
        errors.append(GraphError("nodes", "no input node; a workflow needs exactly one node of type input"))
    for i in inputs[1:]:
        errors.append(
            GraphError(
                f"nodes[{i}].type", f"a second input node (the first is nodes[{inputs[0]}]); a workflow has exactly one"
            )
        )
    if "output" not in raw_types:
        errors.append(GraphError("nodes", "no output node; add a node of type output to name the run's results"))


def _check_cycles(joined: list[tuple[int, EdgeSpec]], node_ids: list[str], errors: list[GraphError]) -> set[int]:
    """Name an edge closing each cycle; return their indexes.

    Kahn's algorithm places the nodes it can; the others are on a cycle or after one. Walking back from one
    of them, along edges from unplaced nodes, must come round to a node already walked: a cycle. Its closing
    edge is reported and counted as gone, which may let more nodes be placed, until all are.
    """
    into: dict[str, list[tuple[int, EdgeSpec]]] = {}
    for j, edge in joined:
        into.setdefault(edge.target, []).append((j, edge))
    sort = TopologicalSort(node_ids, [edge for _, edge in joined])
    closing: set[int] = set()
    for start in node_ids:
        while start not in sort.placed:
            cycle = _cycle_back_from(start, into, sort.placed, closing)
            _report_cycle(cycle, errors)
            closing.add(cycle[0][0])
            sort.drop(cycle[0][1])
    return closing


def _cycle_back_from(
    start: str, into: dict[str, list[tuple[int, EdgeSpec]]], placed: set[str], closing: set[int]
) -> list[tuple[int, EdgeSpec]]:
    """The edges of a cycle, backwards, from the edge into the node where a walk back from `start` met itself."""
    walk: list[tuple[int, EdgeSpec]] = []
    position: dict[str, int] = {}
    node_id = start
    while node_id not in position:
        position[node_id] = len(walk)
        # an unplaced node has an edge, not yet counted as gone, from an unplaced node
        walk.append(next((j, edge) for j, edge in into[node_id] if edge.source not in placed and j not in closing))
        node_id = walk[-1][1].source
    return walk[position[node_id] :]


def _report_cycle(cycle: list[tuple[int, EdgeSpec]], errors: list[GraphError]) -> None:
    """`cycle` is backwards; its first edge is the last going forward, the one that closes it."""
    forward = [edge for _, edge in reversed(cycle)]
    j = cycle[0][0]
    path = [forward[0].source, *(edge.target for edge in forward)]
    errors.append(
        GraphError(
            f"edges[{j}]",
            f"this edge closes a cycle ({' -> '.join(path)}); workflows must be acyclic, use a map to repeat work",
        )
    )


def _check_reachable(graph: Graph, specs: dict[int, NodeSpec], errors: list[GraphError]) -> None:
    starts = [spec.id for spec in specs.values() if spec.type == "input"][:1]
    reached = set(starts)
    frontier = list(starts)
    while frontier:
        for edge in graph.outgoing(frontier.pop()):
            if edge.target not in reached:
                reached.add(edge.target)
                frontier.append(edge.target)
    for i, spec in specs.items():
        if starts and spec.id not in reached and spec.type != "input":  # a second input is reported already
            errors.append(
                GraphError(
                    f"nodes[{i}]",
                    f"node {spec.id!r} cannot be reached from the input node {starts[0]!r}; connect an edge into it",
                )
            )


def _check_templates(
    graph: Graph, specs: dict[int, NodeSpec], configs: dict[int, Any], ids: set[str], errors: list[GraphError]
) -> None:
    by_id = {spec.id: i for i, spec in specs.items()}
    input_fields = next(
        (
            [f.name for f in configs[i].fields]
            for i, spec in specs.items()
            if spec.type == "input" and isinstance(configs.get(i), InputConfig)
        ),
        None,
    )
    refs = {i: NODE_TYPES[spec.type].templates(configs[i]) for i, spec in specs.items() if i in configs}
    size = sum(len(ref.source) for node_refs in refs.values() for ref in node_refs)
    if size > MAX_TEMPLATE_CHARS:  # parsing them is the cost
        errors.append(
            GraphError(
                "nodes",
                f"the templates add up to {size:,} characters; a workflow has at most "
                f"{MAX_TEMPLATE_CHARS:,} (pass long text in as an input)",
            )
        )
        return
    ancestors = graph.ancestors()
    for i, node_refs in refs.items():
        spec = specs[i]
        for ref in node_refs:
            path = f"nodes[{i}].config.{ref.path}"
            errors += [
                GraphError(path, message)
                for message in _template_problems(
                    ref, spec.id, ancestors[spec.id], ids, by_id, specs, configs, input_fields
                )
            ]


def _template_problems(
    ref: TemplateRef,
    node_id: str,
    upstream: set[str],
    ids: set[str],
    by_id: dict[str, int],
    specs: dict[int, NodeSpec],
    configs: dict[int, Any],
    input_fields: list[str] | None,
) -> list[str]:
    try:
        tree = parse(ref.source, ref.kind)
    except TemplateError as error:
        return [str(error)]
    names, node_refs, input_refs = references(tree)
    if isinstance(tree, jinja_nodes.Template):
        names = meta.find_undeclared_variables(tree)  # leaves out names the template sets itself
    allowed = {"inputs", "nodes"} | ref.extra_names
    problems = [
        f"unknown name {name!r}; templates can read {', '.join(sorted(allowed))}"
        for name in sorted(names - allowed - set(ENV.globals))
    ]
    for ref_id, field in sorted(node_refs, key=str):
        if ref_id not in ids:
            problems.append(f"nodes.{ref_id}: no node has id {ref_id!r}")
        elif ref_id not in upstream:
            problems.append(
                f"nodes.{ref_id}: node {ref_id!r} is not upstream of {node_id!r}, so it has not run "
                f"when {node_id!r} does; only nodes with a path to this one can be read"
            )
        elif field is not None:
            i = by_id[ref_id]
            fields = NODE_TYPES[specs[i].type].fields(configs[i]) if i in configs else None
            if fields is not None and field not in (*COMMON_FIELDS, *fields):
                problems.append(
                    f"nodes.{ref_id}.{field}: node {ref_id!r} has no field {field!r}; "
                    f"valid: {', '.join((*COMMON_FIELDS, *fields))}"
                )
    if input_fields is not None:
        for name in sorted(input_refs - set(input_fields)):
            problems.append(
                f"inputs.{name}: the input node has no field {name!r}; "
                f"valid: {', '.join(input_fields) or 'none (add fields to the input node)'}"
            )
    return problems


def validate_inputs(graph: Graph | dict[str, Any], inputs: dict[str, Any]) -> tuple[dict[str, Any], list[GraphError]]:
    """Run inputs checked and coerced against the input node's fields, with defaults applied."""
    if not isinstance(graph, Graph):
        graph = Graph.model_validate(graph)
    spec = graph.input_node()
    config = NODE_TYPES["input"].parse_config(spec.config, spec.version)
    if not isinstance(inputs, dict):
        return {}, [GraphError("inputs", "inputs must be an object of name -> value")]
    coerced: dict[str, Any] = {}
    errors: list[GraphError] = []
    known = {f.name for f in config.fields}
    for name in sorted(set(inputs) - known):
        errors.append(
            GraphError(f"inputs.{name}", f"unknown input {name!r}; valid: {', '.join(sorted(known)) or 'none'}")
        )
    for field in config.fields:
        if field.name not in inputs or inputs[field.name] is None:
            if field.required and field.default is None:
                errors.append(GraphError(f"inputs.{field.name}", f"required {field.type} input is missing"))
            else:
                coerced[field.name] = field.default
            continue
        try:
            coerced[field.name] = coerce(inputs[field.name], field.type)
        except ValueError as error:
            errors.append(GraphError(f"inputs.{field.name}", str(error)))
    return coerced, errors


def coerce(value: Any, type_name: str) -> Any:
    """A value as the input type; strings from forms and query strings are converted where unambiguous.

    Nothing is turned into a string: a number sent for a string field is a client bug worth a 400.
    """
    if type_name == "string":
        if isinstance(value, str):
            return value
    elif type_name == "number":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                number = float(value)
                return int(number) if number.is_integer() and "." not in value and "e" not in value.lower() else number
            except ValueError:
                pass
    elif type_name == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
    else:
        expected = dict if type_name == "object" else list
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                pass
        if isinstance(value, expected):
            return value
    raise ValueError(f"expected {type_name}, got {type(value).__name__} {json.dumps(value, default=str)[:80]}")
