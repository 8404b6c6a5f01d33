"""Middleware that keeps a request on as few threads as possible and its connection bounded.

Under ASGI Django runs the middleware chain on the event loop when every middleware can, and
only the view on a thread. A sync-only middleware anywhere in the chain makes each request hop
loop -> thread -> loop -> thread instead (Django adapts around it), which costs a few
milliseconds and CPU per request. Both middlewares here therefore work either way.

Pooled database connections go back to the pool when a request's view is done, in its thread.
Django returns a request's connection on `request_finished`, which is sent when the response has
been sent. Under ASGI a client that hangs up first cancels that: the view's thread finishes, but
its checked-out connection never goes back, and a few dozen impatient clients drain the pool for
good. `release_database_connections` (outermost) gives it back in the view's own thread, whatever
the client did.
"""

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.db import connections
from django.utils.decorators import sync_and_async_middleware
from whitenoise.middleware import WhiteNoiseMiddleware


def _release() -> None:
    for conn in connections.all(initialized_only=True):
        if not conn.in_atomic_block:
            conn.close()


@sync_and_async_middleware
def release_database_connections(get_response):
    if iscoroutinefunction(get_response):

        async def middleware(request):
            try:
                return await get_response(request)
            finally:
                # thread-sensitive: the request's own thread, where its view ran (after it, if the
                # client hung up while the view was still running)
                await sync_to_async(_release)()

    else:

        def middleware(request):
            try:
                return get_response(request)
            finally:
                _release()

    return middleware


class StaticFiles:
    """WhiteNoise (admin static files and the built browser app), which is sync-only: files it
    has are served through it, every other request goes on without leaving the event loop."""

    sync_capable = async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.whitenoise = WhiteNoiseMiddleware(get_response)
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def _static_file(self, request):
        whitenoise = self.whitenoise
        return (
            whitenoise.find_file(request.path_info)
            if whitenoise.autorefresh
            else whitenoise.files.get(request.path_info)
        )

    def __call__(self, request):
        if self.is_async:
            return self._acall(request)
        return self.whitenoise(request)

    async def _acall(self, request):
        if self.whitenoise.autorefresh:  # looks on disk (development): off the event loop
            static_file = await sync_to_async(self._static_file)(request)
        else:
            static_file = self._static_file(request)
        if static_file is not None:
            return await sync_to_async(self.whitenoise.serve)(static_file, request)
        return await self.get_response(request)
