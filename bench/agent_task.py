"""A synthetic order-support task with known correct tool sequences, shared by bench/agent.py and
bench/agent_distill.py.

A customer writes about an order. The agent has three tools and ends with a JSON answer:

    lookup_order(order_id)          -> {"order_id", "status", "amount", "refundable"}
    refund_order(order_id, amount)  -> {"refund_id", "amount"}
    escalate(order_id, reason)      -> {"ticket"}
    answer                          {"resolution": informed|refunded|declined|escalated, "order_id"}

What a correct agent does (`expected_calls`): it always looks the order up first; a refund request
on a refundable order is refunded in full (the order's amount), a non-refundable one is
declined; a missing order that is lost is escalated (reason "lost"); everything else is answered
with what the lookup said. So one or two tool turns, then the answer.

Everything here is plain data: the tools are offered to the agent node as workflow tools
(`describe_tool`) and run in process against a `Shop` per case (`run_workflow`), which records the
refunds and escalations, so task success is checked on what the tools did, not on what the model
said.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestra.engine.hooks import ToolDefinition

INSTRUCTIONS = (
    "You are an order-support agent. Look the order up first. Refund refundable orders in full, "
    "escalate lost ones, else tell the customer. Answer in JSON."
)
RESOLUTIONS = ["informed", "refunded", "declined", "escalated"]
ANSWER_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["resolution", "order_id"],
    "properties": {"resolution": {"type": "string", "enum": RESOLUTIONS}, "order_id": {"type": "string"}},
}
# Short descriptions: every token of the tool list is in every prompt of a small model.
ORDER_ID = {"type": "string"}
TOOLS = [
    {
        "name": "lookup_order",
        "description": "Status, amount and refundability of an order.",
        "parameters": {"type": "object", "required": ["order_id"], "properties": {"order_id": ORDER_ID}},
    },
    {
        "name": "refund_order",
        "description": "Refund an order.",
        "parameters": {
            "type": "object",
            "required": ["order_id", "amount"],
            "properties": {"order_id": ORDER_ID, "amount": {"type": "number", "minimum": 0}},
        },
    },
    {
        "name": "escalate",
        "description": "Hand an order to a person.",
        "parameters": {
            "type": "object",
            "required": ["order_id", "reason"],
            "properties": {"order_id": ORDER_ID, "reason": {"type": "string", "enum": ["lost", "damaged", "other"]}},
        },
    },
]
OPENAI_TOOLS = [{"type": "function", "function": tool} for tool in TOOLS]
# Ids and amounts are written the same way where the agent reads them and where it writes them
# ("K-529" after a hyphen, an amount after "amount":), so a small model can learn to copy them.
ORDER_IDS = [f"K-{n}" for n in random.Random(7).sample(range(100, 1000), 60)]
AMOUNTS = [15, 20, 25, 30, 40, 45, 60, 75, 80, 90]
# Every message ends with the order id, so it sits as far from where the agent writes it as in
# every other case: a tiny model learns to copy from a fixed distance long before it learns to find
# a token anywhere in its context.
MESSAGES = {
    "where": [
        "Where is my order {id}",
        "Has this shipped yet: {id}",
        "Any news on my order {id}",
        "Can you check order {id}",
    ],
    "refund": [
        "Please refund order {id}",
        "I want my money back for order {id}",
        "It arrived broken, refund order {id}",
        "I do not need it, refund {id}",
    ],
    "missing": [
        "My order never arrived: {id}",
        "My parcel is missing, order {id}",
        "I never got order {id}",
        "Still waiting for order {id}",
    ],
}


@dataclass
class Case:
    intent: str  # where | refund | missing
    message: str
    order: dict[str, Any]


def make_case(rng: random.Random) -> Case:
    intent, order_id = rng.choice(list(MESSAGES)), rng.choice(ORDER_IDS)
    status = {
        "where": rng.choice(["processing", "shipped", "delivered"]),
        "refund": "delivered",
        "missing": rng.choice(["lost", "lost", "shipped"]),
    }[intent]
    order = {
        "order_id": order_id,
        "status": status,
        "amount": rng.choice(AMOUNTS),
        "refundable": rng.random() < (0.7 if intent == "refund" else 0.5),
    }
    return Case(intent=intent, message=rng.choice(MESSAGES[intent]).format(id=order_id), order=order)


def make_cases(n: int, *, seed: int) -> list[Case]:
    rng = random.Random(seed)
    return [make_case(rng) for _ in range(n)]


def expected_calls(case: Case) -> list[dict[str, Any]]:
    """The correct tool calls, in order: {"name", "arguments"}."""
    order_id = case.order["order_id"]
    calls = [{"name": "lookup_order", "arguments": {"order_id": order_id}}]
    if case.intent == "refund" and case.order["refundable"]:
        calls.append({"name": "refund_order", "arguments": {"order_id": order_id, "amount": case.order["amount"]}})
    if case.intent == "missing" and case.order["status"] == "lost":
        calls.append({"name": "escalate", "arguments": {"order_id": order_id, "reason": "lost"}})
    return calls


def expected_answer(case: Case) -> dict[str, str]:
    names = [call["name"] for call in expected_calls(case)]
    resolution = (
        "refunded"
        if "refund_order" in names
        else "escalated"
        if "escalate" in names
        else "declined"
        if case.intent == "refund"
        else "informed"
    )
    return {"resolution": resolution, "order_id": case.order["order_id"]}


@dataclass
class Shop:
    """The tools' side of one case: answers lookups, records refunds and escalations."""

    case: Case
    calls: list[dict[str, Any]] = field(default_factory=list)

    def run(self, tool: str, arguments: dict[str, Any], **_call) -> dict[str, Any]:
        """RunHooks.run_workflow for the shop's tools (they never wait, so the call's key and answer
        are not needed)."""
        self.calls.append({"name": tool, "arguments": arguments})
        order = self.case.order
        if arguments.get("order_id") != order["order_id"]:
            raise LookupError(f"there is no order {arguments.get('order_id')!r}")
        if tool == "lookup_order":
            return dict(order)
        if tool == "refund_order":
            if not order["refundable"] or arguments["amount"] > order["amount"]:
                raise ValueError("this order cannot be refunded that much")
            return {"refund_id": "R" + order["order_id"][1:], "amount": arguments["amount"]}
        return {"ticket": "T" + order["order_id"][1:]}

    def side_effects(self) -> list[dict[str, Any]]:
        return [call for call in self.calls if call["name"] != "lookup_order"]


