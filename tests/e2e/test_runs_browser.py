"""The run page in the browser app, end to end against the real platform: a run that failed is
retried from its failed node (the finished node keeps its result), then rerun with an edited input."""

from http.server import BaseHTTPRequestHandler

import pytest

from tests.e2e.test_browser import browser_login, browser_ready, run_scenario  # noqa: F401  (fixtures)
from tests.support.loopback import send_json, serve_in_background


class FailsOnce:
    """An HTTP server that answers its first request with a 500 and every later one with a 200."""

    def __init__(self):
        self.requests = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                owner.requests += 1
                status = 500 if owner.requests == 1 else 200
                send_json(self, status, {"ok": status == 200})

            def log_message(self, *args):
                pass

        self.server = serve_in_background(Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/stock"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fails_once():
    server = FailsOnce()
    yield server
    server.close()


def test_a_failed_run_is_retried_from_its_failed_node_and_rerun_with_an_edited_input(
    browser_login, fails_once, tmp_path
):
    assert "ok - runs" in run_scenario("runs.mjs", browser_login | {"ORCHESTRA_FLAKY_URL": fails_once.url}, tmp_path)
    assert fails_once.requests == 3  # the failed call, its retry, the rerun's
