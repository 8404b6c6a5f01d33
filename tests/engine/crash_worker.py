"""A run that a test kills mid-way: `python -m tests.engine.crash_worker DB RUN_ID DIR`.

Node `first` finishes (its checkpoint lands in the SQLite file); then `slow` and `quick` run in
parallel: `quick` finishes, and `slow` signals the test by creating DIR/slow-started and hangs
until the process is killed with SIGKILL.
"""

from __future__ import annotations

import sqlite3
import sys
import threading
from pathlib import Path

from langgraph.checkpoint.sqlite import SqliteSaver

from orchestra.engine import ModelCall, ModelReply, RunHooks, compile_graph, parse_graph, run_graph
from tests.engine.support import graph, input_node, node, output_node

CRASH_GRAPH = graph(
    [
        input_node("topic"),
        node("first", "llm", prompt="one {{ inputs.topic }}"),
        node("slow", "llm", prompt="two {{ nodes.first.output }}"),
        node("quick", "llm", prompt="three"),
        output_node(first="{{ nodes.first.output }}", slow="{{ nodes.slow.output }}", quick="{{ nodes.quick.output }}"),
    ],
    ["start->first", "first->slow", "first->quick", "slow->end", "quick->end"],
)


def sqlite_saver(path: Path) -> SqliteSaver:
    return SqliteSaver(sqlite3.connect(path, check_same_thread=False))


def main(db: str, run_id: str, folder: str) -> None:
    def call_model(call: ModelCall) -> ModelReply:
        if call.node_id == "slow":
            (Path(folder) / "slow-started").touch()
            threading.Event().wait()  # hang until killed
        return ModelReply(text=f"{call.messages[-1]['content']} (pid-run)", model="m")

    compiled = compile_graph(parse_graph(CRASH_GRAPH), checkpointer=sqlite_saver(Path(db)))
    run_graph(
        compiled,
        run_id=run_id,
        inputs={"topic": "cats"},
        hooks=RunHooks(emit=lambda *event: None, call_model=call_model),
    )


if __name__ == "__main__":
    main(*sys.argv[1:4])
