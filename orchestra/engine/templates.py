"""Sandboxed Jinja2 templates and expressions over a run's `inputs` and `nodes` results.

A template that is exactly one `{{ expression }}` evaluates to the expression's own value (a list
stays a list, a dict a dict), where a field wants a value rather than text (outputs, inputs of a
sub-workflow, map items); every other template renders to text.

Every render (and every expression) runs on a budget, since the sandbox keeps a template from
reaching Python but not from burning a worker: its text and lists have a size limit, checked before
anything that could multiply them (`*`, `**`, `+`, `%`, `~`, padding, joining, formatting) builds
them, and its loop iterations, calls, filters and operators are counted against a step limit and a
CPU-time limit. Going over any of them fails the render with a TemplateError naming the budget.
"""

from __future__ import annotations

import json
import re
import time
from collections import abc
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache, wraps
from itertools import chain
from string import Formatter
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.filters import do_join, make_attrgetter
from jinja2.nodes import EvalContext
from jinja2.parser import Parser
from jinja2.runtime import Context, LoopContext, markup_join
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Namespace, pass_environment, pass_eval_context

MAX_TEXT_CHARS = 4_000_000  # a render's text, and any string built on the way: twice the API's 2 MiB request limit
MAX_ITEMS = 100_000  # any list or range built on the way (Jinja2's own cap for range)
MAX_INT_DIGITS = 4_300  # Python's own limit for printing an int
MAX_STEPS = 1_000_000  # loop iterations, calls, filters and operators of one render: under a second of loops
MAX_CPU_SECONDS = 2.0  # of the rendering thread, for steps that are slow one by one
MAX_NESTING = 20  # levels of a parsed template, so that it compiles: Python nests at most 20 loops

_CLOCK_EVERY = 64  # steps between CPU clock readings; reading it costs more than a step
# Text filters written in Python cost this many steps a character (measured: wordwrap ~1.6 us and urlize
# ~5.4 us a character, a step ~0.4-4 us), so their cost is counted before they run, not after.
_STEPS_PER_CHARACTER = {"wordwrap": 2, "urlize": 5}

_SINGLE_EXPRESSION = re.compile(r"^\s*\{\{-?(?P<expr>.*?)-?\}\}\s*$", re.DOTALL)
_JOINING_TOO_MUCH = "joining these would take more"
_FORMATTING_TOO_MUCH = "formatting this could take more"
_PRINTF_FIELD = re.compile(r"%(?:\([^)]*\))?([-#0 +]*(?:\*|\d+)?(?:\.(?:\*|\d+))?)")


class TemplateError(ValueError):
    """A template or expression that failed to parse or to render."""


@dataclass(frozen=True)
class TemplateRef:
    """A template string a node will render, for validation. `path` is relative to the node's config."""

    path: str
    source: str
    kind: str = "template"  # "template" (text with {{ }}) or "expression" (a bare Jinja2 expression)
    extra_names: frozenset[str] = field(default_factory=frozenset)  # e.g. item/index inside a map


# --- The budget of one render ---------------------------------------------------------------------


def _over_budget(budget: str, limit: str, detail: str = "") -> TemplateError:
    return TemplateError(f"exceeds the {budget} budget of {limit}" + (f": {detail}" if detail else ""))


class _Budget:
    """The steps and CPU time one render has spent; the limits are read when it starts."""

    def __init__(self) -> None:
        self.steps, self.max_steps = 0, MAX_STEPS
        self.cpu_seconds = MAX_CPU_SECONDS
        self.cpu_deadline = time.thread_time() + self.cpu_seconds

    def spend(self, steps: int) -> None:
        before, self.steps = self.steps, self.steps + steps
        if self.steps > self.max_steps:
            raise _over_budget("step", f"{self.max_steps:,} steps", "loop iterations, calls, filters and operators")
        if self.steps // _CLOCK_EVERY != before // _CLOCK_EVERY and time.thread_time() >= self.cpu_deadline:
            raise _over_budget("CPU time", f"{self.cpu_seconds:g} s")


