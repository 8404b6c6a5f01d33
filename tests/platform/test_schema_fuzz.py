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
