"""What drf-spectacular needs beyond the serializers: the Bearer API-key scheme, paged and error
responses, and a field that is an integer or the word "draft"."""

import threading

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse, extend_schema_field
from drf_spectacular.views import SpectacularAPIView
from rest_framework import serializers
from rest_framework.response import Response

from workflows.documents import ErrorItem


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "workflows.auth.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "An Orchestra API key: `Bearer orc_...`"}


class SchemaView(SpectacularAPIView):
    """GET /api/schema, generated once per process: it depends on the code alone, and generating it
    takes seconds (concurrent first requests would each pay them, and race in drf-spectacular)."""

    _schema: dict | None = None
    _lock = threading.Lock()

    def _get_schema_response(self, request):
        with self._lock:
            if SchemaView._schema is None:
                SchemaView._schema = self.generator_class(urlconf=self.urlconf).get_schema(request=None, public=True)
        filename = self._get_filename(request, None)
        return Response(SchemaView._schema, headers={"Content-Disposition": f'inline; filename="{filename}"'})


class Errors(serializers.Serializer):
    errors = ErrorItem(many=True)


ERRORS = OpenApiResponse(Errors, description="The problems, each with the path of the bad input.")


def document_refusals(result: dict, generator, request, public) -> dict:
    """Every operation behind a key may answer 401 (no or bad key) and 403 (not allowed), in the
    error shape; stated once here rather than on each view. The gateway (/v1) states its own."""
    for path, item in result["paths"].items():
        for operation in item.values():
            if path.startswith("/v1/") or {} in operation.get("security", [{}]):
                continue
            for code, description in (("401", "No API key, or a bad one."), ("403", "Not allowed to this member.")):
                operation["responses"].setdefault(
                    code,
                    {
                        "description": description,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Errors"}}},
                    },
                )
    return result


def errors(*statuses: int) -> dict:
    """The error responses of an operation, all in the one error shape."""
    return {code: ERRORS for code in statuses}


_pages: dict[type, type] = {}


def page_of(item: type[serializers.Serializer]) -> type[serializers.Serializer]:
    """A cursor page of `item`s (workflows.api.views.Pagination): one component per item type."""
    if item not in _pages:
        name = item.__name__.removesuffix("Out") + "Page"
        _pages[item] = type(
            name,
            (serializers.Serializer,),
            {
                "count": serializers.IntegerField(help_text="How many match the filters, over every page."),
                "next": serializers.CharField(allow_null=True, help_text="The next page's URL (an opaque cursor)."),
                "previous": serializers.CharField(allow_null=True),
                "results": item(many=True),
                "__module__": __name__,
            },
        )
    return _pages[item]


@extend_schema_field({"oneOf": [{"type": "integer"}, {"type": "string", "enum": ["draft"]}]})
class VersionChoiceField(serializers.JSONField):
    """A published version number, or "draft" (the editor's test run)."""
