"""Hugging Face folders a server can load: the PEFT adapter (vLLM: `--lora-modules name=adapter/`)
and the merged model (vLLM: `--model merged/`), each with the tokenizer and a model card."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def model_card(*, name: str, base_model: str, card: dict[str, Any]) -> str:
    """README.md: what the student was trained on, how, and how well it did."""
    lines = [
        f"# {name}",
        "",
        f"A student distilled by Orchestra from `{card.get('teacher', 'recorded replies')}` into `{base_model}`.",
        "",
    ]
    for title, key in (
        ("Data", "data"),
        ("Method", "method"),
        ("Hyperparameters", "hyperparameters"),
        ("Metrics", "metrics"),
    ):
        if card.get(key) is not None:
            lines += [f"## {title}", "", "```json", json.dumps(card[key], indent=2, default=str), "```", ""]
    if card.get("verdict"):
        lines += ["## Verdict", "", card["verdict"], ""]
    lines += [
        "## Serving",
        "",
        "```",
        f"vllm serve {base_model} --enable-lora --lora-modules {name}=./adapter   # the adapter",
        "vllm serve ./merged                                                # the merged model",
        "```",
        "",
    ]
    return "\n".join(lines)


def export_student(
    *, model, tokenizer, output_dir: str | Path, base_model: str, card: dict[str, Any], name: str = "student"
) -> dict[str, str]:
    """Write adapter/ (when trained with LoRA) and merged/. Merging folds the adapter into the
    model in place, so call this last."""
    from peft import PeftModel

    output_dir = Path(output_dir)
    readme = model_card(name=name, base_model=base_model, card=card)
    artifacts: dict[str, str] = {}
    if isinstance(model, PeftModel):
        adapter = output_dir / "adapter"
        model.save_pretrained(adapter)
        tokenizer.save_pretrained(adapter)
        (adapter / "README.md").write_text(readme)
        artifacts["adapter"] = str(adapter)
        model = model.merge_and_unload()
    merged = output_dir / "merged"
    model.save_pretrained(merged)
    tokenizer.save_pretrained(merged)
    (merged / "README.md").write_text(readme)
    artifacts["merged"] = str(merged)
    return artifacts
