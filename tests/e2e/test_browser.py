"""The browser app end to end: headless Chromium (playwright-core) against the real platform.

Each scenario is a Node script next to this file; it fails on any browser console error. The
server under test is the shared `platform` fixture (daphne + a Celery worker on Redis/PostgreSQL),
serving the built app from orchestra/webapp. Set ORCHESTRA_SCREENSHOTS=docs/img to refresh the
screenshots in the docs; by default they go to a temporary folder.
"""

import os
import secrets
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="module")
def browser_ready():
    missing = [
        what
        for what, ok in [
            ("the built app (make frontend)", (ROOT / "orchestra" / "webapp" / "index.html").exists()),
            (
                "playwright-core (cd frontend && npm ci)",
                (ROOT / "frontend" / "node_modules" / "playwright-core").exists(),
            ),
            (f"Chromium at {CHROMIUM} (make chromium)", Path(CHROMIUM).exists()),
            ("node", shutil.which("node") is not None),
        ]
        if not ok
    ]
    assert not missing, "the browser tests need " + ", ".join(missing)


@pytest.fixture
def browser_login(platform, tiny_models, browser_ready):
    """A fresh workspace with a password login, whose default model is the tiny local teacher."""
    from workflows import services

    workspace = services.workspace_create(name="Demo workspace")
    username, password = f"e2e-{uuid.uuid4().hex[:8]}", "pw-" + secrets.token_hex(8)
    services.user_create(username=username, password=password, workspace=workspace, role="owner")
    services.model_endpoint_save(
        workspace=workspace,
        name="tiny",
        fields={
            "backend": "transformers",
            "model": str(tiny_models["teacher"]),
            "is_default": True,
            "price_in": 0.5,
            "price_out": 1.5,
        },
        trusted_path=True,
    )
    return {
        "ORCHESTRA_URL": platform.url,
        "ORCHESTRA_USERNAME": username,
        "ORCHESTRA_PASSWORD": password,
        "ORCHESTRA_WORKSPACE_ID": str(workspace.id),
    }


def run_scenario(script: str, login: dict, tmp_path: Path) -> str:
    shots = os.environ.get("ORCHESTRA_SCREENSHOTS") or str(tmp_path)
    env = {**os.environ, **login, "ORCHESTRA_SCREENSHOTS": str(Path(shots).resolve()), "CHROMIUM": CHROMIUM}
    done = subprocess.run(["node", str(HERE / script)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{script} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_workflow_is_built_by_dragging_validated_fixed_and_test_run_in_the_editor(browser_login, tmp_path):
    assert "ok - editor" in run_scenario("editor.mjs", browser_login, tmp_path)


def test_run_survives_a_reload_with_every_event_and_an_approval_is_answered(browser_login, tmp_path):
    assert "ok - live" in run_scenario("live.mjs", browser_login, tmp_path)


def test_workflows_runs_models_and_traces_pages_manage_their_objects(browser_login, tmp_path):
    assert "ok - manage" in run_scenario("manage.mjs", browser_login, tmp_path)


def test_chat_streams_the_reply_and_shows_each_steps_model_and_cost(browser_login, tmp_path):
    assert "ok - chat" in run_scenario("chat.mjs", browser_login, tmp_path)
