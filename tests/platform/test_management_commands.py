"""Operator commands: a workspace with a member, then an API key that works against the API."""

import os
import subprocess
import sys

import httpx

from tests.support.servers import ROOT


def manage(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_create_workspace_then_create_api_key_gives_a_working_key(platform):
    created = manage("create_workspace", "--name", "Ops team", "--user", "olga", "--password", "s3cret-pass-1")
    assert created.returncode == 0, created.stderr
    assert "created workspace 'Ops team'" in created.stdout and "created user 'olga'" in created.stdout

    issued = manage("create_api_key", "--user", "olga", "--workspace", "Ops team", "--name", "ci")
    assert issued.returncode == 0, issued.stderr
    key = issued.stdout.strip()
    assert key.startswith("orc_")
    response = httpx.get(platform.url + "/api/workflows", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200 and response.json() == []

    again = manage("create_workspace", "--name", "Ops team", "--user", "olga")
    assert again.returncode == 0 and "using workspace" in again.stdout


def test_create_api_key_names_what_is_missing(platform):
    missing_user = manage("create_api_key", "--user", "nobody", "--workspace", "Ops team")
    assert missing_user.returncode != 0 and "nobody" in missing_user.stderr
    manage("create_workspace", "--name", "Lonely")
    manage("create_workspace", "--name", "Other", "--user", "pia")
    not_member = manage("create_api_key", "--user", "pia", "--workspace", "Lonely")
    assert not_member.returncode != 0 and "not a member" in not_member.stderr
