"""A template or expression cannot burn a worker: sizes, steps and CPU time of each render are budgeted."""

from __future__ import annotations

import threading

import pytest

from orchestra.engine import RunHooks, templates
from orchestra.engine.execution import execute
from orchestra.engine.graph import NodeSpec
from orchestra.engine.nodes.base import NodeConfig, NodeResult, NodeType
from orchestra.engine.templates import TemplateError, evaluate, render, render_value
from tests.engine.support import Recorder, echo_model

BIG = {"big": "x" * 1_000_000}
TEXT_BUDGET = "exceeds the text budget of 4,000,000 characters"
LIST_BUDGET = "exceeds the list budget of 100,000 items"
STEP_BUDGET = "exceeds the step budget of 1,000,000 steps"


@pytest.fixture
def steps_decide(monkeypatch):
    """Time enough that the step budget, not the CPU budget, ends a render even on a loaded machine."""
    monkeypatch.setattr(templates, "MAX_CPU_SECONDS", 60)


def refusal(source: str, scope: dict | None = None) -> str:
    with pytest.raises(TemplateError) as raised:
        render(source, scope or {})
    return str(raised.value)


def test_nested_loops_stop_at_the_step_budget(steps_decide):
    loops = "{% for i in range(2000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}"
    assert STEP_BUDGET in refusal(loops)


def test_slow_steps_stop_at_the_cpu_budget(monkeypatch):
    monkeypatch.setattr(templates, "MAX_CPU_SECONDS", 0)
    assert "exceeds the CPU time budget of 0 s" in refusal("{% for i in range(1000) %}{{ i }}{% endfor %}")


@pytest.mark.parametrize(
    "source",
    [
        "{{ 'a' * 10**8 }}",
        "{{ 'a'.ljust(10**8) }}",
        "{{ 'a'.zfill(10**8) }}",
        "{{ ('a\t' * 1000).expandtabs(10**5) }}",
        "{{ ('ab' * 1000).replace('', 'x' * 10000) }}",
        "{{ ('abc' * 1000).translate({97: 'x' * 100000}) }}",
        "{{ 'a'|center(10**8) }}",
        "{{ 'a'|indent(10**8) }}",
        "{{ ('ab' * 1000)|replace('', 'x' * 10000) }}",
        "{{ '%100000000d' % 1 }}",
        "{{ '%*d' % (10**8, 1) }}",
        "{{ '%100000000d'|format(1) }}",
        "{{ '{:>100000000}'.format(1) }}",
        "{{ '{:>{w}}'.format(1, w=10**8) }}",
    ],
)
def test_text_past_the_budget_is_refused_before_it_is_built(source):
    assert TEXT_BUDGET in refusal(source)


@pytest.mark.parametrize(
    "source",
    [
        "{{ [big] * 100 }}",
        "{{ ([big] * 100)|join }}",
        "{{ ''.join([big] * 100) }}",
        "{{ ([big] * 100)|tojson }}",
        "{{ ([big] * 100)|string }}",
        "{{ big ~ big ~ big ~ big ~ big }}",
        "{{ '%s' % ([big] * 100,) }}",
    ],
)
def test_a_list_holding_one_big_string_many_times_cannot_be_printed_or_joined(source):
    assert TEXT_BUDGET in refusal(source, BIG)


def test_text_doubling_itself_is_refused():
    doubling = "{% set ns = namespace(s='a') %}{% for i in range(26) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}"
    assert TEXT_BUDGET in refusal(doubling)


@pytest.mark.parametrize(
    "source",
    [
        "{% for i in range(5000) %}" + "y" * 1000 + "{% endfor %}",
        "{% set block %}{% for i in range(5) %}{{ big }}{% endfor %}{% endset %}{{ block|length }}",
        "{% filter upper %}{% for i in range(5) %}{{ big }}{% endfor %}{% endfilter %}",
        "{% macro five() %}{% for i in range(5) %}{{ big }}{% endfor %}{% endmacro %}{{ five()|length }}",
    ],
)
def test_the_rendered_text_and_every_captured_block_are_capped(source):
    assert TEXT_BUDGET in refusal(source, BIG)


