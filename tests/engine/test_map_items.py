"""A map applies its node's run policy to each item: retries per item, and on_error per item."""

from __future__ import annotations

import threading

from orchestra.engine import ModelReply
from tests.engine.support import graph, input_node, node, output_node, run


def map_graph(map_node: dict, **policy) -> dict:
    return graph(
        [
            input_node("words"),
            {**map_node, **policy},
            output_node(results="{{ nodes.each.output }}", failed="{{ nodes.each.failed }}"),
        ],
        ["start->each", "each->end"],
    )


def word_workflow(calls: list[str]):
    """A sub-workflow hook failing for the word "bad"; records every word it is called with."""
    lock = threading.Lock()

    def run_workflow(workflow_id: str, inputs: dict, **call) -> dict:
        with lock:
            calls.append(inputs["word"])
        if inputs["word"] == "bad":
            raise ValueError(f"cannot take {inputs['word']!r}")
        return {"len": len(inputs["word"])}

    return run_workflow


PER_WORD = node(
    "each", "map", items="inputs.words.split()", workflow="wf-len", inputs={"word": "{{ item }}"}, concurrency=1
)


def test_with_on_error_continue_a_failing_items_slot_holds_its_error_and_the_others_their_results():
    calls: list[str] = []
    outcome, events = run(
        map_graph(PER_WORD, on_error="continue"), inputs={"words": "a bad ccc"}, run_workflow=word_workflow(calls)
    )
    assert outcome.status == "succeeded"
    assert outcome.outputs == {
        "results": [{"len": 1}, {"error": "ValueError: cannot take 'bad'"}, {"len": 3}],
        "failed": [1],
    }
    assert events.data("item_failed", "each") == [{"item": 1, "error": "ValueError: cannot take 'bad'", "attempts": 1}]
    assert events.nodes("node_succeeded").count("each") == 1


def test_a_failing_item_is_retried_on_its_own_with_call_keys_of_its_own():
    failed_once: set[str] = set()
    keys: list[str] = []

    def call_model(call):
        keys.append(call.call_key)
        prompt = call.messages[-1]["content"]
        if prompt == "b" and prompt not in failed_once:
            failed_once.add(prompt)
            raise RuntimeError("overloaded")
        return ModelReply(text=prompt.upper(), model="m", tokens_in=1, tokens_out=1)

    data = map_graph(
        node(
            "each",
            "map",
            items="inputs.words.split()",
            concurrency=1,
            node={"type": "llm", "config": {"prompt": "{{ item }}"}},
        ),
        retry={"attempts": 2},
    )
    outcome, events = run(data, inputs={"words": "a b c"}, call_model=call_model)
    assert outcome.outputs == {"results": ["A", "B", "C"], "failed": []}
    # items a and c ran once: the map was not retried as a whole; b's retry was a new model call
    assert keys == ["each#a1#m0#j0", "each#a1#m1#j0", "each#a1#m1a2#j0", "each#a1#m2#j0"]
    assert [(d["item"], d["attempt"]) for d in events.data("item_retrying", "each")] == [(1, 1)]
    assert events.data("node_retrying", "each") == []
    assert events.data("node_succeeded", "each")[0]["tokens_in"] == 3  # the failed call used nothing


def test_an_item_failing_every_attempt_fails_the_node_and_items_not_started_do_not_run():
    calls: list[str] = []
    outcome, events = run(
        map_graph(PER_WORD, retry={"attempts": 3}), inputs={"words": "a bad c d"}, run_workflow=word_workflow(calls)
    )
    assert outcome.status == "failed" and "item 1: ValueError: cannot take 'bad'" in outcome.error
    assert calls == ["a", "bad", "bad", "bad"]
    assert events.data("item_failed", "each")[0]["attempts"] == 3


def test_with_on_error_branch_a_failing_item_takes_the_error_outlet():
    data = graph(
        [
            input_node("words"),
            {**PER_WORD, "on_error": "branch"},
            output_node("ok", done="{{ nodes.each.output }}"),
            output_node("oops", error="{{ nodes.each.error }}"),
        ],
        ["start->each", "each->ok", "each->oops:error"],
    )
    outcome, _ = run(data, inputs={"words": "a bad"}, run_workflow=word_workflow([]))
    assert outcome.outputs == {"error": "ItemFailed: item 1: ValueError: cannot take 'bad'"}


def test_a_rerun_keeps_the_results_recorded_for_the_same_items_and_runs_only_the_others():
    calls: list[str] = []
    graph = map_graph(PER_WORD, on_error="continue")
    _, first = run(graph, inputs={"words": "a bad ccc"}, run_workflow=word_workflow(calls))
    recorded = {data["item"]: data for data in first.data("item_succeeded", "each")}
    assert sorted(recorded) == [0, 2] and recorded[2]["result"] == {"len": 3}

    calls.clear()
    outcome, _ = run(
        graph,
        inputs={"words": "a bb dddd"},
        run_workflow=word_workflow(calls),
        recorded_items=lambda node_id: recorded if node_id == "each" else {},
    )
    assert calls == ["bb", "dddd"]  # item 0 is still "a": kept; item 2 is another word now: run
    assert outcome.outputs["results"] == [{"len": 1}, {"len": 2}, {"len": 4}]
