"""Tests build their tiny models with the same code the offline demo uses."""
from orchestra.inference.tiny import build_model, build_tiny_family, train_tokenizer

__all__ = ["build_model", "build_tiny_family", "train_tokenizer"]
