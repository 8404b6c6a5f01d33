"""A webhook's recent calls: what each caller was answered, the run it started or why it was
refused, newest first, bounded, and only to the webhook's own workspace."""

import json
from concurrent.futures import ThreadPoolExecutor

from tests.conftest import Api, make_workspace
from tests.triggers.support import ECHO, create_published
from tests.triggers.test_webhooks import create_webhook, hook, signed_headers
from workflows.models import WebhookCall
from workflows.triggers import WEBHOOK_CALLS_KEPT


def test_accepted_forged_and_refused_calls_are_listed_newest_first_without_bodies_or_secrets(api, platform):
    workflow_id = create_published(api, ECHO, name="Echo")
    webhook = create_webhook(api, workflow_id, secret="s3cret")
    good_body = json.dumps({"topic": "tea"}).encode()
    refused_body = json.dumps({"unrelated": "private-value"}).encode()

    good = hook(platform, webhook, content=good_body, headers=signed_headers(b"s3cret", good_body))
    forged = hook(platform, webhook, json={"topic": "x"}, headers={"X-Orchestra-Signature": "sha256=00"})
    refused = hook(platform, webhook, content=refused_body, headers=signed_headers(b"s3cret", refused_body))
    assert (good.status_code, forged.status_code, refused.status_code) == (202, 401, 400)

    detail = api.get(f"/api/workflows/{workflow_id}/webhooks/{webhook['id']}").json()
    calls = detail["recent_calls"]
    assert [c["status_code"] for c in calls] == [400, 401, 202]
    assert [c["run_id"] for c in calls] == [None, None, good.json()["run_id"]]
    assert calls[2]["error"] is None
    assert "inputs.topic" in calls[0]["error"] and "X-Orchestra-Timestamp" in calls[1]["error"]
    assert calls[0]["at"] >= calls[1]["at"] >= calls[2]["at"]
    listed = api.get(f"/api/workflows/{workflow_id}/webhooks").json()
    assert [w["recent_calls"] for w in listed] == [calls]
    stored = json.dumps(calls)
    assert "private-value" not in stored and "s3cret" not in stored and webhook["token"] not in stored


def test_another_workspace_sees_neither_the_webhook_nor_its_calls(api, platform):
    workflow_id = create_published(api, ECHO, name="Echo")
    webhook = create_webhook(api, workflow_id)
    assert hook(platform, webhook, json={"topic": "tea"}).status_code == 202
    workspace, _, key = make_workspace()
    other = Api(platform.url, key, workspace)

    assert other.get(f"/api/workflows/{workflow_id}/webhooks/{webhook['id']}").status_code == 404
    assert other.get(f"/api/workflows/{workflow_id}/webhooks").status_code == 404
    assert (
        api.get(f"/api/workflows/{workflow_id}/webhooks/{webhook['id']}").json()["recent_calls"][0]["status_code"]
        == 202
    )


def test_thirty_two_concurrent_calls_leave_exactly_the_newest_twenty(api, platform):
    workflow_id = create_published(api, ECHO, name="Echo")
    webhook = create_webhook(api, workflow_id, rate_limit_per_minute=0)

    # Refused for a missing input: nothing starts, so only the recording is under load.
    with ThreadPoolExecutor(max_workers=32) as pool:
        answers = list(pool.map(lambda i: hook(platform, webhook, json={"n": i}).status_code, range(32)))

    assert answers == [400] * 32
    calls = api.get(f"/api/workflows/{workflow_id}/webhooks/{webhook['id']}").json()["recent_calls"]
    assert len(calls) == WEBHOOK_CALLS_KEPT == 20
    assert WebhookCall.objects.filter(webhook_id=webhook["id"]).count() == WEBHOOK_CALLS_KEPT
    kept = list(WebhookCall.objects.filter(webhook_id=webhook["id"]).values_list("id", flat=True))

    assert hook(platform, webhook, json={"topic": "last"}).status_code == 202
    calls = api.get(f"/api/workflows/{workflow_id}/webhooks/{webhook['id']}").json()["recent_calls"]
    assert len(calls) == WEBHOOK_CALLS_KEPT and calls[0]["status_code"] == 202
    now_kept = list(WebhookCall.objects.filter(webhook_id=webhook["id"]).values_list("id", flat=True))
    assert now_kept[1:] == kept[:-1]  # the oldest went, the rest stayed
