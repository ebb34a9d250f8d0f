"""The table of system kinds and the config checks each kind adds."""

from __future__ import annotations

import pytest

from jaxser import config as config_lib
from jaxser import systems
from jaxser.systems import adan, classic, supervised, zhong
from jaxser.train import steps


def test_one_explicit_table_of_kinds_with_one_interface():
    assert systems.KINDS == {"supervised": supervised.KIND, "sklearn": classic.KIND, "zhong": zhong.KIND, "adan": adan.KIND}
    for name, kind in systems.KINDS.items():
        assert kind.name == name and kind.description
        for part in ("validate", "load_data", "stages", "evaluate", "predictor"):
            assert callable(getattr(kind, part)), (name, part)
    # The device kind names its per-device functions: the ones the trainer compiles.
    assert supervised.KIND.train_step is steps.train_step and supervised.KIND.eval_step is steps.eval_step
    assert [s.name for s in supervised.KIND.stages(config_lib.base_config())] == ["train"]
    assert [s.name for s in classic.KIND.stages(config_lib.base_config())] == ["fit"]
    c = config_lib.base_config()
    assert [s.name for s in zhong.KIND.stages(c)] == ["train", "fuse"]
    c.hard_examples.retrain = True
    assert [s.name for s in zhong.KIND.stages(c)] == ["train", "retrain", "fuse"]
    assert [s.name for s in adan.KIND.stages(c)] == ["augment", "classify"]
    assert zhong.KIND.batch_keys == ("row", "functionals") and supervised.KIND.batch_keys == ()


def _sklearn_config():
    c = config_lib.base_config()
    c.kind, c.features.source, c.model.name = "sklearn", "opensmile", "linear_svm"
    c.model.kwargs.C = 0.01
    return c


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda c: setattr(c, "kind", "gan"), "not a jaxser system kind"),
        (lambda c: setattr(c.model, "name", "zhao2019_cnn2d"), "not an estimator of kind 'sklearn'"),
        (lambda c: setattr(c.model.kwargs, "gamma_", 1.0), "not a parameter of linear_svm"),
        (lambda c: setattr(c.features, "source", "waveform"), "set features.source='opensmile'"),
        (lambda c: setattr(c.features, "opensmile_set", "IS13"), "features.opensmile_set"),
        (lambda c: setattr(c.features, "normalize", "global"), "features.normalize"),
    ],
)
def test_sklearn_config_errors_name_the_field(change, message):
    config = _sklearn_config()
    config_lib.validate(config)
    change(config)
    with pytest.raises(config_lib.ConfigError, match=message):
        config_lib.validate(config)


def test_supervised_kind_refuses_feature_vectors_and_checks_losses():
    c = config_lib.base_config()
    config_lib.validate(c)
    c.features.source = "opensmile"
    with pytest.raises(config_lib.ConfigError, match="use kind='sklearn'"):
        config_lib.validate(c)
    c.features.source = "waveform"
    for loss, weights, message in [
        ("softmax", "none", "loss.name"),
        ("weighted_cross_entropy", "none", "class_weights='balanced'"),
        ("cross_entropy", "balanced", "class_weights='balanced'"),
        ("hard_example", "none", "hard-example stage"),
    ]:
        c.loss.name, c.loss.class_weights = loss, weights
        with pytest.raises(config_lib.ConfigError, match=message):
            config_lib.validate(c)
    c.loss.name, c.loss.class_weights = "weighted_cross_entropy", "balanced"
    config_lib.validate(c)
    c.loss.name, c.loss.class_weights, c.augment.noise_prob = "cross_entropy", "none", 0.5
    with pytest.raises(config_lib.ConfigError, match="augment: noise_prob > 0 needs noise_snr_db"):
        config_lib.validate(c)


def test_a_config_json_from_before_a_field_existed_resumes(tmp_path):
    """A run started before jaxser grew a field (its config.json lacks it) is the same run."""
    import json

    from jaxser.train import supervised as trainer_lib

    config = config_lib.base_config()
    old = json.loads(config_lib.to_json(config))
    del old["loss"], old["kind"], old["features"]
    (tmp_path / "config.json").write_text(json.dumps(old))
    trainer_lib.write_config(config, tmp_path)  # no WorkdirError
    config.train.learning_rate = 0.5
    with pytest.raises(trainer_lib.WorkdirError, match="different config"):
        trainer_lib.write_config(config, tmp_path)
