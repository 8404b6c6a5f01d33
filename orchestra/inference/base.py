"""The contract every model client keeps: what a model is, what a call returns, how calls fail."""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

# The options each backend understands; anything else is a typo worth an error, not a silent no-op.
BACKEND_OPTIONS = {
    "openai": {"timeout_s", "max_retries", "max_tokens", "token_ids"},
    "transformers": {"device", "dtype", "max_tokens"},
}
BACKENDS = tuple(BACKEND_OPTIONS)


_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")


def is_local_path(model: str) -> bool:
    """A folder on disk rather than a Hugging Face hub id ("org/name")."""
    return model.startswith(("/", "./", "../", "~")) or Path(model).expanduser().exists()


def is_hub_id(model: str) -> bool:
    """An "org/name" Hugging Face id that names no folder here: loading it reads the hub cache only."""
    return bool(_HUB_ID.match(model)) and ".." not in model and not is_local_path(model)


class InferenceError(Exception):
    """A model call that could not be made or did not finish; the message names the model and why.

    `status` is the HTTP status that fits: the one an OpenAI-compatible server answered with, or
    400 when the call's own arguments were at fault; None when nobody answered (connection
    refused, timeout). A gateway can pass it through instead of flattening everything into a 502.
    """

    def __init__(self, message: str, *, model: str | None = None, status: int | None = None):
        super().__init__(message)
        self.model = model
        self.status = status


@dataclass(frozen=True)
class ModelSpec:
    """One registered model: where it lives, how to reach it, and what its tokens cost."""

    name: str
    backend: str
    model: str
    base_url: str | None = None
    api_key: str | None = None
    price_in: float = 0.0   # per million input tokens
    price_out: float = 0.0  # per million output tokens
    options: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise InferenceError(f"model {self.name!r}: unknown backend {self.backend!r}; "
                                 f"valid backends are {', '.join(BACKENDS)}", model=self.name)
        if self.backend == "openai" and not self.base_url:
            raise InferenceError(f"model {self.name!r}: the openai backend needs a base_url, "
                                 f"e.g. http://127.0.0.1:8001/v1", model=self.name)
        unknown = sorted(set(self.options) - BACKEND_OPTIONS[self.backend])
        if unknown:
            raise InferenceError(f"model {self.name!r}: unknown option(s) {', '.join(unknown)} for the "
                                 f"{self.backend} backend; valid options are "
                                 f"{', '.join(sorted(BACKEND_OPTIONS[self.backend]))}", model=self.name)
        if self.price_in < 0 or self.price_out < 0:
            raise InferenceError(f"model {self.name!r}: prices must be >= 0, got "
                                 f"price_in={self.price_in}, price_out={self.price_out}", model=self.name)

    def cost(self, tokens_in: int, tokens_out: int) -> float:
        """What a call with these token counts costs, in the currency the prices are in."""
        return (tokens_in * self.price_in + tokens_out * self.price_out) / 1_000_000


@dataclass
class Completion:
    """One model answer with the real numbers of the call that produced it."""

    text: str
    model: str           # the spec's registry name
    tokens_in: int
    tokens_out: int
    latency_ms: float
    finish_reason: str   # "stop" | "length"
    # Per generated token, the top-k (token, log-prob) pairs: token ids from the transformers
    # backend, token strings from an OpenAI-compatible server (ids if it was asked for them).
    top_logprobs: list[list[tuple[int | str, float]]] | None = None
    cost: float = 0.0
    # Per generated token, the token that was chosen and its log-prob (set with top_logprobs).
    token_logprobs: list[tuple[int | str, float]] | None = None


class ModelClient(Protocol):
    spec: ModelSpec

    def complete(self, messages: list[dict], *, max_tokens: int | None = None,
                 temperature: float | None = None, stop: list[str] | None = None,
                 on_token: Callable[[str], None] | None = None,
                 top_logprobs: int = 0) -> Completion:
        """Answer a chat; `on_token` receives each text delta as it is generated."""
        ...


MAX_TOP_LOGPROBS = 20  # OpenAI's limit, kept for every backend so callers see one rule


def check_call(spec: ModelSpec, *, max_tokens: int | None, temperature: float | None,
               top_logprobs: int, messages: list[dict]) -> int:
    """Validate the arguments every backend shares; return the max_tokens to use."""
    if not isinstance(messages, list) or not messages:
        raise InferenceError(f"model {spec.name!r}: messages must be a non-empty list of "
                             f"{{'role', 'content'}} dicts", model=spec.name, status=400)
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or "role" not in message or "content" not in message:
            raise InferenceError(f"model {spec.name!r}: messages[{index}] must be a dict with "
                                 f"'role' and 'content', got {message!r}", model=spec.name, status=400)
    if max_tokens is None:
        max_tokens = spec.options.get("max_tokens", 256)
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise InferenceError(f"model {spec.name!r}: max_tokens must be a positive integer, "
                             f"got {max_tokens!r}", model=spec.name, status=400)
    if temperature is not None and temperature < 0:
        raise InferenceError(f"model {spec.name!r}: temperature must be >= 0, got {temperature!r}",
                             model=spec.name, status=400)
    if not 0 <= top_logprobs <= MAX_TOP_LOGPROBS:
        raise InferenceError(f"model {spec.name!r}: top_logprobs must be between 0 and "
                             f"{MAX_TOP_LOGPROBS}, got {top_logprobs!r}", model=spec.name, status=400)
    return max_tokens
