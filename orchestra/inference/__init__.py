"""Model clients: one interface over OpenAI-compatible servers and in-process transformers models."""

from orchestra.inference.base import CallAbandoned, Completion, InferenceError, ModelClient, ModelSpec, ToolCall
from orchestra.inference.clients import get_client

__all__ = ["CallAbandoned", "Completion", "InferenceError", "ModelClient", "ModelSpec", "ToolCall", "get_client"]
