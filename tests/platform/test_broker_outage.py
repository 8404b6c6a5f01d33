"""The broker goes away: nothing is lost, nothing runs twice, what was due still happens.

These tests stop and restart a Redis of their own (a private redis-server on a free port, no
persistence, so a restart loses every queued and countdown message, as a crash would), with a
web server and a worker of their own on the session's database; the session's Redis, web server
and worker stay as they are for the other tests.
"""

import contextlib
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.conftest import DATA_DIR, make_workspace, wait_until
from tests.platform.test_runs_api import create_published
from tests.support.loopback import LoopbackServer
from tests.support.servers import Platform, free_port
from workflows.models import CallbackAttempt, Run

ECHO = {
    "nodes": [
        {"id": "start", "type": "input", "config": {"fields": [{"name": "who", "type": "string"}]}},
        {"id": "end", "type": "output", "config": {"outputs": {"text": "Hello, {{ inputs.who }}!"}}},
    ],
    "edges": [{"source": "start", "target": "end"}],
}
APPROVAL = {
    "nodes": [
        {"id": "start", "type": "input", "config": {"fields": []}},
        {"id": "ask", "type": "approval", "config": {"prompt": "Go?", "timeout_s": 2, "default": {"approved": False}}},
        {"id": "end", "type": "output", "config": {"outputs": {"answer": "{{ nodes.ask.output }}"}}},
    ],
    "edges": [
        {"source": "start", "target": "ask"},
        {"source": "ask", "target": "end", "branch": "approved"},
        {"source": "ask", "target": "end", "branch": "rejected"},
    ],
}


class PrivateRedis:
    def __init__(self):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                shutil.which("redis-server"),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        wait_until(self._up, timeout=20, message="the private redis-server")

    def _up(self) -> bool:
        import redis

        try:
            return redis.Redis.from_url(self.url, socket_connect_timeout=0.5).ping()
        except redis.RedisError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()  # a crash: nothing is saved
            self.proc.wait(timeout=10)
        self.proc = None


@contextlib.contextmanager
def environment(**values):
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="module")
def outage(django_db):
    """A web server and a worker (with beat) on a Redis that the tests stop and start."""
    redis_server = PrivateRedis()
    redis_server.start()
    data_dir = Path(DATA_DIR) / f"outage-{uuid.uuid4().hex[:6]}"
    data_dir.mkdir()
    env = {
        "REDIS_URL": redis_server.url,
        "ORCHESTRA_QUEUE_PREFIX": f"outage-{uuid.uuid4().hex[:6]}:",
        "ORCHESTRA_CALLBACK_BACKOFF_S": "3",
        "ORCHESTRA_SWEEP_INTERVAL_S": "1",
    }
    platform = Platform(data_dir=data_dir, concurrency=2)
    with environment(**env):
        platform.start_web()
        platform.start_worker()
    workspace, _, key = make_workspace()
    api = httpx.Client(base_url=platform.url, headers={"Authorization": f"Bearer {key}"}, timeout=60)
    yield {"redis": redis_server, "platform": platform, "api": api, "env": env}
    api.close()
    platform.stop()
    redis_server.stop()


def _restart_worker_and_lose_the_broker(outage) -> None:
    """A worker crash and a Redis crash together: every message (countdowns too) is gone."""
    platform, redis_server = outage["platform"], outage["redis"]
    for worker in platform.live_workers("runs"):
        platform.kill_worker(worker)
    redis_server.stop()
    redis_server.start()
    with environment(**outage["env"]):
        platform.start_worker()


def _wait_run(api, run_id, timeout=60) -> dict:
    def done():
        run = api.get(f"/api/runs/{run_id}").json()
        return run if run["status"] in ("succeeded", "failed", "cancelled") else None

    return wait_until(done, timeout=timeout, interval=0.2, message=f"run {run_id} to finish")


def test_a_run_started_while_redis_is_down_answers_503_with_its_id_and_runs_once_redis_is_back(outage):
    api, redis_server = outage["api"], outage["redis"]
    workflow_id = create_published(api, ECHO, name="outage")
    redis_server.stop()
    try:
        started = time.monotonic()
        answer = api.post(f"/api/workflows/{workflow_id}/runs", json={"inputs": {"who": "Ada"}})
        assert time.monotonic() - started < 20  # answered, not hung
    finally:
        redis_server.start()

    assert answer.status_code == 503, answer.text
    assert answer.headers.get("Retry-After")
    run_id = answer.json()["run_id"]
    assert answer.json()["errors"][0]["message"]
    run = _wait_run(api, run_id, timeout=60)  # the sweeper enqueued it once Redis was back
    assert run["status"] == "succeeded" and run["outputs"]["text"] == "Hello, Ada!"
    assert Run.objects.filter(workflow_id=workflow_id).count() == 1  # stored once, run once


def test_an_approval_timeout_fires_after_the_broker_lost_its_countdown(outage):
    api = outage["api"]
    workflow_id = create_published(api, APPROVAL, name="timeout")
    run = api.post(f"/api/workflows/{workflow_id}/runs", json={"inputs": {}, "wait": 30}).json()
    assert run["status"] == "waiting", run
    assert Run.objects.get(pk=run["id"]).timeout_at is not None  # the due time is in the database

    _restart_worker_and_lose_the_broker(outage)

    finished = _wait_run(api, run["id"], timeout=90)
    assert finished["status"] == "succeeded" and finished["outputs"]["answer"] == {"approved": False}


def test_callback_retries_go_on_after_the_broker_lost_them(outage):
    api = outage["api"]
    receiver = LoopbackServer(status=500)
    try:
        workflow_id = create_published(api, ECHO, name="callbacks")
        run = api.post(
            f"/api/workflows/{workflow_id}/runs",
            json={"inputs": {"who": "Ada"}, "callback_url": f"{receiver.url}/done", "wait": 30},
        ).json()
        assert run["status"] == "succeeded", run
        wait_until(
            lambda: CallbackAttempt.objects.filter(run_id=run["id"]).exists(),
            timeout=30,
            message="the first callback attempt",
        )

        _restart_worker_and_lose_the_broker(outage)  # attempt 2 was a countdown message: lost
        receiver.status = 200

        wait_until(
            lambda: CallbackAttempt.objects.filter(run_id=run["id"], status_code=200).exists(),
            timeout=90,
            message="a later attempt to reach the receiver",
        )
        attempts = list(CallbackAttempt.objects.filter(run_id=run["id"]).values_list("attempt", "status_code"))
        assert attempts[0] == (1, 500) and attempts[-1][1] == 200
        assert [a for a, _ in attempts] == list(range(1, len(attempts) + 1))  # each attempt made once
        assert Run.objects.get(pk=run["id"]).callback_next_attempt == 0  # nothing more is due
    finally:
        receiver.close()
