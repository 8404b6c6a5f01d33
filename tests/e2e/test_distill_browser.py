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
    browser_login, trainer, tiny_models, tmp_path
):
    from workflows import services
    from workflows.models import Workspace

    # A student base is a registered model (an operator put its folder there), named in the form.
    services.model_endpoint_save(
        workspace=Workspace.objects.get(pk=browser_login["ORCHESTRA_WORKSPACE_ID"]),
        name="tiny-student",
        trusted_path=True,
        fields={"backend": "transformers", "model": str(tiny_models["student"])},
    )
    login = browser_login | {"ORCHESTRA_STUDENT": "tiny-student"}
    assert "ok - distill" in run_scenario("distill.mjs", login, tmp_path)
