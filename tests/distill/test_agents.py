"""Distilling agents in the core: BFCL-style AST matching, multi-turn examples whose every assistant
turn is a target, APIGen-style verification, and step-level replay metrics; then a whole job on
trajectories with the tiny models."""

import json

import pytest
from transformers import AutoTokenizer

from orchestra.distill import run_job
from orchestra.distill.ast_match import call_matches, calls_match, turns_agree, values_equal
from orchestra.distill.config import DataConfig
from orchestra.distill.dataset import IGNORE_INDEX, assistant_message, build_splits, prompt_key, tokenize
from orchestra.distill.steps import Step, StepResult, step_metrics, steps_of
from orchestra.inference.toolcalls import template_messages
from tests.distill.agent_records import call, trajectory


def data(**overrides) -> DataConfig:
    return DataConfig.model_validate({"min_examples": 1, "validation_fraction": 0, "test_fraction": 0, **overrides})


@pytest.mark.parametrize(
    "predicted, expected, same",
    [
        ({"a": 1, "b": "x"}, {"b": "x", "a": 1}, True),  # key order never matters
        ({"amount": 2.0}, {"amount": 2}, True),  # numbers by value
        ({"flag": 1}, {"flag": True}, False),  # a boolean is not a number
        ({"a": 1}, {"a": 1, "b": 2}, False),  # the same keys
        ({"items": [1, 2]}, {"items": [2, 1]}, False),  # lists keep their order
        ({"a": {"b": [1.0, "c"]}}, {"a": {"b": [1, "c"]}}, True),
    ],
)
def test_arguments_match_by_keys_and_values_like_bfcl(predicted, expected, same):
    assert values_equal(predicted, expected) is same


def test_calls_match_by_name_and_arguments_and_parallel_calls_in_any_order():
    refund, lookup = call("refund", {"order": "A1", "amount": 5}), call("lookup", {"order": "A1"})
    assert call_matches({"name": "refund", "arguments": {"amount": 5.0, "order": "A1"}}, refund)
    assert not call_matches(call("refund", {"order": "A1", "amount": 6}), refund)
    assert not call_matches({"function": {"name": "refund", "arguments": "{not json"}}, refund)
    assert calls_match([lookup, refund], [refund, lookup]) and not calls_match([lookup], [refund, lookup])
    assert turns_agree({"content": '{"a": 1, "b": 2}'}, {"content": '{"b": 2, "a": 1.0}'})
    assert not turns_agree({"content": "", "tool_calls": [lookup]}, {"content": ""})


def test_every_assistant_turn_of_a_trajectory_is_a_target_and_nothing_else(tiny_family):
    tokenizer = AutoTokenizer.from_pretrained(tiny_family["student"])
    (example,) = build_splits([trajectory(6)], data()).train
    item = tokenize(example, tokenizer, max_seq_len=2048)
    learned = tokenizer.decode([t for t, label in zip(item.input_ids, item.labels) if label != IGNORE_INDEX])
    assert learned == (
        '<tool_call>\n{"name": "lookup_order", "arguments": {"order_id": "A6"}}\n</tool_call><|im_end|>'
        '{"status": "shipped"}<|im_end|>'
    )
    whole = tokenizer.apply_chat_template(template_messages(example.conversation), tools=example.tools, tokenize=False)
    assert tokenizer.decode(item.input_ids) == whole.removesuffix("\n")  # context is the template's own text


def test_prompts_differ_by_their_tool_calls_and_splits_go_by_the_task():
    one, other = trajectory(1), trajectory(1, arguments={"order_id": "A9"})
    assert prompt_key(one["messages"]) != prompt_key(other["messages"])
    splits = build_splits([one, other], data(validation_fraction=0.5, test_fraction=0.0))
    assert len({e.group for e in splits.train + splits.validation}) == 1
    assert len(splits.train) in (0, 2)  # both turns of one task land in the same split


def test_a_golden_turn_with_tool_call_markup_is_a_golden_tool_call():
    turn = assistant_message('<tool_call>\n{"name": "lookup_order", "arguments": {"order_id": "A2"}}\n</tool_call>')
    assert turn["content"] is None and json.loads(turn["tool_calls"][0]["function"]["arguments"]) == {"order_id": "A2"}


