"""`/v1/chat/completions` and `/v1/models` for the official OpenAI SDKs, behind Orchestra API keys."""

import asyncio
import json
import time
from collections.abc import AsyncIterator

from asgiref.sync import sync_to_async
from django.db import connection
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import APIView

from workflows import gateway
from workflows.api import serializers as io
from workflows.api.parsers import StrictJSONParser
from workflows.auth import ApiKeyAuthentication, IsWorkspaceMember, request_workspace
from workflows.gateway import GatewayError


def openai_exception_handler(exc, context):
    """Every failure in OpenAI's error shape, so the SDK raises AuthenticationError, NotFoundError, ..."""
    if isinstance(exc, GatewayError):
        return Response(exc.body(), status=exc.status)
    if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
        error = GatewayError(str(exc.detail), status=401, code="invalid_api_key")
        return Response(error.body(), status=401, headers={"WWW-Authenticate": 'Bearer realm="api"'})
    if isinstance(exc, exceptions.APIException):
        message = f"Malformed request body: {exc.detail}" if isinstance(exc, exceptions.ParseError) else str(exc.detail)
        return Response(GatewayError(message, status=exc.status_code).body(), status=exc.status_code)
    return None


class GatewayView(APIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [IsWorkspaceMember]
    parser_classes = [StrictJSONParser]

    def get_exception_handler(self):
        return openai_exception_handler


GATEWAY_ERRORS = {code: io.GatewayErrorOut for code in (400, 401, 404, 429, 500, 502, 503)}


class ModelsView(GatewayView):
    @extend_schema(operation_id="v1_models_list", responses={200: io.GatewayModelListOut, 401: io.GatewayErrorOut})
    def get(self, request):
        return Response(gateway.models_body(workspace=request_workspace(request)))


class ChatCompletionsView(GatewayView):
    @extend_schema(
        operation_id="v1_chat_completions_create",
        request=io.ChatCompletionIn,
        responses={
            (200, "application/json"): io.ChatCompletionOut,
            (200, "text/event-stream"): OpenApiResponse(
                OpenApiTypes.STR, description="With stream: OpenAI's chat.completion.chunk events, then [DONE]."
            ),
            **GATEWAY_ERRORS,
        },
    )
    def post(self, request):
        workspace = request_workspace(request)
        chat_request = gateway.chat_request_parse(
            request.data, metadata_header=request.headers.get("X-Orchestra-Metadata")
        )
        if not chat_request.stream:
            completion, trace = gateway.chat_complete(workspace=workspace, request=chat_request)
            return Response(gateway.completion_body(completion, trace))
        model = gateway.endpoint_resolve(workspace=workspace, name=chat_request.model).name  # a 404 before streaming
        response = StreamingHttpResponse(
            completion_stream(workspace, chat_request, model), content_type="text/event-stream"
        )
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"
        return response


def _data(payload: dict) -> str:
    return f"data: {json.dumps(payload)}\n\n"


async def completion_stream(workspace, chat_request: gateway.ChatRequest, model: str) -> AsyncIterator[str]:
    """OpenAI's chunk stream: a role delta, content deltas as generated, a finish chunk, [DONE]."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()

    def push(kind: str, value) -> None:  # called from the generating thread
        loop.call_soon_threadsafe(queue.put_nowait, (kind, value))

    def generate() -> None:
        try:
            completion, _ = gateway.chat_complete(
                workspace=workspace, request=chat_request, on_token=lambda text: push("token", text)
            )
            push("done", completion)
        except GatewayError as exc:
            push("error", exc)
        except Exception as exc:  # the stream has started: the error can only travel inside it
            push("error", GatewayError(f"Internal error: {exc}", status=500, type="api_error"))
        finally:
            connection.close()  # a pool thread: don't leave its connection open

    # Not thread-sensitive: a long generation must not hold the thread other sync views run on.
    work = asyncio.ensure_future(sync_to_async(generate, thread_sensitive=False)())
    chunk_id, created = gateway.completion_id(), int(time.time())
    yield _data(
        gateway.chunk_body(id=chunk_id, model=model, created=created, delta={"role": "assistant", "content": ""})
    )
    while True:
        kind, value = await queue.get()
        if kind == "token":
            yield _data(gateway.chunk_body(id=chunk_id, model=model, created=created, delta={"content": value}))
        elif kind == "done":
            if value.tool_calls:
                yield _data(
                    gateway.chunk_body(
                        id=chunk_id, model=model, created=created, delta={"tool_calls": gateway.tool_call_deltas(value)}
                    )
                )
            yield _data(
                gateway.chunk_body(
                    id=chunk_id, model=model, created=created, delta={}, finish_reason=value.finish_reason
                )
            )
            if chat_request.include_usage:
                yield _data(gateway.chunk_body(id=chunk_id, model=model, created=created, usage=gateway.usage(value)))
            break
        else:
            yield _data(value.body())
            break
    yield "data: [DONE]\n\n"
    await work