_BUDGET: ContextVar[_Budget | None] = ContextVar("template_budget", default=None)


@contextmanager
def _budget_scope() -> Iterator[None]:
    """One budget for a render and for every render inside it (the strings of one render_value)."""
    if _BUDGET.get() is not None:
        yield
        return
    token = _BUDGET.set(_Budget())
    try:
        yield
    finally:
        _BUDGET.reset(token)


def _spend(steps: int = 1) -> None:
    budget = _BUDGET.get()
    if budget is not None:  # None while Jinja2 folds constants at compile time, which runs no loop
        budget.spend(steps)


# --- Sizes, checked before a value is built or printed -------------------------------------------


def _check_text(size: int, detail: str = "") -> None:
    if size > MAX_TEXT_CHARS:
        raise _over_budget("text", f"{MAX_TEXT_CHARS:,} characters", detail or f"this would build {size:,}")


def _check_items(count: int) -> None:
    if count > MAX_ITEMS:
        raise _over_budget("list", f"{MAX_ITEMS:,} items", f"this would build {count:,}")


def _check_int_bits(bits: int) -> None:
    digits = bits * 30103 // 100000 + 1  # log10(2) of a digit per bit
    if digits > MAX_INT_DIGITS:
        raise _over_budget("number", f"{MAX_INT_DIGITS:,} digits", f"this would build about {digits:,}")


def _checked_size(value: Any) -> Any:
    """The value, once its own length is within budget (cheap; for results of operations and filters)."""
    if isinstance(value, str):
        _check_text(len(value))
    elif isinstance(value, (list, tuple, dict, set)):
        _check_items(len(value))
    return value


def _printed_size(value: Any, indent: int = 0) -> int:
    """About how long str(value) is, counted until it passes the text budget.

    A list's length says little (it may hold one big string many times over), so containers are walked,
    without recursion. Strings inside containers print with quotes and escapes; the count is an upper
    bound but for escapes, which it undercounts by a small factor, and that is all a budget needs.
    """
    size, stack = 0, [(value, 0)]
    while stack and size <= MAX_TEXT_CHARS:
        item, depth = stack.pop()
        if isinstance(item, str):
            size += len(item) + 2
        elif isinstance(item, int):
            size += item.bit_length() // 3 + 6  # more than its digits, or than True/False
        elif isinstance(item, Namespace):  # prints its attributes
            stack.append((object.__getattribute__(item, "_Namespace__attrs"), depth))
        elif isinstance(item, abc.Collection) and not isinstance(item, range):
            parts = len(item) * 2 if isinstance(item, abc.Mapping) else len(item)
            size += 2 + parts * (2 + indent * (depth + 1))
            children = chain.from_iterable(item.items()) if isinstance(item, abc.Mapping) else item
            if size <= MAX_TEXT_CHARS:
                stack.extend((child, depth + 1) for child in children)
        else:  # floats, None, ranges and Jinja2's own objects print short
            size += 64
    return size


def _checked_printable(value: Any, indent: int = 0) -> Any:
    if not isinstance(value, str) or len(value) > MAX_TEXT_CHARS:  # a string within budget needs no walk
        _check_text(_printed_size(value, indent), "printing this value would take more")
    return value


def _text(value: Any) -> str:
    """str(value), for filters that print their argument, once printing it is within budget."""
    return value if isinstance(value, str) else str(_checked_printable(value))


def _budgeted_concat(chunks: Iterable[str]) -> str:
    """Join a render's output (or a block's, a macro's), refusing it as soon as it passes the text budget."""
    kept, size = [], 0
    for chunk in chunks:
        size += len(chunk)
        if size > MAX_TEXT_CHARS:
            raise _over_budget("text", f"{MAX_TEXT_CHARS:,} characters", "the rendered text is longer")
        kept.append(chunk)
    return "".join(kept)