def test_verification_counts_every_stage_and_filters_by_the_required_ones():
    records = [trajectory(n) for n in range(6)]
    records.append(trajectory(6, arguments={"order": "A6"}))  # breaks the tool's schema
    records.append(trajectory(7, result="Error: HTTPError: 503 from the shop"))  # the tool failed
    records.append(trajectory(8, answer="It is on its way."))  # not the JSON asked for
    records.append(trajectory(9, outcome={"approved": False}))  # a person refused the result
    records.append(trajectory(10, outcome={"approved": True}))

    splits = build_splits(records, data())
    check = splits.verification
    assert check["checked"] == 11 and check["required"] == ["format", "execution"]
    assert check["format"] == {"passed": 9, "failed": 2} and check["execution"] == {"passed": 10, "failed": 1}
    assert check["semantic"] == {"passed": 1, "failed": 1, "unknown": 9}
    assert check["passed"] == len(splits.train) == 8
    assert {f["stage"] for f in check["failures"]} == {"format", "execution", "semantic"}
    assert any("order_id" in f["problem"] for f in check["failures"])

    assert len(build_splits(records, data(verify=[])).train) == 11
    assert len(build_splits(records, data(verify=["semantic"])).train) == 1
    accepted = ("order A3?", "order A9?", "order A10?")
    judged = build_splits(
        records,
        data(verify=["semantic"]),
        judge=lambda example: any(text in json.dumps(example.messages) for text in accepted),
    )
    assert len(judged.train) == 2  # A3 and A10; A9 stays refused by its approval


def test_replay_steps_score_tools_arguments_stopping_and_answers():
    (example,) = build_splits([trajectory(4)], data()).train
    first, last = steps_of(example)
    assert (first.tool_choice, last.tool_choice) == ("auto", "none") and last.response_format["type"] == "json_schema"
    assert first.prefix == example.messages[:2] and last.prefix == example.messages

    def result(step: Step, reply: dict) -> StepResult:
        return StepResult(step=step, reply=reply, seconds=0.1, new_tokens=5)

    wrong_argument = {"content": "", "tool_calls": [call("lookup_order", {"order_id": "A5"})]}
    metrics = step_metrics(
        [
            result(first, wrong_argument),
            result(last, {"content": '{"status": "lost"}'}),
            result(first, first.expected),
            result(last, {"content": "lost"}),
            result(first, {"content": "I cannot tell."}),
        ]
    )
    assert metrics["steps"] == 5 and metrics["tool_steps"] == 3
    assert metrics["tool_name_accuracy"] == pytest.approx(2 / 3) and metrics["ast_match"] == pytest.approx(1 / 3)
    assert metrics["should_stop_accuracy"] == pytest.approx(2 / 3)  # the last turns had no choice (tool_choice none)
    assert metrics["final_answer"]["exact_match"] == 0.5 and metrics["step_accuracy"] == pytest.approx(2 / 5)


def test_a_job_on_trajectories_trains_every_turn_and_reports_step_metrics(tiny_family, tmp_path):
    records = [trajectory(n) for n in range(24)] + [trajectory(99, arguments={"order": "A99"})]
    result = run_job(
        {
            "student": {"model": str(tiny_family["student"])},
            "method": "sft",
            "output_dir": str(tmp_path),
            "data": {"min_examples": 8, "validation_fraction": 0.15, "test_fraction": 0.2},
            "lora": {"r": 4, "alpha": 8},
            "train": {"max_steps": 3, "batch_size": 4, "checkpoint_every": None},
            "eval": {"max_new_tokens": 24},
        },
        records=records,
    )
    report = result.report
    assert report["data"]["verification"]["format"]["failed"] == 1
    assert report["data"]["train"] + report["data"]["validation"] + report["data"]["test"] == 24
    steps = report["after"]["steps"]
    assert steps["steps"] == 2 * report["data"]["test"] and steps["tool_steps"] == report["data"]["test"]
    assert 0.0 <= steps["step_accuracy"] <= 1.0 and steps["tool_name_accuracy"] is not None
    assert report["verdict"].startswith("Student takes the teacher's step on") and "step_accuracy" in report["table"]
    assert report["baseline"]["steps"]["steps"] == steps["steps"]


def test_logit_distillation_scores_the_teacher_on_every_turn_of_a_trajectory(tiny_family, tmp_path):
    result = run_job(
        {
            "student": {"model": str(tiny_family["student"])},
            "method": "forward_kl",
            "output_dir": str(tmp_path),
            "teacher": {"kind": "offline", "model": str(tiny_family["teacher"]), "top_k": 8},
            "data": {"min_examples": 4, "validation_fraction": 0.0, "test_fraction": 0.0},
            "lora": {"enabled": False},
            "train": {"max_steps": 2, "batch_size": 4, "checkpoint_every": None},
            "eval": {"enabled": False},
        },
        records=[trajectory(n) for n in range(6)],
    )
    store = result.report["teacher_store"]
    tokenizer = AutoTokenizer.from_pretrained(tiny_family["student"])
    splits = build_splits([trajectory(n) for n in range(6)], data())
    targets = sum(
        sum(label != IGNORE_INDEX for label in tokenize(e, tokenizer, max_seq_len=1024).labels) for e in splits.train
    )
    assert store["tokens"] == targets  # a row per target token of every turn
    assert result.report["training"]["steps"] == 2
