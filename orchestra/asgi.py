import os

# Sync views (and `wait` on runs) each hold a thread while they work; allow many at once.
os.environ.setdefault("ASGI_THREADS", "64")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestra.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import OriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402
from django.urls import path  # noqa: E402

from distillation.consumers import JobEventsConsumer  # noqa: E402
from workflows.consumers import RunEventsConsumer  # noqa: E402
from workflows.mcp_server import mcp_app  # noqa: E402


async def http_app(scope, receive, send):
    """/mcp is the MCP server (the SDK's own ASGI app, in front of Django); everything else is Django."""
    if scope["path"] in ("/mcp", "/mcp/"):
        return await mcp_app(scope, receive, send)
    return await django_app(scope, receive, send)


class BrowserOriginValidator(OriginValidator):
    """A browser always sends Origin on a WebSocket: one from a foreign site is refused, so a page
    elsewhere cannot ride a user's session cookie. Clients that send no Origin (SDKs, scripts)
    authenticate with an API key, which another site cannot read."""

    def valid_origin(self, parsed_origin) -> bool:
        return parsed_origin is None or super().valid_origin(parsed_origin)


application = ProtocolTypeRouter(
    {
        "http": http_app,
        "websocket": BrowserOriginValidator(
            AuthMiddlewareStack(
                URLRouter(
                    [
                        path("ws/runs/<str:run_id>/", RunEventsConsumer.as_asgi()),
                        path("ws/distillations/<str:job_id>/", JobEventsConsumer.as_asgi()),
                    ]
                )
            ),
            settings.ALLOWED_HOSTS,
        ),
    }
)
