"""Engine overhead: Orchestra's engine against a hand-written LangGraph StateGraph doing the same work.

Two graphs of trivial template work: a 20-node chain, and a 10-wide fan-out joined by one node.
Each runs with persistence off (no checkpointer) and on (SqliteSaver on a temp file, durability
"sync" for both). Prints per-node wall time and Orchestra's ratio to plain LangGraph.

    .venv/bin/python bench/engine_overhead.py [--runs 30]
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any, Callable, TypedDict

from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph

from orchestra.engine import ModelReply, RunHooks, compile_graph, parse_graph, run_graph

CHAIN_LENGTH, FAN_WIDTH = 20, 10


def _node(node_id: str, node_type: str, **config: Any) -> dict[str, Any]:
    return {"id": node_id, "type": node_type, "config": config}


def chain_shape() -> tuple[list[str], list[tuple[str, str]]]:
    names = [f"t{i}" for i in range(CHAIN_LENGTH)]
    return names, list(zip(["start", *names], [*names, "end"]))


def fan_shape() -> tuple[list[str], list[tuple[str, str]]]:
    names = [f"b{i}" for i in range(FAN_WIDTH)]
    return names + ["join"], ([("start", b) for b in names] + [(b, "join") for b in names] + [("join", "end")])


def orchestra_graph(names: list[str], edges: list[tuple[str, str]]) -> dict[str, Any]:
    """Each node renders "<its first source's output>x"; the join renders all its sources' outputs."""
    sources = {name: [s for s, t in edges if t == name] for name in names + ["end"]}
    nodes = [_node("start", "input", fields=[{"name": "seed", "type": "string"}])]
    for name in names:
        template = (
            "".join("{{ nodes.%s.output }}" % s if s != "start" else "{{ inputs.seed }}" for s in sources[name]) + "x"
        )
        nodes.append(_node(name, "template", template=template))
    nodes.append(_node("end", "output", outputs={"result": "{{ nodes.%s.output }}" % sources["end"][0]}))
    return {"nodes": nodes, "edges": [{"source": s, "target": t} for s, t in edges]}


def merge(left: dict[str, str], right: dict[str, str]) -> dict[str, str]:
    return {**left, **right}


class PlainState(TypedDict):
    seed: str
    values: Annotated[dict[str, str], merge]


def plain_graph(names: list[str], edges: list[tuple[str, str]], checkpointer: Any):
    """The same topology and the same string work, written directly against LangGraph."""
    builder = StateGraph(PlainState)
    sources = {name: [s for s, t in edges if t == name] for name in names + ["end"]}

    def make(name: str) -> Callable[[PlainState], dict[str, Any]]:
        def work(state: PlainState) -> dict[str, Any]:
            text = "".join(state["values"].get(s, state["seed"]) for s in sources[name]) + "x"
            return {"values": {name: text}}

        return work

    for name in ["start", *names, "end"]:
        builder.add_node(name, make(name) if name != "start" else (lambda state: {"values": {}}))
    builder.add_edge(START, "start")
    for name in [*names, "end"]:
        builder.add_edge(sources[name][0] if len(sources[name]) == 1 else sources[name], name)
    builder.add_edge("end", END)
    return builder.compile(checkpointer=checkpointer)


def no_model(call: Any) -> ModelReply:
    raise AssertionError("the benchmark graphs call no model")


def time_runs(run_once: Callable[[int], Any], runs: int) -> float:
    run_once(-1)  # warm-up
    started = time.perf_counter()
    for i in range(runs):
        run_once(i)
    return time.perf_counter() - started


def measure(
    shape: Callable[[], tuple[list[str], list[tuple[str, str]]]], persistent: bool, runs: int, folder: Path
) -> tuple[float, float, int]:
    names, edges = shape()
    node_count = len(names) + 2  # start and end included in both

    def saver(tag: str) -> Any:
        return (
            SqliteSaver(sqlite3.connect(folder / f"{shape.__name__}-{tag}.sqlite", check_same_thread=False))
            if persistent
            else None
        )

    plain = plain_graph(names, edges, saver("plain"))
    durability = {"durability": "sync"} if persistent else {}
    plain_s = time_runs(
        lambda i: plain.invoke({"seed": "s", "values": {}}, {"configurable": {"thread_id": f"p{i}"}}, **durability),
        runs,
    )
    ours = compile_graph(parse_graph(orchestra_graph(names, edges)), checkpointer=saver("orchestra"))
    hooks = RunHooks(emit=lambda *event: None, call_model=no_model)

    def run_ours(i: int) -> None:
        outcome = run_graph(ours, run_id=f"o{i}", hooks=hooks, inputs={"seed": "s"})
        assert outcome.status == "succeeded", outcome.error

    ours_s = time_runs(run_ours, runs)
    return plain_s / (runs * node_count), ours_s / (runs * node_count), node_count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    print(f"{'graph':<22}{'persistence':<14}{'nodes':>6}{'LangGraph us/node':>20}{'Orchestra us/node':>20}{'ratio':>8}")
    with tempfile.TemporaryDirectory() as folder:
        for label, shape in ((f"chain of {CHAIN_LENGTH}", chain_shape), (f"fan-out {FAN_WIDTH} + join", fan_shape)):
            for persistent in (False, True):
                plain, ours, nodes = measure(shape, persistent, args.runs, Path(folder))
                print(
                    f"{label:<22}{'sqlite' if persistent else 'off':<14}{nodes:>6}{plain * 1e6:>20.0f}"
                    f"{ours * 1e6:>20.0f}{ours / plain:>7.2f}x"
                )


if __name__ == "__main__":
    main()
