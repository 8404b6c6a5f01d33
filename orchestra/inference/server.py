"""A small OpenAI-compatible HTTP server for local transformers models.

    python -m orchestra.inference.server --model tiny=/path/to/folder --port 8001

serves `POST /v1/chat/completions` (plain and streamed as server-sent events, with `usage`,
`logprobs`, `tools`/`tool_choice` and `response_format`; and vLLM's `prompt_logprobs`, with
`continue_final_message`, which scores a recorded reply) and `GET /v1/models`, answering errors in
OpenAI's shape. It exists so that the `openai` backend, the gateway and their tests talk to a real
server over real HTTP, and so a laptop can stand in for a vLLM box. It is the standard library's
threading HTTP server over `get_client`: one thread per connection, one generation at a time per
model.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from orchestra.inference.base import MAX_TOP_LOGPROBS, Completion, InferenceError, ModelSpec, check_structured
from orchestra.inference.clients import get_client
from orchestra.inference.toolcalls import template_messages

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 8 * 1024 * 1024
# Streamed tool-call arguments go out in pieces of this many characters, as real servers send them
# token by token: a client that does not join the pieces (by the call's index) breaks here too.
ARGUMENT_PIECE_CHARS = 16


class RequestError(Exception):
    """An answer in OpenAI's error shape: {"error": {"message", "type", "param", "code"}}."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        type: str = "invalid_request_error",
    ):
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.type = status, message, param, code, type

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


@dataclass
class ChatRequest:
    model: str
    messages: list[dict]
    max_tokens: int | None
    temperature: float | None
    stop: list[str] | None
    stream: bool
    include_usage: bool
    logprobs: bool
    top_logprobs: int
    token_ids: bool  # vLLM's return_tokens_as_token_ids: tokens as "token_id:123"
    tools: list[dict] | None = None
    # vLLM's scoring extension: the top-k log-probs of every prompt token, the final assistant
    # message continued (not closed), so a recorded reply's tokens are scored as the model sees them.
    prompt_logprobs: int = 0
    continue_final_message: bool = False
    tool_choice: str | dict | None = None
    response_format: dict | None = None


