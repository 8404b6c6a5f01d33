"""How good a router is, on examples every candidate answered (RouteLLM's metrics, Ong et al. 2024).

Candidates are ordered cheapest first; the last is the strong model. A router gives every example
an acceptability per cheaper candidate (n, k-1); at a threshold t the example goes to the cheapest
candidate whose acceptability is at least t, else to the strong model. Sweeping t traces the
cost-quality curve, from always-cheapest (t above every score) to always-strong (t = +inf).

- quality: the mean score (0..1) of the answers the routed models gave.
- PGR, performance gap recovered: (quality - cheapest's) / (strong's - cheapest's).
- strong share: the share of calls the strong model answers (the x axis of APGR and CPT).
- APGR: the area under PGR over strong share, 0..1 (random routing: about 0.5).
- CPT(x%): the smallest strong share that reaches PGR x%.
- cost saved: 1 - the routed cost / the cost of always asking the strong model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Point:
    threshold: float
    strong_share: float
    quality: float
    cost: float
    pgr: float | None
    shares: list[float]  # of calls per candidate
    gap_se: float = 0.0  # the standard error of (routed - strong) quality over these examples

    def as_dict(self) -> dict:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()} | {
            "threshold": _finite(self.threshold),
            "shares": [round(s, 6) for s in self.shares],
        }

    @classmethod
    def from_dict(cls, data: dict) -> Point:
        return cls(**data | {"threshold": np.inf if data["threshold"] is None else data["threshold"]})


def _finite(value: float) -> float | None:
    return round(value, 6) if np.isfinite(value) else None  # JSON has no infinity: None is always-strong


def choices(acceptability: np.ndarray, threshold: float) -> np.ndarray:
    """The candidate each example goes to: the cheapest whose acceptability reaches the threshold."""
    cheaper = acceptability.shape[1]
    passing = acceptability >= threshold
    return np.where(passing.any(axis=1), passing.argmax(axis=1), cheaper)


def point(chosen: np.ndarray, scores: np.ndarray, costs: np.ndarray, *, threshold: float) -> Point:
    rows = np.arange(len(chosen))
    quality = float(scores[rows, chosen].mean())
    weak, strong = float(scores[:, 0].mean()), float(scores[:, -1].mean())
    k = scores.shape[1]
    gap = scores[rows, chosen] - scores[:, -1]
    return Point(
        threshold=threshold,
        strong_share=float((chosen == k - 1).mean()),
        quality=quality,
        cost=float(costs[rows, chosen].mean()),
        pgr=(quality - weak) / (strong - weak) if strong > weak else None,
        shares=[float((chosen == i).mean()) for i in range(k)],
        gap_se=float(gap.std(ddof=1) / np.sqrt(len(gap))) if len(gap) > 1 else 0.0,
    )


def curve(acceptability: np.ndarray, scores: np.ndarray, costs: np.ndarray) -> list[Point]:
    """One point per way of cutting the examples, from always-cheapest (0: acceptabilities are
    probabilities) to always-strong (+inf). Each cut lies halfway between two neighbouring
    acceptabilities, so a new prompt scored like a held-out one falls on the same side."""
    distinct = np.unique(acceptability)
    thresholds = [0.0, *((distinct[1:] + distinct[:-1]) / 2), np.inf]
    return [point(choices(acceptability, t), scores, costs, threshold=float(t)) for t in thresholds]


def apgr(points: list[Point]) -> float | None:
    """The area under PGR over strong share (the curve runs from share 0 to 1); where several
    thresholds share an x (more than two candidates), the best PGR there."""
    if any(p.pgr is None for p in points):
        return None
    best: dict[float, float] = {}
    for p in points:
        best[p.strong_share] = max(best.get(p.strong_share, -np.inf), p.pgr)
    xs = np.array(sorted(best))
    ys = np.array([best[x] for x in xs])
    return float(np.sum((xs[1:] - xs[:-1]) * (ys[1:] + ys[:-1]) / 2))


def cpt(points: list[Point], level: float) -> float | None:
    """The smallest strong share whose PGR reaches `level` (0.5 for CPT(50%))."""
    reaching = [p.strong_share for p in points if p.pgr is not None and p.pgr >= level - 1e-9]
    return min(reaching) if reaching else None


def calibrate(points: list[Point], *, target: float, margin: float = 1.0) -> Point:
    """The cheapest point whose quality is at least `target` times the strong model's, by a margin
    of `margin` standard errors: on a small held-out set the target then still holds on new prompts
    (the always-strong point always qualifies)."""
    strong_quality = points[-1].quality  # the last point is always-strong
    good_enough = [p for p in points if p.quality - margin * p.gap_se >= target * strong_quality - 1e-9]
    return min(good_enough, key=lambda p: (p.cost, p.strong_share, -p.quality))


def summary(points: list[Point], *, target: float) -> dict:
    """The numbers a report shows: the calibrated point, APGR and CPTs, the cost saved there."""
    chosen = calibrate(points, target=target)
    strong, cheapest = points[-1], points[0]
    return {
        "threshold": _finite(chosen.threshold),
        "target": target,
        "quality": round(chosen.quality, 6),
        "strong_quality": round(strong.quality, 6),
        "cheapest_quality": round(cheapest.quality, 6),
        "pgr": None if chosen.pgr is None else round(chosen.pgr, 6),
        "apgr": _round(apgr(points)),
        "cpt50": _round(cpt(points, 0.5)),
        "cpt80": _round(cpt(points, 0.8)),
        "cost_saved": round(1 - chosen.cost / strong.cost, 6) if strong.cost > 0 else None,
        "shares": [round(s, 6) for s in chosen.shares],
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)
