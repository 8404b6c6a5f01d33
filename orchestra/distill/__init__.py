"""Distillation: traces -> datasets, KD losses, trainer, evaluation, export."""
