"""Graph and input validation that reports every problem at once, each with its path."""
from __future__ import annotations

import json
from typing import Any, Callable

from jinja2 import meta, nodes as jinja_nodes
from pydantic import ValidationError

from orchestra.engine.graph import EdgeSpec, Graph, GraphError, GraphInvalid, NodeSpec, error_path
from orchestra.engine.nodes import NODE_TYPES
from orchestra.engine.nodes.input import InputConfig
from orchestra.engine.templates import ENV, TemplateError, TemplateRef, parse, references

COMMON_FIELDS = ("output", "error", "status")  # readable on every node: nodes.<id>.output etc.


def validate_graph(data: dict[str, Any] | Graph, *,
                   workflow_exists: Callable[[str], bool] | None = None) -> list[GraphError]:
    """Every problem in a graph; an empty list means it compiles and runs."""
    if isinstance(data, Graph):
        data = data.model_dump()
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), list) \
            or not isinstance(data.get("edges", []), list):
        return [GraphError("", 'a graph is an object {"nodes": [...], "edges": [...]}')]
    errors: list[GraphError] = []
    specs = _parse_items(data["nodes"], NodeSpec, "nodes", errors)
    edges = _parse_items(data.get("edges", []), EdgeSpec, "edges", errors)
    configs = _check_nodes(specs, workflow_exists, errors)
    # From here on only well-formed nodes with known types take part.
    ids = {spec.id for spec in specs.values()}
    # Ids and types of malformed nodes still count as present, so one bad node is one error, not many.
    raw_nodes = [item for item in data["nodes"] if isinstance(item, dict)]
    joined = _check_edges(edges, specs, configs, {item.get("id") for item in raw_nodes}, errors)
    graph = Graph(nodes=list(specs.values()), edges=[edge for _, edge in joined])
    _check_input_and_output(specs, {item.get("type") for item in raw_nodes}, errors)
    _check_cycles(joined, errors)
    _check_reachable(graph, specs, errors)
    _check_templates(graph, specs, configs, ids, errors)
    return errors


def parse_graph(data: dict[str, Any]) -> Graph:
    """The graph, validated; raises GraphInvalid with every error otherwise."""
    errors = validate_graph(data)
    if errors:
        raise GraphInvalid(errors)
    return Graph.model_validate(data)


def _parse_items(items: list[Any], model: type, name: str, errors: list[GraphError]) -> dict[int, Any]:
    parsed = {}
    for i, item in enumerate(items):
        try:
            parsed[i] = model.model_validate(item)
        except ValidationError as error:
            errors += [GraphError(error_path((name, i, *e["loc"])), e["msg"]) for e in error.errors()]
    return parsed


def _check_nodes(specs: dict[int, NodeSpec], workflow_exists: Callable[[str], bool] | None,
                 errors: list[GraphError]) -> dict[int, Any]:
    configs: dict[int, Any] = {}
    seen: dict[str, int] = {}
    for i, spec in list(specs.items()):
        if spec.id in seen:
            errors.append(GraphError(f"nodes[{i}].id", f"duplicate node id {spec.id!r} (also nodes[{seen[spec.id]}]); "
                                                       "ids must be unique"))
            del specs[i]
            continue
        seen[spec.id] = i
        node_type = NODE_TYPES.get(spec.type)
        if node_type is None:
            errors.append(GraphError(f"nodes[{i}].type", f"unknown node type {spec.type!r}; "
                                                         f"valid types: {', '.join(NODE_TYPES)}"))
            del specs[i]
            continue
        try:
            configs[i] = node_type.Config.model_validate(spec.config)
        except ValidationError as error:
            errors += [GraphError(error_path(e["loc"], f"nodes[{i}].config"), e["msg"]) for e in error.errors()]
            continue
        errors += [GraphError(f"nodes[{i}].config.{e.path}", e.message)
                   for e in node_type.check(configs[i], workflow_exists=workflow_exists)]
    return configs


def _check_edges(edges: dict[int, EdgeSpec], specs: dict[int, NodeSpec], configs: dict[int, Any],
                 raw_ids: set[Any], errors: list[GraphError]) -> list[tuple[int, EdgeSpec]]:
    """Report bad edges; return those joining two well-formed nodes (the graph's shape, for later checks)."""
    index_of = {spec.id: i for i, spec in specs.items()}
    seen: dict[tuple[str, str, str | None], int] = {}
    joined = []
    for j, edge in edges.items():
        dangling = [end for end in ("source", "target") if getattr(edge, end) not in raw_ids]
        errors += [GraphError(f"edges[{j}].{end}", f"no node has id {getattr(edge, end)!r}; "
                                                   "an edge must join two existing nodes") for end in dangling]
        if edge.source not in index_of or edge.target not in index_of:
            continue
        joined.append((j, edge))
        key = (edge.source, edge.target, edge.branch)
        if key in seen:
            errors.append(GraphError(f"edges[{j}]", f"duplicate of edges[{seen[key]}] "
                                                    f"({edge.source} -> {edge.target}); remove one"))
        seen.setdefault(key, j)
        if specs[index_of[edge.target]].type == "input":
            errors.append(GraphError(f"edges[{j}].target", "the input node is where a run starts; "
                                                           "no edge may lead into it"))
        if edge.branch is not None:
            i = index_of[edge.source]
            spec = specs[i]
            outlets = NODE_TYPES[spec.type].outlets(configs.get(i)) + (["error"] if spec.on_error == "branch" else [])
            if edge.branch not in outlets:
                valid = ", ".join(outlets) if outlets else "none (leave branch empty)"
                hint = "" if spec.on_error == "branch" else "; `error` needs the node's on_error set to branch"
                errors.append(GraphError(f"edges[{j}].branch", f"node {spec.id!r} has no outlet {edge.branch!r}; "
                                                               f"valid: {valid}{hint}"))
    return joined


