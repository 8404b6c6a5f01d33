"""Each node type, run inside a small graph through the real engine."""

from __future__ import annotations

import threading

from orchestra.engine import ModelReply, node_type_catalog
from tests.engine.support import graph, input_node, node, output_node, run, scripted_model


def one_node(middle: dict, **outputs: str) -> dict:
    return graph(
        [input_node("topic"), middle, output_node(**outputs)], ["start->" + middle["id"], middle["id"] + "->end"]
    )


def test_catalog_lists_every_type_with_a_json_schema_and_outlets():
    catalog = {entry["type"]: entry for entry in node_type_catalog()}
    assert set(catalog) == {
        "input",
        "output",
        "llm",
        "agent",
        "template",
        "condition",
        "http",
        "map",
        "approval",
        "subworkflow",
    }
    assert all(entry["category"] in {"Flow", "AI", "Data", "Integration", "Human"} for entry in catalog.values())
    llm_schema = catalog["llm"]["config_schema"]["properties"]
    assert llm_schema["prompt"]["format"] == "template" and llm_schema["model"]["format"] == "model"
    assert catalog["condition"]["outlets"] == ["else"] and catalog["condition"]["dynamic"] is True
    assert catalog["approval"]["outlets"] == ["approved", "rejected"] and "dynamic" not in catalog["approval"]


def test_input_node_outputs_the_inputs_and_exposes_each_as_a_field():
    outcome, _ = run(
        one_node(
            node("t", "template", template="{{ nodes.start.topic }}/{{ nodes.start.output.topic }}"),
            out="{{ nodes.t.output }}",
        ),
        inputs={"topic": "cats"},
    )
    assert outcome.outputs == {"out": "cats/cats"}


def test_output_node_keeps_the_type_of_a_single_expression():
    outcome, _ = run(
        one_node(
            node("t", "template", template='{"n": [1, 2]}', output="json"),
            whole="{{ nodes.t.output }}",
            text="n={{ nodes.t.output.n }}",
            fixed="plain",
        ),
        inputs={"topic": "x"},
    )
    assert outcome.outputs == {"whole": {"n": [1, 2]}, "text": "n=[1, 2]", "fixed": "plain"}


def test_a_single_expression_must_give_a_json_value():
    outcome, _ = run(
        one_node(node("t", "template", template="x"), numbers="{{ range(3) | list }}", bad="{{ range(3) }}"),
        inputs={"topic": "x"},
    )
    assert outcome.status == "failed" and "'range(3)' gives a range, which is not a JSON value" in outcome.error


def test_template_node_fails_when_json_output_does_not_parse():
    outcome, events = run(
        one_node(node("t", "template", template="{{ inputs.topic }}", output="json")), inputs={"topic": "not json"}
    )
    assert outcome.status == "failed" and "'t'" in outcome.error and "not JSON" in outcome.error
    assert events.nodes("node_failed") == ["t"]


def test_templates_are_sandboxed():
    outcome, _ = run(
        one_node(node("t", "template", template="{{ inputs.topic.__class__.__mro__ }}")), inputs={"topic": "x"}
    )
    assert outcome.status == "failed" and "unsafe" in outcome.error


def test_condition_takes_the_first_true_branch_and_skips_the_others():
    data = graph(
        [
            input_node("topic"),
            node(
                "route",
                "condition",
                branches=[
                    {"name": "short", "when": "inputs.topic | length < 3"},
                    {"name": "cats", "when": "'cat' in inputs.topic"},
                    {"name": "also_cats", "when": "'cat' in inputs.topic"},
                ],
            ),
            node("a", "template", template="short"),
            node("b", "template", template="cats"),
            node("c", "template", template="also"),
            node("d", "template", template="else"),
            output_node(route="{{ nodes.route.output }}"),
        ],
        [
            "start->route",
            "route->a:short",
            "route->b:cats",
            "route->c:also_cats",
            "route->d:else",
            "a->end",
            "b->end",
            "c->end",
            "d->end",
        ],
    )
    outcome, events = run(data, inputs={"topic": "my cat"})
    assert outcome.outputs == {"route": "cats"}
    assert events.nodes("node_succeeded") == ["start", "route", "b", "end"]
    assert sorted(events.nodes("node_skipped")) == ["a", "c", "d"]
    outcome, events = run(data, inputs={"topic": "dogs"})
    assert outcome.outputs == {"route": "else"} and "d" in events.nodes("node_succeeded")


