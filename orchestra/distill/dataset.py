"""Trace records -> filtered, deduplicated, split, tokenised training examples.

A record is a plain dict, as the platform's traces or a JSONL file provide it:
    {"messages": [{"role": ..., "content": ...}, ...],   # the prompt sent to the teacher
     "output": "...",                                    # the teacher's reply
     "golden_output": "..." | None,                      # a human's correction, wins over output
     "topk": [[{"token_id": 17, "logprob": -0.1}, ...], ...] | None,   # per reply token (vLLM style)
     "model": "...", "node": "...", "created_at": "2026-01-01T00:00:00Z", "status": "ok",
     "metadata": {...},
     "tools": [{"type": "function", "function": {...}}] | None,   # offered to the teacher (agents)
     "tool_calls": [{"id", "type": "function", "function": {"name", "arguments"}}] | None,  # the reply's calls
     "trajectory": false,      # true: an agent's run, every assistant turn of `messages` is a target too
     "turns": [{"tool_choice": "auto", "response_format": null}, ...] | None,  # per target turn, for replay
     "outcome": {"approved": true} | None}   # what happened after the run (semantic verification)

Messages are OpenAI's: assistant turns may carry `tool_calls`, tool results are `tool` turns. What
the student learns to write for an assistant turn is what its chat template renders for it (tool
calls as Hermes/Qwen `<tool_call>` blocks, orchestra.inference.toolcalls), exactly what it writes at
inference; system, user and tool turns are context without loss. A golden output may hold
`<tool_call>` blocks: it is then a golden tool-call turn.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

import torch

from orchestra.distill.config import DataConfig, FilterConfig
from orchestra.distill.verify import Judge, verification_summary, verify
from orchestra.inference.toolcalls import OPEN, ToolCallSplitter, template_messages

IGNORE_INDEX = -100


class DatasetError(ValueError):
    """The data cannot make a training set; the message says why and what would fix it."""


@dataclass
class Example:
    messages: list[dict[str, Any]]
    teacher_output: str
    golden_output: str | None = None
    topk: list | None = None
    key: str = ""
    tools: list[dict[str, Any]] | None = None
    tool_calls: list[dict[str, Any]] | None = None  # the teacher's reply called these (OpenAI's shape)
    trajectory: bool = False  # the assistant turns of `messages` are targets too
    turns: list[dict[str, Any]] | None = None  # per target turn: the tool_choice and response_format it was asked with
    group: str = ""  # what the split goes by: the task, so one task's turns never land in two splits
    checks: dict[str, bool | None] = field(default_factory=dict)  # verification stage -> passed (None: no signal)
    problems: dict[str, str] = field(default_factory=dict)  # verification stage -> why it failed

    @property
    def target(self) -> str:
        """What the student learns to say: the human's answer where there is one."""
        return self.golden_output if self.golden_output is not None else self.teacher_output

    @property
    def reply(self) -> dict[str, Any]:
        """The assistant turn the student learns to write: the golden one where there is one."""
        if self.golden_output is not None:
            return assistant_message(self.golden_output)
        content = (self.teacher_output or None) if self.tool_calls else self.teacher_output
        return {"role": "assistant", "content": content, "tool_calls": self.tool_calls}

    @property
    def conversation(self) -> list[dict[str, Any]]:
        return [*self.messages, self.reply]

    def target_turns(self) -> list[int]:
        """Indices in `conversation` of the assistant turns that are loss targets."""
        last = len(self.messages)
        if not self.trajectory:
            return [last]
        return [i for i, m in enumerate(self.messages) if m.get("role") == "assistant"] + [last]


def assistant_message(text: str) -> dict[str, Any]:
    """An assistant turn from text that may hold `<tool_call>` blocks (a golden tool-call turn)."""
    if OPEN not in text:
        return {"role": "assistant", "content": text, "tool_calls": None}
    splitter = ToolCallSplitter()
    splitter.feed(text)
    try:
        content, calls = splitter.finish(cut_off=False)
    except (ValueError, KeyError, TypeError) as error:
        raise DatasetError(f"a golden tool-call turn must hold well-formed <tool_call> blocks: {error}") from None
    return {"role": "assistant", "content": content or None, "tool_calls": [c.as_openai() for c in calls] or None}


