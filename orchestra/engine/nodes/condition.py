"""`condition`: route to the first branch whose expression is true, else `else`."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from orchestra.engine.nodes.base import NodeConfig, NodeContext, NodeResult, NodeType, expression_field
from orchestra.engine.templates import TemplateRef, evaluate

RESERVED_OUTLETS = ("else", "error")


class Branch(NodeConfig):
    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,63}$", title="Name", description="The outlet's name.")
    when: str = expression_field(
        title="When", description="A Jinja2 expression, e.g. nodes.draft.output | length > 200"
    )


class ConditionConfig(NodeConfig):
    branches: list[Branch] = Field(min_length=1, title="Branches", description="Tried in order; the first true wins.")

    @field_validator("branches")
    @classmethod
    def names_are_unique_and_free(cls, branches: list[Branch]) -> list[Branch]:
        names = [b.name for b in branches]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"branch names must be unique; repeated: {', '.join(repeated)}")
        reserved = sorted(set(names) & set(RESERVED_OUTLETS))
        if reserved:
            raise ValueError(f"branch names {', '.join(RESERVED_OUTLETS)} are reserved; rename {', '.join(reserved)}")
        return branches


class ConditionNode(NodeType):
    type = "condition"
    title = "Condition"
    description = "Take the first branch whose condition is true, or `else`. Untaken branches are skipped."
    category = "Flow"
    Config = ConditionConfig
    dynamic_outlets = True

    def outlets(self, config: ConditionConfig | None) -> list[str]:
        return [b.name for b in config.branches] + ["else"] if config else ["else"]

    def templates(self, config: ConditionConfig) -> list[TemplateRef]:
        return [TemplateRef(f"branches[{i}].when", b.when, kind="expression") for i, b in enumerate(config.branches)]

    def run(self, config: ConditionConfig, prepared: dict[str, Any], ctx: NodeContext) -> NodeResult:
        taken = next((b.name for b in config.branches if evaluate(b.when, ctx.scope)), "else")
        return NodeResult(output=taken, outlet=taken)
