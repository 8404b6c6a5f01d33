"""Do small models drive an agent reliably? Constrained decoding on and off, side by side.

The order-support task of bench/agent_task.py (look an order up, refund it, escalate it, answer in
JSON), run through the engine itself: the `agent` node in a compiled graph, its model calls
through the transformers backend (`orchestra.inference.get_client`), its three tools as in-process
workflow tools (the describe_tool / run_workflow hooks) against a shop that records what they did.

Models: the tiny random model (the tests' tiny-teacher shape, random weights) and a small model
this bench trains on the task (SFT with `orchestra.distill.run_job` on correct trajectories, every
assistant turn a target, the tools in the records). Each answers the same cases with constrained
decoding (the backend's grammar) and without: the backend's `constrained_decoding: false` option
skips the grammar, the chat template still shows the tools, and the bench asks with tool_choice
"none" so the text comes back raw and reads the Hermes `<tool_call>` blocks out of it itself, as a
lenient server-side parser would, counting the malformed and the cut-off ones (the backend's own
parser raises on a malformed block and drops a cut-off one). The random model also runs with
tool_choice "required" (it never starts a call by itself).

Per row: well-formed tool calls (of all call attempts: parsed, an offered tool, arguments valid
against its schema), schema-valid JSON answers, calls right by AST match against the correct
sequence, task success (the right refunds and escalations happened and the answer says so), model
turns, tokens, and the loop's own time per turn next to the model's.

    python bench/agent.py            # 30 cases per row; the trained model gets 600 steps (~10 min)
    python bench/agent.py --quick    # 8 cases per row, 150 steps: a smoke test, too few steps to learn
                                     # to copy arguments (that comes suddenly, after ~450 steps)
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import agent_task as task
import jsonschema
import torch

from orchestra import engine
from orchestra.distill import run_job
from orchestra.inference import get_client
from orchestra.inference.base import ModelSpec
from orchestra.inference.tiny import build_model
from orchestra.inference.toolcalls import CLOSE, OPEN

BLOCK = re.compile(re.escape(OPEN) + r"(.*?)(" + re.escape(CLOSE) + r"|$)", re.DOTALL)


# --- the models ----------------------------------------------------------------------------------


def train_on_task(base: Path, root: Path, *, trajectories: int, steps: int) -> Path:
    """SFT on correct trajectories (every assistant turn a target), through the platform's own job."""
    records = [task.trajectory_record(task.trajectory(case)) for case in task.make_cases(trajectories, seed=1)]
    result = run_job(
        {
            "student": {"model": str(base)},
            "method": "sft",
            "output_dir": str(root / "job"),
            "data": {"min_examples": 1, "validation_fraction": 0.05, "test_fraction": 0.0},
            "lora": {"enabled": False},
            "eval": {"enabled": False},
            # A constant rate after warm-up: copying arguments is learned suddenly, late (~450 steps here),
            # and a decaying rate would slow that down.
            "train": {
                "max_steps": steps,
                "lr": 3e-3,
                "scheduler": "constant",
                "batch_size": 8,
                "max_seq_len": 768,
                "warmup_ratio": 0.05,
                "eval_every": max(steps // 3, 1),
                "early_stopping_patience": None,
                "checkpoint_every": None,
            },
        },
        records=records,
    )
    return Path(result.artifacts["merged"])


# --- one row: a model, with or without constrained decoding -----------------------------------------


@dataclass
class Tally:
    attempts: int = 0  # tool-call blocks the model started
    well_formed: int = 0
    turns: int = 0
    tokens: int = 0
    model_s: float = 0.0


def schemas_of(tools: list[dict[str, Any]] | None) -> dict[str, dict[str, Any]]:
    return {tool["function"]["name"]: tool["function"]["parameters"] for tool in tools or []}


def is_well_formed(name: Any, arguments: Any, schemas: dict[str, dict[str, Any]]) -> bool:
    """An offered tool, with arguments that are an object valid against its parameters."""
    return (
        name in schemas
        and isinstance(arguments, dict)
        and jsonschema.Draft202012Validator(schemas[name]).is_valid(arguments)
    )


def parse_calls(text: str, schemas: dict[str, dict[str, Any]]) -> tuple[str, list[dict[str, Any]], int]:
    """Hermes blocks out of free text: (the rest of the text, the well-formed calls, blocks started).
    A block cut off by the token budget is started but not well-formed."""
    calls, blocks = [], BLOCK.findall(text)
    for body, closed in blocks:
        try:
            call = json.loads(body)
        except json.JSONDecodeError:
            continue
        if closed and isinstance(call, dict) and is_well_formed(call.get("name"), call.get("arguments"), schemas):
            calls.append(
                {
                    "id": f"call_{uuid.uuid4().hex[:12]}",
                    "type": "function",
                    "function": {"name": call["name"], "arguments": json.dumps(call["arguments"])},
                }
            )
    return BLOCK.sub("", text).strip(), calls, len(blocks)


def model_caller(client, *, constrained: bool, tally: Tally):
    """The engine's call_model hook over one client; counts call attempts and model time."""

    def call_model(call: engine.ModelCall) -> engine.ModelReply:
        began = time.perf_counter()
        if constrained:
            reply = client.complete(
                call.messages,
                max_tokens=call.max_tokens,
                temperature=call.temperature,
                tools=call.tools,
                tool_choice=call.tool_choice,
                response_format=call.response_format,
            )
            text, calls = reply.text, [c.as_openai() for c in reply.tool_calls or []]
            cut_short = call.tool_choice == "required" and not calls  # a call the budget cut off
            tally.attempts += len(calls) + cut_short
            tally.well_formed += sum(
                is_well_formed(c["function"]["name"], json.loads(c["function"]["arguments"]), schemas_of(call.tools))
                for c in calls
            )  # checked, not trusted
        else:  # the spec's constrained_decoding is off; tool_choice none: the calls come back as raw text
            reply = client.complete(
                call.messages,
                max_tokens=call.max_tokens,
                temperature=call.temperature,
                tools=call.tools,
                tool_choice="none" if call.tools else None,
                response_format=call.response_format,
            )
            text, calls, started = (
                parse_calls(reply.text, schemas_of(call.tools)) if call.tools else (reply.text, [], 0)
            )
            tally.attempts += started
            tally.well_formed += len(calls)
        tally.model_s += time.perf_counter() - began
        tally.turns += 1
        tally.tokens += reply.tokens_in + reply.tokens_out
        return engine.ModelReply(
            text=text,
            model=reply.model,
            tokens_in=reply.tokens_in,
            tokens_out=reply.tokens_out,
            latency_ms=reply.latency_ms,
            tool_calls=calls or None,
        )

    return call_model


@dataclass
class CaseResult:
    answer: Any
    calls: list[dict[str, Any]]
    succeeded: bool
    node_s: float
    tool_s: float


def run_case(compiled, case: task.Case, call_model) -> CaseResult:
    shop, clock, tool_ms = task.Shop(case), {}, []

    def emit(kind: str, node_id: str | None, data: dict[str, Any]) -> None:
        if node_id == "support" and kind in ("node_started", "node_succeeded", "node_failed"):
            clock[kind.split("_")[1]] = time.perf_counter()
        elif kind == "tool_result":
            tool_ms.append(data["latency_ms"])

    hooks = engine.RunHooks(emit=emit, call_model=call_model, run_workflow=shop.run, describe_tool=task.describe_tool)
    outcome = engine.run_graph(compiled, run_id=uuid.uuid4().hex, hooks=hooks, inputs={"message": case.message})
    answer = outcome.outputs.get("answer") if outcome.status == "succeeded" else None
    ended = clock.get("succeeded", clock.get("failed", time.perf_counter()))
    return CaseResult(
        answer=answer,
        calls=shop.calls,
        succeeded=task.task_succeeded(case, shop, answer),
        node_s=ended - clock["started"],
        tool_s=sum(tool_ms) / 1000,
    )


def call_accuracy(results: list[CaseResult], cases: list[task.Case]) -> float:
    """Calls made that AST-match the correct call at the same position, over the longer sequence."""
    from orchestra.distill.ast_match import call_matches

    right = total = 0
    for result, case in zip(results, cases):
        wanted = task.expected_calls(case)
        right += sum(call_matches(made, want) for made, want in zip(result.calls, wanted))
        total += max(len(wanted), len(result.calls))
    return right / total


def measure(spec: ModelSpec, cases: list[task.Case], *, constrained: bool, tool_choice: str) -> dict[str, Any]:
    compiled = engine.compile_graph(engine.parse_graph(task.agent_graph(tool_choice=tool_choice)), checkpointer=None)
    tally = Tally()
    call_model = model_caller(get_client(spec), constrained=constrained, tally=tally)
    results = [run_case(compiled, case, call_model) for case in cases]
    valid = sum(
        r.answer is not None and jsonschema.Draft202012Validator(task.ANSWER_SCHEMA).is_valid(r.answer) for r in results
    )
    overhead = sum(r.node_s - r.tool_s for r in results) - tally.model_s
    return {
        "well_formed": tally.well_formed / tally.attempts if tally.attempts else None,
        "attempts": tally.attempts,
        "schema_valid": valid / len(cases),
        "ast": call_accuracy(results, cases),
        "success": sum(r.succeeded for r in results) / len(cases),
        "turns": tally.turns / len(cases),
        "tokens": tally.tokens / len(cases),
        "model_ms": 1000 * tally.model_s / tally.turns,
        "loop_ms": 1000 * overhead / tally.turns,
    }


@dataclass
class Row:
    model: str
    decoding: str
    tool_choice: str
    metrics: dict[str, Any] = field(default_factory=dict)


def table(rows: list[Row]) -> str:
    lines = [
        (
            "| model | decoding | tool_choice | well-formed calls | schema-valid answer | calls right (AST) "
            "| task success | turns | tokens | model ms/turn | loop ms/turn |"
        ),
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        m = row.metrics
        formed = f"{m['well_formed']:.0%} of {m['attempts']}" if m["well_formed"] is not None else "no calls"
        lines.append(
            f"| {row.model} | {row.decoding} | {row.tool_choice} | {formed} | {m['schema_valid']:.0%} "
            f"| {m['ast']:.0%} | {m['success']:.0%} | {m['turns']:.1f} | {m['tokens']:.0f} "
            f"| {m['model_ms']:.0f} | {m['loop_ms']:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 cases per row and a shorter training run")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (one: on a shared 2-core machine two threads thrash)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    n_cases, steps = (8, 150) if args.quick else (30, 600)
    root = Path(tempfile.mkdtemp(prefix="bench_agent_"))
    began = time.perf_counter()
    tokenizer = task.build_tokenizer(root / "tokenizer")
    random_model = build_model(root / "random", tokenizer, hidden_size=128, layers=4, intermediate_size=256)
    trained = train_on_task(
        build_model(root / "small", tokenizer, hidden_size=64, layers=2, intermediate_size=128, seed=1),
        root,
        trajectories=400,
        steps=steps,
    )
    print(f"models ready in {time.perf_counter() - began:.0f} s", flush=True)
    cases = task.make_cases(n_cases, seed=99)  # other seeds than the training trajectories'
    paths = {f"trained {task.parameters(trained)}": trained, f"random {task.parameters(random_model)}": random_model}
    trained_name, random_name = paths
    rows = [Row(trained_name, decoding, "auto") for decoding in ("constrained", "free")]
    rows += [
        Row(random_name, decoding, choice) for choice in ("auto", "required") for decoding in ("constrained", "free")
    ]
    for row in rows:
        spec = ModelSpec(
            name=row.model,
            backend="transformers",
            model=str(paths[row.model]),
            options={"constrained_decoding": row.decoding == "constrained"},
        )
        row.metrics = measure(spec, cases, constrained=row.decoding == "constrained", tool_choice=row.tool_choice)
        print(f"  {row.model} {row.decoding} {row.tool_choice}: {row.metrics}", flush=True)
    print(f"\n{n_cases} cases per row, {steps} training steps, {time.perf_counter() - began:.0f} s in all\n")
    print(table(rows))


if __name__ == "__main__":
    main()
