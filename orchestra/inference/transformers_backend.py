"""The `transformers` backend: a Hugging Face model run in this process.

Loading is slow and memory-hungry, so `load_model` is called once per (model, device, dtype) by
`get_client`, and every client of that model shares one `LoadedModel`. One `generate` at a time
runs per model (its lock): concurrent calls queue instead of fighting over the same weights.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, TextIteratorStreamer

from orchestra.inference.base import Completion, InferenceError, ModelSpec, check_call, is_local_path
from orchestra.inference.stops import StopTrimmer

DTYPES = {"auto": "auto", "float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclass
class LoadedModel:
    path: str
    tokenizer: object
    model: PreTrainedModel
    lock: threading.Lock = field(default_factory=threading.Lock)


def load_options(spec: ModelSpec) -> tuple[str, str, str]:
    """The (path, device, dtype) a spec asks for, validated: together they decide what gets loaded."""
    path = str(Path(spec.model).expanduser().resolve()) if is_local_path(spec.model) else spec.model
    device = spec.options.get("device", "auto")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = spec.options.get("dtype", "auto")
    if dtype not in DTYPES:
        raise InferenceError(f"model {spec.name!r}: unknown dtype {dtype!r}; valid dtypes are "
                             f"{', '.join(DTYPES)}", model=spec.name)
    return path, device, dtype


def load_model(spec: ModelSpec, *, path: str, device: str, dtype: str) -> LoadedModel:
    if is_local_path(spec.model) and not Path(path, "config.json").is_file():
        raise InferenceError(f"model {spec.name!r}: folder {path} is missing or holds no "
                             f"config.json; give a Hugging Face model folder or hub id", model=spec.name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=DTYPES[dtype]).to(device)
    except (OSError, ValueError, RuntimeError) as error:
        raise InferenceError(f"model {spec.name!r}: could not load {path!r} on {device}: {error}",
                             model=spec.name) from error
    model.eval()
    if tokenizer.chat_template is None:
        raise InferenceError(f"model {spec.name!r}: the tokenizer of {path!r} has no chat template; "
                             f"use a chat/instruct model", model=spec.name)
    return LoadedModel(path=path, tokenizer=tokenizer, model=model)


class TransformersClient:
    def __init__(self, spec: ModelSpec, loaded: LoadedModel):
        self.spec = spec
        self.loaded = loaded

    def complete(self, messages: list[dict], *, max_tokens: int | None = None,
                 temperature: float | None = None, stop: list[str] | None = None,
                 on_token: Callable[[str], None] | None = None,
                 top_logprobs: int = 0) -> Completion:
        max_tokens = check_call(self.spec, max_tokens=max_tokens, temperature=temperature,
                                top_logprobs=top_logprobs, messages=messages)
        tokenizer, model = self.loaded.tokenizer, self.loaded.model
        started = time.perf_counter()
        try:
            inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True,
                                                   return_tensors="pt", return_dict=True)
        except Exception as error:  # jinja2 errors from the template itself: bad roles, bad content
            raise InferenceError(f"model {self.spec.name!r}: the chat template rejected the "
                                 f"messages: {error}", model=self.spec.name, status=400) from error
        tokens_in = int(inputs["input_ids"].shape[1])
        context = getattr(model.config, "max_position_embeddings", None)
        if context and tokens_in >= context:
            raise InferenceError(f"model {self.spec.name!r}: the prompt is {tokens_in} tokens; the "
                                 f"model's context is {context}", model=self.spec.name, status=400)
        inputs = inputs.to(model.device)
        sampling = bool(temperature)  # None and 0 both mean greedy
        generate_kwargs = dict(
            **inputs, max_new_tokens=max_tokens, do_sample=sampling,
            # Greedy must ignore sampling defaults a checkpoint's generation_config may carry.
            temperature=temperature if sampling else None,
            top_p=None if not sampling else model.generation_config.top_p,
            top_k=None if not sampling else model.generation_config.top_k,
            return_dict_in_generate=True, output_logits=top_logprobs > 0,
        )
        if stop:
            generate_kwargs.update(stop_strings=stop, tokenizer=tokenizer)
        trimmer = StopTrimmer(stop, on_token)
        with self.loaded.lock:
            output = self._stream(generate_kwargs, trimmer) if on_token else self._generate(generate_kwargs)
        generated = output.sequences[0, tokens_in:]
        if not on_token:
            trimmer.feed(tokenizer.decode(generated, skip_special_tokens=True))
        text = trimmer.finish()
        tokens_out = int(generated.shape[0])
        completion = Completion(
            text=text, model=self.spec.name, tokens_in=tokens_in, tokens_out=tokens_out,
            latency_ms=(time.perf_counter() - started) * 1000,
            finish_reason=self._finish_reason(generated, max_tokens, trimmer.stopped),
            cost=self.spec.cost(tokens_in, tokens_out),
        )
        if top_logprobs:
            completion.top_logprobs, completion.token_logprobs = token_logprobs(
                output.logits, generated, top_logprobs)
        return completion

    def _generate(self, generate_kwargs: dict):
        try:
            return self.loaded.model.generate(**generate_kwargs)
        except (RuntimeError, ValueError) as error:  # out of memory, a too-long prompt, ...
            raise InferenceError(f"model {self.spec.name!r}: generation failed: {error}",
                                 model=self.spec.name) from error

    def _stream(self, generate_kwargs: dict, trimmer: StopTrimmer):
        """Generate in a thread and feed the trimmer (and so on_token) from its text stream."""
        streamer = TextIteratorStreamer(self.loaded.tokenizer, skip_prompt=True, skip_special_tokens=True)
        result: dict = {}

        def run() -> None:
            try:
                result["output"] = self._generate({**generate_kwargs, "streamer": streamer})
            except BaseException as error:  # re-raised in the caller's thread below
                result["error"] = error
                streamer.end()  # unblock the loop below

        thread = threading.Thread(target=run, name=f"generate-{self.spec.name}", daemon=True)
        thread.start()
        try:
            for delta in streamer:
                if trimmer.feed(delta):
                    break  # generate stops by itself on the same stop string
        finally:
            thread.join()
        if "error" in result:
            raise result["error"]
        return result["output"]

    def _finish_reason(self, generated: torch.Tensor, max_tokens: int, stopped: bool) -> str:
        eos = self.loaded.model.generation_config.eos_token_id
        eos = set(eos if isinstance(eos, list) else [eos])
        ended_itself = stopped or (len(generated) > 0 and int(generated[-1]) in eos)
        return "length" if len(generated) >= max_tokens and not ended_itself else "stop"


def token_logprobs(logits: tuple[torch.Tensor, ...], generated: torch.Tensor, k: int
                   ) -> tuple[list[list[tuple[int, float]]], list[tuple[int, float]]]:
    """Top-k and chosen-token log-probs per generated token, from the raw (unwarped) logits."""
    logprobs = torch.log_softmax(torch.stack([step[0] for step in logits]).float(), dim=-1)
    values, ids = torch.topk(logprobs, k, dim=-1)
    top = [list(zip(row_ids.tolist(), row_values.tolist())) for row_ids, row_values in zip(ids, values)]
    chosen = logprobs.gather(1, generated.view(-1, 1)).squeeze(1)
    return top, list(zip(generated.tolist(), chosen.tolist()))
