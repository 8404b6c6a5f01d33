"""What drf-spectacular needs beyond the serializers: the Bearer API-key scheme, paged and error
responses, and a field that is an integer or the word "draft"."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse, extend_schema_field
from rest_framework import serializers


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "workflows.auth.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "An Orchestra API key: `Bearer orc_...`"}


class ErrorItem(serializers.Serializer):
    path = serializers.CharField(
        help_text='Where the problem is, e.g. "nodes[2].config.prompt"; "" for the whole body.'
    )
    message = serializers.CharField()


class Errors(serializers.Serializer):
    errors = ErrorItem(many=True)


ERRORS = OpenApiResponse(Errors, description="The problems, each with the path of the bad input.")


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
