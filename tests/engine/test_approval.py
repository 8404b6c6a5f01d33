"""An approval node pauses the run (LangGraph interrupt); an answer resumes it where it stopped."""

from __future__ import annotations

from langgraph.checkpoint.memory import InMemorySaver

from orchestra.engine import RunHooks, compile_graph, parse_graph, run_graph
from tests.engine.support import Recorder, echo_model, graph, input_node, node, output_node

REVIEW = graph(
    [
        input_node("topic"),
        node("draft", "llm", prompt="Write about {{ inputs.topic }}"),
        node(
            "review",
            "approval",
            prompt="Publish this? {{ nodes.draft.output }}",
            timeout_s=3600,
            default={"approved": False},
        ),
        node("publish", "template", template="published: {{ nodes.review.output.value }}"),
        node("discard", "template", template="discarded"),
        output_node(
            result="{% if nodes.publish.status == 'succeeded' %}{{ nodes.publish.output }}"
            "{% else %}{{ nodes.discard.output }}{% endif %}"
        ),
    ],
    [
        "start->draft",
        "draft->review",
        "review->publish:approved",
        "review->discard:rejected",
        "publish->end",
        "discard->end",
    ],
)


def test_approval_waits_then_resumes_with_the_answer_without_rerunning_earlier_nodes():
    compiled = compile_graph(parse_graph(REVIEW), checkpointer=InMemorySaver())
    events = Recorder()
    hooks = RunHooks(emit=events, call_model=echo_model)
    outcome = run_graph(compiled, run_id="r1", hooks=hooks, inputs={"topic": "cats"})
    assert outcome.status == "waiting" and outcome.waiting_node == "review"
    assert outcome.waiting == {
        "prompt": "Publish this? echo: Write about cats",
        "timeout_s": 3600,
        "default": {"approved": False},
    }
    assert events.data("node_waiting", "review") == [outcome.waiting]

    # Asking again without an answer changes nothing and runs nothing.
    before = len(events.events)
    assert run_graph(compiled, run_id="r1", hooks=hooks).status == "waiting"
    assert len(events.events) == before

    outcome = run_graph(compiled, run_id="r1", hooks=hooks, resume_value={"approved": True, "value": "final"})
    assert outcome.status == "succeeded" and outcome.outputs == {"result": "published: final"}
    assert events.nodes("node_started").count("draft") == 1
    assert events.nodes("node_skipped") == ["discard"]


def test_rejection_takes_the_rejected_outlet():
    compiled = compile_graph(parse_graph(REVIEW), checkpointer=InMemorySaver())
    hooks = RunHooks(emit=Recorder(), call_model=echo_model)
    assert run_graph(compiled, run_id="r2", hooks=hooks, inputs={"topic": "x"}).status == "waiting"
    outcome = run_graph(compiled, run_id="r2", hooks=hooks, resume_value={"approved": False})
    assert outcome.outputs == {"result": "discarded"}


def test_one_compiled_graph_serves_several_runs_with_their_own_hooks():
    compiled = compile_graph(parse_graph(REVIEW), checkpointer=InMemorySaver())
    first, second = Recorder(), Recorder()
    run_graph(compiled, run_id="a", hooks=RunHooks(emit=first, call_model=echo_model), inputs={"topic": "one"})
    run_graph(compiled, run_id="b", hooks=RunHooks(emit=second, call_model=echo_model), inputs={"topic": "two"})
    done = run_graph(
        compiled, run_id="a", hooks=RunHooks(emit=first, call_model=echo_model), resume_value={"value": "ok"}
    )
    assert done.status == "succeeded"
    assert second.data("node_waiting", "review")[0]["prompt"] == "Publish this? echo: Write about two"
    assert "publish" not in second.nodes("node_started")


def test_a_finished_run_reports_its_outputs_again_without_running():
    compiled = compile_graph(parse_graph(REVIEW), checkpointer=InMemorySaver())
    hooks = RunHooks(emit=Recorder(), call_model=echo_model)
    run_graph(compiled, run_id="r3", hooks=hooks, inputs={"topic": "x"})
    first = run_graph(compiled, run_id="r3", hooks=hooks, resume_value={"value": "yes"})
    assert first.outputs == {"result": "published: yes"}
    again_events = Recorder()
    again = run_graph(compiled, run_id="r3", hooks=RunHooks(emit=again_events, call_model=echo_model))
    assert again == first and again_events.events == []


def test_approval_without_a_checkpointer_fails_clearly():
    compiled = compile_graph(parse_graph(REVIEW), checkpointer=None)
    outcome = run_graph(
        compiled, run_id="r4", hooks=RunHooks(emit=Recorder(), call_model=echo_model), inputs={"topic": "x"}
    )
    assert outcome.status == "failed" and "checkpointer" in outcome.error


def test_parallel_approvals_are_answered_one_at_a_time():
    data = graph(
        [
            input_node("topic"),
            node("a1", "approval", prompt="one"),
            node("a2", "approval", prompt="two"),
            output_node(x="{{ nodes.a1.output }}", y="{{ nodes.a2.output }}"),
        ],
        ["start->a1", "start->a2", "a1->end", "a2->end"],
    )
    compiled = compile_graph(parse_graph(data), checkpointer=InMemorySaver())
    hooks = RunHooks(emit=Recorder(), call_model=echo_model)
    assert run_graph(compiled, run_id="p", hooks=hooks, inputs={"topic": "x"}).waiting_node == "a1"
    assert run_graph(compiled, run_id="p", hooks=hooks, resume_value="A").waiting_node == "a2"
    assert run_graph(compiled, run_id="p", hooks=hooks, resume_value="B").outputs == {"x": "A", "y": "B"}
