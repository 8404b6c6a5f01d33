"""Router bench: Orchestra's router against RouteLLM-style baselines on a synthetic task.

The task is a support-ticket classifier node (billing, shipping, account, technical) with three
kinds of prompt: plain ones that name their topic, ones that name another topic only to rule it
out ("not about my invoice: the parcel..."), and paraphrases that name no topic word at all. The
bench trains the two models the node could use:

- small (cost 1 per 1k words): naive Bayes on single words, trained on a few hundred plain prompts;
- large (cost 10 per 1k words): logistic regression on words and word pairs, trained on all kinds.

A prompt's two answers are scored against its true label. Routers are trained on one part of the
prompts (and calibrated on a held-out part of it, as the platform does) and measured on the rest:

- random, always-small, always-large;
- RouteLLM's similarity-weighted ranking (SW: the strong model's win rate over the training
  prompts, weighted by 10 * 10 ** (similarity / max similarity), as lm-sys/RouteLLM does);
- RouteLLM's matrix factorisation (MF: a bilinear model of prompt embedding and model embeddings,
  trained on the battles the strong model won or lost);
- Orchestra's router: a logistic regression over the prompt embedding and cheap features, with each
  embedding (orchestra/routing/features.py): `static` (the mean of all-MiniLM-L6-v2's input token
  embeddings, the default) and `minilm` (the full encoder).

Columns: PGR at the threshold calibrated to 95% of the strong model's quality, APGR, CPT(50%),
CPT(80%), the cost saved and the quality reached at that threshold (on the test prompts), and the
wall-clock median / p95 and the CPU time of routing one prompt (one torch thread). RouteLLM's
routers use the full encoder's embeddings (their strongest form).

    .venv/bin/python bench/router.py [--quick] [--prompts N] [--seed S]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from orchestra.routing import metrics
from orchestra.routing.features import EMBEDDING_DIM, embedder, featurize, prompt_text
from orchestra.routing.router import acceptable, decide, fit
from orchestra.routing.train import Example, split, train

TARGET = 0.95
LABELS = ("billing", "shipping", "account", "technical")
KEYWORDS = {
    "billing": ["invoice", "refund", "charge", "payment", "bill", "receipt", "subscription fee"],
    "shipping": ["delivery", "package", "parcel", "shipment", "courier", "tracking number"],
    "account": ["password", "login", "account", "username", "sign-in", "two-factor code"],
    "technical": ["crash", "error message", "bug", "app", "update", "loading screen"],
}
PARAPHRASES = {
    "billing": [
        "the money left my card {n} times",
        "I paid {n} times for the same month",
        "my bank shows an amount I never agreed to",
        "you took more than the price on the site",
        "I was asked to pay again although I already did",
        "the total on my statement is wrong",
    ],
    "shipping": [
        "the box never showed up at my door",
        "it has been stuck on the way for {n} days",
        "the driver left it at the wrong house",
        "what I ordered {n} weeks ago is still not here",
        "the van came but nobody rang the bell",
        "it arrived crushed and half empty",
    ],
    "account": [
        "I can't get into my profile anymore",
        "it keeps saying my credentials are wrong",
        "I am locked out after {n} tries",
        "the reset link in my mail does nothing",
        "someone changed my details without asking me",
        "I forgot the secret I use to get in",
    ],
    "technical": [
        "the screen goes black when I open it",
        "it shuts itself down after {n} minutes",
        "the buttons stopped responding since yesterday",
        "everything freezes when I tap save",
        "it spins forever and never shows my stuff",
        "it drains my phone battery in {n} hours",
    ],
}
OPENERS = ["Hi,", "Hello team,", "Good morning.", "Hey there,", "Dear support,", ""]
CLOSERS = ["Thanks.", "Please help.", "Can you look into it?", "What should I do?", "This is urgent.", ""]
MIX = {"plain": 0.55, "ruled_out": 0.25, "paraphrase": 0.20}
PRICE = {"small": 1.0, "large": 10.0}  # per 1k words of prompt and answer


# --- The task ----------------------------------------------------------------------------------


def ticket(kind: str, label: str, rng: random.Random, *, paraphrases: int = 6) -> str:
    n = rng.randint(2, 9)
    paraphrase = rng.choice(PARAPHRASES[label][:paraphrases]).format(n=n)
    if kind == "plain":
        body = f"I have a problem with my {rng.choice(KEYWORDS[label])}."
    elif kind == "ruled_out":
        other = rng.choice([x for x in LABELS if x != label])
        body = f"This is not about my {rng.choice(KEYWORDS[other])} or anything like that; {paraphrase}."
    else:
        body = paraphrase + "."
    return " ".join(p for p in (rng.choice(OPENERS), body, rng.choice(CLOSERS)) if p)


def tickets(
    count: int, rng: random.Random, *, kinds: dict[str, float] = MIX, paraphrases: int = 6
) -> list[tuple[str, str, str]]:
    """(text, label, kind) triples."""
    names, weights = list(kinds), list(kinds.values())
    out = []
    for _ in range(count):
        kind, label = rng.choices(names, weights)[0], rng.choice(LABELS)
        out.append((ticket(kind, label, rng, paraphrases=paraphrases), label, kind))
    return out


def train_models(rng: random.Random) -> dict:
    """The node's two models, trained here: a small one that knows topic words only, a large one
    that knows five of the six paraphrases of each topic, from labels of which 5% are wrong."""
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import MultinomialNB
    from sklearn.pipeline import make_pipeline

    small_data = tickets(300, rng, kinds={"plain": 1.0})
    large_data = [
        (t, rng.choice(LABELS) if rng.random() < 0.05 else y, k) for t, y, k in tickets(2000, rng, paraphrases=5)
    ]
    small = make_pipeline(CountVectorizer(max_features=60), MultinomialNB())
    small.fit([t for t, _, _ in small_data], [y for _, y, _ in small_data])
    large = make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), LogisticRegression(C=20, max_iter=3000)
    )
    large.fit([t for t, _, _ in large_data], [y for _, y, _ in large_data])
    return {"small": small, "large": large}


def examples_of(prompts: list[tuple[str, str, str]], models: dict) -> list[Example]:
    texts = [t for t, _, _ in prompts]
    answers = {name: model.predict(texts) for name, model in models.items()}
    out = []
    for i, (text, label, _) in enumerate(prompts):
        words = len(text.split()) + 1
        out.append(
            Example(
                text=prompt_text([{"role": "user", "content": text}]),
                scores=[float(answers[m][i] == label) for m in ("small", "large")],
                costs=[PRICE[m] * words / 1000 for m in ("small", "large")],
            )
        )
    return out


# --- RouteLLM's routers, as baselines -------------------------------------------------------------


def strong_wins(scores: np.ndarray) -> np.ndarray:
    """1 when the strong model won the battle, 0 when it lost, 0.5 for a tie."""
    return np.where(scores[:, 1] > scores[:, 0], 1.0, np.where(scores[:, 1] < scores[:, 0], 0.0, 0.5))


def sw_ranking(train_emb: np.ndarray, outcomes: np.ndarray, emb: np.ndarray) -> np.ndarray:
    """With two models the similarity-weighted Bradley-Terry fit is the weighted win rate."""
    similarities = emb @ train_emb.T
    weights = 10 * 10 ** (similarities / similarities.max(axis=1, keepdims=True))
    return 1 - (weights @ outcomes) / weights.sum(axis=1)  # acceptability of the small model's answer


def matrix_factorisation(train_emb: np.ndarray, outcomes: np.ndarray, *, seed: int, dim: int = 128):
    """RouteLLM's recipe: battles with a winner only, unit-length model embeddings, a projection of
    the prompt embedding without bias, noise on the prompt while training, Adam(3e-4, wd 1e-5),
    batches of 64 for 100 epochs."""
    import torch

    torch.manual_seed(seed)
    decided = outcomes != 0.5
    x = torch.tensor(train_emb[decided], dtype=torch.float32)
    y = torch.tensor(outcomes[decided], dtype=torch.float32)
    models = torch.nn.Parameter(torch.randn(2, dim))
    project = torch.nn.Linear(x.shape[1], dim, bias=False)
    classifier = torch.nn.Linear(dim, 1, bias=False)
    optimizer = torch.optim.Adam([models, *project.parameters(), *classifier.parameters()], lr=3e-4, weight_decay=1e-5)

    def strong_logit(e: torch.Tensor) -> torch.Tensor:
        strong, weak = torch.nn.functional.normalize(models, dim=1)
        return classifier((strong - weak) * project(e)).squeeze(-1)

    for _ in range(100):
        for batch in torch.randperm(len(x)).split(64):
            optimizer.zero_grad()
            noisy = x[batch] + torch.randn_like(x[batch]) * 0.1
            torch.nn.functional.binary_cross_entropy_with_logits(strong_logit(noisy), y[batch]).backward()
            optimizer.step()

    def acceptability(emb: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return 1 - torch.sigmoid(strong_logit(torch.tensor(emb, dtype=torch.float32))).numpy()

    return acceptability


# --- Measuring ------------------------------------------------------------------------------------


def row(name: str, calibration: tuple, test: tuple, latency: tuple[float, float, float] | None) -> dict:
    """Metrics on the test prompts at the threshold calibrated on the held-out training prompts."""
    cal_points = metrics.curve(*calibration)
    threshold = metrics.calibrate(cal_points, target=TARGET).threshold
    acc, scores, costs = test
    points = metrics.curve(acc, scores, costs)
    at = metrics.point(metrics.choices(acc, threshold), scores, costs, threshold=threshold)
    strong = points[-1]
    return {
        "router": name,
        "pgr": at.pgr,
        "apgr": metrics.apgr(points),
        "cpt50": metrics.cpt(points, 0.5),
        "cpt80": metrics.cpt(points, 0.8),
        "saved": 1 - at.cost / strong.cost,
        "quality": at.quality / strong.quality,
        "strong_share": at.strong_share,
        "latency": latency,
    }


def fixed_row(name: str, choice: int, scores: np.ndarray, costs: np.ndarray) -> dict:
    at = metrics.point(np.full(len(scores), choice), scores, costs, threshold=0.0)
    strong_cost, strong_quality = costs[:, -1].mean(), scores[:, -1].mean()
    return {
        "router": name,
        "pgr": at.pgr,
        "apgr": None,
        "cpt50": None,
        "cpt80": None,
        "saved": 1 - at.cost / strong_cost,
        "quality": at.quality / strong_quality,
        "strong_share": at.strong_share,
        "latency": None,
    }


def timed(route, prompts: list[str]) -> tuple[float, float, float]:
    """Wall-clock p50 and p95 and the median CPU time (ms) of routing one prompt. On one torch thread
    the CPU time is what a decision costs an idle core; the wall time includes waiting for a busy one."""
    wall, cpu = [], []
    for prompt in prompts:
        started, started_cpu = time.perf_counter(), time.thread_time()
        route(prompt)
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.thread_time() - started_cpu) * 1000)
    wall.sort()
    return statistics.median(wall), wall[int(0.95 * (len(wall) - 1))], statistics.median(cpu)


def table(rows: list[dict]) -> str:
    def cell(value, percent=False):
        if value is None:
            return "-"
        return f"{value * 100:.1f}%" if percent else f"{value:.3f}"

    header = (
        "| router | PGR@95% | APGR | CPT(50%) | CPT(80%) | cost saved @95% | quality @95% | strong calls "
        "| routing ms: wall p50 / p95, CPU p50 |"
    )
    lines = [header, "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        latency = "{:.2f} / {:.2f}, {:.2f}".format(*r["latency"]) if r["latency"] else "-"
        lines.append(
            f"| {r['router']} | {cell(r['pgr'])} | {cell(r['apgr'])} | {cell(r['cpt50'], True)} "
            f"| {cell(r['cpt80'], True)} | {cell(r['saved'], True)} | {cell(r['quality'], True)} "
            f"| {cell(r['strong_share'], True)} | {latency} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer prompts (about a minute)")
    parser.add_argument("--prompts", type=int, default=None, help="prompts to route (default 4000, quick 1500)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)  # routing latency on one thread, as a busy worker would see it
    started = time.perf_counter()
    rng = random.Random(args.seed)
    models = train_models(rng)
    prompts = tickets(args.prompts or (1500 if args.quick else 4000), rng)
    examples = examples_of(prompts, models)
    texts = [e.text for e in examples]
    features = {name: featurize(texts, embedding=name) for name in ("static", "minilm")}
    embeddings = features["minilm"][:, :EMBEDDING_DIM]
    scores = np.array([e.scores for e in examples])
    costs = np.array([e.costs for e in examples])
    routed_rows, test_rows = split(len(examples), holdout=0.4, seed=args.seed)
    fit_part, cal_part = split(len(routed_rows), holdout=0.3, seed=args.seed)  # as train() splits them
    fit_rows, cal_rows = routed_rows[fit_part], routed_rows[cal_part]

    def part(acc: np.ndarray, rows: np.ndarray) -> tuple:
        return acc[rows], scores[rows], costs[rows]

    kinds = {k: sum(1 for _, _, kind in prompts if kind == k) / len(prompts) for k in MIX}
    print(
        f"{len(prompts)} prompts ({', '.join(f'{k} {v:.0%}' for k, v in kinds.items())}); "
        f"router training {len(fit_rows)} + held-out {len(cal_rows)}, test {len(test_rows)}"
    )
    print(
        f"accuracy on test: small {scores[test_rows, 0].mean():.3f}, large {scores[test_rows, 1].mean():.3f}; "
        f"small acceptable (as good as large) on {acceptable(scores[test_rows])[:, 0].mean():.1%}"
    )

    routers, reports, ours = {}, {}, {}
    for name, matrix in features.items():
        routers[name], reports[name] = train(
            [examples[i] for i in routed_rows],
            candidates=["small", "large"],
            target=TARGET,
            embedding=name,
            features_of=lambda texts, turns, matrix=matrix: matrix[routed_rows],
            seed=args.seed,
        )
        ours[name] = routers[name].acceptability(matrix)
    random_acc = np.random.default_rng(args.seed).random((len(examples), 1))
    outcomes = strong_wins(scores[fit_rows])
    sw = sw_ranking(embeddings[fit_rows], outcomes, embeddings)[:, None]
    mf = matrix_factorisation(embeddings[fit_rows], outcomes, seed=args.seed)(embeddings)[:, None]

    cheap_features = features["static"][:, EMBEDDING_DIM:]
    cheap = fit(cheap_features[fit_rows], acceptable(scores[fit_rows]), candidates=["small", "large"]).acceptability(
        cheap_features
    )
    oracle = acceptable(scores).astype(float)

    samples = [examples[i].text for i in test_rows[:200]]
    latency = {
        name: timed(lambda p, router=router: decide(router, [{"role": "user", "content": p}]), samples)
        for name, router in routers.items()
    }
    encoder = embedder("minilm")
    sw_latency = timed(lambda p: sw_ranking(embeddings[fit_rows], outcomes, encoder.encode([p])), samples)
    rows = [
        fixed_row("always small", 0, scores[test_rows], costs[test_rows]),
        fixed_row("always large", 1, scores[test_rows], costs[test_rows]),
        row("random", part(random_acc, cal_rows), part(random_acc, test_rows), None),
        row("RouteLLM SW ranking", part(sw, cal_rows), part(sw, test_rows), sw_latency),
        row("RouteLLM matrix factorisation", part(mf, cal_rows), part(mf, test_rows), None),
        row("Orchestra, cheap features only", part(cheap, cal_rows), part(cheap, test_rows), None),
        *(
            row(f"Orchestra, {label} + cheap features", part(ours[n], cal_rows), part(ours[n], test_rows), latency[n])
            for n, label in (("minilm", "full MiniLM encoder"), ("static", "static MiniLM embedding (default)"))
        ),
        row("oracle (knows which answers are acceptable)", part(oracle, cal_rows), part(oracle, test_rows), None),
    ]
    print()
    print(table(rows))
    for name, report in reports.items():
        print(
            f"\nOrchestra's own report, {name} (held-out split): threshold {report['threshold']}, PGR {report['pgr']}, "
            f"APGR {report['apgr']}, cost saved {report['cost_saved']}; trained in {report['train_seconds']} s"
        )
    print(
        f"bench took {time.perf_counter() - started:.0f} s; load average {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} cores"
    )


if __name__ == "__main__":
    main()
