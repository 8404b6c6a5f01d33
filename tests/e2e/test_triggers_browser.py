"""Triggers, access and the editor's looks in the browser app, end to end against the real platform:
webhooks and schedules from the editor's Triggers tab, version restore, the API keys and members
page, and the canvas at a readable zoom with the app's own dialogs."""

import secrets
import uuid

import pytest

from tests.e2e.test_browser import browser_login, browser_ready, run_scenario  # noqa: F401  (fixtures)


def test_a_webhook_is_created_called_rotated_and_revoked_a_schedule_refuses_bad_fields_and_a_version_is_restored(
    browser_login, tmp_path
):
    assert "ok - triggers" in run_scenario("triggers.mjs", browser_login, tmp_path)


@pytest.fixture
def members(browser_login):
    """Two more members of the login's workspace: one who signs in (with a key of their own), one who leaves."""
    from workflows import services
    from workflows.models import Workspace

    workspace = Workspace.objects.get(pk=browser_login["ORCHESTRA_WORKSPACE_ID"])
    member, password = f"member-{uuid.uuid4().hex[:6]}", "pw-" + secrets.token_hex(8)
    user = services.user_create(username=member, password=password, workspace=workspace, role="member")
    services.api_key_create(user=user, workspace=workspace, name="laptop")
    leaver = f"leaver-{uuid.uuid4().hex[:6]}"
    services.user_create(username=leaver, workspace=workspace, role="member")
    return {"ORCHESTRA_MEMBER": member, "ORCHESTRA_MEMBER_PASSWORD": password, "ORCHESTRA_LEAVER": leaver}


def test_an_api_key_is_shown_once_works_and_is_revoked_and_only_an_owner_removes_members(
    browser_login, members, tmp_path
):
    assert "ok - access" in run_scenario("access.mjs", browser_login | members, tmp_path)


def test_the_canvas_is_readable_after_load_and_tidy_and_asks_with_the_apps_own_dialogs(browser_login, tmp_path):
    assert "ok - canvas" in run_scenario("canvas.mjs", browser_login, tmp_path)
