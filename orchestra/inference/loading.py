"""Loading a causal LM where several threads of one process may load at once (a worker running
runs and training jobs side by side)."""

import threading

from transformers import AutoModelForCausalLM, PreTrainedModel

_LOADING = threading.Lock()


def causal_lm_load(path: str, **kwargs) -> PreTrainedModel:
    """`AutoModelForCausalLM.from_pretrained`, one at a time: transformers builds the model on the
    meta device through process-wide patches of torch, so two threads loading together were handed
    each other's meta tensors ("Cannot copy out of meta tensor; no data!")."""
    with _LOADING:
        return AutoModelForCausalLM.from_pretrained(path, **kwargs)