@dataclass
class Splits:
    train: list[Example]
    validation: list[Example]
    test: list[Example]
    matched: int = 0
    duplicates: int = 0
    refusals: list[str] = field(default_factory=list)
    verification: dict[str, Any] = field(default_factory=dict)  # verify.summary() of the distinct examples


# --- sources -------------------------------------------------------------------------------------


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    records = []
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as error:
                    raise DatasetError(f"{path}:{number}: not valid JSON ({error.msg})") from None
    return records


def load_records(config: DataConfig, records: Iterable[dict[str, Any]] | None = None) -> Iterable[dict[str, Any]]:
    if records is not None:
        return records
    if config.source == "records":
        raise DatasetError('data.source is "records" but no records were passed; give a JSONL path or records')
    return read_jsonl(config.source)


# --- filters -------------------------------------------------------------------------------------


def _timestamp(value: Any) -> datetime | None:
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def condition_matches(metadata: dict[str, Any], condition: dict[str, Any]) -> bool:
    """Evaluate one Bedrock-style metadata condition (see FilterConfig)."""
    if len(condition) != 1:
        raise DatasetError(f"a metadata condition has exactly one operator, got {sorted(condition)}")
    ((operator, operand),) = condition.items()
    if operator == "all":
        return all(condition_matches(metadata, c) for c in operand)
    if operator == "any":
        return any(condition_matches(metadata, c) for c in operand)
    if operator == "equals":
        return operand["key"] in metadata and metadata[operand["key"]] == operand["value"]
    if operator == "not_equals":
        return metadata.get(operand["key"]) != operand["value"]
    if operator == "in":
        return operand["key"] in metadata and metadata[operand["key"]] in operand["values"]
    raise DatasetError(f"unknown metadata operator {operator!r}; use equals, not_equals, in, all or any")


def record_matches(record: dict[str, Any], filters: FilterConfig) -> bool:
    if filters.model is not None and record.get("model") not in filters.model:
        return False
    if filters.node is not None and record.get("node") not in filters.node:
        return False
    if filters.status is not None and record.get("status") not in filters.status:
        return False
    if filters.since is not None or filters.until is not None:
        created = _timestamp(record.get("created_at"))
        if created is None:
            return False
        if filters.since is not None and created < _timestamp(filters.since):
            return False
        if filters.until is not None and created >= _timestamp(filters.until):
            return False
    if filters.metadata is not None and not condition_matches(record.get("metadata") or {}, filters.metadata):
        return False
    return True


# --- examples and splits -------------------------------------------------------------------------