@pytest.mark.parametrize(
    ("source", "budget"),
    [
        ("{{ range(200000)|length }}", LIST_BUDGET),
        ("{{ [0] * 1000 * 1000 }}", LIST_BUDGET),
        ("{{ ([[0] * 500] * 300)|sum(start=[])|length }}", LIST_BUDGET),
        ("{{ [1]|batch(10**6, 0)|list|length }}", LIST_BUDGET),
        ("{{ [1]|slice(10**6)|list|length }}", LIST_BUDGET),
        ("{{ (2 ** 100000) > 1 }}", "exceeds the number budget of 4,300 digits"),
        ("{{ (10 ** 4000) * (10 ** 4000) > 1 }}", "exceeds the number budget of 4,300 digits"),
    ],
)
def test_lists_ranges_and_numbers_have_budgets_too(source, budget):
    assert budget in refusal(source)


def test_expressions_have_the_same_budgets(monkeypatch):
    monkeypatch.setattr(templates, "MAX_STEPS", 1000)
    for expression, budget in [
        ("'a' * 10**8", TEXT_BUDGET),
        ("[big] * 100", TEXT_BUDGET),
        ("range(200000)|list", LIST_BUDGET),
        ("range(2000)|map('abs')|list|length", "exceeds the step budget of 1,000 steps"),
    ]:
        with pytest.raises(TemplateError, match=budget):
            evaluate(expression, BIG)


def test_the_strings_of_one_value_share_one_budget(monkeypatch):
    monkeypatch.setattr(templates, "MAX_STEPS", 1000)
    loops = "{% for i in range(600) %}{% endfor %}done"
    assert render_value({"a": loops}, {}) == {"a": "done"}
    with pytest.raises(TemplateError, match="exceeds the step budget of 1,000 steps"):
        render_value({"a": loops, "b": [loops]}, {})


@pytest.mark.parametrize("source", ["{{ 'a'.encode() }}", "{{ (5).to_bytes(2, 'big') }}", "{{ lipsum(10**6) }}"])
def test_bytes_and_lorem_ipsum_are_out_of_reach(source):
    refusal(source)


def test_templates_within_the_budgets_render_as_before():
    source = (
        "{% set ns = namespace(total=0) %}{% macro row(x) %}{{ '%-6s|%5.1f' % (x.name, x.price) }}{% endmacro %}"
        "{% for x in items if x.price > 1 %}{{ row(x) }}{% set ns.total = ns.total + x.price %}\n{% endfor %}"
        "{{ '{:>8}'.format(ns.total) }} {{ items|map(attribute='name')|join(', ') }} "
        "{{ items|sum(attribute='price') }} {{ [[1], [2]]|sum(start=[]) }} {{ {'n': items|length}|tojson }} "
        "{{ 'ab'.ljust(4, '.') ~ 'c' * 3 }} {{ range(3)|list }} {{ 2 ** 10 }} {{ 'x'|center(5) }}|"
        "{% filter upper %}{% for i in range(2) %}{{ loop.index }}/{{ loop.length }} {% endfor %}{% endfilter %}"
    )
    items = [{"name": "tea", "price": 1.0}, {"name": "cake", "price": 2.5}, {"name": "pie", "price": 4}]
    assert render(source, {"items": items}) == (
        'cake  |  2.5\npie   |  4.0\n     6.5 tea, cake, pie 7.5 [1, 2] {"n": 3} ab..ccc [0, 1, 2] 1024   x  |1/2 2/2 '
    )


class SlowToPrepare(NodeType):
    """A node whose prepare waits for the test, as a runaway template would keep rendering."""

    type = "slow"
    title = "Slow"
    description = "prepares slowly"
    category = "Flow"
    Config = NodeConfig

    def __init__(self) -> None:
        self.release = threading.Event()
        self.thread: threading.Thread | None = None

    def prepare(self, config: NodeConfig, scope: dict) -> dict:
        self.thread = threading.current_thread()
        self.release.wait(5)
        return {"prepared": True}

    def run(self, config: NodeConfig, prepared: dict, ctx) -> NodeResult:
        return NodeResult(output="ran")


def test_the_node_timeout_covers_prepare_and_node_started_has_no_input():
    node_type, recorder = SlowToPrepare(), Recorder()
    spec = NodeSpec(id="slow", type="slow", timeout_s=0.1, on_error="continue")
    try:
        record = execute(spec, node_type, NodeConfig(), {}, RunHooks(emit=recorder, call_model=echo_model))
    finally:
        node_type.release.set()
    assert record["status"] == "failed" and record["error"] == "NodeTimeout: timed out after 0.1s"
    node_type.thread.join(5)  # the late prepare finds the attempt over: it neither emits nor runs
    assert [(kind, data) for kind, _, data in recorder.events] == [
        ("node_started", {"input": None, "attempt": 1}),
        ("node_failed", {"error": "NodeTimeout: timed out after 0.1s", "attempts": 1}),
    ]
