"""A database blip fails nothing: every connection of our database terminated mid-run, runs succeed.

`pg_terminate_backend` on all of the test database's connections (the web server's, the worker's
Django pool, the checkpointer's pool, the lease keeper's) is what a PostgreSQL restart or a
failover does to them. The runs in flight must still succeed, without running a finished node
again, and the stale pooled connections must not fail the runs that come after.
"""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from tests.conftest import wait_until
from tests.platform.test_runs_api import create_published
from tests.support.loopback import LoopbackServer
from workflows.models import Run, RunEvent


def held_http_then_templates(url: str, templates: int = 3) -> dict:
    nodes = [
        {"id": "start", "type": "input", "config": {"fields": [{"name": "who", "type": "string"}]}},
        {"id": "call", "type": "http", "config": {"method": "GET", "url": url}},
    ]
    nodes += [
        {"id": f"t{i}", "type": "template", "config": {"template": f"{i}: {{{{ inputs.who }}}}"}}
        for i in range(1, templates + 1)
    ]
    nodes.append(
        {
            "id": "end",
            "type": "output",
            "config": {
                "outputs": {"status": "{{ nodes.call.output.status }}", "text": f"{{{{ nodes.t{templates}.output }}}}"}
            },
        }
    )
    ids = [n["id"] for n in nodes]
    return {"nodes": nodes, "edges": [{"source": a, "target": b} for a, b in zip(ids, ids[1:])]}


def terminate_our_database_connections() -> int:
    """Every backend of this database but the test's own, as a database restart would."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


@pytest.fixture
def held_server():
    server = LoopbackServer(hold=True)
    yield server
    server.close()


def test_runs_in_flight_succeed_when_every_database_connection_is_terminated(api, held_server):
    workflow_id = create_published(api, held_http_then_templates(held_server.url + "/slow"), name="blip")
    run_ids = [
        api.post(f"/api/workflows/{workflow_id}/runs", json={"inputs": {"who": f"w{i}"}}).json()["id"] for i in range(4)
    ]
    wait_until(lambda: len(held_server.requests) >= 4, timeout=60, message="every run inside its http node")

    assert terminate_our_database_connections() > 0  # the workers' and the web server's connections
    held_server.released.set()

    for run_id in run_ids:
        run = api.wait_run(run_id, timeout=90)
        assert run["status"] == "succeeded", run
        assert run["outputs"]["status"] == 200
        # the interrupted node was not repeated: one start per node, the http call made once
        starts = list(RunEvent.objects.filter(run_id=run_id, type="node_started").values_list("node_id", flat=True))
        assert sorted(starts) == sorted(set(starts))
    assert len(held_server.requests) == 4


def test_runs_succeed_while_connections_are_terminated_again_and_again(api):
    workflow_id = create_published(
        api,
        {
            "nodes": [
                {"id": "start", "type": "input", "config": {"fields": [{"name": "who", "type": "string"}]}},
                *[
                    {"id": f"t{i}", "type": "template", "config": {"template": f"{i} {{{{ inputs.who }}}}"}}
                    for i in range(1, 9)
                ],
                {"id": "end", "type": "output", "config": {"outputs": {"text": "{{ nodes.t8.output }}"}}},
            ],
            "edges": [
                {"source": a, "target": b}
                for a, b in zip(["start", *[f"t{i}" for i in range(1, 9)]], [*[f"t{i}" for i in range(1, 9)], "end"])
            ],
        },
        name="blips",
    )

    def run_and_wait(i: int) -> dict:
        """A client as docs/api.md asks: a request that meets the blip answers 503 with Retry-After,
        and is retried with the same Idempotency-Key, which never starts a second run."""
        for _ in range(10):
            answer = api.post(
                f"/api/workflows/{workflow_id}/runs",
                json={"inputs": {"who": f"w{i}"}, "wait": 60},
                headers={"Idempotency-Key": f"blips-{i}"},
            )
            if answer.status_code != 503:
                assert answer.status_code in (200, 202), answer.text
                return answer.json()
            time.sleep(float(answer.headers["Retry-After"]))
        raise AssertionError("still 503 after 10 tries")

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(run_and_wait, i) for i in range(8)]
        events = RunEvent.objects.filter(run__workflow_id=workflow_id)
        seen = 0
        for _ in range(3):  # a few blips, each once the runs have made progress since the last one
            wait_until(
                lambda: events.count() > seen or all(f.done() for f in futures), timeout=60, message="run progress"
            )
            seen = events.count()
            terminate_our_database_connections()
        answers = [f.result(timeout=120) for f in futures]

    for answer in answers:
        run = answer if answer.get("status") in ("succeeded", "failed") else api.wait_run(answer["id"], timeout=90)
        assert run["status"] == "succeeded", run
        assert run["outputs"]["text"].startswith("8 w")
    assert Run.objects.filter(workflow_id=workflow_id).count() == 8  # retried requests started nothing twice

    # Connections the pools held through the blips are checked, not handed out dead.
    later = api.post(f"/api/workflows/{workflow_id}/runs", json={"inputs": {"who": "later"}, "wait": 60})
    assert later.status_code == 200 and later.json()["status"] == "succeeded"
