import json

import pytest
from transformers import AutoTokenizer

from orchestra.distill.config import DataConfig
from orchestra.distill.dataset import (
    IGNORE_INDEX,
    DatasetError,
    build_splits,
    collate,
    condition_matches,
    prepare_splits,
    preview,
    split_of,
    tokenize,
    upsample_golden,
)
from tests.distill.support import ticket_records


def data(**overrides) -> DataConfig:
    return DataConfig.model_validate({"min_examples": 1, **overrides})


def test_filters_select_by_model_node_status_and_time():
    records = ticket_records(20) + ticket_records(5, model="other") + ticket_records(5, status="error")
    config = data(
        filters={
            "model": ["big-model"],
            "node": ["extract"],
            "status": ["ok"],
            "since": "2026-01-05T00:00:00Z",
            "until": "2026-01-10T00:00:00Z",
        }
    )
    splits = build_splits(records, config)
    assert splits.matched == 5  # days 5..9 of the 20 good records


@pytest.mark.parametrize(
    "condition, expected",
    [
        ({"equals": {"key": "customer", "value": "acme"}}, True),
        ({"not_equals": {"key": "customer", "value": "acme"}}, False),
        ({"in": {"key": "tier", "values": ["pro", "team"]}}, True),
        (
            {"all": [{"equals": {"key": "customer", "value": "acme"}}, {"equals": {"key": "tier", "value": "free"}}]},
            False,
        ),
        ({"any": [{"equals": {"key": "customer", "value": "x"}}, {"in": {"key": "tier", "values": ["pro"]}}]}, True),
        ({"equals": {"key": "missing", "value": None}}, False),
    ],
)
def test_metadata_conditions_work_like_bedrock_filters(condition, expected):
    assert condition_matches({"customer": "acme", "tier": "pro"}, condition) is expected


def test_unknown_metadata_operator_is_named():
    with pytest.raises(DatasetError, match="'contains'"):
        condition_matches({}, {"contains": {"key": "a", "value": 1}})


def test_duplicate_prompts_are_kept_once_and_a_golden_label_on_any_copy_wins():
    records = ticket_records(10)
    copy = dict(records[3], output="something else", golden_output='{"fixed": true}')
    splits = build_splits(records + [copy], data(validation_fraction=0, test_fraction=0))
    assert splits.duplicates == 1 and len(splits.train) == 10
    kept = [e for e in splits.train if e.golden_output]
    assert len(kept) == 1 and kept[0].target == '{"fixed": true}' and kept[0].teacher_output == records[3]["output"]


def test_too_few_examples_are_refused_with_a_clear_message():
    with pytest.raises(DatasetError, match=r"only 20 distinct prompts .* at least data.min_examples=100"):
        prepare_splits(ticket_records(20), DataConfig())


def test_cap_samples_reproducibly_with_the_seed():
    first = build_splits(ticket_records(300), data(max_examples=100, seed=7))
    again = build_splits(ticket_records(300), data(max_examples=100, seed=7))
    other = build_splits(ticket_records(300), data(max_examples=100, seed=8))
    keys = lambda s: sorted(e.key for e in s.train + s.validation + s.test)  # noqa: E731
    assert len(keys(first)) == 100 and keys(first) == keys(again) != keys(other)


def test_split_is_a_function_of_the_prompt_alone():
    records = ticket_records(400)
    forward = build_splits(records, data())
    backward = build_splits(list(reversed(records)), data())
    assert [e.key for e in forward.test] == [e.key for e in backward.test]
    assert all(split_of(e.key, validation_fraction=0.1, test_fraction=0.1) == "test" for e in forward.test)
    assert 20 < len(forward.test) < 60 and 20 < len(forward.validation) < 60


def test_golden_examples_are_upsampled_to_the_target_share():
    splits = build_splits(
        ticket_records(200, golden_every=10), data(golden_share=0.5, test_fraction=0, validation_fraction=0)
    )
    golden = sum(e.golden_output is not None for e in splits.train)
    assert golden == 180 and len(splits.train) == 360  # 20 golden prompts repeated to match 180 teacher ones
    assert upsample_golden(splits.train, 0.1, seed=0) == splits.train  # already above the share: unchanged


def test_labels_cover_only_the_reply_and_its_end_token(tiny_family):
    tokenizer = AutoTokenizer.from_pretrained(tiny_family["student"])
    example = build_splits(ticket_records(1), data(test_fraction=0, validation_fraction=0)).train[0]
    item = tokenize(example, tokenizer, max_seq_len=512)
    reply = [t for t in item.labels if t != IGNORE_INDEX]
    assert tokenizer.decode(reply[:-1]) == example.teacher_output and reply[-1] == tokenizer.eos_token_id
    prompt = tokenizer.decode(item.input_ids[: len(item.input_ids) - len(reply)])
    assert prompt.endswith("<|im_start|>assistant\n") and "Extract fields as JSON." in prompt
    short = tokenize(example, tokenizer, max_seq_len=len(reply) + 4)  # over-long: the prompt's start goes
    assert len(short.input_ids) == len(reply) + 4 and short.labels[-len(reply) :] == reply


def test_collate_pads_right_and_masks_padding(tiny_family):
    tokenizer = AutoTokenizer.from_pretrained(tiny_family["student"])
    examples = build_splits(ticket_records(3), data(test_fraction=0, validation_fraction=0)).train
    items = [tokenize(e, tokenizer, max_seq_len=512) for e in examples]
    items[0].input_ids, items[0].labels = items[0].input_ids[:-3], items[0].labels[:-3]
    batch = collate(items, pad_token_id=tokenizer.pad_token_id)
    width = max(len(i.input_ids) for i in items)
    assert batch["input_ids"].shape == (3, width)
    assert batch["attention_mask"][0].sum() == len(items[0].input_ids)
    assert (batch["labels"][batch["attention_mask"] == 0] == IGNORE_INDEX).all()


def test_preview_reports_counts_and_refusals_without_training(tiny_family):
    tokenizer = AutoTokenizer.from_pretrained(tiny_family["student"])
    summary = preview(ticket_records(30, golden_every=5), DataConfig(), tokenizer=tokenizer)
    assert summary["matched"] == 30 and summary["with_golden"] == 6 and not summary["ok"]
    assert sum(summary["splits"].values()) == 30 and summary["tokens"]["train_target"] > 0
    assert "min_examples=100" in summary["refusals"][0]


def test_bad_record_is_named_by_its_number():
    with pytest.raises(DatasetError, match="record 2: 'messages'"):
        build_splits([ticket_records(1)[0], {"messages": "hi", "output": "x"}], data())


def test_jsonl_source_reads_records(tmp_path):
    path = tmp_path / "traces.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in ticket_records(12)) + "\n")
    from orchestra.distill.dataset import load_records

    assert len(build_splits(load_records(data(source=str(path))), data()).train) > 0
