"""The wheel is the product: built from the checkout, installed into a fresh virtual environment
outside it, it must set Django up, pass the deployment checks, migrate a fresh PostgreSQL database
and serve the API, the admin's static files and the browser app, from an empty folder.

The fresh environment gets its third-party dependencies from the test venv through a .pth line
(installing torch and transformers again would take minutes); the checkout itself is never on its
path, which the test asserts, so a package or data file the wheel leaves out fails here.
"""

import os
import subprocess
import sys
import sysconfig
import uuid
from pathlib import Path

import httpx
import pytest

from tests.conftest import PG_ADMIN_URL, REDIS_BASE
from tests.support.servers import free_port, wait_until

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(a python in a fresh venv with only the wheel installed, an empty working folder)."""
    if not (ROOT / "orchestra" / "webapp" / "index.html").is_file():
        pytest.fail("the browser app is not built: run `make frontend` first (make test does)")
    base = tmp_path_factory.mktemp("packaging")
    wheels = base / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(ROOT)],
        check=True,
        cwd=base,
        timeout=300,
    )
    [wheel] = wheels.glob("orchestra-*.whl")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    # Dependencies only: a path line adds the test venv's site-packages after the fresh one's, and
    # its .pth files (among them the checkout's editable install) are not processed.
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
        timeout=300,
    )
    empty = base / "empty"
    empty.mkdir()
    return venv, empty


def production_env(empty: Path, database: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "ORCHESTRA_", "PYTHON"))}
    return env | {
        "DATABASE_URL": PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + database,
        "REDIS_URL": f"{REDIS_BASE}/14",
        "ORCHESTRA_QUEUE_PREFIX": f"{database}:",
        "ORCHESTRA_DATA_DIR": str(empty / "data"),
        "SECRET_KEY": uuid.uuid4().hex * 2,
        "ORCHESTRA_HTTPS": "1",
        "ALLOWED_HOSTS": "127.0.0.1",
    }


@pytest.fixture(scope="module")
def fresh_database():
    import psycopg

    name = f"orchestra_pkg_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield name
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(venv: Path, empty: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(venv / "bin" / args[0]), *args[1:]], cwd=empty, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def test_installed_wheel_sets_up_checks_migrates_and_serves_outside_the_checkout(installed, fresh_database):
    venv, empty = installed
    env = production_env(empty, fresh_database)
    where = run(
        venv,
        empty,
        env,
        "python",
        "-c",
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'orchestra.settings'; django.setup();"
        "from django.apps import apps; import orchestra, workflows, distillation;"
        "print(orchestra.__file__, workflows.__file__, distillation.__file__);"
        "print(sorted(a.label for a in apps.get_app_configs()))",
    ).stdout
    assert str(ROOT) not in where and where.count(str(venv)) == 3, where
    assert "'distillation'" in where and "'workflows'" in where

    run(venv, empty, env, "orchestra", "manage", "check", "--deploy")
    run(venv, empty, env, "orchestra", "manage", "check", "--deploy", "--tag", "security", "--fail-level", "WARNING")
    run(venv, empty, env, "orchestra", "manage", "migrate", "--noinput")
    applied = run(venv, empty, env, "orchestra", "manage", "showmigrations", "--plan").stdout
    assert "[ ]" not in applied and "distillation" in applied

    port = free_port()
    web = subprocess.Popen(
        [
            str(venv / "bin" / "python"),
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "orchestra.asgi:application",
        ],
        cwd=empty,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # ORCHESTRA_HTTPS: the proxy in front says the request came over TLS.
        http = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"X-Forwarded-Proto": "https"}, timeout=10)

        def up():
            try:
                return http.get("/api/schema")
            except httpx.TransportError:
                return None

        assert wait_until(up, timeout=60, message="the installed web server").status_code == 200
        page = http.get("/workflows")
        assert page.status_code == 200 and '<div id="root">' in page.text
        asset = page.text.split('src="', 1)[1].split('"', 1)[0]
        assert asset.startswith("/assets/")
        script = http.get(asset)
        assert script.status_code == 200 and "immutable" in script.headers["cache-control"]
        assert http.get("/static/admin/css/base.css").status_code == 200
        insecure = httpx.get(f"http://127.0.0.1:{port}/workflows", timeout=10)
        assert insecure.status_code == 301 and insecure.headers["location"].startswith("https://")
    finally:
        web.terminate()
        web.wait(timeout=30)
