"""Synthetic trace records and a shared tiny model family for the distillation tests."""

from __future__ import annotations

import json
import random
from pathlib import Path

from tests.support.tiny_models import train_tokenizer

CATEGORIES = ["billing", "shipping", "account"]
PRIORITIES = ["low", "medium", "high"]


def ticket_records(
    n: int,
    *,
    seed: int = 0,
    model: str = "big-model",
    node: str = "extract",
    status: str = "ok",
    golden_every: int | None = None,
) -> list[dict]:
    """Support-ticket extraction traces: a short ticket in, a JSON object with two fields out."""
    rng = random.Random(seed)
    records = []
    for i in range(n):
        category, priority = rng.choice(CATEGORIES), rng.choice(PRIORITIES)
        ticket = f"ticket {i}: {priority} {category} order refund please"
        output = json.dumps({"category": category, "priority": priority})
        record = {
            "messages": [{"role": "system", "content": "Extract fields as JSON."}, {"role": "user", "content": ticket}],
            "output": output,
            "model": model,
            "node": node,
            "status": status,
            "created_at": f"2026-01-{1 + i % 28:02d}T12:00:00Z",
            "metadata": {"customer": "acme" if i % 2 else "globex", "tier": ["free", "pro", "team"][i % 3]},
        }
        if golden_every and i % golden_every == 0:
            record["golden_output"] = json.dumps({"category": category, "priority": "high"})
        records.append(record)
    return records


def other_tokenizer(root: Path) -> Path:
    """A tokenizer with a different vocabulary size, for the mismatched-tokenizer test."""
    return train_tokenizer(root / "other_tokenizer", vocab_size=400)