def test_llm_node_sends_system_and_prompt_streams_tokens_and_reports_usage():
    outcome, events = run(
        one_node(
            node(
                "draft",
                "llm",
                system="Be brief.",
                prompt="About {{ inputs.topic }}",
                temperature=0.2,
                max_tokens=9,
                stop=["\n"],
                metadata={"team": "blog"},
            ),
            post="{{ nodes.draft.output }}",
            model="{{ nodes.draft.model }}",
        ),
        inputs={"topic": "cats"},
    )
    assert outcome.outputs == {"post": "echo: About cats", "model": "echo-1"}
    assert [d["text"] for d in events.data("token", "draft")] == ["echo:", " About cats"]
    [started] = events.data("node_started", "draft")
    assert started["input"]["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "About cats"},
    ]
    [succeeded] = events.data("node_succeeded", "draft")
    assert succeeded["model"] == "echo-1" and succeeded["tokens_in"] == 2 and succeeded["cost"] == 0.5


def test_llm_model_call_carries_config_and_a_deterministic_call_key():
    call_model, calls = scripted_model({"draft": ["hi"]})
    run(
        one_node(
            node(
                "draft",
                "llm",
                model="small",
                prompt="p",
                temperature=0.3,
                max_tokens=5,
                stop=["x"],
                metadata={"k": "v"},
            )
        ),
        inputs={"topic": "x"},
        call_model=call_model,
    )
    [call] = calls
    assert (call.call_key, call.model, call.temperature, call.max_tokens, call.stop, call.metadata) == (
        "draft#a1#j0",
        "small",
        0.3,
        5,
        ["x"],
        {"k": "v"},
    )


def test_llm_json_output_is_parsed_validated_and_retried_with_the_error_shown():
    schema = {"type": "object", "properties": {"label": {"enum": ["spam", "ham"]}}, "required": ["label"]}
    call_model, calls = scripted_model(
        {"classify": ["not json", '{"label": "eggs"}', '```json\n{"label": "spam"}\n```']}
    )
    outcome, events = run(
        one_node(
            node("classify", "llm", prompt="{{ inputs.topic }}", output="json", json_schema=schema),
            label="{{ nodes.classify.output.label }}",
        ),
        inputs={"topic": "buy now"},
        call_model=call_model,
    )
    assert outcome.outputs == {"label": "spam"}
    assert [c.call_key for c in calls] == ["classify#a1#j0", "classify#a1#j1", "classify#a1#j2"]
    assert "JSON Schema" in calls[0].messages[0]["content"]
    assert calls[2].messages[-2:] == [
        {"role": "assistant", "content": '{"label": "eggs"}'},
        {
            "role": "user",
            "content": "the reply does not match the schema at label: 'eggs' is not one of "
            "['spam', 'ham']. Reply again with only valid JSON.",
        },
    ]
    assert events.data("node_succeeded", "classify")[0]["tokens_in"] == 3  # summed over the three calls


def test_llm_json_output_fails_after_json_retries_are_spent():
    call_model, calls = scripted_model({"j": ["no", "still no"]})
    outcome, _ = run(
        one_node(node("j", "llm", prompt="p", output="json", json_retries=1)),
        inputs={"topic": "x"},
        call_model=call_model,
    )
    assert outcome.status == "failed" and "not JSON" in outcome.error and len(calls) == 2


