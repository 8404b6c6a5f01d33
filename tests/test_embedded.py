"""The embedded default that `make run` starts: SQLite, a filesystem broker, web + worker in one command."""

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.support.servers import ROOT, free_port, wait_until


def test_make_run_stack_runs_an_example_workflow_and_stops_cleanly_on_ctrl_c(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY")}
    env["ORCHESTRA_DATA_DIR"] = str(tmp_path / "var")
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True, timeout=300)
    demo = subprocess.run(
        [*manage, "bootstrap_demo"], cwd=ROOT, env=env, capture_output=True, text=True, check=True, timeout=300
    )
    key = re.search(r"API key:\s+(orc_\S+)", demo.stdout).group(1)
    assert re.search(r"login:\s+demo / \S+", demo.stdout)

    port = free_port()
    server = subprocess.Popen(
        [*manage, "run_embedded", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        api = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {key}"}, timeout=120)
        # Generous: on two loaded cores the web server and worker take minutes to import torch; a server
        # that exited fails at once, with its output.
        wait_until(lambda: _up(api, server), timeout=300, message="the embedded web server")
        workflows = {w["name"]: w for w in api.get("/api/workflows").json()}
        blog = workflows["Write a blog post"]
        assert blog["published_version"] == 1

        run = api.post(f"/api/workflows/{blog['id']}/runs", json={"inputs": {"topic": "tea"}, "wait": 120}).json()

        assert run["status"] == "succeeded", run
        assert run["outputs"]["post"] and run["nodes"][1]["model"] == "tiny-demo"
        assert (tmp_path / "var" / "orchestra.sqlite3").exists()
    finally:
        server.send_signal(signal.SIGINT)
        output, _ = server.communicate(timeout=30)
    assert server.returncode == 0
    assert f"http://localhost:{port}/" in output


def _up(api: httpx.Client, server: subprocess.Popen) -> bool:
    if server.poll() is not None:
        raise AssertionError(f"run_embedded exited with {server.returncode}:\n{server.stdout.read()}")
    try:
        return api.get("/api/node-types").status_code == 200
    except httpx.HTTPError:
        return False
