"""One error format for the whole API: {"errors": [{"path": ..., "message": ...}]}."""

from django.http import JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from workflows.errors import ServiceError


def _flatten(detail, path: str = "") -> list[dict]:
    if isinstance(detail, dict):
        return [e for key, value in detail.items() for e in _flatten(value, f"{path}.{key}" if path else str(key))]
    if isinstance(detail, list):
        return [e for item in detail for e in _flatten(item, path)]
    return [{"path": "" if path == "non_field_errors" else path, "message": str(detail)}]


def exception_handler(exc, context):
    from workflows import dbretry

    if dbretry.is_infra_error(exc):  # the database blinked mid-request: retry-able, never a 500 page
        response = Response(
            {
                "errors": [
                    {
                        "path": "",
                        "message": "The database is briefly unavailable; retry "
                        "(with the same Idempotency-Key, a run is never started twice).",
                    }
                ]
            },
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
        response["Retry-After"] = "1"
        return response
    if isinstance(exc, ServiceError):
        response = Response({"errors": exc.errors, **getattr(exc, "extra", {})}, status=exc.status)
        if getattr(exc, "retry_after", None) and exc.status == 503:
            response["Retry-After"] = str(exc.retry_after)
        return response
    if isinstance(exc, exceptions.ParseError):
        return Response(
            {"errors": [{"path": "", "message": f"Malformed request body: {exc.detail}"}]},
            status=status.HTTP_400_BAD_REQUEST,
        )
    response = drf_exception_handler(exc, context)
    if response is not None:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else response.data
        if isinstance(exc, exceptions.ValidationError):
            response.data = {"errors": _flatten(detail)}
        else:
            response.data = {"errors": [{"path": "", "message": str(detail)}]}
    return response


def api_not_found(request, path: str = "") -> JsonResponse:
    """An unknown API path answers in the API's error shape, never the HTML 404 page."""
    message = f"No endpoint at {request.path}; the endpoints are listed at /api/schema."
    if request.path.startswith("/v1/"):  # the OpenAI SDKs read their own error shape
        body = {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": "unknown_url"}}
    else:
        body = {"errors": [{"path": "", "message": message}]}
    return JsonResponse(body, status=404)
