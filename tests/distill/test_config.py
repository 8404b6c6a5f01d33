import pytest

from orchestra.distill.config import ConfigError, load_job_config, parse_job_config


def test_every_invalid_field_is_reported_with_its_path_at_once():
    with pytest.raises(ConfigError) as caught:
        parse_job_config({"student": {}, "method": "kl", "train": {"lr": -1, "batch_size": 0}, "colour": "red"})
    paths = {path for path, _ in caught.value.problems}
    assert {"student.model", "method", "train.lr", "train.batch_size", "output_dir", "colour"} <= paths
    assert "train.lr: Input should be greater than 0" in str(caught.value)


def test_logit_method_needs_a_logit_teacher():
    with pytest.raises(ConfigError) as caught:
        parse_job_config({"student": {"model": "s"}, "output_dir": "o", "method": "reverse_kl"})
    assert caught.value.problems[0][0] == "teacher.kind"
    assert "online" in caught.value.problems[0][1]


def test_online_teacher_needs_a_model_and_sft_rejects_logit_teacher():
    with pytest.raises(ConfigError) as caught:
        parse_job_config({"student": {"model": "s"}, "output_dir": "o", "method": "sft", "teacher": {"kind": "online"}})
    assert {"teacher.model", "method"} <= {path for path, _ in caught.value.problems}


def test_loss_options_are_validated_by_the_loss_config_with_their_path():
    with pytest.raises(ConfigError) as caught:
        parse_job_config(
            {
                "student": {"model": "s"},
                "output_dir": "o",
                "method": "jsd",
                "teacher": {"kind": "offline"},
                "loss": {"jsd_beta": 2, "nope": 1},
            }
        )
    assert {"loss.jsd_beta", "loss.nope"} <= {path for path, _ in caught.value.problems}


def test_yaml_job_loads_with_defaults(tmp_path):
    path = tmp_path / "job.yaml"
    path.write_text(
        "student: {model: s}\noutput_dir: out\nmethod: forward_kl\n"
        "teacher: {kind: online, model: t}\nloss: {temperature: 2.0}\n"
    )
    config = load_job_config(path)
    assert config.loss_config().method == "forward_kl" and config.loss_config().temperature == 2.0
    assert config.data.min_examples == 100 and config.data.max_examples == 15000
    assert config.lora.enabled == "auto" and config.uses_logits


def test_yaml_that_is_not_a_mapping_is_refused(tmp_path):
    path = tmp_path / "job.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_job_config(path)


def test_on_policy_batches_need_an_online_teacher_and_a_logit_method():
    with pytest.raises(ConfigError) as caught:
        parse_job_config(
            {
                "student": {"model": "s"},
                "output_dir": "o",
                "method": "jsd",
                "teacher": {"kind": "offline", "model": "t"},
                "train": {"lmbda": 0.5},
            }
        )
    ((path, message),) = caught.value.problems
    assert path == "train.lmbda" and "teacher.kind 'online'" in message
    config = parse_job_config(
        {
            "student": {"model": "s"},
            "output_dir": "o",
            "method": "jsd",
            "teacher": {"kind": "online", "model": "t"},
            "train": {"lmbda": 0.5},
            "loss": {"jsd_beta": 0.9},
        }
    )
    assert config.train.lmbda == 0.5 and config.loss_config().jsd_beta == 0.9


def test_on_policy_samples_must_fit_in_the_training_window():
    with pytest.raises(ConfigError) as caught:
        parse_job_config(
            {
                "student": {"model": "s"},
                "output_dir": "o",
                "method": "jsd",
                "teacher": {"kind": "online", "model": "t"},
                "train": {"lmbda": 0.5, "max_seq_len": 256, "on_policy_max_new_tokens": 10**9},
            }
        )
    ((path, message),) = caught.value.problems
    assert path == "train.on_policy_max_new_tokens" and "256" in message
