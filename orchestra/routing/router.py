"""The router: for each candidate but the strongest, a logistic regression (scikit-learn) over
standardized prompt features (with the embedding it was trained on, one of features.EMBEDDINGS)
that predicts "this candidate's answer is acceptable" (it scores at least as well as the strong
model's). At call time the prompt goes to the cheapest candidate whose
predicted acceptability reaches the calibrated threshold, else to the strong model.

A trained router is plain numbers (`as_dict`, JSON), so it is stored in the database and scored
with one matrix product: no pickle, no model file, microseconds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from orchestra.routing.features import DEFAULT_EMBEDDING, Embedder, embedder, featurize, prompt_text
from orchestra.routing.metrics import choices

REGULARIZATION = (0.01, 0.1, 1.0, 10.0)  # inverse strengths tried by cross-validation
MAX_DEVIATIONS = 10.0


@dataclass
class Router:
    candidates: list[str]  # cheapest first; the last is the strong model
    mean: np.ndarray  # (d,) feature standardization
    scale: np.ndarray  # (d,)
    coef: np.ndarray  # (k-1, d): one logistic model per cheaper candidate
    intercept: np.ndarray  # (k-1,)
    threshold: float = np.inf  # +inf until calibrated: always the strong model
    embedding: str = DEFAULT_EMBEDDING  # what the features were computed with (features.EMBEDDINGS)

    def acceptability(self, features: np.ndarray) -> np.ndarray:
        """(n, k-1): the predicted probability that each cheaper candidate's answer is acceptable.
        A feature far outside what training saw (a longer conversation than any) counts as ten
        standard deviations out, not thousands."""
        standardized = np.clip((features - self.mean) / self.scale, -MAX_DEVIATIONS, MAX_DEVIATIONS)
        z = standardized @ self.coef.T + self.intercept
        return 1 / (1 + np.exp(-z))

    def choose(self, features: np.ndarray) -> np.ndarray:
        return choices(self.acceptability(features), self.threshold)

    def as_dict(self) -> dict:
        return {
            "candidates": list(self.candidates),
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "coef": self.coef.tolist(),
            "intercept": self.intercept.tolist(),
            "threshold": None if not np.isfinite(self.threshold) else float(self.threshold),
            "embedding": self.embedding,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Router:
        threshold = data.get("threshold")
        return cls(
            candidates=list(data["candidates"]),
            mean=np.asarray(data["mean"]),
            scale=np.asarray(data["scale"]),
            coef=np.asarray(data["coef"]).reshape(len(data["candidates"]) - 1, -1),
            intercept=np.asarray(data["intercept"]),
            threshold=np.inf if threshold is None else float(threshold),
            embedding=data["embedding"],
        )


def acceptable(scores: np.ndarray) -> np.ndarray:
    """(n, k-1) labels: a cheaper candidate's answer is acceptable when it scores at least the strong one's."""
    return scores[:, :-1] >= scores[:, -1:] - 1e-9


def fit(
    features: np.ndarray, labels: np.ndarray, *, candidates: list[str], embedding: str = DEFAULT_EMBEDDING
) -> Router:
    """One logistic regression per cheaper candidate; a candidate whose labels are all one way
    gets that constant (there is nothing to learn from the prompt)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV

    features = features.astype(np.float64)  # a constant float32 column has a std of 1e-8, not 0
    mean = features.mean(axis=0)
    scale = features.std(axis=0)
    scale[scale < 1e-8] = 1.0
    x = (features - mean) / scale
    coef, intercept = np.zeros((labels.shape[1], x.shape[1])), np.zeros(labels.shape[1])
    for i in range(labels.shape[1]):
        y = labels[:, i].astype(int)
        minority = min(y.sum(), len(y) - y.sum())
        if minority == 0:
            rate = np.clip(y.mean(), 1e-3, 1 - 1e-3)
            intercept[i] = np.log(rate / (1 - rate))
            continue
        model = LogisticRegression(C=0.1, max_iter=2000)
        if minority >= 3:  # enough of both outcomes to choose the regularization by 3-fold cross-validation
            model = GridSearchCV(model, {"C": list(REGULARIZATION)}, cv=3, scoring="neg_log_loss").fit(x, y)
            model = model.best_estimator_
        else:
            model.fit(x, y)
        coef[i], intercept[i] = model.coef_[0], model.intercept_[0]
    return Router(
        candidates=list(candidates), mean=mean, scale=scale, coef=coef, intercept=intercept, embedding=embedding
    )


@dataclass(frozen=True)
class Decision:
    chosen: int  # the candidate's index
    acceptability: list[float]  # per cheaper candidate
    latency_ms: float  # what deciding took: features and the classifier
    loaded_embedder: bool  # the embedding model was loaded for this decision (its latency includes that)


def decide(router: Router, messages: list[dict], *, embedding: Embedder | None = None) -> Decision:
    """The candidate for a call, with the embedder the router was trained on (or `embedding`)."""
    started = time.perf_counter()
    encoder = embedding or embedder(router.embedding)
    cold = not encoder.loaded
    features = featurize([prompt_text(messages)], turns=[len(messages)], embedding=encoder)
    scores = router.acceptability(features)
    chosen = int(choices(scores, router.threshold)[0])
    return Decision(
        chosen=chosen,
        acceptability=[round(float(s), 4) for s in scores[0]],
        latency_ms=round((time.perf_counter() - started) * 1000, 3),
        loaded_embedder=cold,
    )
