"""Webhooks: `POST /hooks/<token>` starts a run from another system's request, without an API key."""

import hashlib
import hmac
import json
import time
import uuid

import httpx
import pytest
from django.test import override_settings

from tests.conftest import wait_until
from tests.triggers.support import ECHO, create_published
from workflows import triggers
from workflows.errors import RateLimited
from workflows.models import Run


def create_webhook(api, workflow_id: str, **fields) -> dict:
    response = api.post(f"/api/workflows/{workflow_id}/webhooks", json=fields)
    assert response.status_code == 201, response.text
    return response.json()


def hook(platform, webhook: dict, **kwargs) -> httpx.Response:
    return httpx.post(f"{platform.url}{webhook['url']}", timeout=30, **kwargs)


def test_async_webhook_answers_202_and_maps_json_body_and_query_onto_inputs(api, platform):
    workflow_id = create_published(api, ECHO, name="Echo")
    webhook = create_webhook(api, workflow_id, input_mapping={"topic": "body.issue.title"})

    response = hook(
        platform, webhook, params={"count": "3"}, json={"issue": {"title": "Broken login"}, "action": "opened"}
    )

    assert response.status_code == 202, response.text
    run = api.wait_run(response.json()["run_id"])
    assert run["status"] == "succeeded" and run["trigger"] == "webhook"
    assert run["inputs"] == {"topic": "Broken login", "count": 3}
    assert webhook["token"] not in json.dumps(api.get(f"/api/workflows/{workflow_id}/webhooks").json())
    assert [r["id"] for r in api.get("/api/runs", params={"trigger": "webhook"}).json()["results"]] == [run["id"]]


def signed_headers(secret: bytes, body: bytes, *, at: float | None = None) -> dict:
    """Orchestra's scheme: HMAC-SHA256 of "<timestamp>.<body>" (docs/triggers.md)."""
    timestamp = str(int(time.time() if at is None else at))
    signature = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {
        "X-Orchestra-Timestamp": timestamp,
        "X-Orchestra-Signature": f"sha256={signature}",
        "Content-Type": "application/json",
    }


def test_sync_webhook_with_signature_answers_with_the_outputs_of_a_form_post(api, platform):
    workflow_id = create_published(api, ECHO, name="Echo")
    webhook = create_webhook(api, workflow_id, response_mode="sync", wait_s=30, secret="s3cret")
    body = b"topic=tea&count=2"

    response = hook(
        platform,
        webhook,
        content=body,
        headers={**signed_headers(b"s3cret", body), "Content-Type": "application/x-www-form-urlencoded"},
    )

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "succeeded"
    assert response.json()["outputs"] == {"topic": "tea", "count": 2}


def test_refused_webhook_requests_start_nothing(api, platform):
    workflow_id = create_published(api, ECHO, name="Echo")
    signed = create_webhook(api, workflow_id, secret="s3cret")
    open_hook = create_webhook(api, workflow_id)
    revoked = create_webhook(api, workflow_id)
    assert api.post(f"/api/workflows/{workflow_id}/webhooks/{revoked['id']}/revoke").status_code == 200

    bad_signature = hook(
        platform,
        signed,
        json={"topic": "x"},
        headers={"X-Orchestra-Signature": "sha256=00", "X-Orchestra-Timestamp": str(int(time.time()))},
    )
    unsigned = hook(platform, signed, json={"topic": "x"})
    unknown = httpx.post(f"{platform.url}/hooks/whk_not-a-token", json={"topic": "x"})
    revoked_response = hook(platform, revoked, json={"topic": "x"})
    malformed = hook(platform, open_hook, content=b"{nope", headers={"Content-Type": "application/json"})
    missing_input = hook(platform, open_hook, json={"unrelated": 1})
    oversized = hook(
        platform, open_hook, content=b"x" * (2 * 1024 * 1024 + 1), headers={"Content-Type": "application/json"}
    )

    assert bad_signature.status_code == 401 and unsigned.status_code == 401
    assert "X-Orchestra-Signature" in bad_signature.json()["errors"][0]["message"]
    assert unknown.status_code == 404 and revoked_response.status_code == 404
    assert malformed.status_code == 400 and "JSON" in malformed.json()["errors"][0]["message"]
    assert missing_input.status_code == 400 and missing_input.json()["errors"][0]["path"] == "inputs.topic"
    assert oversized.status_code == 413
    assert not Run.objects.filter(workspace=api.workspace).exists()


