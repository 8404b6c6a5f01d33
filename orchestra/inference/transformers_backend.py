"""The `transformers` backend: a Hugging Face model run in this process.

Loading is slow and memory-hungry, so `load_model` is called once per (model, device, dtype) by
`get_client`, and every client of that model shares one `LoadedModel`. One `generate` at a time
runs per model (its lock): concurrent calls queue instead of fighting over the same weights.

`response_format` and `tools` are enforced by grammar-constrained decoding (grammar.py); tools are
shown to the model through its chat template, and its Hermes-format calls are read back as
`ToolCall`s (toolcalls.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import (
    AutoTokenizer,
    PreTrainedModel,
    StoppingCriteria,
    StoppingCriteriaList,
    TextIteratorStreamer,
)

from orchestra.inference.base import (
    ABANDONED_POLL_S,
    CallAbandoned,
    Completion,
    InferenceError,
    ModelSpec,
    check_call,
    check_structured,
    is_local_path,
)
from orchestra.inference.grammar import GrammarLogitsProcessor, Grammars, is_constrained
from orchestra.inference.loading import causal_lm_load
from orchestra.inference.stops import StopTrimmer
from orchestra.inference.toolcalls import ToolCallSplitter, template_messages

DTYPES = {"auto": "auto", "float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclass
class LoadedModel:
    path: str
    tokenizer: object
    model: PreTrainedModel
    lock: threading.Lock = field(default_factory=threading.Lock)
    _grammars: Grammars | None = None

    @property
    def grammars(self) -> Grammars:
        """Built on first use (under `lock`): a model never asked for structure never pays for it."""
        if self._grammars is None:
            self._grammars = Grammars(self.tokenizer, self.model)
        return self._grammars


def load_options(spec: ModelSpec) -> tuple[str, str, str]:
    """The (path, device, dtype) a spec asks for, validated: together they decide what gets loaded."""
    path = str(Path(spec.model).expanduser().resolve()) if is_local_path(spec.model) else spec.model
    device = spec.options.get("device", "auto")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = spec.options.get("dtype", "auto")
    if dtype not in DTYPES:
        raise InferenceError(
            f"model {spec.name!r}: unknown dtype {dtype!r}; valid dtypes are {', '.join(DTYPES)}", model=spec.name
        )
    return path, device, dtype


def load_model(spec: ModelSpec, *, path: str, device: str, dtype: str) -> LoadedModel:
    if is_local_path(spec.model) and not Path(path, "config.json").is_file():
        raise InferenceError(
            f"model {spec.name!r}: folder {path} is missing or holds no "
            f"config.json; give a Hugging Face model folder or hub id",
            model=spec.name,
        )
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = causal_lm_load(path, dtype=DTYPES[dtype]).to(device)
    except (OSError, ValueError, RuntimeError) as error:
        raise InferenceError(
            f"model {spec.name!r}: could not load {path!r} on {device}: {error}", model=spec.name
        ) from error
    model.eval()
    if tokenizer.chat_template is None:
        raise InferenceError(
            f"model {spec.name!r}: the tokenizer of {path!r} has no chat template; use a chat/instruct model",
            model=spec.name,
        )
    return LoadedModel(path=path, tokenizer=tokenizer, model=model)


class TransformersClient:
    def __init__(self, spec: ModelSpec, loaded: LoadedModel):
        self.spec = spec
        self.loaded = loaded

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
        choice = check_structured(self.spec, tools=tools, tool_choice=tool_choice, response_format=response_format)
        tokenizer = self.loaded.tokenizer
        started = time.perf_counter()
        inputs = self._prompt(messages, tools)
        tokens_in = int(inputs["input_ids"].shape[1])
        generate_kwargs = self._generate_kwargs(
            inputs, max_tokens=max_tokens, temperature=temperature, stop=stop, top_logprobs=top_logprobs
        )
        # With "none" the model may still write the markup, but nobody asked for calls: it stays text.
        splitter = ToolCallSplitter(on_token) if choice not in (None, "none") else None
        trimmer = StopTrimmer(stop, splitter.feed if splitter else on_token)
        with self.loaded.lock:
            grammar = self._grammar(tools, choice, response_format, max_tokens=max_tokens)
            if grammar is not None:
                generate_kwargs["logits_processor"] = [grammar]
            if on_token:
                output = self._stream(generate_kwargs, trimmer)
            else:
                gave_up = _StopWhen(abandoned or (lambda: False), every_s=ABANDONED_POLL_S)
                output = self._generate({**generate_kwargs, "stopping_criteria": StoppingCriteriaList([gave_up])})
                if gave_up.stop:  # the model, and its lock, are free again; the cut reply is nobody's
                    raise CallAbandoned(
                        f"model {self.spec.name!r}: its caller stopped waiting; generation was stopped",
                        model=self.spec.name,
                    )
        generated = output.sequences[0, tokens_in:]
        if not on_token:
            trimmer.feed(tokenizer.decode(generated, skip_special_tokens=True))
        text, calls = trimmer.finish(), []
        cut_off = self._ran_out(generated, max_tokens, trimmer.stopped)
        if splitter:
            text, calls = splitter.finish(cut_off=cut_off)
        tokens_out = int(generated.shape[0])
        completion = Completion(
            text=text,
            model=self.spec.name,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            latency_ms=(time.perf_counter() - started) * 1000,
            # "length" even after complete calls: the reply was cut off and its last part is lost.
            finish_reason="length" if cut_off else "tool_calls" if calls else "stop",
            cost=self.spec.cost(tokens_in, tokens_out),
            tool_calls=calls or None,
        )
        if top_logprobs:
            completion.top_logprobs, completion.token_logprobs = token_logprobs(output.logits, generated, top_logprobs)
        return completion

    def _generate_kwargs(
        self, inputs, *, max_tokens: int, temperature: float | None, stop: list[str] | None, top_logprobs: int
    ) -> dict:
        model = self.loaded.model
        sampling = bool(temperature)  # None and 0 both mean greedy
        kwargs = dict(
            **inputs.to(model.device),
            max_new_tokens=max_tokens,
            do_sample=sampling,
            # Greedy must ignore sampling defaults a checkpoint's generation_config may carry.
            temperature=temperature if sampling else None,
            top_p=None if not sampling else model.generation_config.top_p,
            top_k=None if not sampling else model.generation_config.top_k,
            return_dict_in_generate=True,
            output_logits=top_logprobs > 0,
        )
        if stop:
            kwargs.update(stop_strings=stop, tokenizer=self.loaded.tokenizer)
        return kwargs

    def _grammar(
        self, tools: list[dict] | None, choice: str | None, response_format: dict | None, *, max_tokens: int
    ) -> GrammarLogitsProcessor | None:
        """The logits processor that holds the output to its grammar; None, and nothing built, for free text."""
        if not is_constrained(choice, response_format) or not self.spec.options.get("constrained_decoding", True):
            return None
        grammars = self.loaded.grammars
        grammar = grammars.compile(
            model=self.spec.name, tools=tools, tool_choice=choice, response_format=response_format
        )
        return grammars.processor(grammar, max_tokens=max_tokens)

    def _prompt(self, messages: list[dict], tools: list[dict] | None):
        """The chat template's token ids for these messages, with the tools shown to the model."""
        try:
            inputs = self.loaded.tokenizer.apply_chat_template(
                template_messages(messages),
                tools=tools,
                add_generation_prompt=True,
                return_tensors="pt",
                return_dict=True,
            )
        except Exception as error:  # jinja2 errors from the template itself: bad roles, bad content
            raise InferenceError(
                f"model {self.spec.name!r}: the chat template rejected the messages: {error}",
                model=self.spec.name,
                status=400,
            ) from error
        tokens_in = int(inputs["input_ids"].shape[1])
        context = getattr(self.loaded.model.config, "max_position_embeddings", None)
        if context and tokens_in >= context:
            raise InferenceError(
                f"model {self.spec.name!r}: the prompt is {tokens_in} tokens; the model's context is {context}",
                model=self.spec.name,
                status=400,
            )
        return inputs

    def _generate(self, generate_kwargs: dict):
        try:
            return self.loaded.model.generate(**generate_kwargs)
        except (RuntimeError, ValueError) as error:  # out of memory, a too-long prompt, ...
            raise InferenceError(
                f"model {self.spec.name!r}: generation failed: {error}", model=self.spec.name
            ) from error

    def _stream(self, generate_kwargs: dict, trimmer: StopTrimmer):
        """Generate in a thread and feed the trimmer (and so on_token) from its text stream."""
        streamer = TextIteratorStreamer(self.loaded.tokenizer, skip_prompt=True, skip_special_tokens=True)
        result: dict = {}
        abandoned = threading.Event()  # on_token raised (its caller gave up): generate stops at the next token
        stopping = StoppingCriteriaList([_StopWhen(abandoned.is_set)])

        def run() -> None:
            try:
                result["output"] = self._generate(
                    {**generate_kwargs, "streamer": streamer, "stopping_criteria": stopping}
                )
            except BaseException as error:  # re-raised in the caller's thread below
                result["error"] = error
                streamer.end()  # unblock the loop below

        thread = threading.Thread(target=run, name=f"generate-{self.spec.name}", daemon=True)
        thread.start()
        try:
            for delta in streamer:
                if trimmer.feed(delta):
                    break  # generate stops by itself on the same stop string
        except BaseException:
            abandoned.set()  # else the model, and its lock, stay busy until max_tokens for nobody
            raise
        finally:
            thread.join()
        if "error" in result:
            raise result["error"]
        return result["output"]

    def _ran_out(self, generated: torch.Tensor, max_tokens: int, stopped: bool) -> bool:
        """The token budget ended the reply, not the model (or a stop string)."""
        eos = self.loaded.model.generation_config.eos_token_id
        eos = set(eos if isinstance(eos, list) else [eos])
        ended_itself = stopped or (len(generated) > 0 and int(generated[-1]) in eos)
        return len(generated) >= max_tokens and not ended_itself


