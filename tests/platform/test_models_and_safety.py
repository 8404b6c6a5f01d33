"""Model backends behind LLM nodes, JSON-output retries, and the SSRF guard, on real services."""

import pytest
from django.test import override_settings

from orchestra.inference.server import serve
from tests.conftest import make_workspace
from tests.platform.test_runs_api import create_published
from workflows import execution, runs, services
from workflows.models import NodeRun, Trace


@pytest.fixture(scope="module")
def model_server(tiny_models):
    """A real OpenAI-compatible HTTP server on loopback serving the tiny teacher."""
    server, _ = serve({"tiny-remote": str(tiny_models["teacher"])})
    yield server
    server.shutdown()
    server.server_close()


def llm_graph(model: str, **config) -> dict:
    return {
        "nodes": [
            {"id": "start", "type": "input", "config": {"fields": [{"name": "q", "type": "string"}]}},
            {
                "id": "ask",
                "type": "llm",
                "config": {"model": model, "prompt": "{{ inputs.q }}", "max_tokens": 8, **config},
            },
            {"id": "end", "type": "output", "config": {"outputs": {"a": "{{ nodes.ask.output }}"}}},
        ],
        "edges": [{"source": "start", "target": "ask"}, {"source": "ask", "target": "end"}],
    }


def test_llm_node_calls_an_openai_compatible_server_and_traces_real_usage(api, model_server):
    created = api.post(
        "/api/models",
        json={
            "name": "remote",
            "backend": "openai",
            "model": "tiny-remote",
            "base_url": model_server.base_url,
            "api_key": "unused-locally",
            "price_in": 2,
            "price_out": 4,
        },
    )
    assert created.status_code == 201, created.text
    workflow_id = create_published(api, llm_graph("remote"))

    run = api.post(f"/api/workflows/{workflow_id}/runs", json={"inputs": {"q": "hello"}, "wait": 60}).json()

    assert run["status"] == "succeeded", run["error"]
    trace = Trace.objects.get(run_id=run["id"])
    assert trace.model == "remote" and trace.tokens_in > 0 and trace.tokens_out > 0
    assert trace.cost == pytest.approx((trace.tokens_in * 2 + trace.tokens_out * 4) / 1e6)
    assert run["outputs"]["a"] == trace.output


def test_unknown_model_fails_the_node_with_a_clear_error_and_a_failed_trace(api):
    workflow_id = create_published(api, llm_graph("no-such-model"))
    run = api.post(f"/api/workflows/{workflow_id}/runs", json={"inputs": {"q": "x"}, "wait": 60}).json()
    assert run["status"] == "failed"
    assert "no-such-model" in run["error"]
    assert Trace.objects.get(run_id=run["id"]).status == "error"


def test_invalid_json_reply_is_retried_then_fails_naming_the_problem(api):
    # The tiny model's random weights never produce JSON: each retry is a real, traced model call.
    workflow_id = create_published(api, llm_graph("auto", output="json", json_retries=2))
    run = api.post(f"/api/workflows/{workflow_id}/runs", json={"inputs": {"q": "x"}, "wait": 60}).json()

    assert run["status"] == "failed"
    assert "JSON" in run["error"]
    keys = sorted(Trace.objects.filter(run_id=run["id"]).values_list("call_key", flat=True))
    assert keys == ["ask#a1#j0", "ask#a1#j1", "ask#a1#j2"]
    retry_prompt = Trace.objects.get(run_id=run["id"], call_key="ask#a1#j1").messages
    assert "JSON" in retry_prompt[-1]["content"]


def test_http_node_refuses_private_and_loopback_targets_by_default(django_db):
    workspace, _, _ = make_workspace()
    graph = {
        "nodes": [
            {"id": "start", "type": "input", "config": {"fields": []}},
            {"id": "call", "type": "http", "config": {"url": "http://127.0.0.1:9/admin"}},
            {"id": "end", "type": "output", "config": {"outputs": {"s": "{{ nodes.call.output.status }}"}}},
        ],
        "edges": [{"source": "start", "target": "call"}, {"source": "call", "target": "end"}],
    }
    workflow = services.workflow_create(workspace=workspace, name="ssrf", graph=graph)
    run, _ = runs.run_start(workflow=workflow, inputs={}, version="draft", enqueue=False)

    with override_settings(ORCHESTRA_HTTP_ALLOW_PRIVATE=False):
        status = execution.run_execute(run_id=run.id)

    assert status == "failed"
    error = NodeRun.objects.get(run=run, node_id="call").error
    assert "127.0.0.1" in error and "refused" in error.lower()


def test_the_compiled_graph_cache_is_bounded(api, monkeypatch):
    from workflows.models import Workflow

    monkeypatch.setattr(execution, "COMPILED_GRAPHS_KEPT", 3)
    workflow = Workflow.objects.get(pk=create_published(api, llm_graph("auto"), name="drafts"))
    for n in range(6):  # six distinct drafts: six compiled graphs, of which the newest three are kept
        graph = llm_graph("auto", max_tokens=n + 1)
        run, _ = runs.run_start(workflow=workflow, inputs={"q": "x"}, enqueue=False, version="draft")
        run.graph = graph
        execution.compiled_graph(run)
    assert len(execution._compiled_cache) <= 3
