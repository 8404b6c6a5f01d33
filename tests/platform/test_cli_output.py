"""What `orchestra run` prints while it follows a run's events."""

from orchestra.cli import progress_text


def event(type: str, node_id: str | None = "draft", **data) -> dict:
    return {"type": type, "node_id": node_id, "data": data}


def test_events_are_one_line_each_with_no_blank_lines_and_tokens_run_on():
    stream = [
        event("run_started", None),
        event("node_started", input={}),
        event("token", text="Hello"),
        event("token", text=" world"),
        event("node_succeeded"),
        event("node_failed", node_id="call", error="HTTP 500"),
        event("run_failed", None, error="node 'call' failed"),
    ]
    printed, mid_line = "", False
    for item in stream:
        text, mid_line = progress_text(item, mid_line)
        printed += text

    assert printed == (
        "[run_started]\n"
        "[node_started draft]\n"
        "Hello world\n"
        "[node_succeeded draft]\n"
        "[node_failed call]: HTTP 500\n"
        "[run_failed]: node 'call' failed\n"
    )
    assert "\n\n" not in printed
