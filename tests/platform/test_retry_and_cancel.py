"""Retrying a failed run, rerunning with edited inputs, and cancels that stop work in flight."""

import json
import select
import socket
import threading
from http.server import BaseHTTPRequestHandler

import pytest

from tests.conftest import wait_until
from tests.platform.test_run_lifecycle import llm_then_http
from tests.platform.test_runs_api import create_published
from tests.support.loopback import LoopbackServer
from tests.support.loopback import send_json
from tests.support.loopback import serve_in_background
from workflows import services
from workflows.models import Run, RunEvent, Trace


@pytest.fixture
def held_server():
    server = LoopbackServer(hold=True)
    yield server
    server.close()


def test_retry_continues_a_failed_run_from_the_failed_node(api):
    server = LoopbackServer(status=503)
    try:
        workflow_id = create_published(api, llm_then_http(server.url))
        run_id = api.post(f"/api/workflows/{workflow_id}/runs", json={"inputs": {"topic": "tea"}}).json()["id"]
        failed = api.wait_run(run_id)
        assert failed["status"] == "failed" and "HTTP 503" in failed["error"], failed
        cost_before = failed["cost"]
        assert cost_before > 0

        server.status = 200
        response = api.post(f"/api/runs/{run_id}/retry")
        assert response.status_code == 202, response.text
        assert response.json()["status"] == "queued"

        run = api.wait_run(run_id)
        assert run["status"] == "succeeded", run
        assert run["outputs"]["status"] == 200
        assert len(server.requests) == 2  # the failed node ran again
        starts = RunEvent.objects.filter(run_id=run_id, type="node_started")
        assert starts.filter(node_id="draft").count() == 1  # the finished node kept its result
        assert Trace.objects.filter(run_id=run_id).count() == 1
        assert run["cost"] == pytest.approx(cost_before)  # and its cost
        assert RunEvent.objects.filter(run_id=run_id, type="run_retried").count() == 1

        again = api.post(f"/api/runs/{run_id}/retry")
        assert again.status_code == 409 and again.json()["errors"][0]["path"] == "status"
    finally:
        server.close()


def test_retry_makes_a_failed_nodes_model_calls_again(api):
    graph = {
        "nodes": [
            {"id": "start", "type": "input", "config": {"fields": []}},
            {
                "id": "draft",
                "type": "llm",
                "config": {"model": "auto", "prompt": "Hi", "max_tokens": 4, "output": "json", "json_retries": 0},
            },
            {"id": "end", "type": "output", "config": {"outputs": {"x": "{{ nodes.draft.output }}"}}},
        ],
        "edges": [{"source": "start", "target": "draft"}, {"source": "draft", "target": "end"}],
    }
    workflow_id = create_published(api, graph)
    run_id = api.post(f"/api/workflows/{workflow_id}/runs", json={"inputs": {}}).json()["id"]
    assert api.wait_run(run_id)["status"] == "failed"  # a random tiny model writes no JSON

    assert api.post(f"/api/runs/{run_id}/retry").status_code == 202
    run = api.wait_run(run_id)

    assert run["status"] == "failed"
    keys = sorted(Trace.objects.filter(run_id=run_id).values_list("call_key", flat=True))
    assert keys == ["draft#a1#j0", "r1/draft#a1#j0"]  # called again, not replayed from the failed attempt
    node = next(n for n in run["nodes"] if n["node_id"] == "draft")
    assert node["tokens_out"] == sum(Trace.objects.filter(run_id=run_id).values_list("tokens_out", flat=True))


NUMBERS = {
    "nodes": [
        {"id": "start", "type": "input", "config": {"fields": [{"name": "count", "type": "number", "required": True}]}},
        {"id": "end", "type": "output", "config": {"outputs": {"twice": "{{ inputs.count * 2 }}"}}},
    ],
    "edges": [{"source": "start", "target": "end"}],
}


def test_rerun_starts_a_new_run_of_the_same_version_with_edited_inputs(api):
    workflow_id = create_published(api, NUMBERS)
    first = api.post(f"/api/workflows/{workflow_id}/runs", json={"inputs": {"count": 2}, "wait": 30}).json()
    assert first["status"] == "succeeded"

    response = api.post(f"/api/runs/{first['id']}/rerun", json={"inputs": {"count": 5}})
    assert response.status_code == 201, response.text
    rerun = response.json()
    assert rerun["id"] != first["id"] and rerun["trigger"] == "rerun" and rerun["version"] == first["version"]
    assert api.wait_run(rerun["id"])["outputs"]["twice"] in (10, "10")  # 5 * 2, from the edited inputs

    same = api.post(f"/api/runs/{first['id']}/rerun", json={}).json()
    assert same["inputs"] == {"count": 2}

    bad = api.post(f"/api/runs/{first['id']}/rerun", json={"inputs": {"count": "many"}})
    assert bad.status_code == 400
    assert any("count" in error["path"] for error in bad.json()["errors"]), bad.json()


