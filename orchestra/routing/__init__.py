"""The model router, framework-free: prompt features (features.py), the classifier and the call-time
decision (router.py), training and threshold calibration (train.py), the cost-quality metrics
(metrics.py) and the verifier that makes a cascade escalate (verify.py). docs/router.md explains them."""

from orchestra.routing.router import Decision, Router, decide
from orchestra.routing.train import Example, TrainingError, train
from orchestra.routing.verify import Verifier, answer_score, reply_problem

__all__ = [
    "Decision",
    "Example",
    "Router",
    "TrainingError",
    "Verifier",
    "answer_score",
    "decide",
    "reply_problem",
    "train",
]
