"""The supervised kind's configurable parts in the trainer: losses and on-device augmentation."""

from __future__ import annotations

import numpy as np
import pytest

from jaxser import losses
from jaxser.train import supervised
from tests.conftest import make_config

pytestmark = pytest.mark.usefixtures("tiny_model")


def test_loss_from_the_config_with_class_weights_of_the_training_part_only(tmp_path, tfds_dir, tiny_corpus):
    config = make_config(tfds_dir, epochs=1)
    config.loss.name, config.loss.class_weights = "weighted_cross_entropy", "balanced"
    trainer = supervised.Trainer(config, tmp_path, corpus=tiny_corpus)
    spec = trainer.loss_spec()
    train = set(trainer.fold.train_ids)
    labels = [l for i, l in zip(tiny_corpus.meta["id"].tolist(), tiny_corpus.meta["label"].tolist()) if i in train]
    assert spec.class_weights == pytest.approx(tuple(losses.balanced_class_weights(labels, trainer.num_classes)))
    _, summary = trainer.fit()
    assert summary["steps"] == 3 and summary["nonfinite_steps_skipped"] == 0
    config.loss.name, config.loss.class_weights = "focal", "none"
    assert supervised.Trainer(config, tmp_path / "focal", corpus=tiny_corpus).loss_spec().class_weights is None


def test_training_rows_are_shifted_on_device_with_one_compilation(tmp_path, tfds_dir, tiny_corpus):
    plain = supervised.Trainer(make_config(tfds_dir, epochs=1), tmp_path / "plain", corpus=tiny_corpus)
    assert plain.train_noise is None and not plain.augment.enabled
    config = make_config(tfds_dir, epochs=1)
    config.augment.shift_seconds = 0.5
    shifted = supervised.Trainer(config, tmp_path / "shifted", corpus=tiny_corpus)
    a, _ = plain.fit()
    b, _ = shifted.fit()
    assert shifted.train_fn._cache_size() == 1
    leaves = zip(*(np.asarray(x).ravel() for x in (a.params["Dense_0"]["kernel"], b.params["Dense_0"]["kernel"])))
    assert any(x != y for x, y in leaves)  # augmentation changed what was learned


@pytest.mark.realdata
def test_evaluation_in_noise_is_the_same_noisy_audio_every_time(tmp_path, tfds_dir, tiny_corpus, noise_dir):
    config = make_config(tfds_dir, epochs=1)
    clean = supervised.Trainer(config, tmp_path / "clean", corpus=tiny_corpus)
    state, _ = clean.fit()
    config.augment.eval_snr_db = (0.0,)
    config.augment.noise_dir = str(noise_dir)
    noisy = supervised.Trainer(config, tmp_path / "noisy", corpus=tiny_corpus)
    assert noisy.train_noise is None and noisy.test_noise is not None  # held-out noise types for evaluation only
    ids = noisy.fold.test_ids
    first, second = noisy.evaluate(state, ids), noisy.evaluate(state, ids)
    np.testing.assert_array_equal(first.probs, second.probs)
    assert not np.allclose(first.probs, clean.evaluate(state, ids).probs, atol=1e-4)
