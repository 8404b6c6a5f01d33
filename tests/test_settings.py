"""Settings that name code: each must name something that exists."""

from fnmatch import fnmatchcase

from django.conf import settings

from orchestra.celery import app


def test_every_task_route_matches_a_registered_task():
    app.loader.import_default_modules()
    tasks = [name for name in app.tasks if not name.startswith("celery.")]
    assert tasks
    for route in settings.CELERY_TASK_ROUTES:
        assert any(fnmatchcase(task, route) for task in tasks), f"{route} routes no task; tasks: {sorted(tasks)}"
