import json

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from orchestra.distill.config import DataConfig
from orchestra.distill.dataset import IGNORE_INDEX, build_splits, tokenize
from orchestra.distill.teacher import (
    TeacherError,
    TopKStore,
    check_same_vocabulary,
    final_hidden,
    local_completer,
    relabel,
    score_teacher,
    store_recorded_topk,
)
from orchestra.distill.dataset import collate
from tests.distill.support import other_tokenizer, ticket_records


def examples(n: int = 6, **kwargs):
    config = DataConfig(min_examples=1, validation_fraction=0, test_fraction=0)
    return build_splits(ticket_records(n, **kwargs), config).train


def test_mismatched_tokenizers_are_refused_for_logit_kd(tiny_family, tmp_path):
    student = AutoTokenizer.from_pretrained(tiny_family["student"])
    with pytest.raises(TeacherError, match="tokenizers differ .* 512 tokens, teacher 400"):
        check_same_vocabulary(student, AutoTokenizer.from_pretrained(other_tokenizer(tmp_path)))
    check_same_vocabulary(student, AutoTokenizer.from_pretrained(tiny_family["teacher"]))


def test_scored_store_holds_the_teachers_top_k_for_every_reply_token(tiny_family, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(tiny_family["student"])
    teacher = AutoModelForCausalLM.from_pretrained(tiny_family["teacher"])
    batch_examples = examples(5)
    store = score_teacher(
        model=teacher,
        tokenizer=tokenizer,
        examples=batch_examples,
        folder=tmp_path / "store",
        top_k=8,
        max_seq_len=256,
        batch_size=2,
        compact=False,
    )
    reopened = TopKStore(tmp_path / "store")
    assert reopened.version == 1 and reopened.meta["index_dtype"] == "uint16" and reopened.bytes_per_token == 8 * 4
    item = tokenize(batch_examples[0], tokenizer, max_seq_len=256)
    indices, logprobs = reopened.rows(item.key)
    assert indices.shape == (sum(t != IGNORE_INDEX for t in item.labels), 8)
    # the first reply token is predicted by the last prompt position
    first = item.labels.index(next(t for t in item.labels if t != IGNORE_INDEX)) - 1
    with torch.no_grad():
        hidden = final_hidden(teacher, collate([item], pad_token_id=tokenizer.pad_token_id))[0, first]
        expected = torch.log_softmax(teacher.get_output_embeddings()(hidden), dim=-1).topk(8)
    assert indices[0].tolist() == expected.indices.tolist()
    assert torch.allclose(logprobs[0], expected.values, atol=2e-3)  # float16 storage
    assert store.meta["tokens"] == reopened.meta["tokens"]


def test_vllm_style_top_k_from_traces_is_stored_aligned_to_the_reply(tiny_family, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(tiny_family["student"])
    example = examples(1)[0]
    reply = [t for t in tokenize(example, tokenizer, max_seq_len=256).labels if t != IGNORE_INDEX]
    # vLLM returns one {token: logprob} dict per generated token; here without the end token's row
    example.topk = [
        {tokenizer.convert_ids_to_tokens(t): -0.1, tokenizer.convert_ids_to_tokens(3): -3.0} for t in reply[:-1]
    ]
    store = store_recorded_topk(
        examples=[example], tokenizer=tokenizer, folder=tmp_path / "s", top_k=4, max_seq_len=256
    )
    indices, logprobs = store.rows(example.key)
    assert indices[:, 0].tolist() == reply  # the end token's row was added with probability 1
    assert logprobs[-1, 0] == pytest.approx(0.0, abs=1e-6) and all(len(set(row)) == 4 for row in indices.tolist())


def test_recorded_top_k_of_another_length_is_refused(tiny_family, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(tiny_family["student"])
    example = examples(1)[0]
    example.topk = [[{"token_id": 5, "logprob": -0.1}]]
    with pytest.raises(TeacherError, match="recorded top-k rows but the reply is"):
        store_recorded_topk(examples=[example], tokenizer=tokenizer, folder=tmp_path / "s", top_k=4, max_seq_len=256)


def test_missing_store_points_to_score_teacher(tmp_path):
    with pytest.raises(TeacherError, match="score-teacher"):
        TopKStore(tmp_path / "nothing")


def test_relabel_replaces_teacher_replies_and_keeps_golden(tiny_family):
    tokenizer = AutoTokenizer.from_pretrained(tiny_family["student"])
    complete = local_completer(
        model=AutoModelForCausalLM.from_pretrained(tiny_family["teacher"]), tokenizer=tokenizer, max_new_tokens=4
    )
    original = examples(3, golden_every=1)
    fresh = relabel(original, complete)
    assert [e.golden_output for e in fresh] == [e.golden_output for e in original]
    assert all(e.teacher_output != o.teacher_output for e, o in zip(fresh, original))
    assert relabel(original, lambda messages: messages[-1]["content"].upper())[0].teacher_output.startswith("TICKET")


def test_compact_store_keeps_the_same_top_k_in_a_third_of_the_bytes(tiny_family, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(tiny_family["student"])
    teacher = AutoModelForCausalLM.from_pretrained(tiny_family["teacher"])
    batch_examples = examples(6)
    common = dict(model=teacher, tokenizer=tokenizer, examples=batch_examples, top_k=32, max_seq_len=256)
    exact = score_teacher(folder=tmp_path / "float16", compact=False, **common)
    compact = score_teacher(folder=tmp_path / "compact", **common)
    assert compact.version == 2 and compact.meta["tokens"] == exact.meta["tokens"]
    assert compact.bytes_per_token < exact.bytes_per_token / 2.5  # 128 B/token at k=32
    for example in batch_examples:
        exact_ids, exact_logprobs = exact.rows(example.key)
        ids, logprobs = TopKStore(tmp_path / "compact").rows(example.key)
        assert torch.equal(ids.sort(dim=1).values, exact_ids.sort(dim=1).values)  # the same k tokens per row
        assert torch.equal(ids[:, 0], exact_ids[:, 0])  # the teacher's choice stays first
        matched = torch.gather(exact_logprobs, 1, (exact_ids[:, :, None] == ids[:, None, :]).int().argmax(1))
        assert (matched - logprobs).abs().max() < 0.4  # 4-bit levels over the row's range, renormalised
        # the mass outside the kept tokens is the teacher's, not the rounding's
        assert torch.allclose(logprobs.exp().sum(1), exact_logprobs.exp().sum(1), atol=0.02)


def test_a_store_without_a_version_is_read_as_the_float16_format(tiny_family, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(tiny_family["student"])
    example = examples(1)[0]
    store = score_teacher(
        model=AutoModelForCausalLM.from_pretrained(tiny_family["teacher"]),
        tokenizer=tokenizer,
        examples=[example],
        folder=tmp_path / "old",
        top_k=4,
        max_seq_len=256,
        compact=False,
    )
    meta = json.loads((tmp_path / "old" / "meta.json").read_text())
    del meta["version"]  # as stores written before the compact format were
    (tmp_path / "old" / "meta.json").write_text(json.dumps(meta))
    old = TopKStore(tmp_path / "old")
    assert old.version == 1 and torch.equal(old.rows(example.key)[0], store.rows(example.key)[0])