def parse_chat_request(body: object, specs: dict[str, ModelSpec]) -> ChatRequest:
    """Check a chat completions body the way OpenAI does; unknown fields are ignored, as there."""
    if not isinstance(body, dict):
        raise RequestError(400, "The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str):
        raise RequestError(400, "'model' is required and must be a string.", param="model")
    if model not in specs:
        raise RequestError(
            404,
            f"The model `{model}` does not exist. Available models: {', '.join(specs)}.",
            param="model",
            code="model_not_found",
        )
    if body.get("n", 1) != 1:
        raise RequestError(400, "Only n=1 is supported.", param="n")
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None and (not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1):
        raise RequestError(400, f"max_tokens must be a positive integer, got {max_tokens!r}.", param="max_tokens")
    temperature = body.get("temperature")
    if temperature is not None and (not isinstance(temperature, (int, float)) or not 0 <= temperature <= 2):
        raise RequestError(
            400, f"temperature must be a number between 0 and 2, got {temperature!r}.", param="temperature"
        )
    stop = body.get("stop")
    stop = [stop] if isinstance(stop, str) else stop
    if stop is not None and not (isinstance(stop, list) and all(isinstance(s, str) for s in stop)):
        raise RequestError(400, "stop must be a string or a list of strings.", param="stop")
    logprobs = body.get("logprobs") or False
    top_logprobs = body.get("top_logprobs") or 0
    if not isinstance(top_logprobs, int) or not 0 <= top_logprobs <= MAX_TOP_LOGPROBS:
        raise RequestError(
            400, f"top_logprobs must be an integer between 0 and {MAX_TOP_LOGPROBS}.", param="top_logprobs"
        )
    if top_logprobs and not logprobs:
        raise RequestError(400, "top_logprobs needs logprobs set to true.", param="logprobs")
    prompt_logprobs = body.get("prompt_logprobs") or 0
    if (
        not isinstance(prompt_logprobs, int)
        or isinstance(prompt_logprobs, bool)
        or not 0 <= prompt_logprobs <= MAX_TOP_LOGPROBS
    ):
        raise RequestError(
            400, f"prompt_logprobs must be an integer between 0 and {MAX_TOP_LOGPROBS}.", param="prompt_logprobs"
        )
    messages = parse_messages(body.get("messages"))
    continue_final_message = bool(body.get("continue_final_message"))
    if continue_final_message and messages[-1]["role"] != "assistant":
        raise RequestError(
            400, "continue_final_message needs the last message to be the assistant's.", param="messages"
        )
    stream_options = body.get("stream_options") or {}
    tools, tool_choice, response_format = parse_structured(body, specs[model])
    return ChatRequest(
        model=model,
        messages=messages,
        max_tokens=max_tokens,
        temperature=temperature,
        stop=stop or None,
        stream=bool(body.get("stream")),
        include_usage=bool(stream_options.get("include_usage")),
        logprobs=bool(logprobs),
        top_logprobs=top_logprobs,
        token_ids=bool(body.get("return_tokens_as_token_ids")),
        tools=tools,
        tool_choice=tool_choice,
        response_format=response_format,
        prompt_logprobs=prompt_logprobs,
        continue_final_message=continue_final_message,
    )


def prompt_token_ids(tokenizer, messages: list[dict], *, continue_final_message: bool) -> list[int]:
    """The prompt as the model reads it. A continued final message is the conversation before it
    with the generation prompt, then its text, tokenised apart: the distillation core's alignment
    of a reply (orchestra/distill/dataset.py), so the scores line up with what the student learns."""
    head = messages[:-1] if continue_final_message else messages
    context = tokenizer.apply_chat_template(template_messages(head), add_generation_prompt=True, tokenize=False)
    ids = tokenizer.encode(context, add_special_tokens=False)
    return ids + tokenizer.encode(messages[-1]["content"], add_special_tokens=False) if continue_final_message else ids


def prompt_logprobs_body(loaded, messages: list[dict], *, k: int, continue_final_message: bool) -> list:
    """vLLM's `prompt_logprobs`: per prompt token (the first has none), a {token_id: {logprob, rank,
    decoded_token}} of the k likeliest tokens there and the prompt's own token."""
    import torch

    ids = prompt_token_ids(loaded.tokenizer, messages, continue_final_message=continue_final_message)
    with loaded.lock, torch.no_grad():
        logits = loaded.model(torch.tensor([ids], device=loaded.model.device)).logits[0, :-1].float()
    logprobs = torch.log_softmax(logits, dim=-1)
    top = torch.topk(logprobs, k, dim=-1)
    rows: list = [None]
    for position, token in enumerate(ids[1:]):
        own = float(logprobs[position, token])
        row = {str(token): {"logprob": own, "rank": int((logprobs[position] > own).sum()) + 1}}
        for rank, (candidate, logprob) in enumerate(zip(top.indices[position].tolist(), top.values[position].tolist())):
            row.setdefault(str(candidate), {"logprob": logprob, "rank": rank + 1})
        rows.append({t: v | {"decoded_token": loaded.tokenizer.decode([int(t)])} for t, v in row.items()})
    return rows


def parse_structured(body: dict, spec: ModelSpec) -> tuple[list | None, str | dict | None, dict | None]:
    """`tools`, `tool_choice` and `response_format`, checked one at a time so a 400 names the bad one."""
    tools, tool_choice, response_format = (
        body.get("tools") or None,
        body.get("tool_choice"),
        body.get("response_format"),
    )
    if tools is not None and not isinstance(tools, list):
        raise RequestError(400, "tools must be an array of function tools.", param="tools")
    if body.get("parallel_tool_calls") is False:  # the grammar lets the model make several calls a turn
        raise RequestError(
            400,
            "parallel_tool_calls=false is not supported: a reply may hold several tool calls.",
            param="parallel_tool_calls",
        )
    for param, arguments in (
        ("tools", {"tools": tools}),
        ("response_format", {"response_format": response_format}),
        ("tool_choice", {"tools": tools, "tool_choice": tool_choice}),
    ):
        try:
            check_structured(spec, **{"tools": None, "tool_choice": None, "response_format": None, **arguments})
        except InferenceError as error:
            raise RequestError(400, str(error), param=param) from error
    return tools, tool_choice, response_format


def parse_messages(messages: object) -> list[dict]:
    """OpenAI messages -> the {'role', 'content': str} dicts a chat template expects, keeping the
    tool calls of assistant turns and the `tool_call_id` of tool turns."""
    if not isinstance(messages, list) or not messages:
        raise RequestError(400, "'messages' must be a non-empty array.", param="messages")
    parsed = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise RequestError(400, f"messages[{index}] must be an object with a 'role'.", param=f"messages[{index}]")
        content = message.get("content")
        if isinstance(content, list):  # content parts: only text can reach a text-only model
            if any(not isinstance(part, dict) or part.get("type") != "text" for part in content):
                raise RequestError(
                    400,
                    f"messages[{index}].content: only text parts are supported.",
                    param=f"messages[{index}].content",
                )
            content = "".join(part.get("text", "") for part in content)
        if not isinstance(content, (str, type(None))):
            raise RequestError(
                400,
                f"messages[{index}].content must be a string or an array of text parts.",
                param=f"messages[{index}].content",
            )
        role = "system" if message["role"] == "developer" else message["role"]  # templates predate it
        parsed.append({"role": role, "content": content or "", **tool_fields(message, index)})
    return parsed


def tool_fields(message: dict, index: int) -> dict:
    """An assistant turn's `tool_calls` or a tool turn's `tool_call_id`, checked; {} for other turns."""
    if message["role"] == "tool":
        if not isinstance(message.get("tool_call_id"), str):
            raise RequestError(
                400,
                f"messages[{index}].tool_call_id is required for a tool message.",
                param=f"messages[{index}].tool_call_id",
            )
        return {"tool_call_id": message["tool_call_id"]}
    calls = message.get("tool_calls")
    if message["role"] != "assistant" or not calls:
        return {}
    for number, call in enumerate(calls if isinstance(calls, list) else [None]):
        function = call.get("function") if isinstance(call, dict) else None
        if (
            not isinstance(function, dict)
            or not isinstance(function.get("name"), str)
            or not isinstance(function.get("arguments"), str)
            or not isinstance(call.get("id"), str)
        ):
            raise RequestError(
                400,
                f"messages[{index}].tool_calls[{number}] must be {{'id', 'type': 'function', "
                f"'function': {{'name', 'arguments': JSON text}}}}.",
                param=f"messages[{index}].tool_calls[{number}]",
            )
    return {"tool_calls": calls}


def logprobs_body(completion: Completion, tokenizer, request: ChatRequest) -> dict:
    """Completion log-probs (token ids) -> OpenAI's {"content": [{token, logprob, bytes, top_logprobs}]}."""

    def entry(token_id: int, logprob: float) -> dict:
        text = f"token_id:{token_id}" if request.token_ids else tokenizer.decode([token_id])
        return {"token": text, "logprob": logprob, "bytes": list(tokenizer.decode([token_id]).encode())}

    return {
        "content": [
            {**entry(*chosen), "top_logprobs": [entry(*pair) for pair in top[: request.top_logprobs]]}
            for chosen, top in zip(completion.token_logprobs or [], completion.top_logprobs or [])
        ]
    }


def request_error(error: InferenceError) -> RequestError:
    """A failed local call as an HTTP error: the caller's fault (400) or ours (500)."""
    if error.status and error.status < 500:  # a GrammarError also knows which request field it was
        return RequestError(error.status, str(error), param=getattr(error, "param", None))
    return RequestError(500, str(error), type="server_error")


def message_body(completion: Completion) -> dict:
    if not completion.tool_calls:
        return {"role": "assistant", "content": completion.text}
    return {
        "role": "assistant",
        "content": completion.text or None,  # OpenAI's null beside calls
        "tool_calls": [call.as_openai() for call in completion.tool_calls],
    }


def tool_call_deltas(completion: Completion) -> list[dict]:
    """The calls as OpenAI streams them: per call, one delta with its index, id, type and name,
    then its arguments in pieces, each piece a delta with the same index."""
    deltas = []
    for index, call in enumerate(completion.tool_calls or []):
        deltas.append(
            {
                "tool_calls": [
                    {
                        "index": index,
                        "id": call.id,
                        "type": "function",
                        "function": {"name": call.name, "arguments": ""},
                    }
                ]
            }
        )
        pieces = [
            call.arguments[at : at + ARGUMENT_PIECE_CHARS] for at in range(0, len(call.arguments), ARGUMENT_PIECE_CHARS)
        ]
        deltas += [{"tool_calls": [{"index": index, "function": {"arguments": piece}}]} for piece in pieces]
    return deltas


def usage_body(completion: Completion) -> dict:
    return {
        "prompt_tokens": completion.tokens_in,
        "completion_tokens": completion.tokens_out,
        "total_tokens": completion.tokens_in + completion.tokens_out,
    }


class ModelServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], clients: dict):
        super().__init__(address, ModelRequestHandler)
        self.clients = clients
        self.started = int(time.time())

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/v1"


