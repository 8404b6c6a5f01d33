from django.conf import settings
from django.contrib import admin
from django.http import FileResponse, HttpResponse
from django.urls import include, path, re_path

from workflows.api import gateway_views, trigger_views
from workflows.api.errors import api_not_found
from workflows.api.openapi import SchemaView


def spa(request, path=""):
    """The browser app: every non-API path is the single page; it routes on the client.

    Its files (/assets/...) are served by WhiteNoise from settings.FRONTEND_DIST, before any view."""
    index = settings.FRONTEND_DIST / "index.html"
    if not index.exists():
        return HttpResponse(
            "The browser app is not built: run `make frontend` (or `cd frontend && npm ci && npm run build`).",
            status=503,
            content_type="text/plain",
        )
    return FileResponse(index.open("rb"), content_type="text/html")


urlpatterns = [
    path("api/schema", SchemaView.as_view(), name="schema"),
    path("api/", include("workflows.api.urls")),
    path("api/", include("distillation.urls")),
    path("api/", include("routing.urls")),
    path("hooks/<str:token>", trigger_views.WebhookReceiveView.as_view()),
    path("v1/models", gateway_views.ModelsView.as_view()),
    path("v1/chat/completions", gateway_views.ChatCompletionsView.as_view()),
    path("admin/", admin.site.urls),
    re_path(r"^(?P<path>(?:api|v1)(?:/.*)?)$", api_not_found),
    re_path(r"^(?!api/|ws/|admin/|assets/|hooks/|v1/).*$", spa),
]
