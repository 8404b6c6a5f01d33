"""Property-based requests to every operation of the generated OpenAPI document (schemathesis),
authenticated with an API key: no request may cost a 5xx, and what comes back is what the
document says (status codes, content types, bodies)."""

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

EXAMPLES_PER_OPERATION = 4  # bounded: the whole document in about a minute on two cores


def test_no_request_answers_a_server_error_or_breaks_the_contract(api):
    document = api.get("/api/schema", params={"format": "json"}).json()
    schema = schemathesis.openapi.from_dict(document)
    base_url = str(api.http.base_url).rstrip("/")
    headers = {"Authorization": f"Bearer {api.key}"}
    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    failures, tried = {}, 0

    operations = [result.ok() for result in schema.get_all_operations()]
    # Revoking a key may revoke the one this test uses: last, so it cannot hide the other answers.
    for operation in sorted(operations, key=lambda op: op.label.endswith("/revoke")):

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def exchange(case):
            response = case.call(base_url=base_url, headers=headers)
            try:
                case.validate_response(response, checks=checks)
            except BaseExceptionGroup as exc:  # every operation's first failure, then all are reported at once
                failures.setdefault(operation.label, str(exc))

        exchange()
        tried += 1
    assert tried >= 80
    assert failures == {}, "\n\n".join(f"{label}: {failure}" for label, failure in failures.items())


def test_real_objects_are_answered_as_the_document_describes_them(api, platform):
    import httpx

    from tests.platform.test_runs_api import create_published
    from workflows import services

    schema = schemathesis.openapi.from_dict(api.get("/api/schema", params={"format": "json"}).json())
    workflow = create_published(api)
    run = api.post(f"/api/workflows/{workflow}/runs", json={"inputs": {"topic": "tea"}, "wait": 60}).json()
    trace = api.get("/api/traces", params={"run": run["id"]}).json()["results"][0]["id"]
    webhook = api.post(f"/api/workflows/{workflow}/webhooks", json={"input_mapping": {"topic": "body.topic"}}).json()
    schedule = api.post(f"/api/workflows/{workflow}/schedules", json={"cron": "0 9 * * *", "inputs": {"topic": "t"}})
    # A webhook with calls (one that started a run, one refused), a router with a report, a preview.
    assert httpx.post(f"{platform.url}{webhook['url']}", json={"topic": "tea"}).status_code == 202
    assert httpx.post(f"{platform.url}{webhook['url']}", json={}).status_code == 400
    services.model_endpoint_save(
        workspace=api.workspace,
        name="tiny-b",
        fields={"backend": "openai", "model": "m", "base_url": "http://127.0.0.1:9/v1"},
    )
    router = api.post("/api/routers", json={"name": "r", "candidates": ["tiny", "tiny-b"]})
    assert router.status_code == 201, router.text
    preview = api.post(
        "/api/distillations/preview",
        json={"workflow": workflow, "node_id": "draft", "student": "tiny", "method": "sft"},
    )
    assert preview.status_code == 200, preview.text
    answered = {
        ("GET", "/api/auth/me", "/api/auth/me"),
        ("GET", "/api/node-types", "/api/node-types"),
        ("GET", "/api/workflows", "/api/workflows"),
        ("GET", f"/api/workflows/{workflow}", "/api/workflows/{workflow_id}"),
        ("GET", f"/api/workflows/{workflow}/versions", "/api/workflows/{workflow_id}/versions"),
        ("GET", f"/api/workflows/{workflow}/versions/1", "/api/workflows/{workflow_id}/versions/{version}"),
        ("GET", f"/api/workflows/{workflow}/export", "/api/workflows/{workflow_id}/export"),
        ("GET", "/api/runs", "/api/runs"),
        ("GET", f"/api/runs/{run['id']}", "/api/runs/{run_id}"),
        ("GET", f"/api/runs/{run['id']}/events", "/api/runs/{run_id}/events"),
        ("GET", f"/api/runs/{run['id']}/callbacks", "/api/runs/{run_id}/callbacks"),
        ("GET", "/api/traces", "/api/traces"),
        ("GET", f"/api/traces/{trace}", "/api/traces/{trace_id}"),
        ("GET", "/api/models", "/api/models"),
        ("GET", "/api/models/tiny", "/api/models/{name}"),
        ("GET", "/api/model-backends", "/api/model-backends"),
        ("GET", f"/api/workflows/{workflow}/webhooks", "/api/workflows/{workflow_id}/webhooks"),
        (
            "GET",
            f"/api/workflows/{workflow}/webhooks/{webhook['id']}",
            "/api/workflows/{workflow_id}/webhooks/{webhook_id}",
        ),
        ("GET", f"/api/workflows/{workflow}/schedules", "/api/workflows/{workflow_id}/schedules"),
        ("GET", "/api/conversations", "/api/conversations"),
        ("GET", "/api/api-keys", "/api/api-keys"),
        ("GET", "/api/members", "/api/members"),
        ("GET", "/api/signing-secret", "/api/signing-secret"),
        ("GET", "/api/mcp-servers", "/api/mcp-servers"),
        ("GET", "/api/distillation-methods", "/api/distillation-methods"),
        ("GET", "/api/distillations", "/api/distillations"),
        (
            "GET",
            f"/api/workflows/{workflow}/nodes/draft/deployment",
            "/api/workflows/{workflow_id}/nodes/{node_id}/deployment",
        ),
        ("GET", f"/api/workflows/{workflow}/savings", "/api/workflows/{workflow_id}/savings"),
        ("GET", "/api/routers", "/api/routers"),
        ("GET", f"/api/routers/{router.json()['id']}/report", "/api/routers/{router_id}/report"),
        ("GET", "/v1/models", "/v1/models"),
    }
    assert schedule.status_code == 201, schedule.text
    problems = {}
    for method, url, template in sorted(answered):
        response = api.request(method, url)
        assert response.status_code == 200, (url, response.text)
        try:
            schema[template][method].validate_response(response)
        except BaseExceptionGroup as exc:
            problems[url] = str(exc)
    try:
        schema["/api/distillations/preview"]["POST"].validate_response(preview)
    except BaseExceptionGroup as exc:
        problems["/api/distillations/preview"] = str(exc)
    assert problems == {}, "\n\n".join(f"{url}: {problem}" for url, problem in problems.items())
