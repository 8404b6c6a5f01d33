"""Workflows and helpers shared by the trigger tests."""

from tests.platform.test_runs_api import BLOG, create_published  # noqa: F401  (re-exported for the tests)

CHAT = {
    "nodes": [
        {
            "id": "start",
            "type": "input",
            "config": {
                "fields": [
                    {"name": "message", "type": "string", "required": True},
                    {"name": "history", "type": "array", "default": []},
                ]
            },
        },
        {
            "id": "answer",
            "type": "llm",
            "config": {
                "model": "auto",
                "system": "You are helpful. {{ inputs.history | length }} earlier messages.",
                "prompt": "{{ inputs.message }}",
                "max_tokens": 8,
            },
        },
        {"id": "end", "type": "output", "config": {"outputs": {"reply": "{{ nodes.answer.output }}"}}},
    ],
    "edges": [{"source": "start", "target": "answer"}, {"source": "answer", "target": "end"}],
}

# No model call: fast, and its outputs say exactly which inputs arrived.
ECHO = {
    "nodes": [
        {
            "id": "start",
            "type": "input",
            "config": {
                "fields": [
                    {"name": "topic", "type": "string", "required": True},
                    {"name": "count", "type": "number", "default": 1},
                ]
            },
        },
        {
            "id": "end",
            "type": "output",
            "config": {"outputs": {"topic": "{{ inputs.topic }}", "count": "{{ inputs.count }}"}},
        },
    ],
    "edges": [{"source": "start", "target": "end"}],
}

# Stays active (waiting for a person) until answered: for overlap tests.
WAITS = {
    "nodes": [
        {"id": "start", "type": "input", "config": {"fields": []}},
        {"id": "ask", "type": "approval", "config": {"prompt": "Go on?"}},
        {"id": "end", "type": "output", "config": {"outputs": {"answer": "{{ nodes.ask.output }}"}}},
    ],
    "edges": [
        {"source": "start", "target": "ask"},
        {"source": "ask", "target": "end", "branch": "approved"},
        {"source": "ask", "target": "end", "branch": "rejected"},
    ],
}


def sse_events(response) -> list[tuple[str, str]]:
    """(event, data) pairs from a streaming httpx response, read as they arrive."""
    events, name, data = [], "message", []
    for line in response.iter_lines():
        if line.startswith("event:"):
            name = line[len("event:") :].strip()
        elif line.startswith("data:"):
            data.append(line[len("data:") :].strip())
        elif line == "" and data:
            events.append((name, "\n".join(data)))
            name, data = "message", []
    return events