class ModelRequestHandler(BaseHTTPRequestHandler):
    server: ModelServer
    protocol_version = "HTTP/1.1"  # keep-alive, so the SDK's connection pool is used as intended

    def do_GET(self) -> None:
        names = list(self.server.clients)
        if self.path == "/v1/models":
            self._send_json(200, {"object": "list", "data": [self._model_card(name) for name in names]})
        elif self.path.startswith("/v1/models/") and self.path.removeprefix("/v1/models/") in names:
            self._send_json(200, self._model_card(self.path.removeprefix("/v1/models/")))
        else:
            self._send_error(
                RequestError(
                    404,
                    f"Unknown path {self.path}; this server serves GET /v1/models and POST /v1/chat/completions.",
                    code="not_found",
                )
            )

    def do_POST(self) -> None:
        try:
            if self.path != "/v1/chat/completions":
                raise RequestError(
                    404, f"Unknown path {self.path}; this server serves POST /v1/chat/completions.", code="not_found"
                )
            specs = {name: client.spec for name, client in self.server.clients.items()}
            request = parse_chat_request(self._read_json(), specs)
        except RequestError as error:
            self._send_error(error)
            return
        try:
            self._stream(request) if request.stream else self._complete(request)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client went away mid-answer; nothing to tell it

    def _complete(self, request: ChatRequest) -> None:
        client = self.server.clients[request.model]
        try:
            completion = client.complete(request.messages, **self._call_arguments(request))
        except InferenceError as error:
            self._send_error(request_error(error))
            return
        choice = {
            "index": 0,
            "message": message_body(completion),
            "finish_reason": completion.finish_reason,
            "logprobs": None,
        }
        if request.logprobs:
            choice["logprobs"] = logprobs_body(completion, client.loaded.tokenizer, request)
        body = {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.model,
            "choices": [choice],
            "usage": usage_body(completion),
        }
        if request.prompt_logprobs:
            body["prompt_logprobs"] = prompt_logprobs_body(
                client.loaded,
                request.messages,
                k=request.prompt_logprobs,
                continue_final_message=request.continue_final_message,
            )
        self._send_json(200, body)

    def _stream(self, request: ChatRequest) -> None:
        client = self.server.clients[request.model]
        head = {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": request.model,
        }
        started = False

        def send_delta(delta: dict, **choice) -> None:
            nonlocal started
            if not started:  # headers wait for the first delta, so an early failure is a real HTTP error
                started = True
                self._start_events()
                send_delta({"role": "assistant", "content": ""})
            self._send_event(
                {**head, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None, **choice}]}
            )

        try:
            completion = client.complete(
                request.messages, **self._call_arguments(request), on_token=lambda text: send_delta({"content": text})
            )
        except InferenceError as error:
            if not started:
                self._send_error(request_error(error))
                return
            self._send_event(request_error(error).body())  # headers are gone: report in-band, as OpenAI does
        else:
            for delta in tool_call_deltas(completion):
                send_delta(delta)
            # All log-probs ride on the last chunk: our deltas are text, not token-aligned.
            logprobs = logprobs_body(completion, client.loaded.tokenizer, request) if request.logprobs else None
            send_delta({}, finish_reason=completion.finish_reason, logprobs=logprobs)
            if request.include_usage:
                self._send_event({**head, "choices": [], "usage": usage_body(completion)})
        self._send_chunk(b"data: [DONE]\n\n")
        self._send_chunk(b"")  # the zero-length chunk that ends the response

    def _start_events(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _call_arguments(self, request: ChatRequest) -> dict:
        return {
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "stop": request.stop,
            # logprobs without top_logprobs still needs the chosen tokens' log-probs
            "top_logprobs": max(request.top_logprobs, 1) if request.logprobs else 0,
            "tools": request.tools,
            "tool_choice": request.tool_choice,
            "response_format": request.response_format,
        }

    def _model_card(self, name: str) -> dict:
        return {"id": name, "object": "model", "created": self.server.started, "owned_by": "orchestra"}

    def _read_json(self) -> object:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self.close_connection = True
            raise RequestError(411, "A Content-Length header is required.")
        if int(length) > MAX_BODY_BYTES:
            self.close_connection = True  # the unread body would be taken for the next request
            raise RequestError(413, f"The request body is {length} bytes; the limit is {MAX_BODY_BYTES}.")
        raw = self.rfile.read(int(length))
        try:
            return json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise RequestError(400, f"The request body is not valid JSON: {error}.") from error

    def _send_json(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send_error(self, error: RequestError) -> None:
        self._send_json(error.status, error.body())

    def _send_event(self, body: dict) -> None:
        self._send_chunk(f"data: {json.dumps(body)}\n\n".encode())

    def _send_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def log_message(self, format: str, *args) -> None:
        logger.info("%s %s", self.address_string(), format % args)


def model_server(
    models: dict[str, str], host: str = "127.0.0.1", port: int = 0, *, options: dict | None = None
) -> ModelServer:
    """Load each model (name -> folder or hub id) and bind the server that answers for them all;
    `port=0` takes a free port (the server's `base_url` says which)."""
    clients = {
        name: get_client(ModelSpec(name=name, backend="transformers", model=path, options=options or {}))
        for name, path in models.items()
    }
    return ModelServer((host, port), clients)


def serve(
    models: dict[str, str], host: str = "127.0.0.1", port: int = 0, *, options: dict | None = None
) -> tuple[ModelServer, threading.Thread]:
    """model_server, served from a background thread. Stop it with `server.shutdown();
    server.server_close()`."""
    server = model_server(models, host, port, options=options)
    thread = threading.Thread(target=server.serve_forever, name="model-server", daemon=True)
    thread.start()
    return server, thread


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m orchestra.inference.server",
        description="Serve local transformers models over an OpenAI-compatible HTTP API.",
    )
    parser.add_argument(
        "--model",
        action="append",
        required=True,
        metavar="NAME=PATH",
        help="a model to serve under NAME, from a folder or hub id (repeatable)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, ... (default: cuda if any)")
    parser.add_argument("--dtype", default="auto", help="auto, float32, float16 or bfloat16")
    args = parser.parse_args(argv)
    models = {}
    for item in args.model:
        name, separator, path = item.partition("=")
        if not separator or not name or not path:
            parser.error(f"--model {item!r} must look like NAME=PATH, e.g. tiny=/models/tiny")
        models[name] = path
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    try:
        server = model_server(models, args.host, args.port, options={"device": args.device, "dtype": args.dtype})
    except InferenceError as error:
        parser.exit(1, f"error: {error}\n")
    except OSError as error:  # the port is taken, or the host is not an address of this machine
        parser.exit(1, f"error: cannot listen on {args.host}:{args.port}: {error}\n")
    # Served from the main thread, as http.server's own CLI does: Ctrl-C (and a container's SIGTERM)
    # interrupts serve_forever itself, with no other thread to join or to wake.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        print(f"serving {', '.join(models)} at {server.base_url}", flush=True)
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
