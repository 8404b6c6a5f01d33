"""Throughput and latency through the whole stack, side by side with n8n in the same run.

The peer workflow of ../shared/peers (input -> template "Hello, {{ inputs.who }}!" -> output),
loaded with wrk exactly as the peer scripts load it (`wrk -t1 -cC -dD --timeout 30s`, a warm-up
first), on the production shape (PostgreSQL + Redis, daphne, Celery workers `-c 4
--prefetch-multiplier 1`), then n8n's own script on the same machine right after:

- sync webhook and `wait` API runs at c = 1, 8, 32: req/s, p50/p95, errors, CPU (% of one core)
- per-node overhead: a 20-template chain against the 1-template workflow, through the API, c=1
- scale-out: runs/s at c=32 with 1, 2 and 4 worker processes
- bounded connections: c=256 while pg_stat_activity is sampled (the most our database saw)
- the embedded mode (SQLite, filesystem broker, `manage.py run_embedded`) at c = 1 and 8

    .venv/bin/python bench/throughput.py                      # everything, n8n included (~12 min)
    .venv/bin/python bench/throughput.py --n8n-results FILE   # take n8n's table from a file its run.sh wrote
    .venv/bin/python bench/throughput.py --quick --only webhook,wait --n8n skip

An answer counts as an error unless it is HTTP 200 with the rendered text in it. Loopback only;
every load is bounded by wrk's -d. The machine is shared and noisy: read the ratios of rows
measured in the same invocation, not the absolute numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
PEERS = Path(os.environ.get("ORCHESTRA_PEERS", ROOT.parent / "shared" / "peers"))
if not PEERS.exists() and Path("/work/shared/peers").exists():  # run from a second checkout
    PEERS = Path("/work/shared/peers")
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv").exists() else sys.executable
PG_ADMIN = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_BASE = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379")

HELLO = {
    "nodes": [
        {"id": "start", "type": "input", "config": {"fields": [{"name": "who", "type": "string", "required": True}]}},
        {"id": "hello", "type": "template", "config": {"template": "Hello, {{ inputs.who }}!"}},
        {"id": "end", "type": "output", "config": {"outputs": {"text": "{{ nodes.hello.output }}"}}},
    ],
    "edges": [{"source": "start", "target": "hello"}, {"source": "hello", "target": "end"}],
}


def _git_describe() -> str:
    return subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()


def chain(length: int) -> dict:
    """input -> t1 -> ... -> tN -> output; each template appends to the previous one's text."""
    nodes = [HELLO["nodes"][0], {"id": "t1", "type": "template", "config": {"template": "Hello, {{ inputs.who }}!"}}]
    nodes += [
        {"id": f"t{i}", "type": "template", "config": {"template": f"{{{{ nodes.t{i - 1}.output }}}}"}}
        for i in range(2, length + 1)
    ]
    nodes.append({"id": "end", "type": "output", "config": {"outputs": {"text": f"{{{{ nodes.t{length}.output }}}}"}}})
    ids = [n["id"] for n in nodes]
    return {"nodes": nodes, "edges": [{"source": a, "target": b} for a, b in zip(ids, ids[1:])]}


LUA = """
wrk.method = "POST"
wrk.body = '%(body)s'
wrk.headers["Content-Type"] = "application/json"
%(auth)s
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) bad = 0 end
function response(status, headers, body)
  if status ~= 200 or not string.find(body, "Hello, Ada!", 1, true) then bad = bad + 1 end
end
function done(summary, latency, requests)
  local b = 0
  for _, t in ipairs(threads) do b = b + t:get("bad") end
  local e = summary.errors
  io.write(string.format("RESULT requests=%%d rps=%%.2f p50_ms=%%.2f p95_ms=%%.2f p99_ms=%%.2f errors=%%d\\n",
    summary.requests, summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    b + e.connect + e.read + e.write + e.timeout))
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_ticks(pids: list[int]) -> int:
    """utime + stime of the processes and all their descendants (as peers/n8n/cpu_ticks.py)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    total, stack = 0, list(pids)
    while stack:
        pid = stack.pop()
        stack += children.get(pid, [])
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total


def free_connections() -> int:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        return conn.execute(
            "SELECT current_setting('max_connections')::int - count(*) FROM pg_stat_activity"
        ).fetchone()[0]