def _budgeted_range(*args: int) -> range:
    """range(), capped at the list budget like Jinja2's own (a range past it has items after MAX_ITEMS)."""
    numbers = range(*args)
    if numbers[MAX_ITEMS:]:  # slicing a range never overflows, len() of a huge one does
        raise _over_budget("list", f"{MAX_ITEMS:,} items", f"{numbers!r} is longer")
    return numbers


# --- Operators, methods and filters that can multiply sizes ---------------------------------------


def _is_sequence(value: Any) -> bool:
    return isinstance(value, (str, list, tuple))


def _check_sequence(sample: Any, size: int) -> None:
    (_check_text if isinstance(sample, str) else _check_items)(size)


def _check_binop(operator: str, left: Any, right: Any) -> None:
    """Refuse an intercepted operation whose result would be over budget, before computing it."""
    if operator == "+" and _is_sequence(left) and _is_sequence(right):
        _check_sequence(left, len(left) + len(right))
    elif operator == "*" and isinstance(left, int) and isinstance(right, int):
        _check_int_bits(left.bit_length() + right.bit_length())
    elif operator == "*" and (_is_sequence(left) or _is_sequence(right)):
        sequence, times = (left, right) if _is_sequence(left) else (right, left)
        if isinstance(times, int):
            _check_sequence(sequence, len(sequence) * max(times, 0))
    elif operator == "**" and isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
        _check_int_bits(left.bit_length() * right)
    elif operator == "%" and isinstance(left, str):
        _check_text(_printf_size(left, right), _FORMATTING_TOO_MUCH)


def _added(total: Any, item: Any) -> Any:
    _spend()
    _check_binop("+", total, item)
    return total + item


def _formatted_size(form: str, specs: list[str], values: list[Any]) -> int:
    """An upper bound of formatted text: each field is no wider than its widest width, or than all values printed.

    Generous when several fields format megabytes; formatting that much is rare, and refusing it is safe.
    """
    widths = [int(digits) for spec in specs for digits in re.findall(r"\d+", spec)]
    if any("*" in spec or "{" in spec for spec in specs):  # widths taken from the values
        widths += [abs(value) for value in values if isinstance(value, int)]
    return len(form) + len(specs) * (max(widths, default=0) + _printed_size(values))


def _printf_size(form: str, values: Any) -> int:
    """`form % values`: printf-style, as the `%` operator and the `format` filter do."""
    if isinstance(values, abc.Mapping):
        values = list(values.values())
    return _formatted_size(form, _PRINTF_FIELD.findall(form), list(values) if isinstance(values, tuple) else [values])


def _format_size(form: str, args: tuple[Any, ...], kwargs: abc.Mapping[str, Any]) -> int:
    """`form.format(*args, **kwargs)`."""
    specs = [spec for _, name, spec, _ in Formatter().parse(form) if name is not None]
    return _formatted_size(form, specs, [*args, *kwargs.values()])


def _replaced_size(text: str, old: str, new: str, count: int | None = -1) -> int:
    occurrences = text.count(old)  # an empty `old` occurs len(text) + 1 times
    if count is not None and count >= 0:
        occurrences = min(occurrences, count)
    return len(text) + occurrences * max(len(new) - len(old), 0)


def _translated_size(text: str, table: Any) -> int:
    replacements = table.values() if isinstance(table, abc.Mapping) else table
    return len(text) * max((len(r) for r in replacements if isinstance(r, str)), default=1)


def _padded_size(text: str, width: int, *_: Any) -> int:
    return max(len(text), width) if isinstance(width, int) else len(text)  # a bad width fails in the method


def _tabs_size(text: str, tabsize: int = 8) -> int:
    return len(text) + text.count("\t") * (tabsize if isinstance(tabsize, int) else 0)


_STR_METHOD_SIZES: dict[str, Callable[..., int]] = {
    "ljust": _padded_size,
    "rjust": _padded_size,
    "center": _padded_size,
    "zfill": _padded_size,
    "expandtabs": _tabs_size,
    "replace": _replaced_size,
    "translate": _translated_size,
}


