"""`llm`: one model call (through the `call_model` hook), as text or as validated JSON."""

from __future__ import annotations

import json
import re
from typing import Any, Literal

import jsonschema
from pydantic import Field, field_validator

from orchestra.engine.hooks import ModelCall, ModelReply
from orchestra.engine.nodes.base import NodeConfig, NodeContext, NodeResult, NodeType, model_field, template_field
from orchestra.engine.templates import TemplateRef, render, render_value

_FENCED_JSON = re.compile(r"^\s*```(?:json)?\s*(?P<body>.*?)\s*```\s*$", re.DOTALL)


class LLMConfig(NodeConfig):
    model: str = model_field("auto", title="Model", description="A registry model name, or auto (the router picks).")
    system: str = template_field("", title="System prompt")
    prompt: str = template_field(title="Prompt")
    temperature: float | None = Field(None, ge=0, le=2, title="Temperature")
    max_tokens: int | None = Field(None, ge=1, le=131072, title="Max tokens")
    stop: list[str] | None = Field(None, title="Stop sequences")
    output: Literal["text", "json"] = Field("text", title="Output", description="json: parse the reply as JSON.")
    json_schema: dict[str, Any] | None = Field(
        None, title="JSON Schema", description="With output json: the reply must validate against it."
    )
    json_retries: int = Field(
        2,
        ge=0,
        le=5,
        title="JSON retries",
        description="Calls to repeat, with the error shown to the model, when the reply is not valid JSON.",
    )
    logprobs: int | None = Field(
        None,
        ge=1,
        le=20,
        title="Record top-k log-probs",
        description="Record the model's k likeliest tokens per reply token on the traces, for logit distillation.",
    )
    metadata: dict[str, Any] = Field(
        default_factory=dict,
        title="Metadata",
        description="Key/values recorded on this node's traces, for filtering; string values are templates "
        "rendered per call (a lone {{ expression }} keeps its type, so numbers stay numbers).",
    )

    @field_validator("json_schema")
    @classmethod
    def is_a_json_schema(cls, schema: dict[str, Any] | None) -> dict[str, Any] | None:
        if schema is not None:
            try:
                jsonschema.Draft202012Validator.check_schema(schema)
            except jsonschema.SchemaError as error:
                raise ValueError(f"not a valid JSON Schema: {error.message}") from error
        return schema


class InvalidReply(ValueError):
    """The model's reply is not the JSON the node asked for."""


def parse_json_reply(text: str, schema: dict[str, Any] | None) -> Any:
    fenced = _FENCED_JSON.match(text)  # models often wrap JSON in a markdown fence
    try:
        value = json.loads(fenced["body"] if fenced else text)
    except json.JSONDecodeError as error:
        raise InvalidReply(f"the reply is not JSON: {error}") from error
    if schema is not None:
        try:
            jsonschema.validate(value, schema)
        except jsonschema.ValidationError as error:
            where = "/".join(str(p) for p in error.absolute_path) or "(root)"
            raise InvalidReply(f"the reply does not match the schema at {where}: {error.message}") from error
    return value


class LLMNode(NodeType):
    type = "llm"
    title = "LLM"
    description = "Call a language model with a system prompt and a prompt; text or validated JSON out."
    category = "AI"
    Config = LLMConfig
    mappable = True

    def fields(self, config: LLMConfig) -> list[str]:
        return ["text", "model", "tokens_in", "tokens_out"]

    def templates(self, config: LLMConfig) -> list[TemplateRef]:
        metadata = [
            TemplateRef(f"metadata.{key}", value) for key, value in config.metadata.items() if isinstance(value, str)
        ]
        return [TemplateRef("system", config.system), TemplateRef("prompt", config.prompt), *metadata]

    def prepare(self, config: LLMConfig, scope: dict[str, Any]) -> dict[str, Any]:
        system = render(config.system, scope)
        if config.output == "json" and config.json_schema is not None:
            system = (system + "\n\n" if system else "") + (
                "Reply with only a JSON value that matches this JSON Schema:\n" + json.dumps(config.json_schema)
            )
        messages = [{"role": "system", "content": system}] if system else []
        messages.append({"role": "user", "content": render(config.prompt, scope)})
        return {"model": config.model, "messages": messages, "metadata": render_value(config.metadata, scope)}

    def run(self, config: LLMConfig, prepared: dict[str, Any], ctx: NodeContext) -> NodeResult:
        messages = list(prepared["messages"])
        replies: list[ModelReply] = []
        for json_try in range(config.json_retries + 1 if config.output == "json" else 1):
            reply = ctx.hooks.call_model(
                ModelCall(
                    node_id=ctx.node_id,
                    call_key=ctx.call_key(f"j{json_try}"),
                    model=config.model,
                    messages=list(messages),
                    temperature=config.temperature,
                    max_tokens=config.max_tokens,
                    stop=config.stop,
                    metadata=dict(prepared["metadata"]),
                    top_logprobs=config.logprobs or 0,
                    on_token=lambda text: ctx.emit("token", {"text": text}),
                )
            )
            ctx.record_reply(reply)
            replies.append(reply)
            if config.output == "text":
                return self._result(reply.text, replies)
            try:
                return self._result(parse_json_reply(reply.text, config.json_schema), replies)
            except InvalidReply as error:
                problem = error
                messages += [
                    {"role": "assistant", "content": reply.text},
                    {"role": "user", "content": f"{error}. Reply again with only valid JSON."},
                ]
        raise InvalidReply(f"{problem} (after {len(replies)} calls)")

    @staticmethod
    def _result(output: Any, replies: list[ModelReply]) -> NodeResult:
        return NodeResult(
            output=output,
            fields={
                "text": replies[-1].text,
                "model": replies[-1].model,
                "tokens_in": sum(r.tokens_in for r in replies),
                "tokens_out": sum(r.tokens_out for r in replies),
            },
        )
