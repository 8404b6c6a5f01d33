"""The demo's default model: a small instruct model from the hub when it is reachable, else a tiny one.

Nothing is downloaded here: the hub is an address nobody listens on, and the downloaded model is a
tiny model's folder put where a download would have left it."""

import shutil

from orchestra.inference import get_client
from tests.conftest import make_workspace
from tests.support.servers import free_port
from workflows import services
from workflows.management.commands.bootstrap_demo import DEMO_PRICES, HUB_MODEL, demo_model
from workflows.models import ModelEndpoint

UNREACHABLE = f"http://127.0.0.1:{free_port()}"


def test_offline_the_demo_falls_back_to_a_tiny_model_and_says_so_in_one_line(django_db, tmp_path):
    workspace, _, _ = make_workspace()
    said: list[str] = []

    endpoint = demo_model(workspace=workspace, models_dir=tmp_path, say=said.append, hub_endpoint=UNREACHABLE)

    assert endpoint.name == "tiny-demo" and endpoint.is_default
    assert (endpoint.price_in, endpoint.price_out) == (DEMO_PRICES["price_in"], DEMO_PRICES["price_out"])
    assert len(said) == 1 and "\n" not in said[0]
    assert HUB_MODEL in said[0] and "tiny offline model" in said[0]
    assert not any(path.name.startswith("qwen") for path in tmp_path.iterdir())


def test_a_downloaded_model_in_the_data_folder_is_the_demo_default_and_answers_at_a_price(
    django_db, tiny_models, tmp_path
):
    folder = tmp_path / "qwen2.5-0.5b-instruct"
    shutil.copytree(tiny_models["teacher"], folder)  # what a finished download leaves there
    workspace, _, _ = make_workspace()
    said: list[str] = []

    endpoint = demo_model(workspace=workspace, models_dir=tmp_path, say=said.append, hub_endpoint=UNREACHABLE)

    assert said == []  # found in the data folder: the hub is not asked
    assert endpoint.model == str(folder) and endpoint.is_default
    assert ModelEndpoint.objects.get(workspace=workspace, is_default=True) == endpoint
    client = get_client(services.model_spec(endpoint))
    reply = client.complete([{"role": "user", "content": "Say hi"}], max_tokens=4)
    assert reply.tokens_out > 0
    assert client.spec.cost(reply.tokens_in, reply.tokens_out) > 0