def prompt_key(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> str:
    """Stable identity of a prompt: dedupe, split and the offline teacher store all key on it."""
    canonical = json.dumps([[m["role"], m["content"], *_calls_identity(m)] for m in messages], ensure_ascii=False)
    if tools:  # the same words with other tools offered are another prompt
        canonical += json.dumps(tools, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _calls_identity(message: dict[str, Any]) -> list:
    """A turn's tool calls by name and arguments: call ids are random and say nothing about the prompt."""
    calls = message.get("tool_calls")
    return [[[c["function"]["name"], c["function"]["arguments"]] for c in calls]] if calls else []


def split_of(key: str, *, validation_fraction: float, test_fraction: float) -> str:
    """Deterministic split from the prompt hash: the same prompt always lands in the same split."""
    position = int(key[:12], 16) / 16**12
    if position < test_fraction:
        return "test"
    if position < test_fraction + validation_fraction:
        return "validation"
    return "train"


def example_from(record: dict[str, Any], number: int = 0) -> Example:
    """One record as an Example; `number` names it in errors."""
    messages = record.get("messages")
    if (
        not isinstance(messages, list)
        or not messages
        or not all(isinstance(m, dict) and "role" in m and ("content" in m or m.get("tool_calls")) for m in messages)
    ):
        raise DatasetError(f"record {number}: 'messages' must be a non-empty list of {{role, content}}")
    tool_calls = record.get("tool_calls") or None
    if (
        not isinstance(record.get("output"), str)
        and not isinstance(record.get("golden_output"), str)
        and not tool_calls
    ):
        raise DatasetError(
            f"record {number}: needs a string 'output' (the teacher's reply), 'tool_calls' or 'golden_output'"
        )
    tools = record.get("tools") or None
    if tools is not None and not isinstance(tools, list):
        raise DatasetError(f"record {number}: 'tools' must be a list of OpenAI tool definitions")
    trajectory = bool(record.get("trajectory"))
    first_reply = next((i for i, m in enumerate(messages) if m["role"] == "assistant"), len(messages))
    return Example(
        messages=messages,
        teacher_output=record.get("output") or "",
        golden_output=record.get("golden_output"),
        topk=record.get("topk"),
        key=prompt_key(messages, tools),
        tools=tools,
        tool_calls=tool_calls,
        trajectory=trajectory,
        turns=record.get("turns"),
        group=prompt_key(messages[:first_reply], tools) if trajectory else prompt_key(messages, tools),
    )


def held_out_examples(records: Iterable[dict[str, Any]], filters: FilterConfig) -> list[Example]:
    """An external held-out set as it is: every matching record, deduplicated by prompt (a golden
    label on any duplicate wins), never split, verified or capped."""
    by_key: dict[str, Example] = {}
    for number, record in enumerate(records, 1):
        if record_matches(record, filters):
            example = example_from(record, number)
            kept = by_key.setdefault(example.key, example)
            if example.golden_output is not None:
                kept.golden_output = example.golden_output
    return list(by_key.values())


def upsample_golden(train: list[Example], share: float, seed: int) -> list[Example]:
    """Repeat golden examples until they are `share` of the mix (never drops teacher examples)."""
    golden = [e for e in train if e.golden_output is not None]
    others = len(train) - len(golden)
    if not golden or share <= len(golden) / len(train):
        return train
    wanted = round(share * others / (1 - share))
    extra = [golden[i % len(golden)] for i in range(wanted - len(golden))]
    mixed = train + extra
    random.Random(seed).shuffle(mixed)
    return mixed


def build_splits(records: Iterable[dict[str, Any]], config: DataConfig, *, judge: Judge | None = None) -> Splits:
    """Filter, dedupe by prompt (a golden label on any duplicate wins), verify (verify.py: the stages
    in data.verify must pass), cap, split; never raises for too few examples but lists refusal
    reasons, so preview() can show them."""
    by_key: dict[str, Example] = {}
    outcomes: dict[str, dict[str, Any]] = {}
    matched = 0
    for number, record in enumerate(records, 1):
        if not record_matches(record, config.filters):
            continue
        matched += 1
        example = example_from(record, number)
        kept = by_key.setdefault(example.key, example)
        if kept is not example and example.golden_output is not None:
            kept.golden_output = example.golden_output
        outcomes[example.key] = outcomes.get(example.key, {}) | (record.get("outcome") or {})
    distinct = sorted(by_key.values(), key=lambda e: e.key)
    for example in distinct:
        verify(example, outcome=outcomes[example.key], judge=judge)
    examples = [e for e in distinct if all(e.checks[stage] is True for stage in config.verify)]
    refusals = []
    if len(examples) < config.min_examples:
        verified = f" and pass verification ({', '.join(config.verify)})" if config.verify else ""
        refusals.append(
            f"only {len(examples)} distinct prompts match the filters{verified} (of {matched} matching "
            f"records); at least data.min_examples={config.min_examples} are needed: collect more "
            f"traces, widen the filters or lower min_examples"
        )
    if len(examples) > config.max_examples:
        examples = sorted(random.Random(config.seed).sample(examples, config.max_examples), key=lambda e: e.key)
    parts: dict[str, list[Example]] = {"train": [], "validation": [], "test": []}
    for example in examples:
        parts[
            split_of(
                example.group or example.key,
                validation_fraction=config.validation_fraction,
                test_fraction=config.test_fraction,
            )
        ].append(example)
    if examples and not parts["train"]:
        refusals.append("the split left no training examples; lower validation_fraction/test_fraction")
    train = parts["train"]
    if config.golden_share is not None and train:
        train = upsample_golden(train, config.golden_share, config.seed)
    return Splits(
        train=train,
        validation=parts["validation"],
        test=parts["test"],
        matched=matched,
        duplicates=matched - len(by_key),
        refusals=refusals,
        verification=verification_summary(distinct, required=config.verify),
    )


def prepare_splits(records: Iterable[dict[str, Any]], config: DataConfig, *, judge: Judge | None = None) -> Splits:
    splits = build_splits(records, config, judge=judge)
    if splits.refusals:
        raise DatasetError("; ".join(splits.refusals))
    return splits


# --- tokenisation --------------------------------------------------------------------------------


@dataclass
class TokenizedExample:
    input_ids: list[int]
    labels: list[int]
    key: str


def tokenize(example: Example, tokenizer, *, max_seq_len: int) -> TokenizedExample:
    """The conversation through the student's chat template, exactly what the student sees and
    writes at inference: loss on each target turn's reply and its end-of-turn token only. Over-long
    examples lose their beginning first (a reply longer than max_seq_len alone keeps its beginning)."""
    input_ids: list[int] = []
    labels: list[int] = []
    for context, reply in turn_texts(example, tokenizer):
        context_ids = tokenizer.encode(context, add_special_tokens=False)
        reply_ids = tokenizer.encode(reply, add_special_tokens=False)[: max_seq_len - 1] + [tokenizer.eos_token_id]
        input_ids += context_ids + reply_ids
        labels += [IGNORE_INDEX] * len(context_ids) + reply_ids
    cut = max(0, len(input_ids) - max_seq_len)
    return TokenizedExample(input_ids=input_ids[cut:], labels=labels[cut:], key=example.key)


def turn_texts(example: Example, tokenizer) -> list[tuple[str, str]]:
    """(context, reply) text per target turn, in order; the reply without its end-of-turn token.

    A plain reply is the target text after the prompt with the generation prompt. A turn that calls
    tools, and every turn of a trajectory, is what the template renders for it: the difference
    between the conversation rendered up to the turn (with the generation prompt) and through it.
    """
    conversation = template_messages(example.conversation)

    def render(messages: list[dict[str, Any]], *, prompt: bool) -> str:
        return tokenizer.apply_chat_template(
            messages, tools=example.tools, add_generation_prompt=prompt, tokenize=False
        )

    if not example.trajectory and not conversation[-1].get("tool_calls"):
        return [(render(conversation[:-1], prompt=True), example.target)]
    pairs, done, end_token = [], "", tokenizer.eos_token
    for index in example.target_turns():
        prompt, through = render(conversation[:index], prompt=True), render(conversation[: index + 1], prompt=False)
        if not prompt.startswith(done) or not through.startswith(prompt) or end_token not in through[len(prompt) :]:
            raise DatasetError(
                f"the student's chat template does not render turn {index} of prompt {example.key[:12]} "
                f"as the continuation of the turns before it, ending with {end_token!r}; multi-turn "
                f"targets need a template that renders conversations incrementally"
            )
        reply = through[len(prompt) :].split(end_token, 1)[0]
        pairs.append((prompt[len(done) :], reply))
        done = prompt + reply + end_token
    return pairs


def collate(batch: list[TokenizedExample], *, pad_token_id: int) -> dict[str, torch.Tensor]:
    """Right-pad a batch; padding is masked out of attention and loss."""
    width = max(len(item.input_ids) for item in batch)
    input_ids = torch.full((len(batch), width), pad_token_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
    attention_mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, item in enumerate(batch):
        n = len(item.input_ids)
        input_ids[row, :n] = torch.tensor(item.input_ids)
        labels[row, :n] = torch.tensor(item.labels)
        attention_mask[row, :n] = 1
    return {"input_ids": input_ids, "labels": labels, "attention_mask": attention_mask}


# --- preview -------------------------------------------------------------------------------------


def preview(
    records: Iterable[dict[str, Any]], config: DataConfig, *, tokenizer=None, max_seq_len: int = 1024
) -> dict[str, Any]:
    """What a job would train on, without training: counts, split sizes, token counts, refusals."""
    splits = build_splits(records, config)
    everything = splits.train + splits.validation + splits.test
    summary: dict[str, Any] = {
        "matched": splits.matched,
        "duplicates": splits.duplicates,
        "distinct_prompts": len({e.key for e in everything}),
        "with_golden": len({e.key for e in everything if e.golden_output is not None}),
        "with_topk": len({e.key for e in everything if e.topk}),
        "splits": {"train": len(splits.train), "validation": len(splits.validation), "test": len(splits.test)},
        "refusals": splits.refusals,
        "ok": not splits.refusals,
    }
    if tokenizer is not None and everything:
        sizes = [tokenize(e, tokenizer, max_seq_len=max_seq_len) for e in splits.train]
        summary["tokens"] = {
            "train_total": sum(len(t.input_ids) for t in sizes),
            "train_target": sum(sum(1 for x in t.labels if x != IGNORE_INDEX) for t in sizes),
            "longest": max((len(t.input_ids) for t in sizes), default=0),
        }
    return summary
