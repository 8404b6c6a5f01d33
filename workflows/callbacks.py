"""Run completion callbacks: the finished run POSTed to the run's callback_url, signed, retried.

The body is signed with the workspace's secret (`X-Orchestra-Signature: sha256=<hex HMAC-SHA256
of the body>`); the same scheme verifies incoming webhook bodies. Each attempt is recorded, and a
failed one schedules the next with exponential backoff, up to ORCHESTRA_CALLBACK_MAX_ATTEMPTS.
"""

import hashlib
import hmac
import json
import logging
import secrets
import time
from datetime import timedelta
from typing import Any

import httpx
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from orchestra.egress import RequestRefused, checked_address, guarded_client
from workflows import crypto
from workflows.documents import run_out  # the callback body is the run exactly as the API shows it
from workflows.errors import ValidationFailed
from workflows.models import CallbackAttempt, Run, SigningSecret, Workspace

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Orchestra-Signature"
TIMESTAMP_HEADER = "X-Orchestra-Timestamp"


def sign(*, secret: str, body: bytes) -> str:
    """The signature header value: `sha256=` and the hex HMAC-SHA256 of the exact body bytes."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def callback_url_check(url: Any, *, path: str = "callback_url") -> str:
    """A callback must be an http(s) URL to a public address (unless private ones are allowed)."""
    if url in (None, ""):
        return ""
    if not isinstance(url, str) or len(url) > 2000:
        raise ValidationFailed("callback_url is an http(s) URL of at most 2000 characters.", path=path)
    try:
        checked_address(httpx.URL(url), allow_private=settings.ORCHESTRA_HTTP_ALLOW_PRIVATE)
    except (RequestRefused, httpx.InvalidURL) as exc:
        raise ValidationFailed(f"callback_url is refused: {exc}.", path=path) from None
    return url


def signing_secret(*, workspace: Workspace) -> str:
    """The workspace's callback signing secret, made on first use."""
    record, _ = SigningSecret.objects.get_or_create(
        workspace=workspace, defaults={"secret_encrypted": crypto.encrypt("whsec_" + secrets.token_urlsafe(32))}
    )
    return crypto.decrypt(record.secret_encrypted)


def signing_secret_rotate(*, workspace: Workspace) -> str:
    secret = "whsec_" + secrets.token_urlsafe(32)
    SigningSecret.objects.update_or_create(workspace=workspace, defaults={"secret_encrypted": crypto.encrypt(secret)})
    return secret


def callback_schedule(*, run: Run) -> None:
    """Called by run_finish (inside its transaction): the first attempt is due now, stored with the
    finished run, so it is made even if the message below is lost (the sweeper sends what is due)."""
    if not run.callback_url:
        return
    Run.objects.filter(pk=run.pk).update(callback_next_attempt=1, callback_due_at=timezone.now())
    transaction.on_commit(lambda: callback_send(run_id=run.id, attempt=1))


def callback_send(*, run_id, attempt: int, countdown: float | None = None) -> None:
    """Hand an attempt to a worker; if the broker is away, it stays due and the sweeper sends it."""
    from workflows.tasks import callback_deliver_task

    try:
        callback_deliver_task.apply_async(args=[str(run_id), attempt], countdown=countdown)
    except Exception as exc:  # noqa: BLE001 (kombu/redis connection errors: the due time is stored)
        log.warning("run %s: callback attempt %d not sent (%s); the sweeper sends it when due", run_id, attempt, exc)


def _claim_attempt(run_id, attempt: int) -> bool:
    """Only one worker makes a given attempt, whoever sent it (its countdown, the sweeper): the claim
    moves the due time past the attempt's own timeout, so a worker that dies mid-attempt is retried."""
    now = timezone.now()
    hold = timedelta(seconds=settings.ORCHESTRA_CALLBACK_TIMEOUT_S + 30)
    return bool(
        Run.objects.filter(
            pk=run_id, callback_next_attempt=attempt, callback_due_at__lte=now + timedelta(seconds=1)
        ).update(callback_due_at=now + hold)
    )


def callback_deliver(*, run_id, attempt: int) -> CallbackAttempt | None:
    """POST the finished run, signed; on failure the next attempt is due after exponential backoff."""
    if not _claim_attempt(run_id, attempt):
        return None  # made already, or by another worker, or not due yet
    run = Run.objects.select_related("workspace").get(pk=run_id)
    timestamp = str(int(time.time()))
    # The timestamp is in the signed body too, so a receiver can refuse replays of an old delivery.
    body = json.dumps(
        {"event": f"run.{run.status}", "timestamp": int(timestamp), "attempt": attempt, "run": run_out(run)}
    ).encode()
    headers = {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign(secret=signing_secret(workspace=run.workspace), body=body),
        "User-Agent": "Orchestra-Callback/1",
    }
    status_code, error = None, ""
    try:
        with guarded_client(
            allow_private=settings.ORCHESTRA_HTTP_ALLOW_PRIVATE,
            timeout=settings.ORCHESTRA_CALLBACK_TIMEOUT_S,
            follow_redirects=False,
        ) as client:
            response = client.post(run.callback_url, content=body, headers=headers)
        status_code = response.status_code
        if not 200 <= status_code < 300:
            error = f"receiver answered {status_code}"
    except (RequestRefused, httpx.HTTPError) as exc:
        error = str(exc) or type(exc).__name__
    retry = bool(error) and attempt < settings.ORCHESTRA_CALLBACK_MAX_ATTEMPTS
    delay = settings.ORCHESTRA_CALLBACK_BACKOFF_S * 2 ** (attempt - 1)
    with transaction.atomic():
        record = CallbackAttempt.objects.create(
            run=run, attempt=attempt, url=run.callback_url, status_code=status_code, error=error
        )
        Run.objects.filter(pk=run.pk, callback_next_attempt=attempt).update(
            callback_next_attempt=attempt + 1 if retry else 0,
            callback_due_at=timezone.now() + timedelta(seconds=delay) if retry else None,
        )
    if retry:
        callback_send(run_id=run.id, attempt=attempt + 1, countdown=delay)
    elif error:
        log.warning("run %s: callback to %s gave up after %d attempts: %s", run.id, run.callback_url, attempt, error)
    return record