MAP_OF_REQUESTS = {
    "nodes": [
        {"id": "start", "type": "input", "config": {"fields": []}},
        {
            "id": "each",
            "type": "map",
            "config": {
                "items": "[1, 2, 3, 4, 5, 6, 7, 8]",
                "concurrency": 2,
                "node": {"type": "http", "config": {"url": "URL/{{ item }}"}},
            },
        },
        {"id": "end", "type": "output", "config": {"outputs": {"n": "{{ nodes.each.output | length }}"}}},
    ],
    "edges": [{"source": "start", "target": "each"}, {"source": "each", "target": "end"}],
}


class FailsItemOnce(BaseHTTPRequestHandler):
    """Answers GET /N with {"item": N}; the first request for /3 gets a 500. Notes each path and status."""

    answered: list[tuple[str, int]]

    def do_GET(self):
        status = 500 if self.path == "/3" and ("/3", 500) not in self.answered else 200
        self.answered.append((self.path, status))
        send_json(self, status, {"item": self.path})

    def log_message(self, *args):
        pass


def test_a_retried_map_runs_only_the_items_that_did_not_succeed(api):
    handler = type("Handler", (FailsItemOnce,), {"answered": []})
    server = serve_in_background(handler)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        graph = json.loads(json.dumps(MAP_OF_REQUESTS).replace("URL", url))
        workflow_id = create_published(api, graph)
        run_id = api.post(f"/api/workflows/{workflow_id}/runs", json={"inputs": {}}).json()["id"]
        failed = api.wait_run(run_id)
        assert failed["status"] == "failed" and "item 2" in failed["error"], failed  # /3 is item 2
        before = list(handler.answered)

        assert api.post(f"/api/runs/{run_id}/retry").status_code == 202
        run = api.wait_run(run_id)

        assert run["status"] == "succeeded", run
        assert run["outputs"]["n"] in (8, "8")
        retried = handler.answered[len(before) :]
        succeeded_before = {path for path, status in before if status == 200}
        assert ("/3", 200) in retried
        assert not succeeded_before & {path for path, _ in retried}, (before, retried)  # none asked twice
        assert sorted(path for path, status in handler.answered if status == 200) == [f"/{n}" for n in range(1, 9)]
        succeeded = RunEvent.objects.filter(run_id=run_id, type="item_succeeded", node_id="each")
        assert sorted(succeeded.values_list("data__item", flat=True)) == list(range(8))
    finally:
        server.shutdown()
        server.server_close()


def test_cancel_stops_a_map_of_slow_requests_in_flight(api, held_server):
    graph = json.loads(json.dumps(MAP_OF_REQUESTS).replace("URL", held_server.url))
    workflow_id = create_published(api, graph)
    run_id = api.post(f"/api/workflows/{workflow_id}/runs", json={"inputs": {}}).json()["id"]
    wait_until(lambda: len(held_server.requests) == 2, timeout=60, message="two items in flight")

    assert api.post(f"/api/runs/{run_id}/cancel").status_code == 202
    run = api.wait_run(run_id)  # the server still holds both requests: the run did not wait for them

    assert run["status"] == "cancelled", run
    assert len(held_server.requests) == 2  # the other six items never started
    assert {n["node_id"]: n["status"] for n in run["nodes"]}["each"] == "cancelled"


def hung_up_within(connection: socket.socket, seconds: float) -> bool:
    """Whether the client closed its end of `connection` within `seconds` (it sends nothing more)."""
    readable, _, _ = select.select([connection], [], [], seconds)
    return bool(readable) and connection.recv(1, socket.MSG_PEEK) == b""


class SlowStreamingModel:
    """An OpenAI-compatible server streaming one token every 0.2 s (the first after `first_token_s`);
    it notes when the client hangs up."""

    def __init__(self, tokens: int = 300, first_token_s: float = 0):
        self.sent, self.hung_up = 0, threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                if hung_up_within(self.connection, first_token_s):
                    owner.hung_up.set()
                    return
                try:
                    for _ in range(tokens):
                        chunk = {
                            "id": "c",
                            "object": "chat.completion.chunk",
                            "created": 0,
                            "model": "slow",
                            "choices": [{"index": 0, "delta": {"content": "la "}, "finish_reason": None}],
                        }
                        self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                        self.wfile.flush()
                        owner.sent += 1
                        if owner.hung_up.wait(0.2):
                            return
                    self.wfile.write(b"data: [DONE]\n\n")
                except (BrokenPipeError, ConnectionResetError):
                    owner.hung_up.set()

            def log_message(self, *args):
                pass

        self.server = serve_in_background(Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self):
        self.hung_up.set()
        self.server.shutdown()
        self.server.server_close()


