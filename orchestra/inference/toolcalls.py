"""The Hermes tool-call format (Qwen2.5 and the tiny models): how calls look in a model's text.

    <tool_call>
    {"name": "get_weather", "arguments": {"city": "Paris"}}
    </tool_call>

one block per call, several allowed. The grammar (grammar.py) makes the transformers backend
write exactly this, the chat templates render past calls the same way, and `ToolCallSplitter`
reads it back into `ToolCall`s: one definition of the format for all three.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

from orchestra.inference.base import ToolCall

OPEN = "<tool_call>"
CLOSE = "</tool_call>"


def call_prefix(name: str) -> str:
    """The text a call to `name` starts with, up to where its arguments object begins."""
    return f'{OPEN}\n{{"name": {json.dumps(name)}, "arguments": '


CALL_SUFFIX = "}\n" + CLOSE  # closes the {"name", "arguments"} object, then the block


def template_messages(messages: list[dict]) -> list[dict]:
    """OpenAI messages as Hugging Face chat templates expect them: tool-call arguments as objects.

    OpenAI carries arguments as JSON text; templates (Qwen2.5's, ours) render them with `tojson`,
    which would quote that text a second time. Text that is not JSON is left as it is: a remote
    model may have written it, and the template can still show it to this one.
    """
    return [
        {**message, "tool_calls": [_with_object_arguments(call) for call in message["tool_calls"]]}
        if message.get("tool_calls")
        else message
        for message in messages
    ]


def _with_object_arguments(call: dict) -> dict:
    arguments = call.get("function", {}).get("arguments")
    if not isinstance(arguments, str):
        return call
    try:
        return {**call, "function": {**call["function"], "arguments": json.loads(arguments)}}
    except json.JSONDecodeError:
        return call


class ToolCallSplitter:
    """Splits generated text into plain text (passed on as it streams) and tool-call blocks.

    Text that could still be the start of a block ("<tool_c") is held back until the next delta
    decides it, so `on_text` never sees markup; the deltas it gets join up to exactly `finish()`'s
    text. The newline a template or the grammar puts between text and a block, or between two
    blocks, belongs to the markup. When the reply was cut off, a block still open at the end, or
    the start of one, is dropped: its JSON is incomplete, and the finish reason ("length") says so.
    """

    def __init__(self, on_text: Callable[[str], None] | None = None):
        self.on_text = on_text
        self.pending = ""  # received, not yet passed on or parsed
        self.inside = False  # between OPEN and CLOSE
        self.after_block = False  # a newline right here still belongs to the block before
        self.text_parts: list[str] = []
        self.calls: list[ToolCall] = []

    def feed(self, delta: str) -> None:
        self.pending += delta
        while self._step():
            pass

    def finish(self, *, cut_off: bool) -> tuple[str, list[ToolCall]]:
        """No more text: pass on what was held back; return the plain text and the complete calls."""
        if not self.inside and not cut_off:
            self._pass_on(self.pending)
        self.pending = ""
        return "".join(self.text_parts), self.calls

    def _step(self) -> bool:
        """Consume what `pending` decides; True when there may be more to consume."""
        if self.after_block and self.pending:
            self.pending = self.pending.removeprefix("\n")
            self.after_block = False
        if self.inside:
            end = self.pending.find(CLOSE)
            if end < 0:
                return False
            self.calls.append(parse_block(self.pending[:end]))
            self.pending = self.pending[end + len(CLOSE) :]
            self.inside, self.after_block = False, True
            return True
        start = self.pending.find(OPEN)
        if start >= 0:
            self._pass_on(self.pending[:start].removesuffix("\n"))
            self.pending = self.pending[start + len(OPEN) :]
            self.inside = True
            return True
        held = _held_back(self.pending)
        self._pass_on(self.pending[: len(self.pending) - held])
        self.pending = self.pending[len(self.pending) - held :]
        return False

    def _pass_on(self, text: str) -> None:
        if text:
            self.text_parts.append(text)
            if self.on_text is not None:
                self.on_text(text)


def _held_back(text: str) -> int:
    """Length of the longest tail of `text` that may still become "\\n<tool_call>" or "<tool_call>"."""
    for marker in ("\n" + OPEN, OPEN):
        for n in range(min(len(marker) - 1, len(text)), 0, -1):
            if text.endswith(marker[:n]):
                return n
    return 0


def parse_block(block: str) -> ToolCall:
    """The JSON between OPEN and CLOSE -> a ToolCall with a fresh id and the arguments as JSON text."""
    call = json.loads(block)
    return ToolCall(id=f"call_{uuid.uuid4().hex}", name=call["name"], arguments=json.dumps(call["arguments"]))
