import pytest

from orchestra.distill.evaluate import exact_match, field_accuracy, format_table, rouge_l, score, token_f1, verdict


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
    return {"vs_teacher": {"exact_match": agreement, "token_f1": 0.8}, "vs_golden": None,
            "student_speed": {"seconds_per_prompt": 0.1, "tokens_per_s": 100.0},
            "teacher_speed": {"seconds_per_prompt": teacher_seconds, "tokens_per_s": 10.0} if teacher_seconds else None}


def test_verdict_says_ready_with_the_speedup_when_agreement_is_high():
    assert verdict(_report(0.93, 0.61)) == \
        "Student matches the teacher on 93% of held-out prompts at 6.1x the speed: ready for shadow."


def test_verdict_says_not_ready_and_why_when_agreement_is_low():
    line = verdict(_report(0.4), baseline=_report(0.05))
    assert "40%" in line and "5% before training" in line and "not ready" in line


def test_table_shows_before_and_after():
    table = format_table(_report(0.9, 0.5), baseline=_report(0.1))
    assert "exact_match (vs teacher)" in table and "0.100" in table and "0.900" in table
