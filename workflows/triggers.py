"""Starting runs from outside the editor: API idempotency, webhooks, schedules (callbacks: callbacks.py).

Services in the HackSoft sense: keyword-only arguments, validated input, ServiceError on bad
input (so nothing starts), one write each.
"""

import datetime
import hashlib
import hmac
import json
import logging
import secrets
import time
import zoneinfo
from typing import Any

from celery.schedules import crontab
from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import F
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, PeriodicTask
from django_celery_beat.tzcrontab import TzAwareCrontab

from orchestra import engine
from workflows import crypto, runs, waits
from workflows.callbacks import SIGNATURE_HEADER, TIMESTAMP_HEADER, callback_url_check, sign
from workflows.errors import NotFound, RateLimited, ServiceError, Unauthorized, ValidationFailed
from workflows.models import RateLimitWindow, Run, Schedule, WebhookCall, WebhookTrigger, Workflow

log = logging.getLogger(__name__)

MAX_WEBHOOK_WAIT_S = 300
WEBHOOK_CALLS_KEPT = 20  # per webhook: the Triggers panel's recent calls
WEBHOOK_CALL_ERROR_CHARS = 500


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --- Waiting for a run ------------------------------------------------------------------------


def run_wait(*, run: Run, timeout_s: float) -> Run:
    """Until the run ends or waits for a person, or the time is up: woken by a push (waits.py)."""
    return waits.run_wait(run=run, timeout_s=timeout_s)


# --- Webhooks -------------------------------------------------------------------------------------


def webhook_create(*, workflow: Workflow, fields: dict) -> tuple[WebhookTrigger, str]:
    """Create a webhook from checked settings (workflows.api.serializers.WebhookIn); its token is
    returned once and only a hash is kept."""
    callback_url = callback_url_check(fields.get("callback_url"))
    token = "whk_" + secrets.token_urlsafe(32)
    webhook = WebhookTrigger.objects.create(
        workflow=workflow,
        name=fields.get("name") or "",
        token_prefix=token[:12],
        token_hash=_hash_token(token),
        input_mapping=fields.get("input_mapping", {}),
        response_mode=fields.get("response_mode", "async"),
        wait_s=fields.get("wait_s", 30),
        secret_encrypted=crypto.encrypt(fields.get("secret") or ""),
        rate_limit_per_minute=fields.get("rate_limit_per_minute", 60),
        callback_url=callback_url,
        enabled=fields.get("enabled", True),
    )
    return webhook, token


def webhook_update(*, webhook: WebhookTrigger, fields: dict) -> WebhookTrigger:
    """Change a webhook's settings; its token stays (rotate to change it)."""
    fields = dict(fields)  # a copy: the secret and callback are popped off below
    if "callback_url" in fields:
        webhook.callback_url = callback_url_check(fields.pop("callback_url"))
    if "secret" in fields:
        webhook.secret_encrypted = crypto.encrypt(fields.pop("secret") or "")
    for field, value in fields.items():
        setattr(webhook, field, value)
    webhook.save()
    return webhook


def webhook_rotate(*, webhook: WebhookTrigger) -> str:
    """A new token; the old one stops working at once."""
    token = "whk_" + secrets.token_urlsafe(32)
    webhook.token_prefix, webhook.token_hash = token[:12], _hash_token(token)
    webhook.save(update_fields=["token_prefix", "token_hash"])
    return token


def webhook_revoke(*, webhook: WebhookTrigger) -> None:
    webhook.revoked_at = timezone.now()
    webhook.save(update_fields=["revoked_at"])


def webhook_for_token(*, token: str) -> WebhookTrigger:
    webhook = (
        WebhookTrigger.objects.select_related("workflow", "workflow__workspace")
        .filter(token_hash=_hash_token(token), revoked_at__isnull=True, enabled=True)
        .first()
    )
    if webhook is None:
        raise NotFound("No active webhook has this token (it may have been rotated or revoked).", path="token")
    return webhook


