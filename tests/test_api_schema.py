"""The API contract is generated from the code: no warnings, every endpoint in it, and the
frontend's committed types are exactly what openapi-typescript makes of it."""

import json
import re
import subprocess
from pathlib import Path

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator

ROOT = Path(__file__).resolve().parents[1]
FRONTEND = ROOT / "frontend"
COMMITTED_SCHEMA = FRONTEND / "src" / "api" / "openapi.json"
COMMITTED_TYPES = FRONTEND / "src" / "api" / "schema.d.ts"
REGENERATE = (
    "python manage.py spectacular --format openapi-json --file frontend/src/api/openapi.json "
    "&& (cd frontend && npm run gen:types)"
)


@pytest.fixture(scope="module")
def schema() -> dict:
    GENERATOR_STATS.reset()
    generated = SchemaGenerator().get_schema(request=None, public=True)
    generated["warnings"] = dict(GENERATOR_STATS._warn_cache) | dict(GENERATOR_STATS._error_cache)
    return generated


def _routes(resolver: URLResolver, prefix: str = "") -> list[tuple[str, object]]:
    found = []
    for entry in resolver.url_patterns:
        pattern = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            found += _routes(entry, pattern)
        elif isinstance(entry, URLPattern):
            found.append(("/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", pattern), entry.callback))
    return found


def test_schema_generation_has_no_warnings_or_errors(schema):
    assert schema["warnings"] == {}


def test_schema_covers_every_api_and_gateway_route(schema):
    routes = {
        path
        for path, view in _routes(get_resolver())
        if path.startswith(("/api/", "/v1/", "/hooks/")) and hasattr(view, "cls") and path != "/api/schema"
    }
    assert len(routes) >= 50
    assert routes - set(schema["paths"]) == set()
    operation_ids = [op["operationId"] for item in schema["paths"].values() for op in item.values()]
    assert len(operation_ids) == len(set(operation_ids))


def test_committed_schema_and_frontend_types_are_generated_from_the_code(schema, tmp_path):
    generated = json.loads(json.dumps({k: v for k, v in schema.items() if k != "warnings"}))
    assert json.loads(COMMITTED_SCHEMA.read_text()) == generated, f"The API changed: run {REGENERATE}"
    tool = FRONTEND / "node_modules" / ".bin" / "openapi-typescript"
    assert tool.exists(), "cd frontend && npm ci (openapi-typescript is a devDependency)"
    out = tmp_path / "schema.d.ts"
    subprocess.run([str(tool), str(COMMITTED_SCHEMA), "--output", str(out)], check=True, capture_output=True)
    assert out.read_text() == COMMITTED_TYPES.read_text(), f"The types drifted from the schema: run {REGENERATE}"
