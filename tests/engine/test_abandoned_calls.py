"""A node that stops waiting (its timeout, a cancel) tells its model call, which stops streaming and says so."""

import threading

from orchestra.engine import ModelCall, ModelReply
from tests.engine.support import graph, input_node, node, output_node, run


class StreamingModel:
    """Streams a token every 20 ms until told to stop (by on_token raising) or 500 tokens are out."""

    def __init__(self):
        self.calls: list[ModelCall] = []
        self.tokens, self.stopped_by, self.done = 0, None, threading.Event()

    def __call__(self, call: ModelCall) -> ModelReply:
        self.calls.append(call)
        try:
            for _ in range(500):
                call.on_token("la ")
                self.tokens += 1
                threading.Event().wait(0.02)
        except Exception as error:  # noqa: BLE001 (what stopped the stream)
            self.stopped_by = error
            raise
        finally:
            self.done.set()
        return ModelReply(text="la " * 500, model="m")


def llm_graph(**policy):
    draft = {**node("draft", "llm", model="m", prompt="Sing"), **policy}
    return graph([input_node(), draft, output_node(x="{{ nodes.draft.output }}")], ["start->draft", "draft->end"])


def test_a_call_abandoned_by_the_node_timeout_knows_it_and_stops_streaming():
    model = StreamingModel()
    outcome, _ = run(llm_graph(timeout_s=0.3), call_model=model)

    assert outcome.status == "failed" and "timed out" in outcome.error
    assert model.done.wait(10)
    assert type(model.stopped_by).__name__ == "CallAbandoned"
    assert model.tokens < 500
    assert model.calls[0].abandoned() is True


def test_a_call_in_flight_when_the_run_is_cancelled_stops_and_the_run_is_cancelled():
    model, cancelled = StreamingModel(), threading.Event()
    threading.Timer(0.3, cancelled.set).start()

    outcome, recorder = run(llm_graph(), call_model=model, is_cancelled=cancelled.is_set)

    assert outcome.status == "cancelled"
    assert type(model.stopped_by).__name__ == "CallAbandoned" and model.tokens < 500
    assert model.calls[0].abandoned() is True
    assert recorder.nodes("node_retrying") == [] and recorder.nodes("node_failed") == []


def test_a_call_that_finished_in_time_is_not_abandoned():
    calls = []

    def quick(call: ModelCall) -> ModelReply:
        calls.append(call)
        call.on_token("hi")
        return ModelReply(text="hi", model="m")

    outcome, _ = run(llm_graph(timeout_s=5), call_model=quick)
    assert outcome.status == "succeeded" and calls[0].abandoned() is False
