"""The router's core on real parts: all-MiniLM-L6-v2 (its static token embeddings and its full
encoder) loaded offline from its package, scikit-learn, and metrics checked against hand-computed curves."""

import numpy as np
import pytest

from orchestra.routing import (
    Example,
    Router,
    TrainingError,
    Verifier,
    answer_score,
    decide,
    metrics,
    reply_problem,
    train,
)
from orchestra.routing.features import EMBEDDINGS, StaticEmbedder, embedder

EASY = ["say hello to {n}", "greet {n} politely", "wave at {n}", "say good morning to {n}", "thank {n} for coming"]
HARD = [
    "prove that the sum of the first {n} odd numbers is a square",
    "derive the closed form of the series up to {n}",
    "compute the determinant of a {n} by {n} matrix by hand",
    "find every prime factor of {n}987654321",
    "solve the recurrence T(n) = 2T(n/2) + n for n = {n}",
]
NAMES = ["Ann", "Bo", "Cy", "Di", "Ed", "Flo", "Gus", "Hal", "Ivy", "Jo", "Kim", "Lu"]


def synthetic(count: int, seed: int = 0) -> list[Example]:
    """Easy prompts the small model answers as well as the large one; hard ones it gets wrong."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        hard = i % 3 == 0
        template = (HARD if hard else EASY)[rng.integers(5)]
        text = template.format(n=NAMES[rng.integers(len(NAMES))] if not hard else int(rng.integers(3, 9)))
        out.append(Example(text=text, scores=[0.0 if hard else 1.0, 1.0], costs=[1.0, 10.0]))
    return out


def test_the_encoder_loads_offline_from_its_package_and_puts_paraphrases_close():
    vectors = embedder("minilm").encode(["refund my order", "I want my money back", "the weather is nice"])
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


def test_the_static_embedding_is_the_mean_of_the_encoders_token_rows_so_word_order_is_lost():
    static = embedder("static")
    vectors = static.encode(["refund my order", "order my refund", "the weather is nice", ""])
    assert vectors.shape == (4, 384)
    assert np.allclose(np.linalg.norm(vectors[:3], axis=1), 1.0, atol=1e-4)
    assert np.allclose(vectors[0], vectors[1], atol=1e-6)  # a bag of word pieces
    assert vectors[0] @ vectors[2] < 0.9
    assert not vectors[3].any()  # nothing to average: no direction
    tokenizer, table = static.load()
    ids = tokenizer.encode("refund my order", add_special_tokens=False).ids
    mean = table[ids].mean(axis=0)
    assert np.allclose(vectors[0], mean / np.linalg.norm(mean), atol=1e-6)


def test_metrics_match_a_hand_computed_curve():
    # four prompts: the cheap model fails the first two; a perfect ranking sends those to the strong one
    acceptability = np.array([[0.1], [0.2], [0.8], [0.9]])
    scores = np.array([[0, 1], [0, 1], [1, 1], [1, 1]], dtype=float)
    costs = np.array([[1, 10]] * 4, dtype=float)
    points = metrics.curve(acceptability, scores, costs)
    assert [p.threshold for p in points] == pytest.approx([0.0, 0.15, 0.5, 0.85, np.inf])
    assert [p.strong_share for p in points] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert [p.pgr for p in points] == [0.0, 0.5, 1.0, 1.0, 1.0]
    assert metrics.apgr(points) == pytest.approx(0.25 * 0.25 + 0.25 * 0.75 + 0.5 * 1.0)
    assert (metrics.cpt(points, 0.5), metrics.cpt(points, 0.8)) == (0.25, 0.5)
    chosen = metrics.calibrate(points, target=0.95)
    assert (chosen.threshold, chosen.strong_share, chosen.cost) == (0.5, 0.5, 5.5)
    summary = metrics.summary(points, target=0.95)
    assert summary["cost_saved"] == pytest.approx(0.45) and summary["pgr"] == 1.0
    assert summary["shares"] == [0.5, 0.5]


def test_a_random_ranking_recovers_about_half_the_gap():
    rng = np.random.default_rng(1)
    scores = np.column_stack([rng.random(2000) < 0.5, np.ones(2000)]).astype(float)
    points = metrics.curve(rng.random((2000, 1)), scores, np.ones((2000, 2)))
    assert 0.45 < metrics.apgr(points) < 0.55


@pytest.mark.parametrize("embedding", EMBEDDINGS)
def test_the_router_learns_which_prompts_the_cheap_model_answers_and_calibrates_to_the_target(embedding):
    router, report = train(synthetic(90), candidates=["small", "large"], target=0.95, embedding=embedding)
    assert report["examples"] == {"train": 63, "held_out": 27} and report["embedding"] == embedding
    assert report["apgr"] > 0.8 and report["quality"] >= 0.95 * report["strong_quality"]
    assert report["cost_saved"] > 0.4  # most prompts are easy: the small model takes them
    restored = Router.from_dict(router.as_dict())
    assert restored.embedding == embedding
    easy = decide(restored, [{"role": "user", "content": "say hello to Mo"}])
    hard = decide(
        restored,
        [
            {"role": "system", "content": "Be exact."},
            {"role": "user", "content": "prove that the sum of the first 7 odd numbers is a square"},
        ],
    )
    assert (easy.chosen, hard.chosen) == (0, 1)
    assert easy.acceptability[0] > hard.acceptability[0]
    assert not easy.loaded_embedder  # training loaded it


def test_a_decision_says_when_it_had_to_load_the_embedder():
    router, _ = train(synthetic(30), candidates=["small", "large"], target=0.95)
    fresh = StaticEmbedder()
    first = decide(router, [{"role": "user", "content": "say hello to Mo"}], embedding=fresh)
    second = decide(router, [{"role": "user", "content": "say hello to Mo"}], embedding=fresh)
    assert (first.loaded_embedder, second.loaded_embedder) == (True, False)
    assert first.acceptability == second.acceptability


def test_a_candidate_always_acceptable_needs_no_classifier():
    examples = [Example(text=f"prompt {i}", scores=[1.0, 1.0], costs=[1.0, 2.0]) for i in range(20)]
    _, report = train(examples, candidates=["small", "large"], target=0.95)
    assert report["shares"] == [1.0, 0.0] and report["cost_saved"] == pytest.approx(0.5)


def test_training_refuses_too_few_pairs_and_says_how_to_get_more():
    with pytest.raises(TrainingError, match="compare job"):
        train(synthetic(5), candidates=["small", "large"], target=0.95)


def test_three_candidates_go_to_the_cheapest_acceptable_one():
    router = Router(
        candidates=["a", "b", "c"],
        mean=np.zeros(1),
        scale=np.ones(1),
        coef=np.array([[1.0], [0.0]]),
        intercept=np.array([0.0, 0.0]),
        threshold=0.6,
    )
    assert router.choose(np.array([[5.0], [0.0], [-5.0]])).tolist() == [0, 2, 2]
    router.threshold = 0.5
    assert router.choose(np.array([[-5.0]])).tolist() == [1]  # b's 0.5 passes where a's does not


def test_the_verifier_names_what_escalates():
    plain, json_reply = Verifier(), Verifier(json=True, schema={"type": "object", "required": ["label"]})
    assert reply_problem("I'm sorry, I can't help with that.", verifier=plain).startswith("refusal")
    assert reply_problem("Sure: 42", verifier=plain) is None
    assert reply_problem("label: hot", verifier=json_reply).startswith("invalid JSON")
    assert "schema" in reply_problem('{"colour": "red"}', verifier=json_reply)
    assert reply_problem('```json\n{"label": "hot"}\n```', verifier=json_reply) is None
    tools = [
        {
            "type": "function",
            "function": {
                "name": "lookup",
                "parameters": {"type": "object", "required": ["q"], "properties": {"q": {"type": "string"}}},
            },
        }
    ]
    call = {"id": "1", "type": "function", "function": {"name": "search", "arguments": "{}"}}
    assert "not offered" in reply_problem("", verifier=plain, tool_calls=[call], tools=tools)
    call["function"] = {"name": "lookup", "arguments": '{"q": 3}'}
    assert "invalid" in reply_problem("", verifier=plain, tool_calls=[call], tools=tools)
    unsure = [[("a", np.log(0.3)), ("b", np.log(0.2))], [("c", np.log(0.4))]]
    assert "confidence" in reply_problem("ac", verifier=Verifier(min_confidence=0.5), top_logprobs=unsure)


def test_answers_score_against_the_reference_by_text_json_value_or_field_share():
    verifier = Verifier()
    assert answer_score(" hot ", "hot", verifier=verifier) == 1.0
    assert answer_score('{"b": 2, "a": 1}', '{"a": 1, "b": 2}', verifier=verifier) == 1.0
    assert answer_score('{"a": 1, "b": 3}', '{"a": 1, "b": 2}', verifier=verifier) == 0.5
    assert answer_score("cold", "hot", verifier=verifier) == 0.0
    assert answer_score("I cannot do that.", "I cannot do that.", verifier=verifier) == 0.0  # a refusal never scores
