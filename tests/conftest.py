"""Shared fixtures: a real platform (PostgreSQL, Redis, daphne, a Celery worker) and tiny models.

The test process configures Django against the same fresh PostgreSQL database as the servers it
starts, so tests can drive the HTTP API and still read stored state directly. Every test gets its
own workspace, which is also how the product isolates tenants.
"""

import os
import secrets
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.servers import Platform, wait_until  # noqa: E402,F401  (wait_until: for tests)

PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_BASE = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")
REDIS_DB = int(os.environ.get("TEST_REDIS_DB", "13"))
DB_NAME = f"orchestra_test_{os.getpid()}_{secrets.token_hex(3)}"
DATA_DIR = Path(tempfile.mkdtemp(prefix="orchestra-test-"))

# Set before Django is imported anywhere in this process; the servers inherit the same values.
TEST_ENV = {
    "DATABASE_URL": PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + DB_NAME,
    "REDIS_URL": f"{REDIS_BASE}/{REDIS_DB}",
    "ORCHESTRA_DATA_DIR": str(DATA_DIR),
    "DJANGO_SETTINGS_MODULE": "orchestra.settings",
    "SECRET_KEY": "test-secret-key-" + secrets.token_hex(8),
    "ORCHESTRA_RUN_LEASE_S": "3",
    "ORCHESTRA_SWEEP_INTERVAL_S": "1",
    "ORCHESTRA_VISIBILITY_TIMEOUT_S": "3600",
    "ORCHESTRA_HTTP_ALLOW_PRIVATE": "1",
    "ORCHESTRA_QUEUE_PREFIX": f"{DB_NAME}:",
    "TOKENIZERS_PARALLELISM": "false",
    "OMP_NUM_THREADS": "1",
    "HF_HUB_OFFLINE": "1",
}
os.environ.update(TEST_ENV)

import django  # noqa: E402  (after the environment above is in place)

django.setup()  # no database connection yet: test modules can import models at collection


def _create_database() -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')


def _drop_database() -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')


@pytest.fixture(scope="session")
def django_db():
    """A fresh, migrated PostgreSQL database; Django in this process points at it."""
    _create_database()  # Redis needs no reset: this session's queues carry its own key prefix
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    yield
    from django.db import connections

    connections.close_all()
    _drop_database()


@pytest.fixture(scope="session")
def platform(django_db):
    p = Platform(data_dir=DATA_DIR)
    p.start_web()
    p.start_worker()
    yield p
    p.stop()


@pytest.fixture(scope="session")
def tiny_models():
    """Shared tokenizer, teacher and student folders, built once per session."""
    from tests.support.tiny_models import build_tiny_family

    return build_tiny_family(DATA_DIR / "tiny-models")


class Api:
    """An HTTP client for one workspace, authenticated with its API key."""

    def __init__(self, base_url: str, key: str, workspace):
        import httpx

        self.key, self.workspace = key, workspace
        self.http = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=60)

    def __getattr__(self, name):
        return getattr(self.http, name)

    def wait_run(self, run_id: str, *, statuses=("succeeded", "failed", "cancelled"), timeout: float = 60) -> dict:
        def done():
            response = self.http.get(f"/api/runs/{run_id}")
            if response.status_code >= 500:  # a poll during a database blip: a client asks again
                return None
            run = response.json()
            return run if run["status"] in statuses else None

        return wait_until(done, timeout=timeout, interval=0.1, message=f"run {run_id} to reach {statuses}")


def make_workspace(name: str | None = None):
    from workflows import services

    workspace = services.workspace_create(name=name or f"ws-{uuid.uuid4().hex[:8]}")
    user = services.user_create(
        username=f"user-{uuid.uuid4().hex[:8]}",
        password="pw-" + secrets.token_hex(8),
        workspace=workspace,
        role="owner",
    )
    _, key = services.api_key_create(user=user, workspace=workspace, name="tests")
    return workspace, user, key


@pytest.fixture
def api(platform, tiny_models):
    """A fresh workspace whose default model is the tiny teacher, served in-process by transformers."""
    from workflows import services

    workspace, _, key = make_workspace()
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
    client = Api(platform.url, key, workspace)
    yield client
    client.http.close()


def pytest_sessionfinish(session, exitstatus):
    import shutil

    if exitstatus == 0 and not os.environ.get("KEEP_TEST_DATA"):
        shutil.rmtree(DATA_DIR, ignore_errors=True)
    else:
        print(f"\ntest data and server logs kept in {DATA_DIR}")
