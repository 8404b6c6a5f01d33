"""An agent's turns -> one trajectory record (dataset.py's format), wherever the turns come from:
the platform's traces, or a bench's own runs of the agent node.

Every turn of an agent node is a model call keyed `<node>#a<attempt>#s<step>`, or `#final` when a
budget ended the loop, and `#final#j<n>` for the JSON retries after an answer that was not the JSON
asked for. The answer turn's prompt already holds the whole conversation (the earlier turns' tool
calls and the tools' results), so the record is that prompt and the answer the node finally used;
every assistant turn is a target. A golden output on a tool-call turn cuts the trajectory there
(what came after answered the teacher's calls, not the person's); on the answer it is the golden
answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from orchestra.engine.nodes.agent import AgentConfig, response_format

# A turn's call key; shadow (`#shadow`) and rejected (`#rejected`) calls answered nothing, so they do not match.
TURN_KEY = re.compile(r"#a(?P<attempt>\d+)#(?:s(?P<step>\d+)|(?P<final>final))(?:#j(?P<retry>\d+))?$")


@dataclass
class Turn:
    """One model call of an agent: what it was asked and what it answered (OpenAI's shapes)."""

    call_key: str
    messages: list[dict[str, Any]]
    output: str
    tool_calls: list[dict[str, Any]] | None
    tools: list[dict[str, Any]] | None
    model: str
    golden_output: str | None = None
    created_at: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    node: str = ""


def attempt_of(call_key: str) -> str | None:
    """The attempt a turn belongs to ("1" for `support#a1#s2`), or None for a call that is no turn."""
    match = TURN_KEY.search(call_key)
    return match["attempt"] if match else None


def _order(turn: Turn) -> tuple[int, int]:
    """Steps in order, then the final turn, then its JSON retries."""
    match = TURN_KEY.search(turn.call_key)
    return int(match["step"]) if match["step"] else 10**6, int(match["retry"]) + 1 if match["retry"] else 0


def trajectory_record(turns: list[Turn], agent_config: dict[str, Any]) -> dict[str, Any] | None:
    """One attempt's turns as a trajectory record; None when it never answered (it crashed)."""
    agent = AgentConfig.model_validate(agent_config)
    turns = sorted(turns, key=_order)
    answer = next((i for i, t in enumerate(turns) if not t.tool_calls), None)
    if answer is None:
        return None
    labelled = next((i for i, t in enumerate(turns) if t.golden_output is not None), None)
    if labelled is not None and labelled < answer:  # a person corrected a tool-call turn: the record ends there
        cut, used = labelled, turns[: labelled + 1]
        output, golden = turns[cut].output, turns[cut].golden_output
    else:  # the answer the node used is the last one (after any JSON retries), or the person's
        cut, used = answer, turns
        output, golden = turns[-1].output, turns[labelled].golden_output if labelled is not None else None
    target = turns[cut]
    asked = [{"tool_choice": agent.tool_choice}] * cut  # the tool-call turns before it
    if target.call_key.endswith("#final"):  # a budget ended the loop: asked once more, without tools
        asked.append({"tool_choice": "none", "response_format": response_format(agent)})
    else:
        asked.append({"tool_choice": agent.tool_choice})
    models = sorted({t.model for t in used})
    return {
        "messages": target.messages,
        "tools": target.tools,
        "trajectory": True,
        "turns": asked,
        "output": output,
        "tool_calls": target.tool_calls,
        "golden_output": golden,
        "model": models[0] if len(models) == 1 else "mixed: " + ", ".join(models),
        "node": target.node,
        "created_at": turns[0].created_at,
        "status": "ok",
        "metadata": turns[0].metadata,
    }
