"""Start the platform's real servers (daphne, Celery workers) as child processes.

Used by the test fixtures and by the benchmarks; the caller sets the environment (database,
Redis, data folder) before starting them.
"""

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(condition, *, timeout: float = 30, interval: float = 0.05, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


def _die_with_parent() -> None:
    """Servers get SIGTERM if the test process dies, so no orphan keeps consuming a queue."""
    import ctypes

    ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Platform:
    """The servers of a real deployment, started as separate processes."""

    def __init__(self, *, data_dir: Path, concurrency: int = 4):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir, self.concurrency = data_dir, concurrency
        self.web = None
        self.workers: list[subprocess.Popen] = []
        self.logs = data_dir / "logs"
        self.logs.mkdir(exist_ok=True)

    def _spawn(self, args: list[str], log_name: str) -> subprocess.Popen:
        log = open(self.logs / log_name, "ab")
        return subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            env=os.environ.copy(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )

    def start_web(self) -> None:
        self.web = self._spawn(
            ["-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), "orchestra.asgi:application"], "web.log"
        )
        wait_until(self._web_up, timeout=60, message="the web server")

    def _web_up(self) -> bool:
        import httpx

        try:
            return httpx.get(self.url + "/api/schema", timeout=1).status_code < 500
        except httpx.HTTPError:
            return False

    def start_worker(self, *, beat: bool = True, queues: str = "runs,celery") -> subprocess.Popen:
        name = f"w{len(self.workers)}-{uuid.uuid4().hex[:6]}@%h"
        args = [
            "-m",
            "celery",
            "-A",
            "orchestra.celery",
            "worker",
            "-n",
            name,
            "-Q",
            queues,
            "--pool",
            "threads",
            "--concurrency",
            str(self.concurrency),
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
        ]
        if beat:
            args += ["-B", "--schedule-filename", str(self.data_dir / f"beat-{uuid.uuid4().hex[:6]}")]
        worker = self._spawn(args, "worker.log")
        worker.queues = queues.split(",")
        self.workers.append(worker)
        return worker

    def live_workers(self, queue: str) -> list[subprocess.Popen]:
        return [w for w in self.workers if w.poll() is None and queue in w.queues]

    def kill_worker(self, worker: subprocess.Popen) -> None:
        """kill -9 the worker and everything it started, as a crashed machine would."""
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)

    def stop(self) -> None:
        for proc in [self.web, *self.workers]:
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in [self.web, *self.workers]:
            if proc is not None:
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
