"""Grammar-constrained decoding for the transformers backend, with xgrammar.

What a call asks for (`response_format`, `tools` with `tool_choice`) becomes one xgrammar
structural tag, compiled against the model's vocabulary; `GrammarLogitsProcessor` then masks every
step's logits to the tokens that grammar allows next. JSON and tool calls are well-formed by
construction, even from a random-weight model, and once the grammar is complete only the end of
sequence token is left, so generation ends there.

A structured reply must also end before its token budget does, or its JSON is cut in half. Past
half its budget it ends wherever it may (after a finished call, rather than start another it may
not finish). Over its last `CLOSING_RESERVE` tokens it is steered shut: wherever the grammar
allows a token that ends something (a string's quote, "}", "]", the end of the sequence), the
choice is narrowed to those; failing that, to a comma, the way on to a required key or item. So a
reply whose string would have run on ends well-formed, with that string shorter; one that still
cannot close in time ends as "length". Free text (tool_choice "auto" without a response_format)
is never steered.

JSON is compact (", " and ": " between items, no other whitespace): with free whitespace small
models fill their budget with newlines after the last value (vLLM's `disable_any_whitespace`
answers the same problem).
"""

from __future__ import annotations

import functools
import json
import os
import re
from dataclasses import dataclass

import torch
import xgrammar as xgr
from transformers import LogitsProcessor
from xgrammar.structural_tag import (
    GrammarFormat,
    OrFormat,
    StructuralTag,
    TagFormat,
    TagsWithSeparatorFormat,
    TriggeredTagsFormat,
)

from orchestra.inference.base import InferenceError, tool_name
from orchestra.inference.toolcalls import CALL_SUFFIX, OPEN, call_prefix

ANY_OBJECT = {"type": "object"}
# xgrammar (0.2.9) writes the characters of a length-bounded string (minLength/maxLength) as
# [^"\\\r\n], which lets raw control characters through; JSON wants them escaped, and strict
# parsers (Python's json among them) refuse them. Its unbounded strings already exclude them.
LOOSE_STRING_CHARACTER = r"[^\"\\\r\n]"
JSON_STRING_CHARACTER = r"[^\0-\x1f\"\\\r\n]"
CACHE_LIMIT_BYTES = 256 * 1024 * 1024  # compiled grammars kept per model; xgrammar evicts beyond it
CLOSING_RESERVE = 32  # tokens (at most half the budget) over which a structured reply is steered shut


class GrammarError(InferenceError):
    """A schema xgrammar cannot turn into a grammar; `param` names the request field that holds it."""

    def __init__(self, message: str, *, model: str, param: str):
        super().__init__(message, model=model, status=400)
        self.param = param


@dataclass(frozen=True)
class CallGrammar:
    compiled: xgr.CompiledGrammar
    free_text: bool  # the reply may be prose to its last token: never steer it shut


class Grammars:
    """One model's grammar compiler: the vocabulary is analysed once, and xgrammar's compiler
    caches every grammar it compiles, so a call that repeats a schema or a tool list compiles nothing.
    """

    def __init__(self, tokenizer, model):
        eos = model.generation_config.eos_token_id
        info = xgr.TokenizerInfo.from_huggingface(
            tokenizer,
            vocab_size=model.config.vocab_size,  # the logits' width, padding included
            stop_token_ids=eos if isinstance(eos, list) else [eos],
        )
        self.compiler = xgr.GrammarCompiler(
            info, max_threads=min(8, os.cpu_count() or 1), cache_limit_bytes=CACHE_LIMIT_BYTES
        )
        self.closing_tokens = ClosingTokens.of(info, device=model.device)

    def processor(self, grammar: CallGrammar, *, max_tokens: int) -> GrammarLogitsProcessor:
        """A fresh processor for one `generate` of at most `max_tokens` tokens."""
        closing = None if grammar.free_text else Closing(self.closing_tokens, max_tokens=max_tokens)
        return GrammarLogitsProcessor(grammar.compiled, closing=closing)

    def compile(
        self, *, model: str, tools: list[dict] | None, tool_choice: str | None, response_format: dict | None
    ) -> CallGrammar:
        """The grammar a constrained call's output must follow (see `is_constrained`).

        `tool_choice` is check_structured's answer: None (no tools), "none", "auto", "required" or
        the name of the one function to call.
        """
        answer = answer_format(response_format, model=model)
        if tool_choice in (None, "none"):
            fmt = answer
        else:
            tags = [
                call_tag(tool, index, model=model)
                for index, tool in enumerate(tools or [])
                if tool_choice in ("auto", "required") or tool_name(tool) == tool_choice
            ]
            fmt = tools_format(tags, tool_choice, answer)
        return CallGrammar(
            compiled=self.compiler.compile_structural_tag(StructuralTag(format=fmt)),
            free_text=isinstance(fmt, TriggeredTagsFormat),
        )


