"""Distillation in the browser app, end to end against the real platform and a training worker:
distil an LLM node from its side panel, follow the job, deploy, shadow, promote and roll back."""
import pytest

from tests.e2e.test_browser import browser_login, browser_ready, run_scenario  # noqa: F401  (fixtures)


@pytest.fixture
def trainer(platform):
    """A Celery worker on the `training` queue only, as the compose file's trainer service."""
    worker = platform.start_worker(queues="training", beat=False)
    yield worker
    if worker.poll() is None:
        platform.kill_worker(worker)


def test_a_node_is_distilled_from_its_panel_deployed_shadowed_promoted_and_rolled_back(
        browser_login, trainer, tiny_models, tmp_path):
    login = browser_login | {"ORCHESTRA_STUDENT": str(tiny_models["student"])}
    assert "ok - distill" in run_scenario("distill.mjs", login, tmp_path)
