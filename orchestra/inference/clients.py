"""`get_client`: the one way to get a client for a registered model.

Clients are cheap, but what they stand on is not: a transformers model is loaded once per process
per (model, device, dtype), and an SDK client (with its connection pool) once per server and key.
"""

from __future__ import annotations

import threading

from orchestra.inference.base import ModelClient, ModelSpec

_cache: dict[tuple, object] = {}
_cache_lock = threading.Lock()  # loading twice in parallel would double the memory for nothing


def get_client(spec: ModelSpec) -> ModelClient:
    # Imported here so that importing orchestra.inference pulls in neither torch nor the SDK.
    if spec.backend == "transformers":
        from orchestra.inference import transformers_backend as backend

        path, device, dtype = backend.load_options(spec)
        loaded = _cached(
            ("transformers", path, device, dtype),
            lambda: backend.load_model(spec, path=path, device=device, dtype=dtype),
        )
        return backend.TransformersClient(spec, loaded)
    from orchestra.inference import openai_backend as backend

    key = (
        "openai",
        spec.base_url,
        spec.api_key,
        spec.options.get("timeout_s"),
        spec.options.get("max_retries"),
        spec.allow_private,
    )
    return backend.OpenAIClient(spec, _cached(key, lambda: backend.make_sdk(spec)))


def _cached(key: tuple, make):
    with _cache_lock:
        if key not in _cache:
            _cache[key] = make()
        return _cache[key]