def is_constrained(tool_choice: str | None, response_format: dict | None) -> bool:
    """Whether a call's output follows a grammar at all: plain text needs none (nor a compiler)."""
    return tool_choice not in (None, "none") or (response_format or {}).get("type", "text") != "text"


def answer_format(response_format: dict | None, *, model: str) -> GrammarFormat | None:
    """What a plain answer must be: a JSON object, JSON valid against a schema, or (None) any text."""
    kind = (response_format or {}).get("type", "text")
    if kind == "json_object":
        return GrammarFormat(grammar=json_grammar(None, model=model, param="response_format"))
    if kind == "json_schema":
        return GrammarFormat(
            grammar=json_grammar(
                response_format["json_schema"].get("schema"), model=model, param="response_format.json_schema.schema"
            )
        )
    return None


def call_tag(tool: dict, index: int, *, model: str) -> TagFormat:
    """One tool's call: the Hermes block with its name fixed and its arguments valid against its schema."""
    arguments = json_grammar(
        tool["function"].get("parameters"), model=model, param=f"tools[{index}].function.parameters"
    )
    return TagFormat(begin=call_prefix(tool_name(tool)), content=GrammarFormat(grammar=arguments), end=CALL_SUFFIX)


def tools_format(tags: list[TagFormat], tool_choice: str, answer: GrammarFormat | None):
    if tool_choice == "required":  # one or more calls and nothing else
        return TagsWithSeparatorFormat(tags=tags, separator="\n", at_least_one=True)
    if tool_choice != "auto":  # a named function: exactly one call to it
        return tags[0]
    if answer is None:  # free text in which "<tool_call>" starts a call, as often as the model likes
        return TriggeredTagsFormat(triggers=[OPEN], tags=tags)
    # A structured answer or calls: the model picks one with its first token.
    return OrFormat(elements=[answer, TagsWithSeparatorFormat(tags=tags, separator="\n", at_least_one=True)])


def json_grammar(schema: dict | None, *, model: str, param: str) -> str:
    """A schema (None or {}: any JSON object) as a compact-JSON EBNF grammar.

    A given schema is enforced strictly: properties it does not name are left out. That output
    still validates against the schema as given (it is a subset), and it keeps small models from
    wandering into keys nobody asked for. Structural tags would take the schema itself, but only
    with free whitespace (see the module docstring), hence the EBNF.
    """
    try:
        return schema_ebnf(json.dumps(schema or ANY_OBJECT), strict=bool(schema))
    except RuntimeError as error:  # xgrammar's C++ message: "[time] file.cc:line: what is wrong"
        reason = re.sub(r"^\[[^\]]*\]\s*\S+:\d+:\s*", "", str(error)).strip()
        raise GrammarError(
            f"model {model!r}: {param} is not a JSON Schema that can be enforced: {reason}", model=model, param=param
        ) from error


@functools.lru_cache(maxsize=512)  # the same tools come with every turn of an agent
def schema_ebnf(schema: str, *, strict: bool) -> str:
    grammar = xgr.Grammar.from_json_schema(schema, any_whitespace=False, strict_mode=strict)
    return str(grammar).replace(LOOSE_STRING_CHARACTER, JSON_STRING_CHARACTER)


