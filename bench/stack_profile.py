"""Where a request's time goes, and where the whole stack's CPU goes under load.

Starts the production shape of bench/throughput.py (PostgreSQL + Redis, daphne, Celery prefork
workers) with the peer workflow behind a sync webhook, then:

1. one client, one request after another: the median client latency split by the run's own
   timestamps into the web server's part (before the run is stored and after it ended), the
   dispatch (stored -> claimed by a worker) and the execution (claimed -> finished);
2. wrk at --concurrency while py-spy samples the web server and every worker process (parent and
   prefork children), counting only threads that hold the GIL: per process kind, the share of its
   samples in each area of the code (the innermost frame that belongs to a named area) and the
   top functions by inclusive share.

    .venv/bin/python bench/stack_profile.py [--concurrency 8] [--duration 15] [--workers 1]

Needs py-spy (`pip install -e .[bench]`) and wrk; py-spy needs ptrace (root, or kernel.yama.ptrace_scope=0).
"""

from __future__ import annotations

import argparse
import collections
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from throughput import HELLO, Stack, wrk  # noqa: E402

# The innermost frame whose file matches one of these names the area a sample is charged to.
AREAS = [
    ("psycopg", "database driver (psycopg)"),
    ("django/db", "Django ORM"),
    ("langgraph/checkpoint", "LangGraph checkpointer"),
    ("langgraph", "LangGraph"),
    ("kombu", "broker client (kombu)"),
    ("redis", "Redis client"),
    ("celery", "Celery"),
    ("billiard", "Celery prefork (billiard)"),
    ("rest_framework", "Django REST framework"),
    ("django", "Django"),
    ("daphne", "daphne"),
    ("twisted", "Twisted"),
    ("asgiref", "asgiref"),
    ("pydantic", "pydantic"),
    ("jinja2", "Jinja2"),
    ("orchestra/engine", "Orchestra engine"),
    ("workflows", "Orchestra workflows app"),
    ("orchestra", "Orchestra"),
    ("json", "json"),
    ("logging", "logging"),
]


def area_of(stack: list[str]) -> str:
    for frame in reversed(stack):
        for needle, name in AREAS:
            if f"/{needle}" in frame or f"{needle}/" in frame:
                return name
    return "other (interpreter, stdlib)"


def read_collapsed(path: Path) -> list[tuple[list[str], int]]:
    samples = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack:
            samples.append((stack.split(";"), int(count)))
    return samples


def summarize(title: str, samples: list[tuple[list[str], int]], top: int) -> None:
    total = sum(n for _, n in samples) or 1
    by_area: collections.Counter = collections.Counter()
    inclusive: collections.Counter = collections.Counter()
    for frames, n in samples:
        by_area[area_of(frames)] += n
        for frame in set(frames):
            if "/site-packages/" in frame or "/work/" in frame:
                inclusive[frame] += n
    print(f"\n### {title}: {total} samples holding the GIL\n")
    print("| area (innermost frame) | share |\n|---|---|")
    for name, n in by_area.most_common():
        print(f"| {name} | {n / total:.0%} |")
    print("\n| function (inclusive) | share |\n|---|---|")
    for frame, n in inclusive.most_common(top):
        print(f"| `{frame.split('/site-packages/')[-1].replace('/work/main/', '')}` | {n / total:.0%} |")


def latency_breakdown(stack: Stack, url: str, requests: int) -> None:
    import psycopg

    with httpx.Client(timeout=30) as client:
        totals = []
        for _ in range(requests):
            began = time.perf_counter()
            client.post(url, json={"who": "Ada"}).raise_for_status()
            totals.append((time.perf_counter() - began) * 1000)
    with psycopg.connect(stack.env["DATABASE_URL"]) as conn:
        rows = conn.execute(
            "SELECT extract(epoch FROM started_at - created_at) * 1000, extract(epoch FROM finished_at - started_at) "
            "* 1000 FROM workflows_run WHERE trigger = 'webhook' ORDER BY created_at DESC LIMIT %s",
            [requests],
        ).fetchall()
    total = statistics.median(totals)
    dispatch = statistics.median(float(r[0]) for r in rows)
    execute = statistics.median(float(r[1]) for r in rows)
    print(f"\none client, {requests} requests one after another (medians, ms)\n")
    print("| client latency | web server (before the run is stored, after it ended) | dispatch | execution |")
    print("|---|---|---|---|")
    print(f"| {total:.1f} | {total - dispatch - execute:.1f} | {dispatch:.1f} | {execute:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--duration", type=float, default=15)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--requests", type=int, default=200, help="sequential requests for the latency split")
    parser.add_argument("--out", type=Path, help="keep py-spy's raw samples here (flame graphs: flamegraph.pl FILE)")
    args = parser.parse_args()
    if not shutil.which("py-spy") and not (Path(sys.executable).parent / "py-spy").exists():
        sys.exit("py-spy is needed: pip install -e .[bench]")
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
    stack = Stack().start(workers=args.workers)
    try:
        url = stack.workflow(HELLO, webhook=True)
        stack.ready(url, webhook=True)
        latency_breakdown(stack, url, args.requests)
        targets = {"web (daphne)": stack.web.pid} | {f"worker {i}": w.pid for i, w in enumerate(stack.workers)}
        spies = {}
        for name, pid in targets.items():
            out = (args.out or stack.dir) / f"{name.split()[0]}-{pid}.txt"
            spies[name] = (
                out,
                subprocess.Popen(
                    [spy, "record", "--pid", str(pid), "--subprocesses", "--gil", "--format", "raw"]
                    + ["--rate", "200", "--duration", f"{args.duration + 2:g}", "--output", str(out), "--nonblocking"],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                ),
            )
        # py-spy gives no sign that it has attached (with these flags and a pipe it printed nothing until it
        # ends), so give it a second before the load starts; the samples are shares, not counts.
        time.sleep(1)
        row = wrk(
            url, concurrency=args.concurrency, key=None, webhook=True, stack=stack, duration=args.duration, warmup=0
        )
        for _, proc in spies.values():
            proc.wait(timeout=60)
        print(f"\nsync webhook, c={args.concurrency}, {args.workers} worker(s): {row}")
        for name, (out, _) in spies.items():
            summarize(name, read_collapsed(out), args.top)
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