def timing_out_llm(api, slow: "SlowStreamingModel", *, hold_url: str | None = None) -> str:
    """A published workflow whose llm node asks `slow` and gives up after 1 s; with `hold_url`, an
    HTTP node to it holds the run open afterwards."""
    services.model_endpoint_save(
        workspace=api.workspace,
        name="slow",
        fields={"backend": "openai", "model": "slow", "base_url": slow.url, "price_in": 1, "price_out": 1},
    )
    draft = {
        "id": "draft",
        "type": "llm",
        "timeout_s": 1,
        "on_error": "continue",
        "config": {"model": "slow", "prompt": "Sing", "max_tokens": 1000},
    }
    held = [{"id": "call", "type": "http", "config": {"url": hold_url}}] if hold_url else []
    chain = ["start", "draft", *(n["id"] for n in held), "end"]
    return create_published(
        api,
        {
            "nodes": [
                {"id": "start", "type": "input", "config": {"fields": []}},
                draft,
                *held,
                {"id": "end", "type": "output", "config": {"outputs": {"x": "{{ nodes.draft.error }}"}}},
            ],
            "edges": [{"source": a, "target": b} for a, b in zip(chain, chain[1:])],
        },
    )


def test_a_model_call_abandoned_by_its_timeout_is_traced_as_abandoned_and_stopped(api, held_server):
    slow = SlowStreamingModel()
    try:
        workflow_id = timing_out_llm(api, slow, hold_url=held_server.url)
        run_id = api.post(f"/api/workflows/{workflow_id}/runs", json={"inputs": {}}).json()["id"]

        trace = wait_until(lambda: Trace.objects.filter(run_id=run_id).first(), timeout=60, message="the trace")
        assert trace.status == "abandoned", (trace.status, trace.error)
        assert slow.hung_up.wait(30)  # the stream was closed: the server stopped generating
        assert slow.sent < 300
        held_server.released.set()
        run = api.wait_run(run_id)
        assert run["status"] == "succeeded" and "timed out" in run["outputs"]["x"], run
        listed = api.get("/api/traces", params={"workflow": workflow_id}).json()["results"]
        assert [t["status"] for t in listed] == ["abandoned"]
    finally:
        slow.close()


def test_a_streamed_call_with_no_token_yet_is_stopped_and_traced_when_its_node_gives_up(api):
    slow = SlowStreamingModel(first_token_s=120)
    try:
        workflow_id = timing_out_llm(api, slow)
        run = api.post(f"/api/workflows/{workflow_id}/runs", json={"inputs": {}, "wait": 60}).json()
        assert run["status"] == "succeeded" and "timed out" in run["outputs"]["x"], run

        # The server has sent no token: the call is stopped all the same, and its trace kept.
        trace = wait_until(lambda: Trace.objects.filter(run_id=run["id"]).first(), timeout=60, message="the trace")
        assert trace.status == "abandoned", (trace.status, trace.error)
        assert slow.hung_up.wait(30) and slow.sent == 0
    finally:
        slow.close()


class SilentModel:
    """An OpenAI-compatible server that takes a request and never answers it; it notes when the client
    hangs up (its end of the connection reads as closed)."""

    def __init__(self):
        self.asked, self.hung_up = threading.Event(), threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                owner.asked.set()
                if hung_up_within(self.connection, 120):
                    owner.hung_up.set()
                self.close_connection = True

            def log_message(self, *args):
                pass

        self.server = serve_in_background(Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_a_call_not_streamed_is_closed_and_traced_as_abandoned_when_its_node_gives_up(api):
    from orchestra import engine
    from workflows.execution import model_call_trace

    silent = SilentModel()
    try:
        services.model_endpoint_save(
            workspace=api.workspace, name="silent", fields={"backend": "openai", "model": "m", "base_url": silent.url}
        )
        run = api.post(f"/api/workflows/{create_published(api, NUMBERS)}/runs", json={"inputs": {"count": 1}}).json()
        gave_up, failed = threading.Event(), {}
        call = engine.ModelCall(
            node_id="draft",
            call_key="draft#a1#shadow",
            model="silent",
            messages=[{"role": "user", "content": "Hi"}],
            temperature=None,
            max_tokens=8,
            stop=None,
            metadata={},
            abandoned=gave_up.is_set,
        )

        def ask():  # as a shadow student is asked: not streamed
            asker = Run.objects.get(pk=run["id"])
            try:
                model_call_trace(asker, call, model="silent", call_key=call.call_key, stream=False)
            except Exception as error:  # noqa: BLE001 (what the test looks at)
                failed["error"] = error

        asking = threading.Thread(target=ask)
        asking.start()
        assert silent.asked.wait(30)
        gave_up.set()
        asking.join(30)

        assert not asking.is_alive() and type(failed["error"]).__name__ == "CallAbandoned", failed
        trace = Trace.objects.get(run_id=run["id"], call_key=call.call_key)  # saved now: the server never answered
        assert trace.status == "abandoned" and "stopped waiting" in trace.error, (trace.status, trace.error)
        assert silent.hung_up.wait(30)  # the request was closed: the server knows nobody waits for it
    finally:
        silent.close()