@dataclass(frozen=True)
class ClosingTokens:
    """One vocabulary's tokens that end things, as masks over it, and each token's bytes."""

    vocab: list[bytes]
    ends: torch.Tensor  # the end of the sequence
    string_ends: torch.Tensor  # a quote, then only "}" and "]": ends a string, maybe more
    closers: torch.Tensor  # only "}" and "]"
    commas: torch.Tensor  # only a comma (and spaces): on to the next required key or item

    @classmethod
    def of(cls, info: xgr.TokenizerInfo, *, device: torch.device) -> ClosingTokens:
        """The masks live where the logits do, so steering copies nothing per token."""
        vocab = info.decoded_vocab + [b""] * (info.vocab_size - len(info.decoded_vocab))  # padding: never

        def mask(test) -> torch.Tensor:
            return torch.tensor([test(token) for token in vocab], device=device)

        ends = torch.zeros(len(vocab), dtype=torch.bool)
        ends[info.stop_token_ids] = True
        return cls(
            vocab=vocab,
            ends=ends.to(device),
            string_ends=mask(lambda token: token[:1] == b'"' and set(token[1:]) <= set(b"}]")),
            closers=mask(lambda token: bool(token) and set(token) <= set(b"}]")),
            commas=mask(lambda token: b"," in token and set(token) <= set(b", ")),
        )


class Closing:
    """Steers one structured reply of at most `max_tokens` tokens to end in time (see the module
    docstring).

    What closes depends on where the reply is: inside a JSON string only its quote does ("}" is
    text there), so the reply's tokens are followed to know whether it is in one.
    """

    def __init__(self, tokens: ClosingTokens, *, max_tokens: int):
        self.tokens = tokens
        self.end_from = max_tokens // 2
        self.close_from = max_tokens - min(CLOSING_RESERVE, max_tokens // 2)
        self.in_string = self.escaped = False

    def advance(self, token: int) -> None:
        for byte in self.tokens.vocab[token]:
            if self.escaped:
                self.escaped = False
            elif self.in_string and byte == ord("\\"):
                self.escaped = True
            elif byte == ord('"'):
                self.in_string = not self.in_string

    def steer(self, scores: torch.FloatTensor, *, generated: int) -> torch.FloatTensor:
        """Narrow the allowed tokens to the first tier in force that has any."""
        tokens, closing = self.tokens, generated >= self.close_from
        if self.in_string:
            tiers = [tokens.string_ends] if closing else []
        else:
            tiers = [tokens.ends] if generated >= self.end_from else []
            tiers += [tokens.closers, tokens.commas] if closing else []
        allowed = scores > float("-inf")
        for tier in tiers:
            preferred = allowed & tier
            if preferred.any():
                return scores.masked_fill(~preferred, float("-inf"))
        return scores


class GrammarLogitsProcessor(LogitsProcessor):
    """Masks each step's logits to the tokens the grammar allows next; one sequence, one `generate`."""

    def __init__(self, compiled: xgr.CompiledGrammar, *, closing: Closing | None = None):
        self.matcher = xgr.GrammarMatcher(compiled)
        self.bitmask = xgr.allocate_token_bitmask(1, compiled.tokenizer_info.vocab_size)
        self.closing = closing
        self.prompt_length: int | None = None  # known at the first call, which sees the prompt only

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.prompt_length is None:
            self.prompt_length = input_ids.shape[1]
        else:  # the token generate just chose (from our mask) moves the grammar on
            token = int(input_ids[0, -1])
            if not self.matcher.accept_token(token):
                raise RuntimeError(f"the grammar rejected token {token}, which its own mask allowed")
            if self.closing is not None:
                self.closing.advance(token)
        self.matcher.fill_next_token_bitmask(self.bitmask)
        scores = self._masked(scores)
        if self.closing is not None:
            scores = self.closing.steer(scores, generated=input_ids.shape[1] - self.prompt_length)
        return scores

    def _masked(self, scores: torch.FloatTensor) -> torch.FloatTensor:
        if scores.device.type in ("cpu", "cuda"):  # the devices xgrammar has kernels for
            xgr.apply_token_bitmask_inplace(scores, self.bitmask.to(scores.device))
            return scores
        on_cpu = scores.cpu()
        xgr.apply_token_bitmask_inplace(on_cpu, self.bitmask)
        return on_cpu.to(scores.device)
