"""Schedules: stored as django-celery-beat periodic tasks, fired the way beat fires them (driven clock)."""

import json
from datetime import datetime
from zoneinfo import ZoneInfo

from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler

from orchestra.celery import app as celery_app
from tests.conftest import wait_until
from tests.triggers.support import ECHO, WAITS, create_published
from workflows import triggers
from workflows.models import Run, Schedule

PARIS = ZoneInfo("Europe/Paris")


def test_schedule_is_due_at_its_cron_time_in_its_time_zone_and_fires_a_scheduled_run(api):
    workflow_id = create_published(api, ECHO, name="Echo")
    created = api.post(
        f"/api/workflows/{workflow_id}/schedules",
        json={"cron": "0 9 * * *", "timezone": "Europe/Paris", "inputs": {"topic": "daily digest"}},
    )
    assert created.status_code == 201, created.text
    schedule = created.json()
    task = PeriodicTask.objects.get(orchestra_schedule__id=schedule["id"])
    assert task.crontab.hour == "9" and str(task.crontab.timezone) == "Europe/Paris" and task.enabled

    entry = DatabaseScheduler.Entry(task, app=celery_app)
    entry.last_run_at = datetime(2026, 3, 2, 9, 0, 5, tzinfo=PARIS)
    entry.schedule.nowfun = lambda: datetime(2026, 3, 3, 8, 59, tzinfo=PARIS)  # 07:59 UTC
    assert not entry.is_due().is_due
    entry.schedule.nowfun = lambda: datetime(2026, 3, 3, 9, 0, 30, tzinfo=PARIS)
    assert entry.is_due().is_due
    celery_app.send_task(entry.task, args=entry.args, kwargs=entry.kwargs, **entry.options)  # as beat does

    run = wait_until(lambda: Run.objects.filter(workflow_id=workflow_id).first(), message="the scheduled run")
    finished = api.wait_run(str(run.id))
    assert finished["trigger"] == "schedule" and finished["outputs"] == {"topic": "daily digest", "count": 1}
    assert api.get(f"/api/workflows/{workflow_id}/schedules/{schedule['id']}").json()["last_fired_at"]


def test_overlap_policy_skip_fires_nothing_while_the_previous_run_is_active_and_allow_does(api):
    workflow_id = create_published(api, WAITS, name="Waits")
    skip = api.post(f"/api/workflows/{workflow_id}/schedules", json={"cron": "0 3 * * *"}).json()
    allow = api.post(
        f"/api/workflows/{workflow_id}/schedules", json={"cron": "0 3 * * *", "overlap_policy": "allow"}
    ).json()

    first = triggers.schedule_fire(schedule_id=skip["id"])
    api.wait_run(str(first.id), statuses=("waiting",))
    skipped = triggers.schedule_fire(schedule_id=skip["id"])
    allowed = [triggers.schedule_fire(schedule_id=allow["id"]) for _ in range(2)]

    assert first is not None and skipped is None and all(allowed)
    assert Run.objects.filter(trigger_ref=f"schedule:{skip['id']}").count() == 1
    assert Run.objects.filter(trigger_ref=f"schedule:{allow['id']}").count() == 2
    api.post(f"/api/runs/{first.id}/resume", json={"node_id": "ask", "value": {"approved": True}})
    api.wait_run(str(first.id))
    assert triggers.schedule_fire(schedule_id=skip["id"]) is not None


def test_schedules_can_be_disabled_edited_and_deleted_with_their_beat_task(api):
    workflow_id = create_published(api, ECHO, name="Echo")
    schedule = api.post(
        f"/api/workflows/{workflow_id}/schedules", json={"cron": "0 3 * * *", "inputs": {"topic": "x"}}
    ).json()
    url = f"/api/workflows/{workflow_id}/schedules/{schedule['id']}"

    edited = api.patch(url, json={"enabled": False, "cron": "30 6 * * 1-5", "timezone": "America/New_York"})

    assert edited.status_code == 200, edited.text
    task = PeriodicTask.objects.get(orchestra_schedule__id=schedule["id"])
    assert not task.enabled and task.crontab.minute == "30" and task.crontab.day_of_week == "1-5"
    assert str(task.crontab.timezone) == "America/New_York"
    assert triggers.schedule_fire(schedule_id=schedule["id"]) is None  # disabled: beat's late message does nothing
    assert api.delete(url).status_code == 204
    assert (
        not PeriodicTask.objects.filter(pk=task.pk).exists() and not Schedule.objects.filter(pk=schedule["id"]).exists()
    )


