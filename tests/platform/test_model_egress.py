"""A model endpoint's base_url goes through the one egress guard, on create, on update and on every
call; an operator allows private model servers by name or network; a changed URL needs its key again."""

import pytest
from django.test import override_settings

from orchestra.egress import Allowlist
from orchestra.inference.server import serve
from tests.platform.test_models_and_safety import llm_graph
from tests.platform.test_runs_api import create_published
from tests.support.loopback import LoopbackServer
from workflows.models import ModelEndpoint, Trace

LOOPBACK_SPELLINGS = [
    "http://127.0.0.1:{port}/v1",
    "http://localhost:{port}/v1",
    "http://2130706433:{port}/v1",
    "http://0x7f.0.0.1:{port}/v1",
    "http://[::ffff:127.0.0.1]:{port}/v1",
    "http://0:{port}/v1",
    "http://[::1]:{port}/v1",
    "http://169.254.169.254/latest/meta-data",
]


@pytest.fixture
def listener():
    server = LoopbackServer(body={"choices": [{"message": {"content": "secret internal data"}}]})
    yield server
    server.close()


@pytest.fixture(scope="module")
def model_server(tiny_models):
    server, _ = serve({"tiny-remote": str(tiny_models["teacher"])})
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("spelling", LOOPBACK_SPELLINGS)
def test_a_base_url_to_a_private_address_is_refused_in_every_spelling(api, listener, spelling):
    # In-process: the test servers run with private addresses allowed, so the guard is exercised here.
    from workflows import services
    from workflows.errors import ValidationFailed

    url = spelling.format(port=listener.url.rsplit(":", 1)[1])
    with override_settings(ORCHESTRA_HTTP_ALLOW_PRIVATE=False), pytest.raises(ValidationFailed) as refused:
        services.model_endpoint_save(
            workspace=api.workspace, name="inner", fields={"backend": "openai", "model": "m", "base_url": url}
        )
    (error,) = refused.value.errors
    assert error["path"] == "base_url" and "non-public address" in error["message"]
    assert not ModelEndpoint.objects.filter(workspace=api.workspace, name="inner").exists()
    assert listener.requests == []


def test_a_stored_endpoint_is_checked_again_at_call_time_and_nothing_reaches_the_address(api, listener):
    from workflows import execution, runs, services

    endpoint = services.model_endpoint_save(
        workspace=api.workspace,
        name="inner",
        fields={"backend": "openai", "model": "m", "base_url": listener.url + "/v1"},
    )
    graph = llm_graph("inner")
    workflow_id = create_published(api, graph, name="egress")
    from workflows.models import Workflow

    run, _ = runs.run_start(workflow=Workflow.objects.get(pk=workflow_id), inputs={"q": "x"}, enqueue=False)
    with override_settings(ORCHESTRA_HTTP_ALLOW_PRIVATE=False):
        assert execution.run_execute(run_id=run.id) == "failed"
    trace = Trace.objects.get(run_id=run.id)
    assert trace.status == "error" and "non-public address 127.0.0.1" in trace.error
    assert "secret internal data" not in trace.error and listener.requests == []
    assert endpoint.base_url.startswith("http://127.0.0.1")


def test_an_operator_allows_a_private_model_server_by_host_or_network(api, model_server):
    from workflows import execution, runs, services
    from workflows.models import Workflow

    services.model_endpoint_save(
        workspace=api.workspace,
        name="local",
        fields={"backend": "openai", "model": "tiny-remote", "base_url": model_server.base_url},
    )
    workflow_id = create_published(api, llm_graph("local"), name="allowed")
    for allowed, outcome in ((Allowlist.parse("127.0.0.0/8"), "succeeded"), (Allowlist.parse("vllm"), "failed")):
        run, _ = runs.run_start(workflow=Workflow.objects.get(pk=workflow_id), inputs={"q": "x"}, enqueue=False)
        with override_settings(ORCHESTRA_HTTP_ALLOW_PRIVATE=allowed):
            assert execution.run_execute(run_id=run.id) == outcome, Trace.objects.filter(run_id=run.id).first().error


def test_allowlists_parse_hosts_and_networks():
    allowed = Allowlist.parse(" vllm , 10.0.0.0/8, 192.168.1.7,Model-Server.internal. ")
    assert allowed.hosts == {"vllm", "model-server.internal"}
    assert [str(n) for n in allowed.networks] == ["10.0.0.0/8", "192.168.1.7/32"]
    assert not Allowlist.parse("") and Allowlist.parse("vllm")


def test_a_new_base_url_needs_the_key_again(api, model_server):
    created = api.post(
        "/api/models",
        json={
            "name": "remote",
            "backend": "openai",
            "model": "tiny-remote",
            "base_url": model_server.base_url,
            "api_key": "sk-provider",
        },
    )
    assert created.status_code == 201, created.text
    moved = api.patch("/api/models/remote", json={"base_url": "http://127.0.0.2:9/v1"})
    assert moved.status_code == 400 and moved.json()["errors"][0]["path"] == "api_key"
    endpoint = ModelEndpoint.objects.get(workspace=api.workspace, name="remote")
    assert endpoint.base_url == model_server.base_url  # nothing changed
    assert api.patch("/api/models/remote", json={"price_in": 1}).status_code == 200  # same URL: key kept
    rekeyed = api.patch("/api/models/remote", json={"base_url": "http://127.0.0.2:9/v1", "api_key": ""})
    assert rekeyed.status_code == 200 and rekeyed.json()["has_api_key"] is False


def test_loading_a_students_adapter_into_vllm_goes_through_the_egress_guard(api, listener):
    from distillation.models import DistillationJob
    from distillation.services.deployments import job_deploy
    from workflows import services
    from workflows.errors import ValidationFailed

    services.model_endpoint_save(
        workspace=api.workspace,
        name="vllm-base",
        fields={"backend": "openai", "model": "base", "base_url": listener.url + "/v1"},
    )
    job = DistillationJob.objects.create(
        workspace=api.workspace,
        teacher="teacher",
        student="vllm-base",
        method="sft",
        status="succeeded",
        artifacts={"merged": "/srv/student", "adapter": "/srv/adapter"},
    )
    with override_settings(ORCHESTRA_HTTP_ALLOW_PRIVATE=False), pytest.raises(ValidationFailed) as refused:
        job_deploy(job=job, name="student-refused")
    assert "non-public address 127.0.0.1" in refused.value.errors[0]["message"]
    assert listener.requests == []

    with override_settings(ORCHESTRA_HTTP_ALLOW_PRIVATE=Allowlist.parse("127.0.0.1")):
        endpoint = job_deploy(job=job, name="student-allowed")
    (request,) = listener.requests
    assert request["path"] == "/v1/load_lora_adapter" and endpoint.model == "student-allowed"