def _checked_method_args(method: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """Refuse a call of a str method whose result would be over budget; the args to call it with."""
    formats = getattr(method, "__wrapped__", None)  # the sandbox's wrapper of str.format and str.format_map
    if isinstance(getattr(formats, "__self__", None), str) and formats.__name__ in ("format", "format_map"):
        positional, named = ((), args[0]) if formats.__name__ == "format_map" and args else (args, kwargs)
        _check_text(_format_size(formats.__self__, positional, named), _FORMATTING_TOO_MUCH)
        return args
    text, name = getattr(method, "__self__", None), getattr(method, "__name__", "")
    if not isinstance(text, str):
        return args
    if name == "join" and args:
        items = list(args[0])  # it may be a generator, read once
        _check_text(_printed_size(items) + len(text) * len(items), _JOINING_TOO_MUCH)
        return (items, *args[1:])
    if name in _STR_METHOD_SIZES and args:
        _check_text(_STR_METHOD_SIZES[name](text, *args, **kwargs))
    return args


def _guard_center(value: Any, width: int = 80) -> None:
    _check_text(max(len(_text(value)), width if isinstance(width, int) else 0))


def _guard_indent(s: Any, width: int | str = 4, first: bool = False, blank: bool = False) -> None:
    text = _text(s)
    _check_text(len(text) + (text.count("\n") + 1) * (len(width) if isinstance(width, str) else width))


def _guard_format(value: Any, *args: Any, **kwargs: Any) -> None:
    _check_text(_printf_size(_text(value), kwargs or args), _FORMATTING_TOO_MUCH)


def _guard_replace(s: Any, old: Any, new: Any, count: int | None = None) -> None:
    _check_text(_replaced_size(_text(s), _text(old), _text(new), count))


def _guard_wordwrap(
    s: Any, width: int = 79, break_long_words: bool = True, wrapstring: str | None = None, break_on_hyphens: bool = True
) -> None:
    text = _text(s)
    _spend(len(text) * _STEPS_PER_CHARACTER["wordwrap"])
    lines = text.count("\n") + 1 + 2 * len(text) // max(width, 1)  # two lines always hold more than `width`
    _check_text(len(text) + lines * len(wrapstring or "\n"))


def _guard_urlize(value: Any, *args: Any, **kwargs: Any) -> None:
    text = _text(value)
    _spend(len(text) * _STEPS_PER_CHARACTER["urlize"])
    _check_text(16 * len(text))  # a short link becomes an <a> tag about a dozen times longer


def _guard_batch(value: Any, linecount: int, fill_with: Any = None) -> None:
    if fill_with is not None:  # the last batch is filled up to linecount
        _check_items(linecount)


def _guard_slice(value: Any, slices: int, fill_with: Any = None) -> None:
    _check_items(slices)


_FILTER_GUARDS: dict[str, Callable[..., None]] = {
    "center": _guard_center,
    "indent": _guard_indent,
    "format": _guard_format,
    "replace": _guard_replace,
    "wordwrap": _guard_wordwrap,
    "urlize": _guard_urlize,
    "batch": _guard_batch,
    "slice": _guard_slice,
    "pprint": lambda value: _checked_printable(value, indent=1),
    "string": _checked_printable,
    "tojson": lambda value, indent=None: _checked_printable(value, indent or 0),
}


def _budgeted_filter(function: Callable[..., Any], guard: Callable[..., None] | None) -> Callable[..., Any]:
    """A filter that spends a step, refuses first what its guard finds over budget, and checks its result."""
    passes_arg = hasattr(function, "jinja_pass_arg")  # Jinja2 passes a context or environment first

    @wraps(function)  # keeps jinja_pass_arg
    def budgeted(*args: Any, **kwargs: Any) -> Any:
        _spend()
        if guard is not None:
            guard(*args[passes_arg:], **kwargs)
        return _checked_size(function(*args, **kwargs))

    return budgeted


def _tojson(value: Any, indent: int | None = None) -> str:
    return json.dumps(value, indent=indent, ensure_ascii=False)


@pass_eval_context
def _join(eval_ctx: Any, value: Iterable[Any], d: str = "", attribute: str | int | None = None) -> str:
    """Jinja2's join, with the joined text's size checked first (a list may hold one big string many times)."""
    items = list(value)  # it may be a generator, read once
    _check_text(_printed_size(items) + len(_text(d)) * len(items), _JOINING_TOO_MUCH)
    return do_join(eval_ctx, items, d, attribute)


@pass_environment
def _sum(environment: Any, iterable: Iterable[Any], attribute: str | int | None = None, start: Any = 0) -> Any:
    """Jinja2's sum, adding one item at a time as `+` does, so adding up lists is checked and counted like it."""
    items = map(make_attrgetter(environment, attribute), iterable) if attribute is not None else iterable
    total = start
    for item in items:
        total = _added(total, item)
    return total


# --- The environment ------------------------------------------------------------------------------


class _BudgetedCodeGenerator(CodeGenerator):
    """Jinja2 3.x's code generator, with loops counting their items and `~` checking what it joins.

    The sandbox has hooks for calls and operators but none for loops, where a template spends unbounded
    time without calling anything (`{% for i in range(n) %}{% for j in range(n) %}`), so every `for`
    iterates through the environment's counted_items (and so does a recursive loop's `loop(items)`).
    """

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        counted = nodes.Call(
            nodes.EnvironmentAttribute("counted_items"), [node.iter], [], None, None, lineno=node.lineno
        )
        super().visit_For(
            nodes.For(node.target, counted, node.body, node.else_, node.test, node.recursive, lineno=node.lineno), frame
        )

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.joined_text(context.eval_ctx, (")
        for part in node.nodes:
            self.visit(part, frame)
            self.write(", ")
        self.write("))")


class _BudgetedEnvironment(ImmutableSandboxedEnvironment):
    code_generator_class = _BudgetedCodeGenerator
    intercepted_binops = frozenset({"+", "*", "**", "%"})
    concat = staticmethod(_budgeted_concat)  # joins every render's output and every captured block

    def __init__(self, **options: Any) -> None:
        super().__init__(finalize=_checked_printable, **options)  # finalize sees every {{ value }} printed
        self.globals["range"] = _budgeted_range
        del self.globals["lipsum"]  # lorem ipsum of any length, of no use in a workflow
        self.filters.update(tojson=_tojson, join=_join, sum=_sum)
        self.filters = {
            name: _budgeted_filter(function, _FILTER_GUARDS.get(name)) for name, function in self.filters.items()
        }

    def getattr(self, obj: Any, attribute: str) -> Any:
        # Data comes before methods: an input field named `items` (or keys, values, get) is what inputs.items
        # reads, not the dict's method, which Jinja2 would find first.
        if isinstance(obj, abc.Mapping) and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        # bytes have no JSON form; refusing the two ways to make them spares bytes their own size checks
        return attr not in ("encode", "to_bytes") and super().is_safe_attribute(obj, attr, value)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _spend()
        _check_binop(operator, left, right)
        return _checked_size(super().call_binop(context, operator, left, right))

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        _spend()
        if isinstance(obj, LoopContext) and args:  # a recursive loop's loop(items) runs the loop over them
            args = (self.counted_items(args[0]), *args[1:])
        args = _checked_method_args(obj, args, kwargs)
        return _checked_size(super().call(context, obj, *args, **kwargs))

    def counted_items(self, iterable: Iterable[Any]) -> Iterator[Any]:
        for item in iterable:
            _spend()
            yield item

    def joined_text(self, eval_ctx: EvalContext, values: tuple[Any, ...]) -> str:
        """`a ~ b`: the values printed and joined (escaped under autoescape), refused first if over the text budget."""
        _check_text(sum(_printed_size(value) for value in values), _JOINING_TOO_MUCH)
        return markup_join(values) if eval_ctx.autoescape else "".join(map(str, values))


ENV = _BudgetedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


# --- Parsing, for validation ----------------------------------------------------------------------


def parse(source: str, kind: str = "template") -> nodes.Node:
    """The Jinja2 syntax tree of a template or a bare expression; TemplateError if it does not parse."""
    try:
        if kind == "expression":
            parser = Parser(ENV, source, state="variable")
            tree = parser.parse_expression()
            if not parser.stream.eos:
                raise TemplateSyntaxError("unexpected text after the expression", parser.stream.current.lineno)
        else:
            tree = ENV.parse(source)
    except TemplateSyntaxError as error:
        raise TemplateError(f"does not parse: {error.message} (line {error.lineno})") from error
    except RecursionError:  # Jinja2's parser recurses once per level of brackets or blocks
        raise TemplateError(f"nests too deeply; the limit is {MAX_NESTING} levels") from None
    depth = _nesting(tree)
    if depth > MAX_NESTING:
        raise TemplateError(f"nests {depth:,} levels deep; the limit is {MAX_NESTING} levels")
    return tree


def _nesting(tree: nodes.Node) -> int:
    """The depth of a syntax tree, found without recursion (the tree may be deeper than Python's stack)."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in node.iter_child_nodes())
    return deepest


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
        if (
            isinstance(inner, (nodes.Getattr, nodes.Getitem))
            and isinstance(inner.node, nodes.Name)
            and inner.node.name == "nodes"
        ):
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


# --- Rendering ------------------------------------------------------------------------------------


# Compiling is most of a template's cost, and a compiled graph renders the same sources on every run.
@lru_cache(maxsize=4096)
def _compiled_template(source: str) -> Any:
    return ENV.from_string(source)


@lru_cache(maxsize=4096)
def _compiled_expression(source: str) -> Callable[..., Any]:
    return ENV.compile_expression(source, undefined_to_none=False)


def render(source: str, scope: dict[str, Any]) -> str:
    """Render a template to text, on a budget."""
    try:
        with _budget_scope():
            return _compiled_template(source).render(scope)
    except Exception as error:  # Jinja2 raises many types (UndefinedError, SecurityError, TypeError...)
        raise TemplateError(f"template {source!r} failed: {error}") from error


def evaluate(expression: str, scope: dict[str, Any]) -> Any:
    """Evaluate a bare expression (a condition, a map's items) to its value, on a budget."""
    try:
        with _budget_scope():
            return _checked_printable(_compiled_expression(expression)(**scope))  # it may be printed or stored
    except Exception as error:
        raise TemplateError(f"expression {expression!r} failed: {error}") from error


def json_value(value: Any, source: str) -> Any:
    """The value as plain JSON data (tuples become lists); results are stored and sent as JSON."""
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError) as error:
        raise TemplateError(
            f"{source.strip()!r} gives a {type(value).__name__}, which is not a JSON value; "
            "convert it, e.g. with | list or | string"
        ) from error


def render_value(value: Any, scope: dict[str, Any]) -> Any:
    """Render strings inside any JSON value; a string that is one `{{ expression }}` keeps its type."""
    with _budget_scope():  # all the strings of one value share one budget
        return _render_strings(value, scope)


def _render_strings(value: Any, scope: dict[str, Any]) -> Any:
    if isinstance(value, str):
        match = _SINGLE_EXPRESSION.match(value)
        if match and "{{" not in match["expr"] and "}}" not in match["expr"]:
            return json_value(evaluate(match["expr"], scope), match["expr"])
        return render(value, scope)
    if isinstance(value, dict):
        return {key: _render_strings(item, scope) for key, item in value.items()}
    if isinstance(value, list):
        return [_render_strings(item, scope) for item in value]
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
