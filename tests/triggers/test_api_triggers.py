"""Runs started from code: Idempotency-Key, and completion callbacks signed and retried."""

import hashlib
import hmac
import json
import threading

import pytest
from django.test import override_settings

from tests.conftest import wait_until
from tests.support.loopback import LoopbackServer
from tests.triggers.support import ECHO, create_published
from workflows import callbacks
from workflows.errors import ValidationFailed
from workflows.models import CallbackAttempt, Run


def test_two_concurrent_requests_with_one_idempotency_key_start_one_run(api):
    workflow_id = create_published(api, ECHO, name="Echo")
    barrier, responses = threading.Barrier(2), []

    def start():
        barrier.wait()
        responses.append(
            api.post(
                f"/api/workflows/{workflow_id}/runs",
                json={"inputs": {"topic": "tea"}},
                headers={"Idempotency-Key": "order-42"},
            )
        )

    threads = [threading.Thread(target=start) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(r.status_code for r in responses) == [200, 202], [r.text for r in responses]
    assert responses[0].json()["id"] == responses[1].json()["id"]
    assert Run.objects.filter(workflow_id=workflow_id).count() == 1
    replay = api.post(
        f"/api/workflows/{workflow_id}/runs", json={"inputs": {"topic": "tea"}}, headers={"Idempotency-Key": "order-42"}
    )
    assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["id"] == responses[0].json()["id"]
    other_key = api.post(
        f"/api/workflows/{workflow_id}/runs", json={"inputs": {"topic": "tea"}}, headers={"Idempotency-Key": "order-43"}
    )
    assert other_key.status_code == 202 and other_key.json()["id"] != replay.json()["id"]


def test_finished_run_is_posted_signed_to_its_callback_and_retried_after_a_500(api):
    receiver = LoopbackServer(status=500)
    try:
        workflow_id = create_published(api, ECHO, name="Echo")
        secret = api.get("/api/signing-secret").json()["secret"]

        run = api.post(
            f"/api/workflows/{workflow_id}/runs",
            json={"inputs": {"topic": "tea"}, "callback_url": f"{receiver.url}/done"},
        ).json()
        # Switch the receiver to success only once the first attempt's 500 is recorded (no race).
        wait_until(
            lambda: CallbackAttempt.objects.filter(run_id=run["id"]).exists(), timeout=30, message="the first callback"
        )
        receiver.status = 200
        # The receiver has the retry before the worker has stored its attempt: wait for the record.
        wait_until(
            lambda: CallbackAttempt.objects.filter(run_id=run["id"]).count() >= 2,
            timeout=30,
            message="the retried callback's attempt",
        )

        attempts = api.get(f"/api/runs/{run['id']}/callbacks").json()
        assert [(a["attempt"], a["status_code"]) for a in attempts] == [(1, 500), (2, 200)]
        assert attempts[0]["error"] == "receiver answered 500" and attempts[1]["error"] is None
        delivered = receiver.requests[1]
        body = delivered["body"]
        expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        assert delivered["path"] == "/done" and delivered["headers"]["X-Orchestra-Signature"] == expected
        payload = json.loads(body)
        assert payload["event"] == "run.succeeded" and payload["run"]["id"] == run["id"]
        assert payload["run"]["outputs"] == {"topic": "tea", "count": 1}
        assert str(payload["timestamp"]) == delivered["headers"]["X-Orchestra-Timestamp"]
        assert CallbackAttempt.objects.filter(run_id=run["id"]).count() == 2
    finally:
        receiver.close()


def test_bad_run_requests_are_4xx_and_start_nothing(api):
    workflow_id = create_published(api, ECHO, name="Echo")

    missing = api.post(f"/api/workflows/{workflow_id}/runs", json={"inputs": {}})
    bad_callback = api.post(
        f"/api/workflows/{workflow_id}/runs", json={"inputs": {"topic": "x"}, "callback_url": "ftp://example.com/x"}
    )
    long_key = api.post(
        f"/api/workflows/{workflow_id}/runs", json={"inputs": {"topic": "x"}}, headers={"Idempotency-Key": "k" * 201}
    )
    unknown = api.post("/api/workflows/nope/runs", json={"inputs": {"topic": "x"}})

    assert missing.status_code == 400 and missing.json()["errors"][0]["path"] == "inputs.topic"
    assert bad_callback.status_code == 400 and bad_callback.json()["errors"][0]["path"] == "callback_url"
    assert long_key.status_code == 400 and unknown.status_code == 404
    assert not Run.objects.filter(workspace=api.workspace).exists()


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/x", "http://10.0.0.1/x", "http://[::1]/x"])
def test_callbacks_to_private_addresses_are_refused_unless_allowed(url):
    with override_settings(ORCHESTRA_HTTP_ALLOW_PRIVATE=False), pytest.raises(ValidationFailed) as refused:
        callbacks.callback_url_check(url)
    assert "non-public" in str(refused.value)
    with override_settings(ORCHESTRA_HTTP_ALLOW_PRIVATE=True):
        assert callbacks.callback_url_check(url) == url
