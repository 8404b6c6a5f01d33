"""A run whose process is killed resumes from its SQLite checkpoint without re-running finished nodes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from orchestra.engine import ModelReply, RunHooks, compile_graph, parse_graph, run_graph
from tests.engine.crash_worker import CRASH_GRAPH, sqlite_saver
from tests.engine.support import Recorder
from tests.support.servers import wait_until

REPO = Path(__file__).resolve().parents[2]


def while_alive(condition, process: subprocess.Popen):
    """`condition`, failing at once (with the worker's stderr) if the worker exited early."""

    def check():
        assert process.poll() is None, f"worker exited early: {process.stderr.read().decode()}"
        return condition()

    return check


def finished_in_checkpoint(db: Path, run_id: str, node_id: str) -> bool:
    """Whether the stored checkpoint holds `node_id`'s result (as a pending write of the current step)."""
    compiled = compile_graph(parse_graph(CRASH_GRAPH), checkpointer=sqlite_saver(db))
    state = compiled.get_state({"configurable": {"thread_id": run_id}})
    return any(task.name == node_id and task.result is not None for task in state.tasks)


def test_run_resumes_after_its_process_is_killed(tmp_path):
    db = tmp_path / "checkpoints.sqlite"
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.engine.crash_worker", str(db), "run-42", str(tmp_path)],
        cwd=REPO,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until(while_alive((tmp_path / "slow-started").exists, worker), timeout=60, message="slow started")
        wait_until(
            while_alive(lambda: finished_in_checkpoint(db, "run-42", "quick"), worker),
            timeout=60,
            message="quick's result stored",
        )
    finally:
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
    assert worker.returncode == -signal.SIGKILL

    calls = []

    def call_model(call):
        calls.append(call.node_id)
        return ModelReply(text="after the crash", model="m")

    events = Recorder()
    compiled = compile_graph(parse_graph(CRASH_GRAPH), checkpointer=sqlite_saver(db))
    outcome = run_graph(compiled, run_id="run-42", hooks=RunHooks(emit=events, call_model=call_model))
    assert outcome.status == "succeeded"
    assert outcome.outputs == {"first": "one cats (pid-run)", "slow": "after the crash", "quick": "three (pid-run)"}
    assert calls == ["slow"]
    assert events.nodes("node_started") == ["slow", "end"]