def test_subworkflow_runs_through_the_hook_with_rendered_inputs():
    seen = []

    def run_workflow(workflow_id: str, inputs: dict, **call) -> dict:
        seen.append((workflow_id, inputs))
        return {"answer": inputs["q"].upper(), "n": inputs["n"]}

    outcome, _ = run(
        one_node(
            node("sub", "subworkflow", workflow="wf-7", inputs={"q": "{{ inputs.topic }}", "n": "{{ 2 }}"}),
            answer="{{ nodes.sub.answer }}",
            n="{{ nodes.sub.output.n }}",
        ),
        inputs={"topic": "hi"},
        run_workflow=run_workflow,
    )
    assert seen == [("wf-7", {"q": "hi", "n": 2})] and outcome.outputs == {"answer": "HI", "n": 2}


def test_subworkflow_failure_or_missing_hook_fails_the_node():
    def run_workflow(workflow_id: str, inputs: dict, **call) -> dict:
        raise RuntimeError("child run failed at node 'x'")

    data = one_node(node("sub", "subworkflow", workflow="wf-7"))
    outcome, _ = run(data, inputs={"topic": "x"}, run_workflow=run_workflow)
    assert outcome.status == "failed" and "child run failed" in outcome.error
    outcome, _ = run(data, inputs={"topic": "x"})
    assert outcome.status == "failed" and "no run_workflow hook" in outcome.error


def test_map_runs_an_inline_node_per_item_with_the_concurrency_cap_and_keeps_item_order():
    in_flight, peak, lock = [0], [0], threading.Lock()
    pair = threading.Barrier(2, timeout=10)  # two at a time must overlap, or this times out

    def call_model(call):
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        pair.wait()
        with lock:
            in_flight[0] -= 1
        return ModelReply(text=call.messages[-1]["content"].upper(), model="m", tokens_in=1, tokens_out=1)

    data = one_node(
        node(
            "each",
            "map",
            items="inputs.topic.split()",
            concurrency=2,
            node={"type": "llm", "config": {"prompt": "{{ index }}:{{ item }}"}},
        ),
        results="{{ nodes.each.output }}",
    )
    outcome, events = run(data, inputs={"topic": "a b c d e f"}, call_model=call_model)
    assert outcome.outputs == {"results": ["0:A", "1:B", "2:C", "3:D", "4:E", "5:F"]}
    assert peak[0] == 2
    assert events.data("node_succeeded", "each")[0]["tokens_in"] == 6


def test_map_call_keys_include_the_item_index():
    call_model, calls = scripted_model({"each": ["x", "y"]})
    run(
        one_node(
            node("each", "map", items="[1, 2]", concurrency=1, node={"type": "llm", "config": {"prompt": "{{ item }}"}})
        ),
        inputs={"topic": "x"},
        call_model=call_model,
    )
    assert sorted(c.call_key for c in calls) == ["each#a1#m0#j0", "each#a1#m1#j0"]


def test_map_runs_a_workflow_per_item_and_names_the_failing_item():
    def run_workflow(workflow_id: str, inputs: dict, **call) -> dict:
        if inputs["word"] == "bad":
            raise ValueError("no")
        return {"len": len(inputs["word"])}

    data = one_node(
        node("each", "map", items="inputs.topic.split()", workflow="wf-len", inputs={"word": "{{ item }}"}),
        lens="{{ nodes.each.output | map(attribute='len') | list }}",
    )
    outcome, _ = run(data, inputs={"topic": "a bb ccc"}, run_workflow=run_workflow)
    assert outcome.outputs == {"lens": [1, 2, 3]}
    outcome, _ = run(data, inputs={"topic": "a bad"}, run_workflow=run_workflow)
    assert outcome.status == "failed" and "item 1: ValueError: no" in outcome.error


def test_map_items_must_be_a_list():
    outcome, _ = run(
        one_node(node("each", "map", items="inputs.topic", node={"type": "template", "config": {"template": "x"}})),
        inputs={"topic": "abc"},
    )
    assert outcome.status == "failed" and "items must be a list" in outcome.error