def test_rotating_the_token_retires_the_old_one(api, platform):
    workflow_id = create_published(api, ECHO, name="Echo")
    webhook = create_webhook(api, workflow_id)

    rotated = api.post(f"/api/workflows/{workflow_id}/webhooks/{webhook['id']}/rotate").json()

    assert hook(platform, webhook, json={"topic": "old"}).status_code == 404
    assert hook(platform, rotated, json={"topic": "new"}).status_code == 202


def test_requests_over_the_rate_limit_get_429_with_retry_after(api, platform):
    workflow_id = create_published(api, ECHO, name="Echo")
    webhook = create_webhook(api, workflow_id, rate_limit_per_minute=2)

    statuses = [hook(platform, webhook, json={"topic": str(i)}) for i in range(3)]

    assert [r.status_code for r in statuses[:2]] == [202, 202]
    assert statuses[2].status_code == 429 and 1 <= int(statuses[2].headers["Retry-After"]) <= 61
    wait_until(lambda: Run.objects.filter(workspace=api.workspace).count() == 2, message="two runs")
    assert Run.objects.filter(workspace=api.workspace).count() == 2


def test_bad_webhook_settings_are_a_400_naming_each_field(api):
    workflow_id = create_published(api, ECHO, name="Echo")

    response = api.post(
        f"/api/workflows/{workflow_id}/webhooks",
        json={"response_mode": "later", "input_mapping": {"topic": "headers.x"}, "wait_s": 0, "colour": "red"},
    )

    assert response.status_code == 400
    assert {e["path"] for e in response.json()["errors"]} == {"response_mode", "input_mapping", "wait_s", "colour"}


def test_a_disabled_webhook_is_404_until_enabled_again(api, platform):
    workflow_id = create_published(api, ECHO, name="Echo")
    webhook = create_webhook(api, workflow_id)
    url = f"/api/workflows/{workflow_id}/webhooks/{webhook['id']}"

    assert api.patch(url, json={"enabled": False}).json()["enabled"] is False
    assert hook(platform, webhook, json={"topic": "x"}).status_code == 404
    assert api.patch(url, json={"enabled": True, "response_mode": "sync"}).status_code == 200

    assert hook(platform, webhook, json={"topic": "x"}).json()["outputs"] == {"topic": "x", "count": 1}


@pytest.mark.parametrize("redis_url", [None, "redis"], ids=["database", "redis"])
def test_rate_limit_counts_per_key_per_minute_in_redis_or_the_database(django_db, redis_url):
    from django.conf import settings

    with override_settings(REDIS_URL=redis_url and settings.REDIS_URL):
        key = f"test:{uuid.uuid4()}"
        triggers.rate_limit_hit(key=key, limit=2)
        triggers.rate_limit_hit(key=key, limit=2)
        triggers.rate_limit_hit(key=f"{key}:other", limit=2)
        with pytest.raises(RateLimited) as limited:
            triggers.rate_limit_hit(key=key, limit=2)
    assert 1 <= limited.value.retry_after <= 61


def test_a_signed_request_is_accepted_once_and_only_while_its_timestamp_is_fresh(api, platform):
    workflow_id = create_published(api, ECHO, name="Echo")
    webhook = create_webhook(api, workflow_id, secret="s3cret")
    body = b'{"topic": "tea"}'
    headers = signed_headers(b"s3cret", body)
    assert hook(platform, webhook, content=body, headers=headers).status_code == 202
    replay = hook(platform, webhook, content=body, headers=headers)
    assert replay.status_code == 401 and "replay" in replay.json()["errors"][0]["message"]
    stale = hook(platform, webhook, content=body, headers=signed_headers(b"s3cret", body, at=time.time() - 3600))
    assert stale.status_code == 401 and stale.json()["errors"][0]["path"] == "X-Orchestra-Timestamp"
    # The timestamp is signed too: moving it forward breaks the signature.
    forged = dict(headers, **{"X-Orchestra-Timestamp": str(int(time.time()) + 1)})
    assert hook(platform, webhook, content=body, headers=forged).status_code == 401
    github = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert (
        hook(
            platform, webhook, content=body, headers={"X-Hub-Signature-256": github, "Content-Type": "application/json"}
        ).status_code
        == 202
    )
    assert Run.objects.filter(workspace=api.workspace).count() == 2


def test_forged_requests_do_not_use_up_the_real_senders_rate_limit(api, platform):
    workflow_id = create_published(api, ECHO, name="Echo")
    webhook = create_webhook(api, workflow_id, secret="s3cret", rate_limit_per_minute=1)
    for _ in range(3):
        assert hook(platform, webhook, json={"topic": "x"}).status_code == 401
    body = b'{"topic": "tea"}'
    assert hook(platform, webhook, content=body, headers=signed_headers(b"s3cret", body)).status_code == 202
