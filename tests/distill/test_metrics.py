import pytest

from orchestra.distill.dataset import Example
from orchestra.distill.evaluate import (
    correctness,
    exact_match,
    field_accuracy,
    format_table,
    rouge_l,
    score,
    token_f1,
    verdict,
    wilson_interval,
)


def test_exact_match_ignores_surrounding_whitespace_only():
    assert exact_match(" yes\n", "yes") == 1.0 and exact_match("Yes", "yes") == 0.0


def test_token_f1_counts_shared_tokens():
    assert token_f1("the cat sat", "the cat sat") == 1.0
    assert token_f1("the cat", "the cat sat down") == pytest.approx(2 * 1.0 * 0.5 / 1.5)
    assert token_f1("", "") == 1.0 and token_f1("dog", "cat") == 0.0


def test_rouge_l_uses_the_longest_common_subsequence():
    # LCS of "a b c d" and "a c d e" is "a c d": precision 3/4, recall 3/4
    assert rouge_l("a b c d", "a c d e") == pytest.approx(0.75)
    assert rouge_l("x y", "y x") == pytest.approx(0.5)
    assert rouge_l("", "a") == 0.0


def test_field_accuracy_is_the_share_of_reference_fields_reproduced():
    assert field_accuracy({"a": 1, "b": 2, "c": 9}, {"a": 1, "b": 3}) == 0.5
    assert field_accuracy(None, {"a": 1}) == 0.0


def test_score_reports_json_metrics_only_for_json_references():
    result = score(['{"a": 1}', "not json"], ['{"a": 1}', '{"a": 2}'])
    assert result["exact_match"] == 0.5 and result["json_valid"] == 0.5 and result["field_accuracy"] == 0.5
    assert score(["hi"], ["hello"])["json_valid"] is None


def _report(agreement: float, teacher_seconds: float | None = None) -> dict:
    return {
        "vs_teacher": {"exact_match": agreement, "token_f1": 0.8},
        "vs_golden": None,
        "student_speed": {"seconds_per_prompt": 0.1, "tokens_per_s": 100.0},
        "teacher_speed": {"seconds_per_prompt": teacher_seconds, "tokens_per_s": 10.0} if teacher_seconds else None,
    }


def test_verdict_says_ready_with_the_speedup_when_agreement_is_high():
    assert (
        verdict(_report(0.93, 0.61))
        == "Student matches the teacher on 93% of held-out prompts at 6.1x the speed: ready for shadow."
    )


def test_verdict_says_not_ready_and_why_when_agreement_is_low():
    line = verdict(_report(0.4), baseline=_report(0.05))
    assert "40%" in line and "5% before training" in line and "not ready" in line


def test_table_shows_before_and_after():
    table = format_table(_report(0.9, 0.5), baseline=_report(0.1))
    assert "exact_match (vs teacher)" in table and "0.100" in table and "0.900" in table


def test_score_breaks_json_fields_down_one_by_one_with_intervals():
    result = score(['{"a": 1, "b": 2}', '{"a": 1, "b": 3}', "oops"], ['{"a": 1, "b": 2}'] * 3)
    assert result["per_field"]["a"]["accuracy"] == pytest.approx(2 / 3)
    assert result["per_field"]["b"] == {
        "accuracy": pytest.approx(1 / 3),
        "count": 3,
        "interval": pytest.approx(list(wilson_interval(1, 3))),
    }
    low, high = result["exact_match_interval"]
    assert low < 1 / 3 < high


def _examples(n: int, *, teacher: str, golden: str | None) -> list[Example]:
    return [
        Example(
            messages=[{"role": "user", "content": f"order {i}"}],
            teacher_output=teacher,
            golden_output=golden,
            key=str(i),
        )
        for i in range(n)
    ]


def test_a_student_that_copies_the_teachers_wrong_answers_agrees_but_is_not_correct():
    examples = _examples(
        40, teacher='{"category": "billing", "priority": "low"}', golden='{"priority": "high", "category": "billing"}'
    )
    predictions = ['{"category": "billing", "priority": "low"}'] * 40
    right = correctness(examples, predictions)
    assert right["judged_by"] == "golden labels" and right["count"] == 40
    assert right["student"] == 0.0 and right["teacher"] == 0.0
    assert right["per_field"]["student"]["category"]["accuracy"] == 1.0
    assert right["per_field"]["student"]["priority"]["accuracy"] == 0.0
    # golden JSON in another key order is still the right answer
    assert correctness(examples, ['{"category": "billing", "priority": "high"}'] * 40)["student"] == 1.0


def test_correctness_asks_the_named_judge_where_there_is_no_golden_label():
    examples = _examples(3, teacher="yes", golden=None)
    right = correctness(examples, ["yes", "no", "yes"], judge=lambda example: example.teacher_output == "yes")
    assert right["judged_by"] == "judge" and right["student"] == pytest.approx(2 / 3) and right["teacher"] == 1.0
    assert correctness(examples, ["yes"] * 3) is None  # nothing can tell right from wrong


def test_verdict_refuses_to_judge_below_the_minimum_test_size():
    report = _report(1.0) | {"vs_teacher": {"exact_match": 1.0, "token_f1": 1.0, "count": 12}}
    line = verdict(report)
    assert "too few held-out examples to judge (12 prompts" in line and "ready for shadow" not in line


def test_verdict_puts_correctness_next_to_agreement_and_holds_back_a_student_less_often_right():
    right = {
        "judged_by": "golden labels",
        "count": 50,
        "student": 0.5,
        "student_interval": [0.37, 0.63],
        "teacher": 0.9,
        "teacher_interval": [0.79, 0.96],
        "per_field": None,
    }
    report = _report(0.95) | {"vs_teacher": {"exact_match": 0.95, "token_f1": 0.99, "count": 100}, "correctness": right}
    line = verdict(report)
    assert line.startswith("Student matches the teacher on 95% of 100 held-out prompts")
    assert "right on 50% of the 50 judged by golden labels (95% interval 37%-63%; the teacher 90%)" in line
    assert "not ready for shadow: it is right less often than the teacher" in line
    table = format_table(report)
    assert "correct (by golden labels, n=50)" in table and "teacher correct" in table
