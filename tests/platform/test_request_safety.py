"""What a request can do to the web server: no non-finite numbers stored, login guarded by CSRF and
throttled, WebSockets from a foreign origin refused."""

import json
import uuid

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.platform.test_runs_api import BLOG, create_published


@pytest.mark.parametrize("number", ["1e309", "-1e999", "NaN", "Infinity", "-Infinity"])
def test_a_non_finite_number_is_refused_before_anything_is_stored(api, number):
    body = '{"name": "big", "backend": "openai", "model": "m", "base_url": "http://127.0.0.1:9/v1", "price_in": %s}'
    response = api.post("/api/models", content=(body % number).encode(), headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and "Malformed request body" in response.json()["errors"][0]["message"]
    assert api.get("/api/models").status_code == 200  # still readable: nothing non-finite got in


def login(client: httpx.Client, username: str, password: str, *, csrf: bool = True) -> httpx.Response:
    headers = {}
    if csrf:
        client.get("/api/auth/me")  # the browser app's first call: it sets the csrftoken cookie
        headers["X-CSRFToken"] = client.cookies.get("csrftoken", "")
    return client.post("/api/auth/login", json={"username": username, "password": password}, headers=headers)


def person(workspace) -> tuple[str, str]:
    from workflows import services

    username, password = f"person-{uuid.uuid4().hex[:8]}", "pw-" + uuid.uuid4().hex
    services.user_create(username=username, password=password, workspace=workspace)
    return username, password


def test_login_needs_the_csrf_token(api, platform):
    username, password = person(api.workspace)
    with httpx.Client(base_url=platform.url) as client:
        forged = login(client, username, password, csrf=False)
        assert forged.status_code == 403 and "CSRF" in forged.json()["errors"][0]["message"]
        assert login(client, username, password).status_code == 200
        assert login(client, {"not": "a string"}, password).status_code == 400


def test_wrong_passwords_are_throttled_per_username(api, platform):
    username, password = person(api.workspace)
    with httpx.Client(base_url=platform.url) as client:
        statuses = [login(client, username, "wrong").status_code for _ in range(11)]
        assert statuses == [400] * 10 + [429]
        assert login(client, username, password).status_code == 429  # the right one waits its minute too
        other, other_password = person(api.workspace)
        assert login(client, other, other_password).status_code == 200  # another account is not locked out


def test_a_websocket_from_a_foreign_origin_is_refused_and_one_without_origin_uses_its_key(api, platform):
    workflow_id = create_published(api, BLOG)
    run_id = api.post(f"/api/workflows/{workflow_id}/runs", json={"inputs": {"topic": "tea"}, "wait": 60}).json()["id"]
    url = platform.url.replace("http", "ws") + f"/ws/runs/{run_id}/?after=0"
    auth = {"Authorization": f"Bearer {api.key}"}
    with pytest.raises(InvalidStatus) as refused:
        connect(url, additional_headers=auth, origin="https://evil.example")
    assert refused.value.response.status_code == 403
    with connect(url, additional_headers=auth, origin=platform.url.replace("127.0.0.1", "localhost")) as ws:
        assert json.loads(ws.recv(timeout=30))["seq"] == 1
    with connect(url, additional_headers=auth) as ws:
        assert json.loads(ws.recv(timeout=30))["seq"] == 1


EMBEDDED_PRIVATE = [
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:0:10.0.0.1",  # IPv4-translated
    "::192.168.1.1",  # IPv4-compatible
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b:1::a00:1",  # local-use NAT64 of 10.0.0.1
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo of client 127.0.0.1
]


@pytest.mark.parametrize("address", EMBEDDED_PRIVATE)
def test_the_egress_guard_decodes_an_embedded_ipv4_address_and_refuses_a_private_one(address):
    import ipaddress

    from orchestra.egress import RequestRefused, checked_address, embedded_ipv4

    inner = embedded_ipv4(ipaddress.ip_address(address))
    assert inner is not None and not inner.is_global
    with pytest.raises(RequestRefused, match="non-public address"):
        checked_address(httpx.URL(f"http://[{address}]:8080/"), allow_private=False)


def test_an_embedded_public_ipv4_address_is_public_and_an_allowlist_sees_the_embedded_one():
    import ipaddress

    from orchestra.egress import Allowlist, checked_address, is_public

    assert is_public(ipaddress.ip_address("64:ff9b::808:808"))  # NAT64 of 8.8.8.8
    assert checked_address(httpx.URL("http://[64:ff9b::808:808]/"), allow_private=False) == "64:ff9b::808:808"
    allowed = Allowlist.parse("10.0.0.0/8")
    assert checked_address(httpx.URL("http://[::ffff:10.1.2.3]/"), allow_private=allowed) == "::ffff:a01:203"