def test_invalid_schedules_are_a_400_naming_the_field_and_create_no_task(api):
    workflow_id = create_published(api, ECHO, name="Echo")
    before = PeriodicTask.objects.count()

    bad_cron = api.post(f"/api/workflows/{workflow_id}/schedules", json={"cron": "61 * * * *"})
    short_cron = api.post(f"/api/workflows/{workflow_id}/schedules", json={"cron": "every day"})
    bad_zone = api.post(f"/api/workflows/{workflow_id}/schedules", json={"cron": "0 9 * * *", "timezone": "Mars/Base"})
    bad_policy = api.post(
        f"/api/workflows/{workflow_id}/schedules", json={"cron": "0 9 * * *", "overlap_policy": "queue"}
    )
    unknown = api.post("/api/workflows/nope/schedules", json={"cron": "0 9 * * *"})

    assert [r.json()["errors"][0]["path"] for r in (bad_cron, short_cron, bad_zone, bad_policy)] == [
        "cron",
        "cron",
        "timezone",
        "overlap_policy",
    ]
    assert all(r.status_code == 400 for r in (bad_cron, short_cron, bad_zone, bad_policy))
    assert unknown.status_code == 404
    assert PeriodicTask.objects.count() == before and not Schedule.objects.filter(workflow_id=workflow_id).exists()


def test_a_schedule_deleted_with_its_workflow_stops_its_beat_task_at_the_next_firing(api):
    workflow_id = create_published(api, ECHO, name="Echo")
    schedule = api.post(
        f"/api/workflows/{workflow_id}/schedules", json={"cron": "0 3 * * *", "inputs": {"topic": "x"}}
    ).json()
    assert api.delete(f"/api/workflows/{workflow_id}").status_code == 204

    assert triggers.schedule_fire(schedule_id=schedule["id"]) is None

    assert not PeriodicTask.objects.filter(name=f"orchestra-schedule:{schedule['id']}").exists()


def test_schedule_inputs_are_checked_as_an_api_runs_are_with_every_problem_at_once(api):
    workflow_id = create_published(api, ECHO, name="Echo")
    base = f"/api/workflows/{workflow_id}/schedules"

    missing = api.post(base, json={"cron": "0 9 * * *", "inputs": {}})
    everything = api.post(
        base, json={"cron": "61 * * * *", "timezone": "Mars/Base", "inputs": {"topic": "x", "count": "many", "nope": 1}}
    )
    created = api.post(base, json={"cron": "0 9 * * *", "inputs": {"topic": "x"}}).json()
    updated = api.patch(f"{base}/{created['id']}", json={"inputs": {"count": 2}})

    assert missing.status_code == 400 and [e["path"] for e in missing.json()["errors"]] == ["inputs.topic"]
    assert everything.status_code == 400
    assert sorted(e["path"] for e in everything.json()["errors"]) == [
        "cron",
        "inputs.count",
        "inputs.nope",
        "timezone",
    ]
    assert updated.status_code == 400 and [e["path"] for e in updated.json()["errors"]] == ["inputs.topic"]
    assert created["next_run_at"] is not None and created["last_error"] is None
    assert Schedule.objects.filter(workflow_id=workflow_id).count() == 1


def test_a_firing_that_cannot_start_a_run_records_why_on_the_schedule(api):
    workflow_id = create_published(api, ECHO, name="Echo")
    schedule = api.post(
        f"/api/workflows/{workflow_id}/schedules", json={"cron": "0 3 * * *", "inputs": {"topic": "x"}}
    ).json()
    # The workflow changes: it now needs an input the schedule does not send.
    graph = json.loads(json.dumps(ECHO))
    graph["nodes"][0]["config"]["fields"].append({"name": "audience", "type": "string", "required": True})
    assert api.patch(f"/api/workflows/{workflow_id}", json={"graph": graph}).status_code == 200
    assert api.post(f"/api/workflows/{workflow_id}/publish").status_code == 201

    assert triggers.schedule_fire(schedule_id=schedule["id"]) is None

    shown = api.get(f"/api/workflows/{workflow_id}/schedules/{schedule['id']}").json()
    assert "inputs.audience" in shown["last_error"] and "missing" in shown["last_error"]
    assert shown["last_fired_at"] is not None and shown["next_run_at"] is not None
    assert not Run.objects.filter(trigger_ref=f"schedule:{schedule['id']}").exists()

    assert (
        api.patch(
            f"/api/workflows/{workflow_id}/schedules/{schedule['id']}",
            json={"inputs": {"topic": "x", "audience": "all"}},
        ).status_code
        == 200
    )
    run = triggers.schedule_fire(schedule_id=schedule["id"])
    assert run is not None
    assert api.get(f"/api/workflows/{workflow_id}/schedules/{schedule['id']}").json()["last_error"] is None


def test_creating_a_model_reports_all_its_problems_at_once(api):
    response = api.post(
        "/api/models", json={"name": "a/b", "backend": "nope", "model": "", "price_in": -1, "colour": "red"}
    )

    assert response.status_code == 400
    assert sorted(e["path"] for e in response.json()["errors"]) == ["backend", "colour", "model", "name", "price_in"]
