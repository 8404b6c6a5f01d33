"""The `orchestra` command line against the running server."""

import json
import os
import subprocess
import sys

from tests.platform.test_runs_api import BLOG


def orchestra(api, platform, *args) -> subprocess.CompletedProcess:
    env = os.environ | {"ORCHESTRA_URL": platform.url, "ORCHESTRA_API_KEY": api.key}
    return subprocess.run(
        [sys.executable, "-m", "orchestra.cli", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_cli_imports_runs_lists_and_exports_a_workflow(api, platform, tmp_path):
    source = tmp_path / "blog.json"
    source.write_text(json.dumps({"orchestra": 1, "name": "Blog via CLI", "graph": BLOG}))

    imported = orchestra(api, platform, "workflows", "import", str(source))
    assert imported.returncode == 0, imported.stderr
    workflow_id = imported.stdout.strip()

    ran = orchestra(api, platform, "run", workflow_id, "-i", "topic=tea", "--version", "draft")
    assert ran.returncode == 0, ran.stderr
    assert "post" in json.loads(ran.stdout)
    assert "[node_succeeded draft]" in ran.stderr

    listed = orchestra(api, platform, "runs", "list", "--workflow", workflow_id)
    assert "succeeded" in listed.stdout

    exported = orchestra(api, platform, "workflows", "export", workflow_id, "-o", str(tmp_path / "out.json"))
    assert exported.returncode == 0
    assert json.loads((tmp_path / "out.json").read_text())["graph"] == BLOG


def test_cli_reports_missing_inputs_by_field(api, platform):
    workflow_id = api.post("/api/workflows", json={"name": "b", "graph": BLOG}).json()["id"]
    ran = orchestra(api, platform, "run", workflow_id, "--version", "draft")
    assert ran.returncode == 2
    assert "inputs.topic" in ran.stderr
