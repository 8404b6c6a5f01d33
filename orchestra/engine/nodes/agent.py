"""`agent`: a model that answers or calls tools, in a loop, until it answers or a budget runs out.

Each turn is one model call (a trace, keyed `<node>#a<attempt>#s<step>`); the tool calls of a turn
run in parallel and their results go back as `tool` messages; a tool's error is a result the model
reads, not the node's failure. When `max_steps`, the tool-call budget, the token or the cost budget
runs out, the model is asked once more with tools disabled, so the node always ends with an
answer and never with a raw tool call. After a crash, recorded turns and tool results are replayed
from their records: no model call and no tool call is made twice. So is a workflow tool whose run
waits for an answer (an approval in it): the node waits, once the turn's other calls are done, and
on its re-run after the answer the earlier turns and tool calls are replayed and the loop goes on.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from pydantic import Field, field_validator

from orchestra.engine.graph import WorkflowCall
from orchestra.engine.hooks import ModelCall, ModelReply, ToolDefinition, WorkflowWaiting
from orchestra.engine.nodes.base import (
    NodeConfig,
    NodeContext,
    NodeResult,
    NodeType,
    expression_field,
    model_field,
    template_field,
)
from orchestra.engine.nodes.llm import InvalidReply, LLMConfig, parse_json_reply
from orchestra.engine.nodes.subworkflow import until_answered
from orchestra.engine.templates import TemplateError, TemplateRef, evaluate, render
from orchestra.engine.tools import ToolSpec, WorkflowTool, call_tool, resolve_tools, tool_message, tool_template_refs

_TOOL_MARKUP = re.compile(r"<tool_call>.*?(</tool_call>|$)", re.DOTALL)
CHARS_PER_TOKEN = 4  # memory trimming estimates tokens from text; the engine has no tokenizer
MAX_PARALLEL_TOOL_CALLS = 8


class AgentMemory(NodeConfig):
    messages: str = expression_field(
        title="Messages",
        description=(
            "An expression giving earlier messages [{role, content}], e.g. inputs.history in a chat workflow."
        ),
    )
    max_tokens: int = Field(
        2000,
        ge=1,
        le=131072,
        title="Window (tokens)",
        description="Oldest messages are dropped to fit, estimated at 4 characters a token.",
    )


class AgentConfig(NodeConfig):
    model: str = model_field("auto", title="Model", description="A registry model name, or auto.")
    instructions: str = template_field("", title="Instructions", description="The system prompt.")
    task: str = template_field(title="Task", description="What to do: the user message of the first turn.")
    tools: list[ToolSpec] = Field(
        default_factory=list,
        title="Tools",
        json_schema_extra={"format": "tools"},
        description="WorkflowTool, HTTPTool or MCPTools entries (below), by `kind`.",
    )
    max_steps: int = Field(
        8,
        ge=1,
        le=50,
        title="Max steps",
        description="Model turns that may call tools; then one last turn answers without them.",
    )
    max_tool_calls: int | None = Field(
        None,
        ge=0,
        le=500,
        title="Max tool calls",
        description="Tool calls in all; calls past it are answered 'not run'.",
    )
    max_total_tokens: int | None = Field(
        None, ge=1, title="Token budget", description="Input + output tokens of all turns."
    )
    max_cost: float | None = Field(
        None, ge=0, title="Cost budget", description="Cost of all turns, in the models' price unit."
    )
    tool_choice: Literal["auto", "required"] = Field(
        "auto",
        title="Tool choice",
        description=(
            "auto: the model answers or calls tools. required: every turn calls "
            "a tool until a budget or max_steps ends the loop; the last turn answers."
        ),
    )
    parallel_tool_calls: bool = Field(
        True, title="Parallel tool calls", description="Run the tool calls of one turn at the same time."
    )
    output: Literal["text", "json"] = Field("text", title="Output", description="json: the answer is parsed JSON.")
    json_schema: dict[str, Any] | None = Field(
        None, title="JSON Schema", description="With output json: the answer must validate against it."
    )
    json_retries: int = Field(
        2,
        ge=0,
        le=5,
        title="JSON retries",
        description="On backends without constrained decoding: answers to ask again.",
    )
    memory: AgentMemory | None = Field(None, title="Memory")
    temperature: float | None = Field(None, ge=0, le=2, title="Temperature")
    max_tokens: int | None = Field(None, ge=1, le=131072, title="Max tokens per turn")
    metadata: dict[str, Any] = Field(
        default_factory=dict, title="Metadata", description="Key/values recorded on this node's traces, for filtering."
    )

    _check_schema = field_validator("json_schema")(classmethod(lambda cls, v: LLMConfig.is_a_json_schema(v)))


def response_format(config: AgentConfig) -> dict[str, Any] | None:
    if config.output != "json":
        return None
    if config.json_schema is None:
        return {"type": "json_object"}
    return {"type": "json_schema", "json_schema": {"name": "answer", "schema": config.json_schema, "strict": True}}


def trimmed(messages: list[dict[str, Any]], max_tokens: int) -> list[dict[str, Any]]:
    """The newest messages whose estimated size fits the window."""
    kept, size = [], 0
    for message in reversed(messages):
        size += len(str(message.get("content") or "")) // CHARS_PER_TOKEN + 1
        if size > max_tokens:
            break
        kept.append(message)
    return kept[::-1]


def memory_messages(memory: AgentMemory | None, scope: dict[str, Any]) -> list[dict[str, str]]:
    if memory is None or not memory.messages.strip():
        return []
    value = evaluate(memory.messages, scope)
    if value is None:
        return []
    if not isinstance(value, list) or not all(
        isinstance(m, dict) and m.get("role") in ("user", "assistant") and isinstance(m.get("content"), str)
        for m in value
    ):
        raise TemplateError(f"memory {memory.messages!r} must give a list of {{role: user|assistant, content}}")
    return trimmed([{"role": m["role"], "content": m["content"]} for m in value], memory.max_tokens)


class Budget:
    """What the node may still spend; `spent` names the budget that ran out, or None."""

    def __init__(self, config: AgentConfig):
        self.config, self.tool_calls = config, 0

    def spent(self, replies: list[ModelReply]) -> str | None:
        config = self.config
        if (
            config.max_total_tokens is not None
            and sum(r.tokens_in + r.tokens_out for r in replies) >= config.max_total_tokens
        ):
            return f"the token budget ({config.max_total_tokens})"
        if config.max_cost is not None and sum(r.cost for r in replies) >= config.max_cost:
            return f"the cost budget ({config.max_cost:g})"
        if config.max_tool_calls is not None and self.tool_calls >= config.max_tool_calls:
            return f"the tool-call budget ({config.max_tool_calls})"
        return None

    def allowed(self, wanted: int) -> int:
        if self.config.max_tool_calls is None:
            return wanted
        return max(0, min(wanted, self.config.max_tool_calls - self.tool_calls))


class AgentNode(NodeType):
    type = "agent"
    title = "Agent"
    description = "A model that calls tools (workflows, HTTP APIs, MCP servers) in a loop until it answers."
    category = "AI"
    Config = AgentConfig

    def fields(self, config: AgentConfig) -> list[str]:
        return ["text", "model", "steps", "tool_calls", "stopped_by", "tokens_in", "tokens_out"]

    def templates(self, config: AgentConfig) -> list[TemplateRef]:
        refs = [TemplateRef("instructions", config.instructions), TemplateRef("task", config.task)]
        if config.memory is not None and config.memory.messages.strip():
            refs.append(TemplateRef("memory.messages", config.memory.messages, kind="expression"))
        return refs + tool_template_refs(config.tools)

    def calls(self, config: AgentConfig) -> list[WorkflowCall]:
        return [
            WorkflowCall(f"tools[{index}]", tool.workflow, None)  # the model chooses the inputs
            for index, tool in enumerate(config.tools)
            if isinstance(tool, WorkflowTool)
        ]

    def prepare(self, config: AgentConfig, scope: dict[str, Any]) -> dict[str, Any]:
        system = render(config.instructions, scope)
        messages = [{"role": "system", "content": system}] if system else []
        messages += memory_messages(config.memory, scope)
        messages.append({"role": "user", "content": render(config.task, scope)})
        return {"model": config.model, "messages": messages}

    def run(self, config: AgentConfig, prepared: dict[str, Any], ctx: NodeContext) -> NodeResult:
        tools = resolve_tools(config.tools, ctx.hooks)
        by_name = {tool.name: tool for tool in tools}
        offered = [tool.as_openai() for tool in tools] or None
        messages: list[dict[str, Any]] = list(prepared["messages"])
        steps: list[dict[str, Any]] = []
        budget, stopped_by = Budget(config), None
        for step in range(1, config.max_steps + 1):
            if offered is None:
                break  # no tools: the final turn below is the whole node
            reply = self._turn(config, ctx, messages, key=f"s{step}", tools=offered, tool_choice=config.tool_choice)
            calls = reply.tool_calls or []
            record = _step_record(step, reply)
            steps.append(record)
            if not calls:  # the model answered
                answer = self._answer(config, ctx, messages, reply, steps)
                return self._result(answer, steps, ctx, stopped_by=None)
            messages.append({"role": "assistant", "content": reply.text or None, "tool_calls": calls})
            allowed = budget.allowed(len(calls))
            outcomes = self._run_tools(calls[:allowed], by_name, ctx, step, parallel=config.parallel_tool_calls)
            outcomes += [{"error": "not run: the tool-call budget is spent"} for _ in calls[allowed:]]
            budget.tool_calls += len(calls)
            for call, outcome in zip(calls, outcomes):
                messages.append(tool_message(call["id"], outcome))
                record["tool_calls"].append(
                    {
                        "id": call["id"],
                        "name": call["function"]["name"],
                        "arguments": call["function"]["arguments"],
                        **outcome,
                    }
                )
            if (stopped_by := budget.spent(ctx.replies)) is not None:
                break
        else:
            stopped_by = f"max_steps ({config.max_steps})"
        final = self._turn(
            config,
            ctx,
            messages,
            key="final",
            tools=offered,
            tool_choice="none" if offered else None,
            response=response_format(config),
        )
        steps.append(_step_record(len(steps) + 1, final, final=True))
        answer = self._answer(config, ctx, messages, final, steps)
        return self._result(answer, steps, ctx, stopped_by=stopped_by)

    def _turn(
        self,
        config: AgentConfig,
        ctx: NodeContext,
        messages: list[dict[str, Any]],
        *,
        key: str,
        tools: list[dict[str, Any]] | None,
        tool_choice: str | None,
        response: dict[str, Any] | None = None,
    ) -> ModelReply:
        reply = ctx.hooks.call_model(
            ModelCall(
                node_id=ctx.node_id,
                call_key=ctx.call_key(key),
                model=config.model,
                messages=list(messages),
                temperature=config.temperature,
                max_tokens=config.max_tokens,
                stop=None,
                metadata=dict(config.metadata),
                on_token=lambda text: ctx.emit("token", {"text": text}),
                tools=tools,
                tool_choice=tool_choice,
                response_format=response,
            )
        )
        ctx.record_reply(reply)
        ctx.emit(
            "agent_turn",
            {
                "key": ctx.call_key(key),
                "model": reply.model,
                "text": reply.text,
                "tool_calls": reply.tool_calls or [],
                "tokens_in": reply.tokens_in,
                "tokens_out": reply.tokens_out,
                "cost": reply.cost,
                "latency_ms": reply.latency_ms,
                "final": key.startswith("final"),
            },
        )
        return reply

    def _run_tools(
        self,
        calls: list[dict[str, Any]],
        by_name: dict[str, ToolDefinition],
        ctx: NodeContext,
        step: int,
        *,
        parallel: bool,
    ) -> list[dict[str, Any]]:
        def run(index: int, answer: tuple[Any, str] | None = None) -> dict[str, Any] | WorkflowWaiting:
            name = calls[index]["function"]["name"]
            if name not in by_name:
                return {"error": f"there is no tool {name!r}; the tools are {', '.join(by_name)}"}
            try:
                return call_tool(
                    by_name[name],
                    calls[index]["function"]["arguments"],
                    ctx,
                    call_key=ctx.call_key(f"s{step}#t{index}"),
                    step=step,
                    answer=answer,
                )
            except WorkflowWaiting as waiting:  # the node waits on it below, on its own thread
                return waiting

        if len(calls) <= 1 or not parallel:
            outcomes = [run(index) for index in range(len(calls))]
        else:
            with ThreadPoolExecutor(
                max_workers=min(len(calls), MAX_PARALLEL_TOOL_CALLS), thread_name_prefix=f"tools-{ctx.node_id}"
            ) as pool:
                outcomes = list(pool.map(run, range(len(calls))))
        return until_answered(
            ctx,
            outcomes,
            waiting_of=lambda outcome: outcome if isinstance(outcome, WorkflowWaiting) else None,
            again=lambda index, outcome, answer: run(index, answer),
            about=lambda index: {"tool": calls[index]["function"]["name"], "step": step},
        )

    def _answer(
        self,
        config: AgentConfig,
        ctx: NodeContext,
        messages: list[dict[str, Any]],
        reply: ModelReply,
        steps: list[dict[str, Any]],
    ) -> Any:
        """The answer as text without tool markup, or parsed JSON: a reply that is not the JSON asked
        for is asked again with the schema enforced (constrained where the backend can)."""
        text = _TOOL_MARKUP.sub("", reply.text).strip()
        if config.output == "text":
            return text
        for retry in range(config.json_retries + 1):
            try:
                return parse_json_reply(text, config.json_schema)
            except InvalidReply as error:
                problem = error
            messages = messages + [
                {"role": "assistant", "content": text},
                {"role": "user", "content": f"{problem}. Reply again with only the JSON answer."},
            ]
            reply = self._turn(
                config,
                ctx,
                messages,
                key=f"final#j{retry}",
                tools=None,
                tool_choice=None,
                response=response_format(config),
            )
            steps.append(_step_record(len(steps) + 1, reply, final=True))
            text = _TOOL_MARKUP.sub("", reply.text).strip()
        try:
            return parse_json_reply(text, config.json_schema)
        except InvalidReply as error:
            raise InvalidReply(f"{error} (the agent's answer, after {config.json_retries} retries)") from error

    @staticmethod
    def _result(answer: Any, steps: list[dict[str, Any]], ctx: NodeContext, *, stopped_by: str | None) -> NodeResult:
        return NodeResult(
            output=answer,
            fields={
                "text": steps[-1]["text"],
                "model": steps[-1]["model"],
                "steps": steps,
                "tool_calls": [call for step in steps for call in step["tool_calls"]],
                "stopped_by": stopped_by,
                "tokens_in": sum(r.tokens_in for r in ctx.replies),
                "tokens_out": sum(r.tokens_out for r in ctx.replies),
            },
        )


def _step_record(step: int, reply: ModelReply, *, final: bool = False) -> dict[str, Any]:
    return {
        "step": step,
        "model": reply.model,
        "text": reply.text,
        "final": final,
        "tool_calls": [],
        "tokens_in": reply.tokens_in,
        "tokens_out": reply.tokens_out,
        "cost": reply.cost,
        "latency_ms": reply.latency_ms,
    }
