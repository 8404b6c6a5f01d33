"""Tests build their tiny models with the same code the offline demo uses."""

from pathlib import Path

from orchestra.inference.tiny import build_model, build_tiny_family, train_tokenizer
from orchestra.inference.toolcalls import template_messages

__all__ = ["build_model", "build_tiny_family", "teach_reply", "train_tokenizer"]


def teach_reply(
    source: Path, folder: Path, *, messages: list[dict], reply: dict, tools: list[dict] | None = None, steps: int = 80
) -> Path:
    """Fine-tune a copy of a tiny model until it answers `messages` with `reply` (overfitting on
    purpose), and save it: a random model never starts a tool call by itself, a taught one does."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source)
    model = AutoModelForCausalLM.from_pretrained(source)
    conversation = tokenizer.apply_chat_template(
        template_messages([*messages, reply]), tools=tools, return_tensors="pt", return_dict=True
    )["input_ids"]
    prompt = tokenizer.apply_chat_template(
        messages, tools=tools, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )["input_ids"]
    labels = conversation.clone()
    labels[0, : prompt.shape[1]] = -100  # learn the reply only
    torch.manual_seed(0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(steps):
        model(input_ids=conversation, labels=labels).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
