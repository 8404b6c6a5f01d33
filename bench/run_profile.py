"""Where one run's time goes: database statements and commits per phase, and a cProfile summary.

Runs the peer workflow (input -> template -> output) in this process on PostgreSQL, the way the
web server starts it (`run_start`) and a worker executes it (`run_execute`), and counts what each
phase sends to the database: Django's statements (by kind) and the LangGraph saver's calls. Counts
do not depend on how busy the machine is; the milliseconds do.

    .venv/bin/python bench/run_profile.py [--runs 50] [--nodes 1] [--profile]
"""

import argparse
import collections
import cProfile
import os
import pstats
import secrets
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PG_ADMIN = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


class StatementCounter:
    """A Django execute wrapper counting statements by their first word."""

    def __init__(self):
        self.counts: collections.Counter = collections.Counter()

    def __call__(self, execute, sql, params, many, context):
        self.counts[sql.lstrip().split(None, 1)[0].upper()] += 1
        return execute(sql, params, many, context)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--nodes", type=int, default=1, help="template nodes in the chain")
    parser.add_argument("--profile", action="store_true", help="print the top of a cProfile of run_execute")
    parser.add_argument(
        "--durability",
        choices=["sync", "async", "exit"],
        default="sync",
        help="LangGraph's durability mode, forced for a measurement (the platform uses sync)",
    )
    args = parser.parse_args()
    db = f"orchestra_profile_{secrets.token_hex(3)}"
    os.environ.update(
        {
            "DATABASE_URL": PG_ADMIN.rsplit("/", 1)[0] + "/" + db,
            "DJANGO_SETTINGS_MODULE": "orchestra.settings",
            "ORCHESTRA_DATA_DIR": tempfile.mkdtemp(prefix="orchestra-profile-"),
            "SECRET_KEY": "profile",
            "LOG_LEVEL": "WARNING",
        }
    )
    os.environ.pop("REDIS_URL", None)
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db}"')
    try:
        _profile(args)
    finally:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def _profile(args) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from bench.throughput import HELLO, chain
    from workflows import execution, runs, services

    call_command("migrate", verbosity=0)
    workspace = services.workspace_create(name="profile")
    graph = HELLO if args.nodes == 1 else chain(args.nodes)
    workflow = services.workflow_create(workspace=workspace, name="hello", graph=graph)
    services.workflow_publish(workflow=workflow)

    if args.durability != "sync":  # for the measurement only: finished nodes are durable only in "sync"
        from langgraph.pregel import Pregel

        invoke = Pregel.invoke

        def forced(self, *a, **k):
            return invoke(self, *a, **{**k, "durability": args.durability} if "durability" in k else k)

        Pregel.invoke = forced

    saver_calls: collections.Counter = collections.Counter()
    saver = execution.checkpointer()
    for name in ("get_tuple", "put", "put_writes", "list"):
        original = getattr(saver, name)

        def counted(*a, _original=original, _name=name, **k):
            saver_calls[_name] += 1
            return _original(*a, **k)

        setattr(saver, name, counted)

    # Warm-up: compiled graph, template cache, connections.
    for _ in range(3):
        run, _ = runs.run_start(workflow=workflow, inputs={"who": "Ada"}, enqueue=False)
        execution.run_execute(run_id=run.id)

    start_counter, exec_counter = StatementCounter(), StatementCounter()
    saver_calls.clear()
    start_s = exec_s = 0.0
    profiler = cProfile.Profile()
    for _ in range(args.runs):
        t0 = time.perf_counter()
        with connection.execute_wrapper(start_counter):
            run, _ = runs.run_start(workflow=workflow, inputs={"who": "Ada"}, enqueue=False)
        t1 = time.perf_counter()
        with connection.execute_wrapper(exec_counter):
            if args.profile:
                profiler.enable()
            status = execution.run_execute(run_id=run.id)
            if args.profile:
                profiler.disable()
        exec_s += time.perf_counter() - t1
        start_s += t1 - t0
        assert status == "succeeded", status

    n = args.runs
    print(
        f"\n{args.nodes + 2}-node workflow, {n} runs, PostgreSQL, in one process (no HTTP, no broker), "
        f"LangGraph durability {args.durability!r}\n"
    )
    print("| phase | ms per run | Django statements per run | by kind | saver calls per run |")
    print("|---|---|---|---|---|")
    for label, counter, seconds, saver in (
        ("run_start (web)", start_counter, start_s, {}),
        ("run_execute (worker)", exec_counter, exec_s, saver_calls),
    ):
        kinds = ", ".join(f"{k} {v / n:g}" for k, v in counter.counts.most_common())
        saver_text = ", ".join(f"{k} {v / n:g}" for k, v in sorted(saver.items())) or "-"
        print(f"| {label} | {seconds / n * 1000:.2f} | {sum(counter.counts.values()) / n:g} | {kinds} | {saver_text} |")
    if args.profile:
        print()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(35)


if __name__ == "__main__":
    main()
