"""The router in the browser app, end to end against the real platform and a training worker:
configure a node router from its panel, compare and train it, see the curve, run the node through it."""

import pytest

from tests.e2e.test_browser import browser_login, browser_ready, run_scenario  # noqa: F401  (fixtures)


@pytest.fixture
def trainer(platform):
    """A Celery worker on the `training` queue only, as the compose file's trainer service."""
    worker = platform.start_worker(queues="training", beat=False)
    yield worker
    if worker.poll() is None:
        platform.kill_worker(worker)


def test_a_node_router_is_configured_trained_drawn_and_routes_a_run_in_the_browser(
    browser_login,  # noqa: F811  (the imported fixture)
    trainer,
    tiny_models,
    tmp_path,
):
    from workflows import services
    from workflows.models import Workspace

    # The strong candidate: the same tiny model at ten times the price (greedy decoding answers the
    # same), so the router learns that the cheap one is always acceptable.
    services.model_endpoint_save(
        workspace=Workspace.objects.get(pk=browser_login["ORCHESTRA_WORKSPACE_ID"]),
        name="tiny-pricey",
        trusted_path=True,
        fields={"backend": "transformers", "model": str(tiny_models["teacher"]), "price_in": 5.0, "price_out": 15.0},
    )
    login = browser_login | {"ORCHESTRA_STRONG": "tiny-pricey"}
    assert "ok - router" in run_scenario("router.mjs", login, tmp_path)
