"""End-to-end run throughput and latency: HTTP API -> Celery on Redis -> PostgreSQL -> result.

A 3-node workflow with no model (input -> template -> output), submitted by concurrent clients
with `wait` so each request returns when its run has finished. Measured with 1 and then 2 worker
processes (each a thread pool of --concurrency), against a fresh PostgreSQL database.

    .venv/bin/python bench/throughput.py [--runs 200] [--clients 8] [--concurrency 4]

Needs PostgreSQL and Redis on loopback, as the tests do. Prints a table; absolute numbers depend
on the machine, the ratio between the rows is what to read.
"""
import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GRAPH = {
    "nodes": [
        {"id": "start", "type": "input", "config": {"fields": [{"name": "name", "type": "string"}]}},
        {"id": "greet", "type": "template", "config": {"template": "Hello {{ inputs.name }}"}},
        {"id": "end", "type": "output", "config": {"outputs": {"greeting": "{{ nodes.greet.output }}"}}},
    ],
    "edges": [{"source": "start", "target": "greet"}, {"source": "greet", "target": "end"}],
}


def configure() -> str:
    db = f"orchestra_bench_{secrets.token_hex(3)}"
    os.environ.update({
        "DATABASE_URL": f"postgresql://postgres@127.0.0.1:5432/{db}",
        "REDIS_URL": "redis://127.0.0.1:6379/12",
        "ORCHESTRA_QUEUE_PREFIX": f"{db}:",
        "ORCHESTRA_DATA_DIR": tempfile.mkdtemp(prefix="orchestra-bench-"),
        "DJANGO_SETTINGS_MODULE": "orchestra.settings",
        "SECRET_KEY": secrets.token_hex(16),
        "LOG_LEVEL": "WARNING",
    })
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db}"')
    return db


def measure(api, workflow_id: str, *, runs: int, clients: int) -> dict:
    def one(i: int) -> tuple[float, str]:
        started = time.perf_counter()
        run = api.post(f"/api/workflows/{workflow_id}/runs", json={"inputs": {"name": f"n{i}"}, "wait": 120}).json()
        return time.perf_counter() - started, run["status"]

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, range(clients)))  # warm-up: connections, compiled graph cache
        started = time.perf_counter()
        results = list(pool.map(one, range(runs)))
        elapsed = time.perf_counter() - started
    latencies = sorted(r[0] for r in results)
    failed = sum(1 for r in results if r[1] != "succeeded")
    return {"runs_per_s": runs / elapsed, "p50_ms": statistics.median(latencies) * 1000,
            "p95_ms": latencies[int(len(latencies) * 0.95) - 1] * 1000, "failed": failed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--concurrency", type=int, default=4, help="threads per worker process")
    args = parser.parse_args()
    db = configure()
    import django
    import httpx

    django.setup()
    from django.core.management import call_command

    from tests.support.servers import Platform
    from workflows import services

    call_command("migrate", verbosity=0)
    workspace = services.workspace_create(name="bench")
    user = services.user_create(username="bench", workspace=workspace)
    _, key = services.api_key_create(user=user, workspace=workspace)
    workflow = services.workflow_create(workspace=workspace, name="hello", graph=GRAPH)
    services.workflow_publish(workflow=workflow)

    platform = Platform(data_dir=Path(os.environ["ORCHESTRA_DATA_DIR"]), concurrency=args.concurrency)
    rows = []
    try:
        platform.start_web()
        api = httpx.Client(base_url=platform.url, headers={"Authorization": f"Bearer {key}"}, timeout=180)
        for workers in (1, 2):
            while len(platform.workers) < workers:
                platform.start_worker(beat=len(platform.workers) == 0)
            time.sleep(3)  # let a new worker connect before timing
            rows.append((workers, measure(api, str(workflow.id), runs=args.runs, clients=args.clients)))
    finally:
        platform.stop()
        from django.db import connections

        connections.close_all()
        import psycopg

        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')

    print(f"\n3-node workflow, no model; {args.runs} runs, {args.clients} concurrent clients, "
          f"{args.concurrency} threads per worker; PostgreSQL + Redis, {os.cpu_count()} CPUs")
    print(f"{'workers':>7} | {'runs/s':>7} | {'p50 ms':>7} | {'p95 ms':>7} | failed")
    print("-" * 46)
    for workers, r in rows:
        print(f"{workers:>7} | {r['runs_per_s']:>7.1f} | {r['p50_ms']:>7.0f} | {r['p95_ms']:>7.0f} | {r['failed']}")
    print(f"\n2 workers / 1 worker throughput: {rows[1][1]['runs_per_s'] / rows[0][1]['runs_per_s']:.2f}x")


if __name__ == "__main__":
    main()