def infra_pids() -> list[int]:
    pids = []
    try:
        info = subprocess.run(
            ["redis-cli", "-u", REDIS_BASE, "info", "server"], capture_output=True, text=True, timeout=5
        ).stdout
        pids += [int(m) for m in re.findall(r"process_id:(\d+)", info)]
    except (OSError, subprocess.TimeoutExpired):
        pass
    for pidfile in Path("/var/lib/postgresql").glob("*/main/postmaster.pid"):
        pids.append(int(pidfile.read_text().split()[0]))
    return pids


class Stack:
    """One Orchestra deployment started for the bench: daphne, N Celery workers (or run_embedded)."""

    def __init__(self, *, embedded: bool = False, worker_concurrency: int = 4, env: dict | None = None):
        self.embedded = embedded
        self.worker_concurrency = worker_concurrency
        self.dir = Path(tempfile.mkdtemp(prefix="orchestra-bench-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.db = f"orchestra_bench_{secrets.token_hex(3)}"
        self.env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        self.env.update(
            {
                "ORCHESTRA_DATA_DIR": str(self.dir / "data"),
                "DJANGO_SETTINGS_MODULE": "orchestra.settings",
                "SECRET_KEY": "bench-not-secret",
                "DEBUG": "0",
                "HF_HUB_OFFLINE": "1",
                "LOG_LEVEL": "WARNING",
                "PYTHONUNBUFFERED": "1",
            }
        )
        if not embedded:
            self.env.update(
                {
                    "DATABASE_URL": PG_ADMIN.rsplit("/", 1)[0] + "/" + self.db,
                    "REDIS_URL": f"{REDIS_BASE}/11",
                    "ORCHESTRA_QUEUE_PREFIX": f"{self.db}:",
                }
            )
        self.env.update(env or {})
        self.web: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self.key = ""

    def _manage(self, *args: str) -> str:
        return subprocess.run(
            [PYTHON, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
            timeout=600,
        ).stdout

    def _spawn(self, args: list[str], log: str, env: dict | None = None) -> subprocess.Popen:
        return subprocess.Popen(
            args,
            cwd=ROOT,
            env={**self.env, **(env or {})},
            stdout=open(self.dir / log, "ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def start(self, workers: int = 2) -> "Stack":
        if not self.embedded:
            import psycopg

            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{self.db}"')
        self._manage("migrate", "--noinput", "-v0")
        self._manage("create_workspace", "--name", "bench", "--user", "bench")
        self.key = self._manage("create_api_key", "--user", "bench", "--workspace", "bench").strip().splitlines()[-1]
        if self.embedded:
            self.web = self._spawn([PYTHON, "manage.py", "run_embedded", "--port", str(self.port)], "embedded.log")
        else:
            self.web = self._spawn(
                [PYTHON, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), "orchestra.asgi:application"],
                "web.log",
            )
            self.beat = self._spawn(
                [
                    PYTHON,
                    "-m",
                    "celery",
                    "-A",
                    "orchestra.celery",
                    "beat",
                    "-l",
                    "WARNING",
                    "--schedule",
                    str(self.dir / "beat-schedule"),
                ],
                "beat.log",
            )
            self.scale(workers)
        self.api = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.key}"}, timeout=60)
        deadline = time.monotonic() + 120
        while True:
            try:
                if self.api.get("/api/node-types").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the web server did not come up; see {self.dir}")
            time.sleep(0.3)
        return self

    # A prefork child runs one run at a time: its task thread, lease keeper and event flusher need
    # about three Django connections and the checkpointer one or two (docs/deployment.md).
    # The PostgreSQL here is shared with others: the bench keeps to what a child needs.
    WORKER_ENV = {"ORCHESTRA_DB_POOL_MAX": "3", "ORCHESTRA_CHECKPOINT_POOL_MAX": "1"}

    def scale(self, workers: int) -> None:
        while len(self.workers) < workers:
            self.workers.append(
                self._spawn(
                    [
                        PYTHON,
                        "-m",
                        "celery",
                        "-A",
                        "orchestra.celery",
                        "worker",
                        "-Q",
                        "runs,celery",
                        "-c",
                        str(self.worker_concurrency),
                        "--prefetch-multiplier",
                        "1",
                        "-l",
                        "WARNING",
                        "-n",
                        f"bench{len(self.workers)}-{self.db}@%h",
                    ],
                    f"worker{len(self.workers)}.log",
                    env=None if self.embedded else self.WORKER_ENV,
                )
            )
        while len(self.workers) > workers:
            self._stop(self.workers.pop())

    def pids(self) -> list[int]:
        return [p.pid for p in [self.web, getattr(self, "beat", None), *self.workers] if p is not None]

    def workflow(self, graph: dict, *, webhook: bool) -> str:
        """Create and publish a workflow; returns the URL to POST to (its sync webhook, or its runs)."""
        wf = self.api.post("/api/workflows", json={"name": f"bench-{secrets.token_hex(2)}", "graph": graph})
        wf.raise_for_status()
        wf_id = wf.json()["id"]
        self.api.post(f"/api/workflows/{wf_id}/publish", json={}).raise_for_status()
        if not webhook:
            return f"{self.url}/api/workflows/{wf_id}/runs"
        hook = self.api.post(
            f"/api/workflows/{wf_id}/webhooks",
            json={"name": "bench", "response_mode": "sync", "rate_limit_per_minute": 0},
        )
        hook.raise_for_status()
        return self.url + hook.json()["url"]

    def ready(self, url: str, *, webhook: bool) -> None:
        """Wait (bounded) until the workers answer: the first runs also compile and warm caches."""
        body = {"who": "Ada"} if webhook else {"inputs": {"who": "Ada"}, "wait": 30}
        for _ in range(60):
            try:
                r = self.api.post(url, json=body)
                if r.status_code == 200 and "Hello, Ada!" in r.text:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(1)
        raise RuntimeError(f"no answer from {url}; see {self.dir}")

    def drain(self, timeout: float = 180) -> None:
        """Wait (bounded) until no run is queued or running: a row must not measure the last one's backlog."""
        if self.embedded:
            time.sleep(2)
            return
        import psycopg

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with psycopg.connect(self.env["DATABASE_URL"], autocommit=True) as conn:
                    if not conn.execute(
                        "SELECT count(*) FROM workflows_run WHERE status IN ('queued', 'running')"
                    ).fetchone()[0]:
                        return
            except psycopg.OperationalError:
                pass  # a busy shared server: look again
            time.sleep(0.5)

    def _stop(self, proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def stop(self) -> None:
        for proc in [self.web, getattr(self, "beat", None), *self.workers]:
            if proc is not None:
                self._stop(proc)
        if not self.embedded:
            import psycopg

            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)')
        if sys.exc_info()[0] is None:
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            print(f"logs kept in {self.dir}", file=sys.stderr)


def wrk(
    url: str,
    *,
    concurrency: int,
    duration: float,
    warmup: float,
    key: str | None,
    webhook: bool,
    stack: Stack,
    pg_sampler: "PgSampler | None" = None,
) -> dict:
    body = json.dumps({"who": "Ada"} if webhook else {"inputs": {"who": "Ada"}, "wait": 30})
    lua = stack.dir / f"load-{concurrency}-{int(webhook)}.lua"
    auth = f'wrk.headers["Authorization"] = "Bearer {key}"' if key else ""
    lua.write_text(LUA % {"body": body, "auth": auth})
    base = ["wrk", "-t1", f"-c{concurrency}", "--timeout", "30s", "-s", str(lua), url]
    if warmup:
        subprocess.run(base[:3] + [f"-d{warmup:g}s"] + base[3:], capture_output=True, timeout=warmup + 60)
    pids, infra = stack.pids(), infra_pids()
    app_before, infra_before, started = cpu_ticks(pids), cpu_ticks(infra), time.monotonic()
    if pg_sampler:
        pg_sampler.start()
    out = subprocess.run(
        base[:3] + [f"-d{duration:g}s"] + base[3:], capture_output=True, text=True, timeout=duration + 90
    ).stdout
    if pg_sampler:
        pg_sampler.stop()
    elapsed = time.monotonic() - started
    tick = os.sysconf("SC_CLK_TCK")
    line = next((text for text in out.splitlines() if text.startswith("RESULT")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{out}")
    kv = dict(item.split("=") for item in line.split()[1:])
    row = {
        "c": concurrency,
        "rps": float(kv["rps"]),
        "p50": float(kv["p50_ms"]),
        "p95": float(kv["p95_ms"]),
        "requests": int(kv["requests"]),
        "errors": int(kv["errors"]),
        "cpu": round((cpu_ticks(pids) - app_before) / tick / elapsed * 100),
        "infra_cpu": round((cpu_ticks(infra) - infra_before) / tick / elapsed * 100),
    }
    stack.drain()
    return row


class PgSampler:
    """Samples pg_stat_activity for one database while a load runs: the most connections it saw."""

    def __init__(self, db: str):
        self.db, self.most, self.by_app = db, 0, {}
        self._stop = threading.Event()

    def start(self) -> None:
        self._stop.clear()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        import psycopg

        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            while not self._stop.wait(0.2):
                rows = conn.execute(
                    "SELECT application_name, count(*) FROM pg_stat_activity WHERE datname = %s GROUP BY 1", [self.db]
                ).fetchall()
                self.most = max(self.most, sum(n for _, n in rows))
                for app, n in rows:
                    self.by_app[app] = max(self.by_app.get(app, 0), n)

    def stop(self) -> None:
        self._stop.set()
        self.thread.join()


# --- n8n, measured by its own script in the same invocation ------------------------------------


def n8n_rows(source: str, *, duration: float, warmup: float, concurrency: list[int]) -> tuple[dict[int, dict], str]:
    """{c: row} from the peer script's markdown table: run it now, or read a file it wrote."""
    if source == "skip":
        return {}, "not measured (--n8n skip)"
    if source == "run":
        script = PEERS / "n8n" / "run.sh"
        if not script.exists():
            return {}, f"not measured ({script} missing)"
        results = Path(tempfile.mkdtemp(prefix="n8n-results-"))
        env = {
            **os.environ,
            "DURATION": f"{duration:g}",
            "WARMUP": f"{warmup:g}",
            "CONCURRENCY": " ".join(map(str, concurrency)),
            "RESULTS": str(results),
            "PORT": str(free_port()),
        }
        proc = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=1800)
        text, label = proc.stdout, "n8n 2.41.1 as shipped, measured now by peers/n8n/run.sh"
        if proc.returncode != 0:
            return {}, f"n8n run failed: {proc.stderr[-500:]}"
    else:
        text, label = Path(source).read_text(), f"n8n from {source}"
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 8 and cells[1].isdigit():
            rows[int(cells[1])] = {
                "c": int(cells[1]),
                "rps": float(cells[2]),
                "p50": float(cells[3]),
                "p95": float(cells[4]),
                "errors": int(cells[7]),
                "cpu": cells[8].rstrip("%"),
            }
    return rows, label


# --- The measurements ----------------------------------------------------------------------------


def print_table(title: str, rows: list[tuple[str, dict]], n8n: dict[int, dict] | None = None) -> None:
    print(f"\n{title}\n")
    ratio = " | x n8n" if n8n else ""
    print(f"| what | c | req/s | p50 ms | p95 ms | requests | errors | app CPU | pg+redis CPU{ratio} |")
    print("|---|---|---|---|---|---|---|---|---|" + ("---|" if n8n else ""))
    for label, r in rows:
        if r is None:
            print(f"| {label} |" + " - |" * (9 if n8n else 8))
            continue
        extra = ""
        if n8n:
            peer = n8n.get(r["c"])
            extra = f" | {r['rps'] / peer['rps']:.1f}x" if peer and peer["rps"] else " | -"
        print(
            f"| {label} | {r['c']} | {r['rps']:.1f} | {r['p50']:.1f} | {r['p95']:.1f} | {r['requests']} | "
            f"{r['errors']} | {r['cpu']}% | {r['infra_cpu']}%{extra} |"
        )
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-concurrency", type=int, default=4)
    parser.add_argument("--scale", default="1,2,4", help="worker counts for the scale-out rows")
    parser.add_argument("--only", default="webhook,wait,chain,scale,c256,embedded")
    parser.add_argument("--n8n", default="run", help="run (its peer script, now), skip, or a results file")
    parser.add_argument("--n8n-results", help="n8n's markdown table written by peers/n8n/run.sh")
    parser.add_argument("--quick", action="store_true", help="8 s rows after a 2 s warm-up")
    args = parser.parse_args()
    if args.quick:
        args.duration, args.warmup = 8, 2
    only = set(args.only.split(","))
    levels = [int(c) for c in args.concurrency.split(",")]
    if not shutil.which("wrk"):
        sys.exit("wrk is needed (apt-get install wrk; peers/n8n/run.sh installs it too)")
    load = dict(duration=args.duration, warmup=args.warmup)
    print(
        f"Orchestra {_git_describe()}, "
        f"{os.cpu_count()} cores, wrk -t1 --timeout 30s, {args.warmup:g} s warm-up + {args.duration:g} s per row"
    )

    production: list[tuple[str, dict]] = []
    stack = Stack(worker_concurrency=args.worker_concurrency).start(workers=args.workers)
    try:
        hook_url = stack.workflow(HELLO, webhook=True)
        runs_url = stack.workflow(HELLO, webhook=False)
        stack.ready(hook_url, webhook=True)
        stack.ready(runs_url, webhook=False)
        for kind, url, webhook in (("webhook", hook_url, True), ("wait", runs_url, False)):
            if kind in only:
                for c in levels:
                    row = wrk(
                        url, concurrency=c, key=None if webhook else stack.key, webhook=webhook, stack=stack, **load
                    )
                    production.append((f"{'sync webhook' if webhook else 'wait API'}, {args.workers} workers", row))
                    print(f"  {production[-1][0]} c={c}: {row}", flush=True)
        chain_rows = []
        if "chain" in only:
            long_url = stack.workflow(chain(20), webhook=False)
            stack.ready(long_url, webhook=False)
            for label, url in (("1 template (3 nodes)", runs_url), ("20 templates (22 nodes)", long_url)):
                row = wrk(url, concurrency=1, key=stack.key, webhook=False, stack=stack, **load)
                chain_rows.append((label, row))
                print(f"  chain {label}: {row}", flush=True)
        c256 = None
        if "c256" in only:
            sampler = PgSampler(stack.db)
            row = wrk(
                hook_url,
                concurrency=256,
                key=None,
                webhook=True,
                stack=stack,
                pg_sampler=sampler,
                duration=args.duration,
                warmup=0,
            )
            c256 = (row, sampler)
            print(f"  c=256: {row}, most connections {sampler.most} {sampler.by_app}", flush=True)
        scale_rows = []
        if "scale" in only:
            for workers in [int(w) for w in args.scale.split(",")]:
                need = (workers - len(stack.workers)) * args.worker_concurrency * 4
                if need > free_connections() - 10:  # a shared PostgreSQL: leave the others theirs
                    print(
                        f"  scale {workers}: skipped, PostgreSQL has {free_connections()} free connections "
                        f"and {workers} workers would take about {need} more",
                        flush=True,
                    )
                    scale_rows.append((f"{workers} workers: skipped (PostgreSQL connections in use by others)", None))
                    continue
                stack.scale(workers)
                stack.ready(hook_url, webhook=True)
                time.sleep(2)  # every new worker connected before the clock starts
                row = wrk(hook_url, concurrency=32, key=None, webhook=True, stack=stack, **load)
                scale_rows.append((f"{workers} worker{'s' if workers > 1 else ''} x -c {args.worker_concurrency}", row))
                print(f"  scale {workers}: {row}", flush=True)
    finally:
        stack.stop()

    embedded_rows = []
    if "embedded" in only:
        emb = Stack(embedded=True).start()
        try:
            url = emb.workflow(HELLO, webhook=True)
            emb.ready(url, webhook=True)
            for c in (1, 8):
                row = wrk(url, concurrency=c, key=None, webhook=True, stack=emb, **load)
                embedded_rows.append(("embedded: SQLite + filesystem broker, sync webhook", row))
                print(f"  embedded c={c}: {row}", flush=True)
        finally:
            emb.stop()

    n8n, n8n_label = n8n_rows(args.n8n_results or args.n8n, concurrency=levels, **load)
    print("\n" + "=" * 100)
    if n8n:
        print(f"\n{n8n_label}\n")
        print("| n8n | c | req/s | p50 ms | p95 ms | errors | n8n CPU |\n|---|---|---|---|---|---|---|")
        for c, r in sorted(n8n.items()):
            print(
                f"| regular/sqlite | {c} | {r['rps']:.1f} | {r['p50']:.1f} | {r['p95']:.1f} "
                f"| {r['errors']} | {r['cpu']}% |"
            )
    else:
        print(f"\nn8n: {n8n_label}")
    if production:
        print_table(
            "Orchestra, production shape (PostgreSQL + Redis, daphne, Celery prefork -c "
            f"{args.worker_concurrency} --prefetch-multiplier 1)",
            production,
            n8n,
        )
    if chain_rows:
        print_table("Per-node overhead: wait API at c=1", chain_rows)
        short, long = chain_rows[0][1], chain_rows[1][1]
        print(
            f"\nper node (p50): ({long['p50']:.1f} - {short['p50']:.1f}) ms / 19 = "
            f"{(long['p50'] - short['p50']) / 19:.2f} ms"
        )
    if c256:
        row, sampler = c256
        print_table("c=256 on the sync webhook (no warm-up)", [("sync webhook", row)])
        print(
            f"\nmost connections to our database at once: {sampler.most}; by application: {json.dumps(sampler.by_app)}"
        )
    if scale_rows:
        print_table("Scale-out: sync webhook at c=32", scale_rows)
    if embedded_rows:
        print_table("Embedded mode (one command, a laptop)", embedded_rows, n8n)


if __name__ == "__main__":
    main()
