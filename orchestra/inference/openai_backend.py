"""The `openai` backend: any OpenAI-compatible chat completions server (vLLM, OpenAI, ours).

It speaks through the official `openai` SDK, so retries, timeouts and SSE parsing are the SDK's;
this module only shapes the request, reads the answer back into a `Completion`, and turns the
SDK's exceptions into an `InferenceError` that says which model and what went wrong. `tools`,
`tool_choice` and `response_format` go to the server as they are: vLLM (and OpenAI) enforce them.

A call its caller gives up on (`abandoned`) is stopped at once, by shutting its connection down,
which the server sees (vLLM aborts the request): a streamed one whether or not a token came yet.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import openai

from orchestra.egress import guarded_client

from orchestra.inference.base import (
    ABANDONED_POLL_S,
    CallAbandoned,
    Completion,
    InferenceError,
    ModelSpec,
    ToolCall,
    check_call,
    check_structured,
)


def http_client(spec: ModelSpec, **kwargs: Any) -> httpx.Client:
    """The HTTP client the SDK sends with: every request and redirect through the egress guard when
    the caller set a policy, else the SDK's own default."""
    timeout = spec.options.get("timeout_s", 60)
    if spec.allow_private is None:
        return openai.DefaultHttpxClient(timeout=timeout, follow_redirects=True, **kwargs)
    return guarded_client(allow_private=spec.allow_private, timeout=timeout, follow_redirects=True, **kwargs)


def make_sdk(spec: ModelSpec, **client: Any) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=spec.base_url,
        # The SDK insists on a key; local servers (vLLM, ours) take any. A placeholder, rather
        # than the SDK's fallback to OPENAI_API_KEY, keeps a real key from going to the wrong host.
        api_key=spec.api_key or "no-key",
        timeout=spec.options.get("timeout_s", 60),
        max_retries=spec.options.get("max_retries", 2),
        http_client=http_client(spec, **client),
    )


