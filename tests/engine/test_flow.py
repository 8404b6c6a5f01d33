"""Joins, skips, parallel branches, run policy (retry, timeout, on_error), cancellation."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from orchestra.engine import ModelReply, RunHooks, compile_graph, parse_graph, run_graph
from tests.engine.support import Recorder, echo_model, graph, input_node, node, output_node, run, scripted_model


def test_diamond_with_a_dead_branch_reaches_the_join_exactly_once():
    data = graph(
        [
            input_node("topic"),
            node("route", "condition", branches=[{"name": "left", "when": "inputs.topic == 'left'"}]),
            node("l", "template", template="L"),
            node("r", "template", template="R"),
            node("join", "template", template="{{ nodes.l.output }}|{{ nodes.r.output }}|{{ nodes.r.status }}"),
            output_node(out="{{ nodes.join.output }}"),
        ],
        ["start->route", "route->l:left", "route->r:else", "l->join", "r->join", "join->end"],
    )
    outcome, events = run(data, inputs={"topic": "left"})
    assert outcome.outputs == {"out": "L|None|skipped"}
    assert events.nodes("node_skipped") == ["r"]
    assert Counter(events.nodes("node_started"))["join"] == 1


def test_every_node_runs_or_is_skipped_exactly_once():
    # A dead branch two nodes deep, joined with a live branch of different length.
    data = graph(
        [
            input_node("topic"),
            node("route", "condition", branches=[{"name": "never", "when": "false"}]),
            node("d1", "template", template="x"),
            node("d2", "template", template="x"),
            node("l1", "template", template="x"),
            node("l2", "template", template="x"),
            node("l3", "template", template="x"),
            node("join", "template", template="joined"),
            output_node(out="{{ nodes.join.output }}"),
        ],
        [
            "start->route",
            "route->d1:never",
            "d1->d2",
            "route->l1:else",
            "l1->l2",
            "l2->l3",
            "d2->join",
            "l3->join",
            "join->end",
        ],
    )
    outcome, events = run(data, inputs={"topic": "x"})
    assert outcome.outputs == {"out": "joined"}
    finished = events.nodes("node_succeeded") + events.nodes("node_skipped")
    assert sorted(finished) == sorted(n["id"] for n in data["nodes"])
    assert sorted(events.nodes("node_skipped")) == ["d1", "d2"]


def test_a_node_whose_inputs_are_all_dead_is_skipped_and_so_are_its_successors():
    data = graph(
        [
            input_node("topic"),
            node("route", "condition", branches=[{"name": "never", "when": "false"}]),
            node("dead", "template", template="x"),
            node("after", "template", template="x"),
            node("live", "template", template="y"),
            output_node(out="{{ nodes.live.output }}"),
        ],
        ["start->route", "route->dead:never", "dead->after", "route->live:else", "after->end", "live->end"],
    )
    outcome, events = run(data, inputs={"topic": "x"})
    assert outcome.outputs == {"out": "y"} and events.nodes("node_skipped") == ["dead", "after"]


def test_fan_out_branches_run_in_parallel_and_join_once():
    width = 4
    everyone_started = threading.Barrier(width, timeout=10)  # passes only if all branches run at once
    threads = set()

    def call_model(call):
        threads.add(threading.current_thread().name)
        everyone_started.wait()
        return ModelReply(text=call.node_id, model="m")

    branches = [f"b{i}" for i in range(width)]
    data = graph(
        [
            input_node("topic"),
            *[node(b, "llm", prompt="go") for b in branches],
            node("join", "template", template="{% for b in ['b0','b1','b2','b3'] %}{{ nodes[b].output }}{% endfor %}"),
            output_node(out="{{ nodes.join.output }}"),
        ],
        [f"start->{b}" for b in branches] + [f"{b}->join" for b in branches] + ["join->end"],
    )
    outcome, events = run(data, inputs={"topic": "x"}, call_model=call_model)
    assert outcome.outputs == {"out": "b0b1b2b3"}
    assert len(threads) == width and events.nodes("node_started").count("join") == 1


def test_retry_with_exponential_backoff_then_success():
    call_model, calls = scripted_model({"flaky": [RuntimeError("503"), RuntimeError("503 again"), "fine"]})
    data = graph(
        [input_node("topic"), node("flaky", "llm", prompt="p"), output_node(out="{{ nodes.flaky.output }}")],
        ["start->flaky", "flaky->end"],
    )
    data["nodes"][1]["retry"] = {"attempts": 3, "backoff_s": 0.001, "backoff_factor": 3}
    outcome, events = run(data, inputs={"topic": "x"}, call_model=call_model)
    assert outcome.outputs == {"out": "fine"}
    assert events.data("node_retrying", "flaky") == [
        {"error": "RuntimeError: 503", "attempt": 1, "delay_s": 0.001},
        {"error": "RuntimeError: 503 again", "attempt": 2, "delay_s": 0.003},
    ]
    assert [d["attempt"] for d in events.data("node_started", "flaky")] == [1, 2, 3]
    assert events.data("node_succeeded", "flaky")[0]["attempts"] == 3
    assert [c.call_key for c in calls] == ["flaky#a1#j0", "flaky#a2#j0", "flaky#a3#j0"]


def test_failing_node_fails_the_run_naming_the_node_and_nothing_after_runs():
    call_model, _ = scripted_model({"bad": [RuntimeError("model exploded")]})
    data = graph(
        [input_node("topic"), node("bad", "llm", prompt="p"), node("after", "template", template="x"), output_node()],
        ["start->bad", "bad->after", "after->end"],
    )
    outcome, events = run(data, inputs={"topic": "x"}, call_model=call_model)
    assert outcome.status == "failed"
    assert outcome.error == "node 'bad' failed: RuntimeError: model exploded"
    assert events.data("node_failed", "bad") == [{"error": "RuntimeError: model exploded", "attempts": 1}]
    assert "after" not in events.nodes("node_started")


def test_slow_node_fails_with_a_timeout():
    release = threading.Event()

    def call_model(call):
        release.wait(10)  # blocks until the test is over; the engine must not wait for it
        return ModelReply(text="late", model="m")

    data = graph([input_node("topic"), node("slow", "llm", prompt="p"), output_node()], ["start->slow", "slow->end"])
    data["nodes"][1]["timeout_s"] = 0.2
    try:
        outcome, events = run(data, inputs={"topic": "x"}, call_model=call_model)
    finally:
        release.set()
    assert outcome.status == "failed" and "timed out after 0.2s" in outcome.error


def test_on_error_continue_makes_the_output_null_and_runs_downstream():
    call_model, _ = scripted_model({"bad": [RuntimeError("nope")]})
    data = graph(
        [
            input_node("topic"),
            node("bad", "llm", prompt="p"),
            output_node(out="{{ nodes.bad.output }}", err="{{ nodes.bad.error }}", status="{{ nodes.bad.status }}"),
        ],
        ["start->bad", "bad->end"],
    )
    data["nodes"][1]["on_error"] = "continue"
    outcome, events = run(data, inputs={"topic": "x"}, call_model=call_model)
    assert outcome.status == "succeeded"
    assert outcome.outputs == {"out": None, "err": "RuntimeError: nope", "status": "failed"}


def test_on_error_branch_follows_only_the_error_outlet():
    call_model, _ = scripted_model({"bad": [RuntimeError("nope")]})
    data = graph(
        [
            input_node("topic"),
            node("bad", "llm", prompt="p"),
            node("happy", "template", template="ok"),
            node("sorry", "template", template="handled {{ nodes.bad.error }}"),
            output_node(happy="{{ nodes.happy.output }}", sorry="{{ nodes.sorry.output }}"),
        ],
        ["start->bad", "bad->happy", "bad->sorry:error", "happy->end", "sorry->end"],
    )
    data["nodes"][1]["on_error"] = "branch"
    outcome, events = run(data, inputs={"topic": "x"}, call_model=call_model)
    assert outcome.outputs == {"happy": None, "sorry": "handled RuntimeError: nope"}
    assert events.nodes("node_skipped") == ["happy"]


def test_on_error_branch_error_outlet_is_dead_when_the_node_succeeds():
    data = graph(
        [
            input_node("topic"),
            node("fine", "template", template="ok"),
            node("sorry", "template", template="x"),
            output_node(out="{{ nodes.fine.output }}"),
        ],
        ["start->fine", "fine->sorry:error", "fine->end", "sorry->end"],
    )
    data["nodes"][1]["on_error"] = "branch"
    outcome, events = run(data, inputs={"topic": "x"})
    assert outcome.outputs == {"out": "ok"} and events.nodes("node_skipped") == ["sorry"]


def test_cancelled_run_stops_before_the_next_node_starts():
    data = graph(
        [
            input_node("topic"),
            node("first", "template", template="1"),
            node("second", "template", template="2"),
            output_node(),
        ],
        ["start->first", "first->second", "second->end"],
    )
    events = Recorder()
    outcome, _ = run(
        data, inputs={"topic": "x"}, recorder=events, is_cancelled=lambda: "first" in events.nodes("node_succeeded")
    )
    assert outcome.status == "cancelled" and "'second'" in outcome.error
    assert events.nodes("node_started") == ["start", "first"]


def test_one_compiled_graph_runs_concurrently_with_separate_hooks():
    data = graph(
        [
            input_node("topic"),
            node("draft", "llm", prompt="{{ inputs.topic }}"),
            output_node(out="{{ nodes.draft.output }}"),
        ],
        ["start->draft", "draft->end"],
    )
    compiled = compile_graph(parse_graph(data), checkpointer=None)

    def one_run(topic: str) -> tuple[str, list[str]]:
        events = Recorder()
        outcome = run_graph(
            compiled, run_id=topic, inputs={"topic": topic}, hooks=RunHooks(emit=events, call_model=echo_model)
        )
        return outcome.outputs["out"], [d["text"] for d in events.data("token", "draft")]

    topics = [f"topic-{i}" for i in range(8)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(one_run, topics))
    for topic, (out, tokens) in zip(topics, results):
        assert out == f"echo: {topic}" and "".join(tokens) == out
