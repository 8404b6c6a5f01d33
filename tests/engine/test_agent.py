"""The agent node's loop on the engine alone: tools in parallel, errors as results, budgets that
end in a final answer without tools, JSON answers, memory, and replay of recorded tool calls."""

from __future__ import annotations

import json
import threading

import pytest

from orchestra.engine import ModelCall, ModelReply
from orchestra.engine.hooks import ToolDefinition
from tests.engine.support import graph, input_node, node, output_node, run


def tool_call(name: str, n: int = 0, **arguments) -> dict:
    return {
        "id": f"call_{name}_{n}",
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(arguments)},
    }


class Script:
    """A model that plays a list of turns: a list of tool calls, or a final text. Records every call."""

    def __init__(self, *turns):
        self.turns, self.calls = list(turns), []
        self.lock = threading.Lock()

    def __call__(self, call: ModelCall) -> ModelReply:
        with self.lock:
            self.calls.append(call)
            scripted_answer = self.turns and isinstance(self.turns[0], str)
            turn = self.turns.pop(0) if call.tool_choice != "none" or scripted_answer else "forced answer"
        if isinstance(turn, list):
            return ModelReply(
                text="", model="m", tokens_in=10, tokens_out=5, cost=0.01, tool_calls=turn, finish_reason="tool_calls"
            )
        return ModelReply(text=turn, model="m", tokens_in=10, tokens_out=5, cost=0.01)


def agent_graph(**config) -> dict:
    config = {"task": "Help with {{ inputs.q }}", "instructions": "Be brief.", **config}
    return graph(
        [
            input_node("q"),
            node("agent", "agent", **config),
            output_node(
                answer="{{ nodes.agent.output }}",
                steps="{{ nodes.agent.steps | length }}",
                stopped="{{ nodes.agent.stopped_by }}",
            ),
        ],
        ["start->agent", "agent->end"],
    )


HTTP_ECHO = {
    "kind": "http",
    "name": "echo",
    "description": "Echo",
    "url": "http://unused.invalid/{{ args.x }}",
    "parameters": {"type": "object", "properties": {"x": {"type": "string"}}, "required": ["x"]},
}


