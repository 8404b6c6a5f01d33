"""One error format for the whole API: {"errors": [{"path": ..., "message": ...}]}."""
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from workflows.errors import ServiceError


def _flatten(detail, path: str = "") -> list[dict]:
    if isinstance(detail, dict):
        return [e for key, value in detail.items()
                for e in _flatten(value, f"{path}.{key}" if path else str(key))]
    if isinstance(detail, list):
        return [e for item in detail for e in _flatten(item, path)]
    return [{"path": "" if path == "non_field_errors" else path, "message": str(detail)}]


def exception_handler(exc, context):
    if isinstance(exc, ServiceError):
        return Response({"errors": exc.errors}, status=exc.status)
    if isinstance(exc, exceptions.ParseError):
        return Response({"errors": [{"path": "", "message": f"Malformed request body: {exc.detail}"}]},
                        status=status.HTTP_400_BAD_REQUEST)
    response = drf_exception_handler(exc, context)
    if response is not None:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else response.data
        if isinstance(exc, exceptions.ValidationError):
            response.data = {"errors": _flatten(detail)}
        else:
            response.data = {"errors": [{"path": "", "message": str(detail)}]}
    return response