def task_succeeded(case: Case, shop: Shop, answer: Any) -> bool:
    """The right refunds and escalations happened (nothing else), and the answer says so."""
    from orchestra.distill.ast_match import calls_match

    wanted = [call for call in expected_calls(case) if call["name"] != "lookup_order"]
    return calls_match(shop.side_effects(), wanted) and answer == expected_answer(case)


# --- the agent node, run by the engine with in-process tools --------------------------------------


def agent_graph(*, max_steps: int = 4, max_tokens: int = 64, tool_choice: str = "auto") -> dict[str, Any]:
    agent = {
        "id": "support",
        "type": "agent",
        "config": {
            "model": "bench",
            "instructions": INSTRUCTIONS,
            "task": "{{ inputs.message }}",
            "tools": [{"kind": "workflow", "workflow": tool["name"]} for tool in TOOLS],
            "tool_choice": tool_choice,
            "max_steps": max_steps,
            "max_tokens": max_tokens,
            "output": "json",
            "json_schema": ANSWER_SCHEMA,
            "json_retries": 1,
        },
    }
    return {
        "nodes": [
            {"id": "start", "type": "input", "config": {"fields": [{"name": "message", "type": "string"}]}},
            agent,
            {"id": "end", "type": "output", "config": {"outputs": {"answer": "{{ nodes.support.output }}"}}},
        ],
        "edges": [{"source": "start", "target": "support"}, {"source": "support", "target": "end"}],
    }


def describe_tool(spec: dict[str, Any]) -> list[ToolDefinition]:
    tool = next(t for t in TOOLS if t["name"] == spec["workflow"])
    return [
        ToolDefinition(
            name=tool["name"],
            description=tool["description"],
            parameters=tool["parameters"],
            spec=spec,
            target=tool["name"],
        )
    ]


# --- the correct trajectory as training data ------------------------------------------------------


def trajectory(case: Case) -> list[dict[str, Any]]:
    """The conversation a correct agent has: system, user, one assistant turn per call, their
    results, the JSON answer; in OpenAI's shape, as the agent node writes it."""
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": INSTRUCTIONS},
        {"role": "user", "content": case.message},
    ]
    shop = Shop(case)
    for number, call in enumerate(expected_calls(case)):
        call_id = f"call_{number}"
        messages.append(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": call_id,
                        "type": "function",
                        "function": {"name": call["name"], "arguments": json.dumps(call["arguments"])},
                    }
                ],
            }
        )
        messages.append(
            {"role": "tool", "tool_call_id": call_id, "content": json.dumps(shop.run(call["name"], call["arguments"]))}
        )
    messages.append({"role": "assistant", "content": json.dumps(expected_answer(case))})
    return messages


def trajectory_record(messages: list[dict[str, Any]], *, model: str = "oracle") -> dict[str, Any]:
    """A conversation as the distillation core's record: every assistant turn is a target."""
    turns = sum(m["role"] == "assistant" for m in messages)
    return {
        "messages": messages[:-1],
        "output": messages[-1]["content"] or "",
        "tool_calls": messages[-1].get("tool_calls"),
        "tools": OPENAI_TOOLS,
        "trajectory": True,
        "turns": [{"tool_choice": "auto"}] * turns,
        "model": model,
        "status": "ok",
    }


# --- models for the task ----------------------------------------------------------------------------


def build_tokenizer(folder: Path, *, vocab_size: int = 1000, cases: int = 400) -> Path:
    """A BPE tokenizer trained on the task's own conversations, with the tiny models' chat template
    (Qwen2.5's layout, Hermes tool calls): prompts are a third as long as with a generic vocabulary."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from orchestra.inference.tiny import CHAT_TEMPLATE, SPECIAL_TOKENS
    from orchestra.inference.toolcalls import template_messages

    def tokenizer_of(texts: list[str], size: int) -> PreTrainedTokenizerFast:
        bpe = Tokenizer(models.BPE())
        bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        bpe.decoder = decoders.ByteLevel()
        bpe.train_from_iterator(
            texts,
            trainers.BpeTrainer(
                vocab_size=size, special_tokens=SPECIAL_TOKENS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
            ),
        )
        made = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>")
        made.chat_template = CHAT_TEMPLATE
        return made

    renderer = tokenizer_of(["a"], 300)  # only renders the template's text
    corpus = [
        renderer.apply_chat_template(template_messages(trajectory(case)), tools=OPENAI_TOOLS, tokenize=False)
        for case in make_cases(cases, seed=12345)
    ]
    tokenizer_of(corpus, vocab_size).save_pretrained(folder)
    return folder


def parameters(folder: Path) -> str:
    """A model folder's size, as a label: "0.12M"."""
    from transformers import AutoModelForCausalLM

    count = sum(p.numel() for p in AutoModelForCausalLM.from_pretrained(folder).parameters())
    return f"{count / 1e6:.2f}M"