class _StopWhen(StoppingCriteria):
    """Ends generation once `check()` is true, asked at most every `every_s` (it may be a query)."""

    def __init__(self, check: Callable[[], bool], every_s: float = 0.0):
        self.check, self.every_s, self.asked_at, self.stop = check, every_s, 0.0, False

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs) -> torch.BoolTensor:
        now = time.monotonic()
        if not self.stop and now - self.asked_at >= self.every_s:
            self.asked_at, self.stop = now, self.check()
        return torch.full((input_ids.shape[0],), self.stop, dtype=torch.bool, device=input_ids.device)


def token_logprobs(
    logits: tuple[torch.Tensor, ...], generated: torch.Tensor, k: int
) -> tuple[list[list[tuple[int, float]]], list[tuple[int, float]]]:
    """Top-k and chosen-token log-probs per generated token, from the raw (unwarped) logits."""
    logprobs = torch.log_softmax(torch.stack([step[0] for step in logits]).float(), dim=-1)
    values, ids = torch.topk(logprobs, k, dim=-1)
    top = [list(zip(row_ids.tolist(), row_values.tolist())) for row_ids, row_values in zip(ids, values)]
    chosen = logprobs.gather(1, generated.view(-1, 1)).squeeze(1)
    return top, list(zip(generated.tolist(), chosen.tolist()))
