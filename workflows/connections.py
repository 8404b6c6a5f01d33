"""Pooled database connections go back to the pool when a request's view is done, in its thread.

Django returns a request's connection on `request_finished`, which is sent when the response has
been sent. Under ASGI a client that hangs up first cancels that: the view's thread finishes, but
its checked-out connection never goes back, and a few dozen impatient clients drain the pool for
good. This middleware (outermost) gives it back in the view's own thread, whatever the client did.

It is sync-only on purpose: Django then runs it, and through asgiref's CurrentThreadExecutor the
view, on one thread, whose `finally` runs however often daphne cancels the request (it does so
every second after a hang-up). An async version's release is a task of its own that such a
cancel kills before it runs, leaking the connection; the thread hop this costs is the price.
"""

from django.db import connections


def release_database_connections(get_response):
    def middleware(request):
        try:
            return get_response(request)
        finally:
            for conn in connections.all(initialized_only=True):
                if not conn.in_atomic_block:
                    conn.close()

    return middleware