def _check_input_and_output(specs: dict[int, NodeSpec], raw_types: set[Any], errors: list[GraphError]) -> None:
    inputs = [i for i, spec in specs.items() if spec.type == "input"]
    if "input" not in raw_types:
        errors.append(GraphError("nodes", "no input node; a workflow needs exactly one node of type input"))
    for i in inputs[1:]:
        errors.append(GraphError(f"nodes[{i}].type", f"a second input node (the first is nodes[{inputs[0]}]); "
                                                     "a workflow has exactly one"))
    if "output" not in raw_types:
        errors.append(GraphError("nodes", "no output node; add a node of type output to name the run's results"))


def _check_cycles(edges: list[tuple[int, EdgeSpec]], errors: list[GraphError]) -> None:
    outgoing: dict[str, list[tuple[int, EdgeSpec]]] = {}
    for j, edge in edges:
        outgoing.setdefault(edge.source, []).append((j, edge))
    state: dict[str, str] = {}  # "open" while on the DFS stack, "done" after

    def visit(node_id: str, path: list[str]) -> None:
        state[node_id] = "open"
        for j, edge in outgoing.get(node_id, []):
            if state.get(edge.target) == "open":
                cycle = path[path.index(edge.target):] + [node_id, edge.target]
                errors.append(GraphError(f"edges[{j}]", f"this edge closes a cycle ({' -> '.join(cycle)}); "
                                                        "workflows must be acyclic, use a map to repeat work"))
            elif edge.target not in state:
                visit(edge.target, path + [node_id])
        state[node_id] = "done"

    for j, edge in edges:
        if edge.source not in state:
            visit(edge.source, [])


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
            errors.append(GraphError(f"nodes[{i}]", f"node {spec.id!r} cannot be reached from the input node "
                                                    f"{starts[0]!r}; connect an edge into it"))


def _check_templates(graph: Graph, specs: dict[int, NodeSpec], configs: dict[int, Any], ids: set[str],
                     errors: list[GraphError]) -> None:
    by_id = {spec.id: i for i, spec in specs.items()}
    input_fields = next(([f.name for f in configs[i].fields] for i, spec in specs.items()
                         if spec.type == "input" and isinstance(configs.get(i), InputConfig)), None)
    for i, spec in specs.items():
        if i not in configs:
            continue
        upstream = graph.ancestors(spec.id)
        for ref in NODE_TYPES[spec.type].templates(configs[i]):
            path = f"nodes[{i}].config.{ref.path}"
            errors += [GraphError(path, message) for message in
                       _template_problems(ref, spec.id, upstream, ids, by_id, specs, configs, input_fields)]


def _template_problems(ref: TemplateRef, node_id: str, upstream: set[str], ids: set[str], by_id: dict[str, int],
                       specs: dict[int, NodeSpec], configs: dict[int, Any], input_fields: list[str] | None) -> list[str]:
    try:
        tree = parse(ref.source, ref.kind)
    except TemplateError as error:
        return [str(error)]
    names, node_refs, input_refs = references(tree)
    if isinstance(tree, jinja_nodes.Template):
        names = meta.find_undeclared_variables(tree)  # leaves out names the template sets itself
    allowed = {"inputs", "nodes"} | ref.extra_names
    problems = [f"unknown name {name!r}; templates can read {', '.join(sorted(allowed))}"
                for name in sorted(names - allowed - set(ENV.globals))]
    for ref_id, field in sorted(node_refs, key=str):
        if ref_id not in ids:
            problems.append(f"nodes.{ref_id}: no node has id {ref_id!r}")
        elif ref_id not in upstream:
            problems.append(f"nodes.{ref_id}: node {ref_id!r} is not upstream of {node_id!r}, so it has not run "
                            f"when {node_id!r} does; only nodes with a path to this one can be read")
        elif field is not None:
            i = by_id[ref_id]
            fields = NODE_TYPES[specs[i].type].fields(configs[i]) if i in configs else None
            if fields is not None and field not in (*COMMON_FIELDS, *fields):
                problems.append(f"nodes.{ref_id}.{field}: node {ref_id!r} has no field {field!r}; "
                                f"valid: {', '.join((*COMMON_FIELDS, *fields))}")
    if input_fields is not None:
        for name in sorted(input_refs - set(input_fields)):
            problems.append(f"inputs.{name}: the input node has no field {name!r}; "
                            f"valid: {', '.join(input_fields) or 'none (add fields to the input node)'}")
    return problems


def validate_inputs(graph: Graph | dict[str, Any], inputs: dict[str, Any]) -> tuple[dict[str, Any], list[GraphError]]:
    """Run inputs checked and coerced against the input node's fields, with defaults applied."""
    if not isinstance(graph, Graph):
        graph = Graph.model_validate(graph)
    config = InputConfig.model_validate(graph.input_node().config)
    if not isinstance(inputs, dict):
        return {}, [GraphError("inputs", "inputs must be an object of name -> value")]
    coerced: dict[str, Any] = {}
    errors: list[GraphError] = []
    known = {f.name for f in config.fields}
    for name in sorted(set(inputs) - known):
        errors.append(GraphError(f"inputs.{name}", f"unknown input {name!r}; valid: {', '.join(sorted(known)) or 'none'}"))
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
