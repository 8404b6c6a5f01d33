"""The http node: SSRF refusal by default, real requests to a loopback server when allowed."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from orchestra.egress import RequestRefused, checked_address
from tests.engine.support import graph, input_node, node, output_node, run


class Handler(BaseHTTPRequestHandler):
    requests: list[tuple[str, str, bytes]] = []

    def _reply(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        Handler.requests.append((self.command, self.path, body))
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/json")
            self.end_headers()
            return
        if self.path == "/big":
            payload, kind, status = b"x" * 5000, "text/plain", 200
        elif self.path == "/missing":
            payload, kind, status = b"nothing here", "text/plain", 404
        else:
            payload = json.dumps(
                {
                    "method": self.command,
                    "path": self.path,
                    "host": self.headers["host"],
                    "token": self.headers.get("x-token"),
                    "body": body.decode(),
                }
            ).encode()
            kind, status = "application/json", 200
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _reply

    def log_message(self, *args) -> None:  # keep test output quiet
        pass


@pytest.fixture
def server():
    Handler.requests = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def http_graph(**config) -> dict:
    return graph(
        [input_node("topic"), node("call", "http", **config), output_node(response="{{ nodes.call.output }}")],
        ["start->call", "call->end"],
    )


def test_loopback_is_refused_by_default_and_nothing_is_sent(server):
    outcome, _ = run(http_graph(url=server + "/json"), inputs={"topic": "x"})
    assert outcome.status == "failed" and "non-public address 127.0.0.1" in outcome.error
    assert Handler.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost/",
        "http://10.1.2.3/",
        "http://192.168.0.1/",
        "http://169.254.169.254/latest",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0/",
        "http://224.0.0.1/",
        "http://100.64.0.1/",
        "http://[2002:7f00:1::]/",
        "http://[2002:a9fe:a9fe::1]/",
        "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/",
    ],
)
def test_private_loopback_link_local_multicast_and_reserved_addresses_are_refused(url):
    with pytest.raises(RequestRefused, match="non-public"):
        checked_address(httpx.URL(url), allow_private=False)


def test_public_addresses_pass_and_other_schemes_are_refused():
    assert checked_address(httpx.URL("https://8.8.8.8/dns"), allow_private=False) == "8.8.8.8"
    with pytest.raises(RequestRefused, match="scheme 'file'"):
        checked_address(httpx.URL("file:///etc/passwd"), allow_private=False)


def test_allowed_get_returns_status_headers_and_parsed_json(server):
    outcome, _ = run(
        http_graph(url=server + "/json?q={{ inputs.topic }}", headers={"X-Token": "t-{{ inputs.topic }}"}),
        inputs={"topic": "cats"},
        http_allow_private=True,
    )
    response = outcome.outputs["response"]
    assert response["status"] == 200 and response["headers"]["content-type"] == "application/json"
    assert response["body"]["path"] == "/json?q=cats" and response["body"]["token"] == "t-cats"
    assert response["body"]["host"] == server.removeprefix("http://")  # the original Host, not just the address


def test_post_sends_a_rendered_json_body(server):
    outcome, _ = run(
        http_graph(method="POST", url=server + "/echo", body={"topic": "{{ inputs.topic }}", "n": 1}),
        inputs={"topic": "cats"},
        http_allow_private=True,
    )
    assert json.loads(outcome.outputs["response"]["body"]["body"]) == {"topic": "cats", "n": 1}


def test_redirects_are_followed_and_checked_again(server):
    outcome, _ = run(http_graph(url=server + "/redirect"), inputs={"topic": "x"}, http_allow_private=True)
    assert outcome.outputs["response"]["body"]["path"] == "/json"
    assert [path for _, path, _ in Handler.requests] == ["/redirect", "/json"]


def test_response_over_the_size_limit_fails(server):
    outcome, _ = run(
        http_graph(url=server + "/big", max_response_bytes=1000), inputs={"topic": "x"}, http_allow_private=True
    )
    assert outcome.status == "failed" and "max_response_bytes=1000" in outcome.error


def test_error_status_fails_unless_told_otherwise(server):
    outcome, _ = run(http_graph(url=server + "/missing"), inputs={"topic": "x"}, http_allow_private=True)
    assert outcome.status == "failed" and "HTTP 404" in outcome.error
    outcome, _ = run(
        http_graph(url=server + "/missing", fail_on_status=False), inputs={"topic": "x"}, http_allow_private=True
    )
    assert outcome.outputs["response"]["status"] == 404 and outcome.outputs["response"]["body"] == "nothing here"
