"""Training a router from examples every candidate answered: split off a held-out set, fit the
classifier on the rest, trace the cost-quality curve on the held-out set and calibrate the
threshold there to the quality target."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from orchestra.routing import metrics
from orchestra.routing.features import DEFAULT_EMBEDDING, featurize
from orchestra.routing.router import Router, acceptable, fit

MIN_EXAMPLES = 12
Featurize = Callable[[list[str], list[int]], np.ndarray]


class TrainingError(ValueError):
    """Too few or unusable examples; the message says what is missing."""


@dataclass
class Example:
    text: str  # the prompt as features.prompt_text reads it
    scores: list[float]  # per candidate, cheapest first: the answer's score, 0..1
    costs: list[float]  # per candidate: what the answer cost
    turns: int = 1


def split(n: int, *, holdout: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    cut = max(1, round(n * holdout))
    return order[cut:], order[:cut]


def train(
    examples: list[Example],
    *,
    candidates: list[str],
    target: float,
    embedding: str = DEFAULT_EMBEDDING,
    features_of: Featurize | None = None,
    holdout: float = 0.3,
    seed: int = 0,
) -> tuple[Router, dict]:
    """The calibrated router and its report: the held-out curve, the summary metrics at the chosen
    threshold and the split sizes. `features_of` gives features already computed with `embedding`
    (the bench computes them once for several routers)."""
    if len(candidates) < 2:
        raise TrainingError("A router needs at least two candidates, cheapest first.")
    if len(examples) < MIN_EXAMPLES:
        raise TrainingError(
            f"A router needs at least {MIN_EXAMPLES} prompts answered by every candidate; "
            f"there are {len(examples)}: run a compare job or collect shadow traffic."
        )
    started = time.perf_counter()
    texts, turns = [e.text for e in examples], [e.turns for e in examples]
    features = features_of(texts, turns) if features_of else featurize(texts, turns=turns, embedding=embedding)
    scores = np.array([e.scores for e in examples], dtype=float)
    costs = np.array([e.costs for e in examples], dtype=float)
    train_rows, held_out = split(len(examples), holdout=holdout, seed=seed)
    router = fit(features[train_rows], acceptable(scores[train_rows]), candidates=candidates, embedding=embedding)
    points = metrics.curve(router.acceptability(features[held_out]), scores[held_out], costs[held_out])
    report = metrics.summary(points, target=target)
    router.threshold = metrics.calibrate(points, target=target).threshold
    report |= {
        "candidates": list(candidates),
        "embedding": embedding,
        "examples": {"train": len(train_rows), "held_out": len(held_out)},
        "acceptable_rate": [round(float(r), 4) for r in acceptable(scores).mean(axis=0)],
        "curve": [p.as_dict() for p in points],
        "train_seconds": round(time.perf_counter() - started, 3),
    }
    return router, report