def workflow_tools(together: int = 1):
    """describe_tool / run_workflow hooks for workflow tools; records calls. With together=n, each
    call waits until n calls are under way at once (and fails if they never are)."""
    runs: list[tuple[str, dict]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(together, timeout=10)

    def describe_tool(spec: dict) -> list[ToolDefinition]:
        if spec["workflow"] == "missing":
            raise LookupError("workflow 'missing' does not exist")
        return [
            ToolDefinition(
                name=spec.get("name") or spec["workflow"],
                description="d",
                spec=spec,
                parameters={"type": "object", "properties": {"id": {"type": "string"}}},
                target=spec["workflow"],
            )
        ]

    def run_workflow(workflow_id: str, inputs: dict, **call) -> dict:
        barrier.wait()
        with lock:
            runs.append((workflow_id, inputs))
        if workflow_id == "broken":
            raise RuntimeError("the order system is down")
        return {"status": f"order {inputs.get('id')} shipped"}

    return describe_tool, run_workflow, runs


def test_tool_calls_of_one_turn_run_in_parallel_and_their_results_go_back_as_tool_messages():
    describe_tool, run_workflow, runs = workflow_tools(together=3)  # one after another would break the barrier
    model = Script(
        [tool_call("lookup", 0, id="A"), tool_call("lookup", 1, id="B"), tool_call("lookup", 2, id="C")],
        "All three shipped.",
    )
    outcome, events = run(
        agent_graph(tools=[{"kind": "workflow", "workflow": "lookup"}]),
        inputs={"q": "orders"},
        call_model=model,
        describe_tool=describe_tool,
        run_workflow=run_workflow,
    )
    assert outcome.status == "succeeded", outcome.error
    assert outcome.outputs == {"answer": "All three shipped.", "steps": 2, "stopped": None}
    assert sorted(inputs["id"] for _, inputs in runs) == ["A", "B", "C"]
    second = model.calls[1].messages
    assert second[-4]["role"] == "assistant" and len(second[-4]["tool_calls"]) == 3
    assert [m["tool_call_id"] for m in second[-3:]] == ["call_lookup_0", "call_lookup_1", "call_lookup_2"]
    assert json.loads(second[-1]["content"]) == {"status": "order C shipped"}
    assert model.calls[0].tools[0]["function"]["name"] == "lookup" and model.calls[0].tool_choice == "auto"
    called, results = events.data("tool_called", "agent"), events.data("tool_result", "agent")
    assert len(called) == len(results) == 3
    assert {r["call_key"] for r in results} == {"agent#a1#s1#t0", "agent#a1#s1#t1", "agent#a1#s1#t2"}
    finished = events.data("node_succeeded", "agent")[0]
    assert finished["tokens_in"] == 20 and finished["cost"] == pytest.approx(0.02)  # every turn counted


def test_a_tool_error_and_bad_arguments_are_results_the_model_reads_not_failures():
    describe_tool, run_workflow, _ = workflow_tools()
    model = Script(
        [tool_call("broken", 0, id="1"), tool_call("broken", 1, id=7), tool_call("nope", 2)],
        "Sorry, I could not look it up.",
    )
    outcome, events = run(
        agent_graph(tools=[{"kind": "workflow", "workflow": "broken"}]),
        inputs={"q": "x"},
        call_model=model,
        describe_tool=describe_tool,
        run_workflow=run_workflow,
    )
    assert outcome.status == "succeeded" and outcome.outputs["answer"] == "Sorry, I could not look it up."
    contents = [m["content"] for m in model.calls[1].messages if m["role"] == "tool"]
    assert "the order system is down" in contents[0]
    assert "do not match the tool's parameters at id" in contents[1]
    assert "there is no tool 'nope'" in contents[2]
    assert [r.get("error", "")[:12] for r in events.data("tool_result", "agent")] == ["RuntimeError", "ValueError: "]


@pytest.mark.parametrize(
    "budget, expected",
    [
        ({"max_steps": 2}, "max_steps (2)"),
        ({"max_tool_calls": 3}, "the tool-call budget (3)"),
        ({"max_total_tokens": 25}, "the token budget (25)"),
        ({"max_cost": 0.02}, "the cost budget (0.02)"),
    ],
)
def test_every_budget_ends_in_one_last_turn_without_tools(budget, expected):
    model = Script(*[[tool_call("echo", n, x=str(n)), tool_call("echo", n + 100, x="y")] for n in range(10)])
    outcome, events = run(
        agent_graph(tools=[HTTP_ECHO], **budget), inputs={"q": "x"}, call_model=model, http_allow_private=False
    )
    assert outcome.status == "succeeded", outcome.error
    assert outcome.outputs["answer"] == "forced answer" and outcome.outputs["stopped"] == expected
    final = model.calls[-1]
    assert final.tool_choice == "none" and final.call_key == "agent#a1#final"
    assert all(call.tool_choice == "auto" for call in model.calls[:-1])
    # the HTTP tool's guard refused the unresolvable host: an error result, not a failed node
    assert all("RequestRefused" in r["error"] for r in events.data("tool_result", "agent"))


def test_calls_past_the_tool_call_budget_are_not_run():
    describe_tool, run_workflow, runs = workflow_tools()
    model = Script([tool_call("lookup", n, id=str(n)) for n in range(4)])
    outcome, _ = run(
        agent_graph(tools=[{"kind": "workflow", "workflow": "lookup"}], max_tool_calls=2),
        inputs={"q": "x"},
        call_model=model,
        describe_tool=describe_tool,
        run_workflow=run_workflow,
    )
    assert outcome.status == "succeeded" and len(runs) == 2
    assert (
        sum("tool-call budget is spent" in m["content"] for m in model.calls[-1].messages if m["role"] == "tool") == 2
    )


def test_raw_tool_markup_never_becomes_the_answer():
    model = Script('<tool_call>\n{"name": "echo"')  # a backend without tool parsing, cut off
    outcome, _ = run(agent_graph(tools=[HTTP_ECHO]), inputs={"q": "x"}, call_model=model)
    assert outcome.status == "succeeded" and outcome.outputs["answer"] == ""


def test_a_json_answer_is_parsed_and_asked_again_with_the_schema_enforced():
    schema = {"type": "object", "properties": {"refund": {"type": "boolean"}}, "required": ["refund"]}
    model = Script("I think yes", '{"refund": true}')
    outcome, _ = run(
        agent_graph(tools=[HTTP_ECHO], output="json", json_schema=schema), inputs={"q": "x"}, call_model=model
    )
    assert outcome.status == "succeeded" and outcome.outputs["answer"] == {"refund": True}
    retry = model.calls[-1]
    assert retry.response_format["type"] == "json_schema" and retry.response_format["json_schema"]["schema"] == schema
    assert retry.tools is None and retry.call_key == "agent#a1#final#j0"


def test_without_tools_the_agent_is_one_call_with_the_memory_trimmed_to_its_window():
    model = Script("hello")
    history = [
        {"role": "user", "content": "old " * 400},
        {"role": "assistant", "content": "older answer"},
        {"role": "user", "content": "recent"},
    ]
    data = agent_graph(memory={"messages": "inputs.history", "max_tokens": 50})
    data["nodes"][0]["config"]["fields"].append({"name": "history", "type": "array"})
    outcome, _ = run(data, inputs={"q": "x", "history": history}, call_model=model)
    assert outcome.status == "succeeded"
    (call,) = model.calls
    assert [m["content"] for m in call.messages] == ["Be brief.", "older answer", "recent", "Help with x"]
    assert call.tools is None


def test_unknown_workflow_tool_fails_the_node_with_its_name():
    describe_tool, run_workflow, _ = workflow_tools()
    outcome, _ = run(
        agent_graph(tools=[{"kind": "workflow", "workflow": "missing"}]),
        inputs={"q": "x"},
        call_model=Script("x"),
        describe_tool=describe_tool,
        run_workflow=run_workflow,
    )
    assert outcome.status == "failed" and "workflow 'missing' does not exist" in outcome.error


def test_a_recorded_tool_result_is_replayed_instead_of_calling_the_tool_again():
    describe_tool, run_workflow, runs = workflow_tools()
    model = Script([tool_call("lookup", 0, id="A")], "done")
    recorded = {"agent#a1#s1#t0": {"result": {"status": "from the record"}}}
    outcome, events = run(
        agent_graph(tools=[{"kind": "workflow", "workflow": "lookup"}]),
        inputs={"q": "x"},
        call_model=model,
        describe_tool=describe_tool,
        run_workflow=run_workflow,
        recorded_tool_result=recorded.get,
    )
    assert outcome.status == "succeeded" and runs == [] and events.data("tool_called", "agent") == []
    assert json.loads(model.calls[1].messages[-1]["content"]) == {"status": "from the record"}


def test_validation_names_a_missing_workflow_tool_and_bad_tool_templates():
    from orchestra.engine import validate_graph

    data = agent_graph(tools=[{"kind": "workflow", "workflow": "nope"}, {**HTTP_ECHO, "url": "http://x/{{ argz.x }}"}])
    paths = {e.path for e in validate_graph(data, find_workflow=lambda workflow_id: None)}
    assert "nodes[1].config.tools[0].workflow" in paths and "nodes[1].config.tools[1].url" in paths


def test_tool_choice_required_calls_a_tool_every_turn_until_max_steps_then_answers():
    model = Script(*[[tool_call("echo", n, x="a")] for n in range(3)])
    outcome, _ = run(
        agent_graph(tools=[HTTP_ECHO], tool_choice="required", max_steps=3), inputs={"q": "x"}, call_model=model
    )
    assert outcome.outputs["stopped"] == "max_steps (3)" and outcome.outputs["answer"] == "forced answer"
    assert [c.tool_choice for c in model.calls] == ["required", "required", "required", "none"]


def test_an_error_in_a_tool_entry_names_its_place_in_the_config():
    from orchestra.engine import validate_graph

    data = agent_graph(tools=[HTTP_ECHO, {**HTTP_ECHO, "name": "bad name!"}, {"kind": "teleport"}])
    paths = {e.path for e in validate_graph(data)}
    assert "nodes[1].config.tools[1].name" in paths and any(p.startswith("nodes[1].config.tools[2]") for p in paths)
