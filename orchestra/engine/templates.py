"""Sandboxed Jinja2 templates and expressions over a run's `inputs` and `nodes` results.

A template that is exactly one `{{ expression }}` evaluates to the expression's own value (a list
stays a list, a dict a dict), where a field wants a value rather than text (outputs, inputs of a
sub-workflow, map items); every other template renders to text.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable

from jinja2 import StrictUndefined, TemplateSyntaxError, nodes
from jinja2.parser import Parser
from jinja2.sandbox import ImmutableSandboxedEnvironment

ENV = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
ENV.filters["tojson"] = lambda value, indent=None: json.dumps(value, indent=indent, ensure_ascii=False)

_SINGLE_EXPRESSION = re.compile(r"^\s*\{\{-?(?P<expr>.*?)-?\}\}\s*$", re.DOTALL)


class TemplateError(ValueError):
    """A template or expression that failed to parse or to render."""


@dataclass(frozen=True)
class TemplateRef:
    """A template string a node will render, for validation. `path` is relative to the node's config."""

    path: str
    source: str
    kind: str = "template"  # "template" (text with {{ }}) or "expression" (a bare Jinja2 expression)
    extra_names: frozenset[str] = field(default_factory=frozenset)  # e.g. item/index inside a map


def parse(source: str, kind: str = "template") -> nodes.Node:
    """The Jinja2 syntax tree of a template or a bare expression; TemplateError if it does not parse."""
    try:
        if kind == "expression":
            parser = Parser(ENV, source, state="variable")
            expression = parser.parse_expression()
            if not parser.stream.eos:
                raise TemplateSyntaxError("unexpected text after the expression", parser.stream.current.lineno)
            return expression
        return ENV.parse(source)
    except TemplateSyntaxError as error:
        raise TemplateError(f"does not parse: {error.message} (line {error.lineno})") from error


def references(tree: nodes.Node) -> tuple[set[str], set[tuple[str, str | None]], set[str]]:
    """(top-level names, (node id, field) pairs read from `nodes`, input names read from `inputs`)."""
    names = {n.name for n in tree.find_all(nodes.Name) if n.ctx == "load"}
    node_refs: set[tuple[str, str | None]] = set()
    input_refs: set[str] = set()
    for access in tree.find_all((nodes.Getattr, nodes.Getitem)):
        base = access.node
        if not (isinstance(base, nodes.Name) and base.name in ("nodes", "inputs")):
            continue
        key = _static_key(access)
        if key is None:
            continue
        if base.name == "inputs":
            input_refs.add(key)
        else:
            node_refs.add((key, None))
    # A second pass picks up the field in nodes.<id>.<field>.
    for access in tree.find_all((nodes.Getattr, nodes.Getitem)):
        inner = access.node
        if isinstance(inner, (nodes.Getattr, nodes.Getitem)) and isinstance(inner.node, nodes.Name) \
                and inner.node.name == "nodes":
            node_id, field_name = _static_key(inner), _static_key(access)
            if node_id is not None and field_name is not None:
                node_refs.discard((node_id, None))
                node_refs.add((node_id, field_name))
    return names, node_refs, input_refs


def _static_key(access: nodes.Getattr | nodes.Getitem) -> str | None:
    if isinstance(access, nodes.Getattr):
        return access.attr
    if isinstance(access.arg, nodes.Const) and isinstance(access.arg.value, str):
        return access.arg.value
    return None


# Compiling is most of a template's cost, and a compiled graph renders the same sources on every run.
@lru_cache(maxsize=4096)
def _compiled_template(source: str) -> Any:
    return ENV.from_string(source)


@lru_cache(maxsize=4096)
def _compiled_expression(source: str) -> Callable[..., Any]:
    return ENV.compile_expression(source, undefined_to_none=False)


def render(source: str, scope: dict[str, Any]) -> str:
    """Render a template to text."""
    try:
        return _compiled_template(source).render(scope)
    except TemplateError:
        raise
    except Exception as error:  # Jinja2 raises many types (UndefinedError, SecurityError, TypeError...)
        raise TemplateError(f"template {source!r} failed: {error}") from error


def evaluate(expression: str, scope: dict[str, Any]) -> Any:
    """Evaluate a bare expression (a condition, a map's items) to its value."""
    try:
        return _compiled_expression(expression)(**scope)
    except Exception as error:
        raise TemplateError(f"expression {expression!r} failed: {error}") from error


def json_value(value: Any, source: str) -> Any:
    """The value as plain JSON data (tuples become lists); results are stored and sent as JSON."""
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError) as error:
        raise TemplateError(f"{source.strip()!r} gives a {type(value).__name__}, which is not a JSON value; "
                            "convert it, e.g. with | list or | string") from error


def render_value(value: Any, scope: dict[str, Any]) -> Any:
    """Render strings inside any JSON value; a string that is one `{{ expression }}` keeps its type."""
    if isinstance(value, str):
        match = _SINGLE_EXPRESSION.match(value)
        if match and "{{" not in match["expr"] and "}}" not in match["expr"]:
            return json_value(evaluate(match["expr"], scope), match["expr"])
        return render(value, scope)
    if isinstance(value, dict):
        return {key: render_value(item, scope) for key, item in value.items()}
    if isinstance(value, list):
        return [render_value(item, scope) for item in value]
    return value


def template_refs(value: Any, path: str) -> list[TemplateRef]:
    """Every string inside a JSON value, as templates, with its path (for validating JSON bodies)."""
    if isinstance(value, str):
        return [TemplateRef(path, value)]
    if isinstance(value, dict):
        return [ref for key, item in value.items() for ref in template_refs(item, f"{path}.{key}")]
    if isinstance(value, list):
        return [ref for i, item in enumerate(value) for ref in template_refs(item, f"{path}[{i}]")]
    return []
