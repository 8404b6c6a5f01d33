"""Bounded database connections: however many clients, each process stays within its pools.

Every connection names its process (`application_name` = `orchestra:<pid>`), so pg_stat_activity
says who holds what. Counts, not times: the web server holds at most ORCHESTRA_DB_POOL_MAX, a
worker process at most that plus ORCHESTRA_CHECKPOINT_POOL_MAX, whatever the concurrency.
"""

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
from django.conf import settings
from django.db import connection

from tests.conftest import wait_until
from tests.platform.test_runs_api import create_published
from workflows.models import WebhookCall

HELLO = {
    "nodes": [
        {"id": "start", "type": "input", "config": {"fields": [{"name": "who", "type": "string", "required": True}]}},
        {"id": "hello", "type": "template", "config": {"template": "Hello, {{ inputs.who }}!"}},
        {"id": "end", "type": "output", "config": {"outputs": {"text": "{{ nodes.hello.output }}"}}},
    ],
    "edges": [{"source": "start", "target": "hello"}, {"source": "hello", "target": "end"}],
}
CLIENTS = 48
REQUESTS = 144


def connections_by_process() -> dict[int, int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT application_name, count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name LIKE 'orchestra:%%' GROUP BY 1"
        )
        return {int(name.split(":")[1]): n for name, n in cursor.fetchall()}


def test_many_concurrent_webhook_clients_use_no_more_connections_than_the_pools_allow(api, platform):
    workflow_id = create_published(api, HELLO, name="bounded")
    hook = api.post(
        f"/api/workflows/{workflow_id}/webhooks", json={"response_mode": "sync", "rate_limit_per_minute": 0}
    ).json()
    most: dict[int, int] = {}
    done = threading.Event()

    def sample():
        try:
            while not done.wait(0.05):
                for pid, n in connections_by_process().items():
                    most[pid] = max(most.get(pid, 0), n)
        finally:
            connection.close()

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        with (
            httpx.Client(base_url=platform.url, timeout=120, limits=httpx.Limits(max_connections=CLIENTS)) as client,
            ThreadPoolExecutor(CLIENTS) as pool,
        ):
            answers = list(pool.map(lambda i: client.post(hook["url"], json={"who": f"c{i}"}), range(REQUESTS)))
    finally:
        done.set()
        sampler.join()

    assert [a.status_code for a in answers] == [200] * REQUESTS
    assert all(a.json()["status"] == "succeeded" for a in answers)
    web, workers = platform.web.pid, [w.pid for w in platform.live_workers("runs")]
    assert 0 < most.get(web, 0) <= settings.ORCHESTRA_DB_POOL_MAX, most
    for pid, n in most.items():
        if pid != web:  # a worker process: its Django pool and the checkpointer's
            assert n <= settings.ORCHESTRA_DB_POOL_MAX + settings.ORCHESTRA_CHECKPOINT_POOL_MAX, (pid, most, workers)


def test_clients_that_hang_up_while_waiting_leave_no_connection_behind(api, platform):
    """A client that hangs up makes daphne cancel the request's application 10 s later
    (application_close_timeout); a view still waiting then ends on its own, and the connection it
    held must go back to the pool, or a few impatient clients drain it for good."""
    from tests.support.loopback import LoopbackServer

    slow = LoopbackServer(hold=True)
    try:
        graph = {
            "nodes": [
                HELLO["nodes"][0],
                {"id": "call", "type": "http", "config": {"method": "GET", "url": slow.url}},
                HELLO["nodes"][2] | {"config": {"outputs": {"text": "{{ inputs.who }}"}}},
            ],
            "edges": [{"source": "start", "target": "call"}, {"source": "call", "target": "end"}],
        }
        slow_hook = api.post(
            f"/api/workflows/{create_published(api, graph, name='slow')}/webhooks",
            json={"response_mode": "sync", "rate_limit_per_minute": 0, "wait_s": 12},
        ).json()
        fast_hook = api.post(
            f"/api/workflows/{create_published(api, HELLO, name='fast')}/webhooks",
            json={"response_mode": "sync", "rate_limit_per_minute": 0},
        ).json()

        def hang_up(i):
            try:
                httpx.post(platform.url + slow_hook["url"], json={"who": f"h{i}"}, timeout=0.5)
            except httpx.TimeoutException:
                pass

        with ThreadPoolExecutor(2 * settings.ORCHESTRA_DB_POOL_MAX) as pool:
            list(pool.map(hang_up, range(2 * settings.ORCHESTRA_DB_POOL_MAX)))
        # Their views end after wait_s (12 s), long after daphne cancelled the requests (10 s): each
        # records its call as it ends.
        wait_until(
            lambda: (
                WebhookCall.objects.filter(webhook_id=slow_hook["id"]).count() >= 2 * settings.ORCHESTRA_DB_POOL_MAX
            ),
            timeout=60,
            message="every hung-up request's view to end",
        )
        slow.released.set()
        with httpx.Client(base_url=platform.url, timeout=15) as client, ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(lambda i: client.post(fast_hook["url"], json={"who": f"f{i}"}), range(32)))
    finally:
        slow.close()
    assert [a.status_code for a in answers] == [200] * 32
    assert connections_by_process().get(platform.web.pid, 0) <= settings.ORCHESTRA_DB_POOL_MAX