class OpenAIClient:
    def __init__(self, spec: ModelSpec, sdk: openai.OpenAI):
        self.spec = spec
        self.sdk = sdk

    def complete(
        self,
        messages: list[dict],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stop: list[str] | None = None,
        on_token: Callable[[str], None] | None = None,
        top_logprobs: int = 0,
        tools: list[dict] | None = None,
        tool_choice: str | dict | None = None,
        response_format: dict | None = None,
        abandoned: Callable[[], bool] | None = None,
    ) -> Completion:
        max_tokens = check_call(
            self.spec, max_tokens=max_tokens, temperature=temperature, top_logprobs=top_logprobs, messages=messages
        )
        check_structured(self.spec, tools=tools, tool_choice=tool_choice, response_format=response_format)
        request: dict = {"model": self.spec.model, "messages": messages, "max_completion_tokens": max_tokens}
        # Only what was asked for: a server without tool support may refuse even an empty `tools`.
        structured = {"tools": tools, "tool_choice": tool_choice, "response_format": response_format}
        request.update({key: value for key, value in structured.items() if value})
        if temperature is not None:  # None leaves the server's own default in force
            request["temperature"] = temperature
        if stop:
            request["stop"] = stop
        if top_logprobs:
            request.update(logprobs=True, top_logprobs=top_logprobs)
            if self.spec.options.get("token_ids"):  # vLLM's extension: "token_id:123" strings
                request["extra_body"] = {"return_tokens_as_token_ids": True}
        started = time.perf_counter()
        with self._errors():
            if on_token:
                text, calls, finish_reason, usage, logprobs = self._stream(request, on_token, abandoned)
            else:
                response = (
                    self._stoppable(request, abandoned) if abandoned else self.sdk.chat.completions.create(**request)
                )
                choice = response.choices[0]
                text, finish_reason, usage = choice.message.content or "", choice.finish_reason, response.usage
                calls = [
                    ToolCall(id=call.id, name=call.function.name, arguments=call.function.arguments)
                    for call in choice.message.tool_calls or []
                ]
                logprobs = (choice.logprobs.content or []) if choice.logprobs else []
        # A server that sends no usage leaves the counts at 0 rather than guessed.
        tokens_in = usage.prompt_tokens if usage else 0
        tokens_out = usage.completion_tokens if usage else 0
        completion = Completion(
            text=text,
            model=self.spec.name,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            latency_ms=(time.perf_counter() - started) * 1000,
            finish_reason=finish_reason or "stop",
            cost=self.spec.cost(tokens_in, tokens_out),
            tool_calls=calls or None,
        )
        if top_logprobs:
            completion.top_logprobs = [
                [(self._token(t.token), t.logprob) for t in entry.top_logprobs] for entry in logprobs
            ]
            completion.token_logprobs = [(self._token(entry.token), entry.logprob) for entry in logprobs]
        return completion

    def score_reply(self, messages: list[dict], reply: str, *, top_logprobs: int) -> list[list[tuple[int, float]]]:
        """The k likeliest tokens (id, log-prob) at each token of `reply` after `messages`, as the
        server scores a continued final message (vLLM's `prompt_logprobs`): a recorded reply's
        teacher signal, asked for after the fact. The reply starts where the prompt alone ends."""
        check_call(self.spec, max_tokens=1, temperature=None, top_logprobs=top_logprobs, messages=messages)
        with self._errors():
            context = self.sdk.chat.completions.create(
                model=self.spec.model, messages=messages, max_completion_tokens=1
            )
            scored = self.sdk.chat.completions.create(
                model=self.spec.model,
                messages=[*messages, {"role": "assistant", "content": reply}],
                max_completion_tokens=1,
                extra_body={
                    "prompt_logprobs": top_logprobs,
                    "continue_final_message": True,
                    "add_generation_prompt": False,
                },
            )
        rows = (scored.model_extra or {}).get("prompt_logprobs")
        if not rows or not context.usage:
            raise InferenceError(
                f"model {self.spec.name!r}: {self.spec.base_url} does not score prompts (no prompt_logprobs in its "
                f"answer); a server that does (vLLM, orchestra.inference.server) is needed",
                model=self.spec.name,
            )
        return [
            sorted(
                ((int(token), e["logprob"]) for token, e in row.items() if e.get("rank", 1) <= top_logprobs),
                key=lambda pair: -pair[1],
            )
            for row in rows[context.usage.prompt_tokens :]
        ]

    def _stoppable(self, request: dict, abandoned: Callable[[], bool]):
        """The non-streaming request, sent on a thread of its own over connections of its own while
        this thread asks `abandoned` every ABANDONED_POLL_S; once it is true the connections are shut
        down (a blocked read ends, the server sees the client go) and CallAbandoned is raised at once,
        without waiting for the SDK's retries to give up."""
        sockets: list[socket.socket] = []
        lock, stopped = threading.Lock(), threading.Event()

        def connected(event: str, info: dict) -> None:  # httpcore's trace extension
            if event == "connection.connect_tcp.complete":
                sock = info["return_value"].get_extra_info("socket")
                with lock:
                    sockets.append(sock)
                    if stopped.is_set():  # a retry after the stop
                        _shut(sock)

        def traced(outgoing: httpx.Request) -> None:
            outgoing.extensions = {**outgoing.extensions, "trace": connected}

        sdk = make_sdk(self.spec, event_hooks={"request": [traced]})
        outcome: dict[str, Any] = {}
        done = threading.Event()

        def send() -> None:
            try:
                outcome["response"] = sdk.chat.completions.create(**request)
            except BaseException as error:  # noqa: BLE001 (handed back to the caller's thread as is)
                outcome["error"] = error
            finally:
                sdk.close()
                done.set()

        threading.Thread(target=send, name=f"call-{self.spec.name}", daemon=True).start()
        while not done.wait(ABANDONED_POLL_S):
            if abandoned():
                with lock:
                    stopped.set()
                    for sock in sockets:
                        _shut(sock)
                raise self._abandoned()
        if "error" in outcome:
            raise outcome["error"]
        return outcome["response"]

    def _stream(self, request: dict, on_token: Callable[[str], None], abandoned: Callable[[], bool] | None):
        parts, calls, finish_reason, usage, logprobs = [], {}, None, None, []
        stream = self.sdk.chat.completions.create(**request, stream=True, stream_options={"include_usage": True})
        with stream, self._watched(stream.response, abandoned):
            for chunk in stream:
                usage = chunk.usage or usage  # the last chunk, with no choices, carries it
                for choice in chunk.choices:
                    if choice.delta.content:
                        parts.append(choice.delta.content)
                        on_token(choice.delta.content)
                    for delta in choice.delta.tool_calls or []:
                        add_tool_call_delta(calls, delta)
                    if choice.logprobs and choice.logprobs.content:
                        logprobs.extend(choice.logprobs.content)
                    finish_reason = choice.finish_reason or finish_reason
        tool_calls = [
            ToolCall(id=call["id"], name=call["name"], arguments=call["arguments"]) for _, call in sorted(calls.items())
        ]
        return "".join(parts), tool_calls, finish_reason, usage, logprobs

    @contextmanager
    def _watched(self, response: httpx.Response, abandoned: Callable[[], bool] | None) -> Iterator[None]:
        """While a stream is read: once `abandoned()` is true its connection is shut down, so a server that
        sends nothing yet (a long prompt, a queue) sees the client go, and the read ends in CallAbandoned
        instead of waiting for the next token."""
        network = response.extensions.get("network_stream")  # absent on a transport without sockets
        if abandoned is None or network is None:
            yield
            return
        sock = network.get_extra_info("socket")
        done, stopped = threading.Event(), threading.Event()

        def watch() -> None:
            while not done.wait(ABANDONED_POLL_S):
                if abandoned():
                    stopped.set()
                    _shut(sock)
                    return

        threading.Thread(target=watch, name=f"watch-{self.spec.name}", daemon=True).start()
        try:
            yield
        except Exception as error:
            if stopped.is_set():
                raise self._abandoned() from error
            raise
        finally:
            done.set()
        if stopped.is_set():  # a body delimited by the connection's end reads as complete when cut
            raise self._abandoned()

    def _abandoned(self) -> CallAbandoned:
        return CallAbandoned(
            f"model {self.spec.name!r}: its caller stopped waiting; the request to {self.spec.base_url} was closed",
            model=self.spec.name,
        )

    def _token(self, token: str) -> int | str:
        if self.spec.options.get("token_ids") and token.startswith("token_id:"):
            return int(token.removeprefix("token_id:"))
        return token

    @contextmanager
    def _errors(self) -> Iterator[None]:
        name, url = self.spec.name, self.spec.base_url
        try:
            yield
        except openai.APITimeoutError as error:
            raise InferenceError(
                f"model {name!r}: {url} did not answer within {self.sdk.timeout} s", model=name
            ) from error
        except openai.APIConnectionError as error:
            cause = error.__cause__ or error
            raise InferenceError(f"model {name!r}: cannot reach {url}: {cause}", model=name) from error
        except openai.APIStatusError as error:
            body = error.body if isinstance(error.body, dict) else {}
            message = body.get("message") or error.response.text or error.message
            raise InferenceError(
                f"model {name!r}: {url} answered HTTP {error.status_code}: {message}",
                model=name,
                status=error.status_code,
            ) from error
        except openai.APIError as error:  # e.g. an error event in the middle of a stream
            raise InferenceError(f"model {name!r}: {url} failed: {error.message}", model=name) from error


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # closed already


def add_tool_call_delta(calls: dict[int, dict], delta) -> None:
    """Fold one streamed tool-call delta into `calls` (by index): the first delta of a call brings
    its id and name (some servers repeat them), every delta may bring a piece of the arguments."""
    call = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
    call["id"] = call["id"] or delta.id or ""
    if delta.function:
        call["name"] = call["name"] or delta.function.name or ""
        call["arguments"] += delta.function.arguments or ""