def rate_limit_hit(*, key: str, limit: int) -> None:
    """Count one request in the current minute; over the limit is RateLimited.

    A fixed window: Redis INCR + EXPIRE when there is Redis, else a row per key and minute.
    """
    if limit == 0:
        return
    now = time.time()
    window = int(now // 60)
    if settings.REDIS_URL:
        import redis

        client = _redis()
        redis_key = f"orchestra:ratelimit:{key}:{window}"
        try:
            with client.pipeline() as pipe:
                count, _ = pipe.incr(redis_key).expire(redis_key, 120).execute()
        except redis.RedisError as exc:  # fail open: an unreachable counter must not refuse every request
            log.warning("rate limit %s not counted (%s)", key, exc)
            return
    else:
        RateLimitWindow.objects.get_or_create(key=key, window=window)
        RateLimitWindow.objects.filter(key=key, window=window).update(count=F("count") + 1)
        count = RateLimitWindow.objects.get(key=key, window=window).count
    if count > limit:
        raise RateLimited(
            f"Rate limit of {limit} requests per minute exceeded.", retry_after=max(1, int((window + 1) * 60 - now) + 1)
        )


def rate_window_first(*, key: str, seconds: int) -> bool:
    """True the first time `key` is seen within `seconds` (Redis SET NX, else a database row)."""
    if settings.REDIS_URL:
        import redis

        try:
            return bool(_redis().set(f"orchestra:once:{key}", 1, nx=True, ex=seconds))
        except redis.RedisError as exc:  # fail open, as the rate limit does: the timestamp window still holds
            log.warning("replay guard %s not checked (%s)", key, exc)
            return True
    _, created = RateLimitWindow.objects.get_or_create(key=key[:200], window=int(time.time() // seconds))
    return created


_redis_client = None


def _redis():
    global _redis_client
    if _redis_client is None:
        import redis

        _redis_client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=2)
    return _redis_client


def _lookup(data: Any, dotted: str) -> Any:
    for part in dotted.split(".") if dotted else []:
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def input_field_names(graph: dict) -> list[str]:
    return [f["name"] for n in graph["nodes"] if n["type"] == "input" for f in n.get("config", {}).get("fields", [])]


def webhook_inputs(*, webhook: WebhookTrigger, body: Any, query: dict) -> dict:
    """Map the request onto the workflow's inputs: the configured paths, else the same names."""
    fields = input_field_names(runs.graph_for(workflow=webhook.workflow, version=None)[1])
    sources = {"body": body, "query": query}
    inputs = {}
    for name in fields:
        if name in webhook.input_mapping:
            source, _, rest = webhook.input_mapping[name].partition(".")
            value = _lookup(sources[source], rest)
        else:
            value = body.get(name) if isinstance(body, dict) and name in body else query.get(name)
        if value is not None:
            inputs[name] = value
    return inputs


def webhook_call_record(*, webhook: WebhookTrigger, status_code: int, run: Run | None = None, error: str = "") -> None:
    """Keep one call to the webhook (its answer's status, the run it started, why it was refused;
    never the body or a signature) and drop all but the newest WEBHOOK_CALLS_KEPT.

    Two statements and no lock (a lock on the webhook's row made every call to it wait for the
    others): each prune keeps the newest calls it can see, which are never older than those a
    concurrent prune keeps, so no prune drops a newer call, and the last one leaves exactly
    WEBHOOK_CALLS_KEPT. A database too busy to keep the call does not change the answer (the run
    has started: a retry would start another), so that failure is logged, not raised."""
    try:
        WebhookCall.objects.create(
            webhook=webhook, status_code=status_code, run=run, error=error[:WEBHOOK_CALL_ERROR_CHARS]
        )
        newest = WebhookCall.objects.filter(webhook=webhook).order_by("-id").values("id")[:WEBHOOK_CALLS_KEPT]
        WebhookCall.objects.filter(webhook=webhook).exclude(id__in=newest).delete()
    except DatabaseError:
        log.warning("webhook %s: call not recorded", webhook.id, exc_info=True)


def webhook_signature_check(
    *, webhook: WebhookTrigger, secret: str, raw_body: bytes, signature: str, timestamp: str, github_signature: str
) -> None:
    """Orchestra's scheme signs "<timestamp>.<body>", with the timestamp no older than the replay
    window, and each signature is accepted once, so a captured request cannot be sent again.
    GitHub's X-Hub-Signature-256 signs the body alone; it is accepted as GitHub sends it."""
    if github_signature and not signature:
        if not hmac.compare_digest(sign(secret=secret, body=raw_body), github_signature):
            raise Unauthorized("Wrong X-Hub-Signature-256 header.", path="X-Hub-Signature-256")
        return
    try:
        age = time.time() - int(timestamp)
    except ValueError:
        raise Unauthorized(
            f"Missing or malformed {TIMESTAMP_HEADER} header: the Unix time the request was signed at.",
            path=TIMESTAMP_HEADER,
        ) from None
    window = settings.ORCHESTRA_WEBHOOK_REPLAY_WINDOW_S
    if abs(age) > window:
        raise Unauthorized(
            f"{TIMESTAMP_HEADER} is {int(age)} s off; a signed request is accepted for {window:g} s "
            f"(check the sender's clock).",
            path=TIMESTAMP_HEADER,
        )
    expected = sign(secret=secret, body=timestamp.encode() + b"." + raw_body)
    if not hmac.compare_digest(expected, signature or ""):
        raise Unauthorized(
            f"Missing or wrong {SIGNATURE_HEADER} header: expected sha256=<hex HMAC-SHA256 of "
            f'"<{TIMESTAMP_HEADER}>.<body>" with this webhook\'s secret>.',
            path=SIGNATURE_HEADER,
        )
    if not rate_window_first(key=f"webhook-signature:{webhook.id}:{signature}", seconds=int(window) * 2):
        raise Unauthorized("This signed request was already received: a replay is refused.", path=SIGNATURE_HEADER)


def webhook_fire(
    *,
    webhook: WebhookTrigger,
    raw_body: bytes,
    content_type: str,
    form: dict,
    query: dict,
    signature: str,
    timestamp: str = "",
    github_signature: str = "",
) -> Run:
    """Check, parse and map one webhook request and start its run. Any bad input starts nothing.

    Only requests that pass the signature count against the webhook's rate limit: forged ones
    (limited apart, per webhook) cannot lock the real sender out."""
    secret = crypto.decrypt(webhook.secret_encrypted)
    if secret:
        try:
            webhook_signature_check(
                webhook=webhook,
                secret=secret,
                raw_body=raw_body,
                signature=signature,
                timestamp=timestamp,
                github_signature=github_signature,
            )
        except Unauthorized:
            rate_limit_hit(
                key=f"webhook-unauthenticated:{webhook.id}", limit=settings.ORCHESTRA_WEBHOOK_FAILURES_PER_MIN
            )
            raise
    rate_limit_hit(key=f"webhook:{webhook.id}", limit=webhook.rate_limit_per_minute)
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        body: Any = form
    elif not raw_body.strip():
        body = {}
    else:
        try:
            body = json.loads(raw_body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValidationFailed(f"Malformed JSON body: {exc}.", path="body") from None
    inputs = webhook_inputs(webhook=webhook, body=body, query=query)
    run, _ = runs.run_start(
        workflow=webhook.workflow,
        inputs=inputs,
        trigger="webhook",
        trigger_ref=f"webhook:{webhook.id}",
        callback_url=webhook.callback_url,
    )
    return run


# --- Schedules ------------------------------------------------------------------------------------

SCHEDULE_FIELDS = {"name", "cron", "timezone", "inputs", "enabled", "overlap_policy", "callback_url"}


def _cron_problem(cron: Any) -> str | None:
    parts = cron.split() if isinstance(cron, str) else []
    if len(parts) != 5:
        return 'cron is five fields: minute hour day-of-month month day-of-week, e.g. "0 9 * * 1-5".'
    try:  # celery's own parser: what it accepts is exactly what beat can run
        _crontab(parts)
    except Exception as exc:  # celery raises ValueError or its own ParseException
        return f"Invalid cron expression {cron!r}: {exc}."
    return None


def _crontab(parts: list[str]) -> crontab:
    minute, hour, day_of_month, month, day_of_week = parts
    return crontab(minute=minute, hour=hour, day_of_month=day_of_month, month_of_year=month, day_of_week=day_of_week)


def _timezone(name: Any) -> zoneinfo.ZoneInfo | None:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        return None


def _next_run_at(schedule: Schedule) -> datetime.datetime | None:
    """When beat fires the schedule next (None while it is disabled)."""
    if not schedule.enabled:
        return None
    minute, hour, day_of_month, month, day_of_week = schedule.cron.split()
    tz = zoneinfo.ZoneInfo(schedule.timezone)
    due = TzAwareCrontab(
        minute=minute, hour=hour, day_of_month=day_of_month, month_of_year=month, day_of_week=day_of_week, tz=tz
    )
    now = timezone.now().astimezone(tz)
    # Beat's own estimate, a moment short of the minute it fires on (it reads the clock again).
    return (now + due.remaining_estimate(now) + datetime.timedelta(seconds=30)).replace(second=0, microsecond=0)


def _schedule_problems(schedule: Schedule) -> list[dict]:
    """Every problem of a schedule at once; its inputs are checked as an API run's would be."""
    problems = []
    if (cron_problem := _cron_problem(schedule.cron)) is not None:
        problems.append({"path": "cron", "message": cron_problem})
    if _timezone(schedule.timezone) is None:
        problems.append(
            {
                "path": "timezone",
                "message": f'Unknown time zone {schedule.timezone!r}; use an IANA name such as "Europe/Paris".',
            }
        )
    if schedule.overlap_policy not in ("skip", "allow"):
        problems.append({"path": "overlap_policy", "message": 'overlap_policy is "skip" (default) or "allow".'})
    if not isinstance(schedule.enabled, bool):
        problems.append({"path": "enabled", "message": "enabled is true or false."})
    if not isinstance(schedule.inputs, dict):
        problems.append({"path": "inputs", "message": "inputs is an object of fixed input values."})
    else:
        _, graph = runs.graph_for(workflow=schedule.workflow, version=None)
        try:
            _, errors = engine.validate_inputs(engine.parse_graph(graph), schedule.inputs)
        except engine.GraphInvalid:
            errors = []  # a draft with problems: it runs (and the firing says why not) once they are fixed
        problems += [error.as_dict() for error in errors]
    return problems


def _periodic_task_name(schedule_id) -> str:
    return f"orchestra-schedule:{schedule_id}"


@transaction.atomic
def schedule_save(*, workflow: Workflow, fields: dict, schedule: Schedule | None = None) -> Schedule:
    """Create or update a schedule and the beat PeriodicTask that fires it."""
    unknown = sorted(set(fields) - SCHEDULE_FIELDS)
    if unknown:
        raise ValidationFailed(
            [{"path": f, "message": f"Unknown field; valid: {', '.join(sorted(SCHEDULE_FIELDS))}."} for f in unknown]
        )
    schedule = schedule or Schedule(workflow=workflow)
    for field, value in fields.items():
        setattr(schedule, field, value)
    problems = _schedule_problems(schedule)
    try:
        schedule.callback_url = callback_url_check(schedule.callback_url)
    except ValidationFailed as exc:
        problems += exc.errors
    if problems:
        raise ValidationFailed(problems)
    schedule.next_run_at = _next_run_at(schedule)
    schedule.save()
    minute, hour, day_of_month, month, day_of_week = schedule.cron.split()
    cron, _ = CrontabSchedule.objects.get_or_create(
        minute=minute,
        hour=hour,
        day_of_month=day_of_month,
        month_of_year=month,
        day_of_week=day_of_week,
        timezone=zoneinfo.ZoneInfo(schedule.timezone),
    )
    task = schedule.periodic_task or PeriodicTask(
        name=_periodic_task_name(schedule.id), task="workflows.tasks.schedule_fire_task"
    )
    task.crontab, task.args, task.enabled = cron, json.dumps([str(schedule.id)]), schedule.enabled
    task.save()  # its signal tells the DatabaseScheduler to reload
    if schedule.periodic_task_id != task.id:
        schedule.periodic_task = task
        schedule.save(update_fields=["periodic_task"])
    return schedule


@transaction.atomic
def schedule_delete(*, schedule: Schedule) -> None:
    if schedule.periodic_task is not None:
        schedule.periodic_task.delete()
    schedule.delete()


def schedule_fire(*, schedule_id) -> Run | None:
    """What beat calls: start a run, unless the last one is still going and overlap is skipped."""
    with transaction.atomic():
        schedule = Schedule.objects.select_for_update().select_related("workflow").filter(pk=schedule_id).first()
        if schedule is None:  # deleted with its workflow: stop beat from firing it again
            PeriodicTask.objects.filter(name=_periodic_task_name(schedule_id)).delete()
            return None
        if not schedule.enabled:
            return None
        ref = f"schedule:{schedule.id}"
        if schedule.overlap_policy == "skip" and Run.objects.filter(trigger_ref=ref, status__in=Run.ACTIVE).exists():
            log.info("schedule %s: previous run still active, skipped", schedule.id)
            return None
        schedule.last_fired_at, schedule.next_run_at = timezone.now(), _next_run_at(schedule)
        try:
            with transaction.atomic():  # a refused start leaves nothing behind but the schedule's last error
                run, _ = runs.run_start(
                    workflow=schedule.workflow,
                    inputs=schedule.inputs,
                    trigger="schedule",
                    trigger_ref=ref,
                    callback_url=schedule.callback_url,
                )
            schedule.last_error = ""
        except ServiceError as exc:  # e.g. the workflow changed its inputs since: say so where the user looks
            log.warning("schedule %s: run not started: %s", schedule.id, exc)
            run, schedule.last_error = None, str(exc)
        schedule.save(update_fields=["last_fired_at", "next_run_at", "last_error"])
    return run
