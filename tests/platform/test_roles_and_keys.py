"""Roles mean something: members build and run, owners manage models, MCP servers, secrets, members
and everyone's keys. API keys are created (shown once), listed, revoked, and die with the membership."""

import uuid

import pytest

from tests.conftest import Api
from workflows import services


@pytest.fixture
def member(api, platform):
    """A second user of the api fixture's workspace, a plain member, with a key of their own."""
    user = services.user_create(username=f"member-{uuid.uuid4().hex[:8]}", workspace=api.workspace)
    _, key = services.api_key_create(user=user, workspace=api.workspace, name="member's")
    client = Api(platform.url, key, api.workspace)
    client.user = user
    yield client
    client.http.close()


def test_a_member_reads_but_only_an_owner_changes_models_mcp_servers_and_the_signing_secret(api, member):
    assert member.get("/api/models").status_code == 200
    created = member.post(
        "/api/models", json={"name": "x", "backend": "openai", "model": "m", "base_url": "http://127.0.0.1:9/v1"}
    )
    assert created.status_code == 403 and "owner" in created.json()["errors"][0]["message"]
    assert member.patch("/api/models/tiny", json={"price_in": 0}).status_code == 403
    assert member.delete("/api/models/tiny").status_code == 403
    assert member.get("/api/mcp-servers").status_code == 200
    assert member.post("/api/mcp-servers", json={"name": "s", "url": "http://127.0.0.1:9/mcp"}).status_code == 403
    assert member.get("/api/signing-secret").status_code == 403
    assert api.get("/api/signing-secret").status_code == 200
    assert api.patch("/api/models/tiny", json={"price_in": 0.25}).status_code == 200
    assert member.post("/api/workflows", json={"name": "mine", "graph": {"nodes": [], "edges": []}}).status_code == 201


def test_keys_are_shown_once_listed_without_the_secret_and_revoked_by_their_user_or_an_owner(api, member):
    created = member.post("/api/api-keys", json={"name": "ci"})
    assert created.status_code == 201 and created.json()["key"].startswith("orc_")
    listed = member.get("/api/api-keys").json()
    assert [k["name"] for k in listed] == ["ci", "member's"] and all("key" not in k for k in listed)
    owners_view = {k["name"] for k in api.get("/api/api-keys").json()}
    assert {"ci", "member's", "tests"} <= owners_view  # an owner sees every key of the workspace

    fresh = Api(str(api.http.base_url), created.json()["key"], api.workspace)
    assert fresh.get("/api/workflows").status_code == 200
    owners_key = next(k for k in api.get("/api/api-keys").json() if k["name"] == "tests")
    assert member.post(f"/api/api-keys/{owners_key['id']}/revoke").status_code == 404  # not theirs to see
    assert api.post(f"/api/api-keys/{created.json()['id']}/revoke").json()["revoked_at"] is not None
    assert fresh.get("/api/workflows").status_code == 401
    fresh.http.close()


def test_a_removed_members_keys_stop_working_and_the_last_owner_stays(api, member):
    assert member.get("/api/workflows").status_code == 200
    assert member.delete(f"/api/members/{api.get('/api/members').json()[0]['user']}").status_code == 403
    assert api.delete(f"/api/members/{member.user.username}").status_code == 204
    assert member.get("/api/workflows").status_code == 401
    owner = next(m for m in api.get("/api/members").json() if m["role"] == "owner")
    refused = api.delete(f"/api/members/{owner['user']}")
    assert refused.status_code == 409 and "last owner" in refused.json()["errors"][0]["message"]


def test_a_key_dies_with_its_membership_even_when_the_membership_is_deleted_directly(api, member):
    from workflows.models import Membership

    Membership.objects.filter(user=member.user, workspace=api.workspace).delete()
    assert member.get("/api/workflows").status_code == 401
