"""The adan kind (Yi & Mak 2020): config checks, augmented sets, the on-device DNN, the
choice of the amount, and a whole cross-validation on the synthetic corpus (slow) that
checks what every augmenter and classifier was fitted on."""

from __future__ import annotations

import json

import numpy as np
import pytest

from jaxser import config as config_lib
from jaxser.augment import feature_sets
from jaxser.systems import adan
from jaxser.train import vectors


def make_config(**overrides):
    """The smoke config with ``{"a.b": value}`` applied as command-line overrides are (typed; not validated)."""
    c = config_lib.load("configs/yi2020_emodb.py:smoke")
    config_lib.apply_overrides(c, [f"--config.{key}={value}" for key, value in overrides.items()])
    return c


def test_amount_chosen_on_validation_needs_validation_speakers():
    c = make_config(**{"split.val_speakers": 0})  # outside raises: only validate() may raise there
    with pytest.raises(config_lib.ConfigError, match="split.val_speakers >= 1"):
        config_lib.validate(c)
    config_lib.validate(make_config(**{"split.val_speakers": 0, "classifier.amount": 2}))


@pytest.mark.parametrize("key,value,message", [
    ("augmenter.method", "vae", "augmenter.method"),
    ("classifier.amount", 5, "classifier.amount=5"),
    ("augmenter.penalty_power", 1.0, "penalty_power must be > 1"),
    ("augmenter.latent_activation", "relu", "latent_activation"),
])
def test_bad_values_name_the_field(key, value, message):
    c = make_config(**{key: value})
    with pytest.raises(config_lib.ConfigError, match=message):
        config_lib.validate(c)


@pytest.mark.parametrize("method", feature_sets.METHODS)
def test_augmented_sets_keep_size_labels_and_seed(method):
    rng = np.random.default_rng(0)
    y = np.array([0] * 10 + [1] * 6 + [2] * 1)
    X = (rng.standard_normal((17, 5)) + 3 * y[:, None]).astype(np.float32)
    sets = feature_sets.make(method, X, y, sets=3, seed=4)
    assert len(sets) == 3
    for made, labels in sets:
        assert made.shape == X.shape and made.dtype == np.float32
        np.testing.assert_array_equal(labels, y)
    again = feature_sets.make(method, X, y, sets=2, seed=4)
    np.testing.assert_array_equal(again[1][0], sets[1][0])  # set i is set i however many are made
    if method == "duplicate":
        np.testing.assert_array_equal(sets[0][0], X)
    if method == "noise":
        assert 0.05 < np.std(sets[0][0] - X) < 0.2
    if method == "smote":
        made = sets[0][0]
        np.testing.assert_array_equal(made[y == 2], X[y == 2])  # one vector: duplicated
        for c in (0, 1):  # interpolations stay within their class's box
            assert np.all(made[y == c] >= X[y == c].min(0) - 1e-5) and np.all(made[y == c] <= X[y == c].max(0) + 1e-5)
        assert not np.array_equal(made[y == 0], X[y == 0])


def test_dnn_learns_a_separable_problem_and_round_trips():
    rng = np.random.default_rng(0)
    y = np.arange(120) % 3
    X = (rng.standard_normal((120, 8)) + 4 * np.eye(3, 8)[y]).astype(np.float32)
    params = vectors.train_mlp(X, y, num_classes=3, hidden=(16,), epochs=30, batch_size=32, learning_rate=1e-2,
                               seeds=(0, 1))
    probs = vectors.predict(params, X, num_classes=3, hidden=(16,))
    assert probs.shape == (120, 3) and np.mean(probs.argmax(1) == y) > 0.95
    back = vectors.unflatten(vectors.flatten(params))
    np.testing.assert_array_equal(vectors.predict(back, X, num_classes=3, hidden=(16,)), probs)


def test_amount_is_the_best_validation_ua_then_wa_then_fewest():
    c = make_config()
    curve = {"0": {"ua": 0.5, "wa": 0.5}, "1": {"ua": 0.7, "wa": 0.6}, "2": {"ua": 0.7, "wa": 0.6},
             "3": {"ua": 0.7, "wa": 0.65}}
    assert adan._choose(c, curve) == 3
    curve["3"]["wa"] = 0.6
    assert adan._choose(c, curve) == 1
    c.classifier.amount = 2
    assert adan._choose(c, curve) == 2


# -- the whole system (slow) ---------------------------------------------------------


FOLDS = [0, 1]  # two of the tiny corpus' LOSO folds: the suite's time


@pytest.fixture(scope="module")
def cv_run(tmp_path_factory):
    from jaxser import experiments
    from jaxser.train import adversarial

    config = make_config(**{"augmenter.sets": 1})  # amounts 0 and 1: each a DNN and an SVM compile per fold
    config.train.progress = False
    seen = []
    original = adversarial.Trainer.__init__

    def spy(self, recipe, state, X, y, workdir, **kw):
        seen.append((str(workdir), np.asarray(X).copy()))
        original(self, recipe, state, X, y, workdir, **kw)

    adversarial.Trainer.__init__ = spy
    try:
        workdir = tmp_path_factory.mktemp("adan_cv")
        results = experiments.run_cv(config, workdir, folds=FOLDS, log=lambda *a, **k: None)
    finally:
        adversarial.Trainer.__init__ = original
    return config, workdir, results, seen


@pytest.mark.slow
def test_cross_validation_fits_each_augmenter_on_training_speakers_only(cv_run):
    from jaxser.train import data

    config, workdir, results, seen = cv_run
    assert results["meta"]["protocol"].startswith("speaker-independent leave-one-speaker-out")
    outputs = results["aggregate"]["other_outputs"]
    assert set(outputs) == {f"{n}/sets={m:02d}" for n in ("dnn", "svm") for m in range(config.augmenter.sets + 1)}
    fc = adan.load_data(config)
    folds = data.folds(config, fc.meta)
    assert len(seen) == len(FOLDS) and results["meta"]["folds_run"] == len(FOLDS)
    for index in FOLDS:
        fold = folds[index]
        d = workdir / f"fold-{index:02d}"
        normalizer = adan._load_normalizer(d / "augment")
        X_train, _, _ = adan._part(fc, fold, "train", normalizer)
        workdir_seen, X_seen = seen[index]
        assert workdir_seen.endswith(f"fold-{index:02d}/augment")
        # The augmenter saw exactly the training speakers' vectors: none of the test or
        # validation speakers', so nothing generated for this fold comes from them.
        np.testing.assert_array_equal(X_seen, X_train)
        assert not set(fold.test_speakers) & set(fold.train_speakers)
        # ... and the normaliser is the training part's own statistics.
        raw = fc.X[fc.rows(fold.train_ids)][:, normalizer.keep].astype(np.float64)
        np.testing.assert_allclose(normalizer.mean[normalizer.keep], raw.mean(0), rtol=1e-5, atol=1e-5)
        validation = json.loads((d / "classify" / "validation.json").read_text())
        assert validation["validation_speakers"] == list(fold.val_speakers)
        result = json.loads((d / "eval.json").read_text())
        assert result["augmented_sets"] == adan._choose(config, validation["curve"]["dnn"])
        for stage in ("augment", "classify"):
            assert (d / stage / "stage.json").is_file()
        assert (d / "augment" / "tsne.png").is_file() and (d / "augment" / "losses.png").is_file()


@pytest.mark.slow
def test_a_finished_cross_validation_runs_again_without_training(cv_run):
    from jaxser import experiments

    config, workdir, results, _ = cv_run
    again = experiments.run_cv(config, workdir, folds=FOLDS, log=lambda *a, **k: None)
    assert again["aggregate"]["pooled"] == results["aggregate"]["pooled"]


def test_the_gan_is_one_model_per_class_and_fills_each_class_from_its_own():
    from jaxser.train import adversarial

    c = make_config(**{"augmenter.method": "gan"})
    rng = np.random.default_rng(0)
    y = np.array([0, 0, 1, 1, 1, 3])
    X = rng.standard_normal((6, 5)).astype(np.float32)
    models = adan._models(c, y)
    assert sorted(models) == [0, 1, 3] and models[1].sum() == 3
    assert list(adan._models(make_config(), y)) == [None]
    rec = adan.recipe(c, 4, y)
    states = {k: adan._initial_state(make_config(**{"augmenter.method": "gan", "augmenter.seed": k}), rec, 5)
              for k in models}
    made = adan.Augmenter(c, X, y, 4, states).make_set(2)
    assert made.shape == X.shape
    for k, rows in models.items():
        np.testing.assert_array_equal(made[rows], adversarial.generate(rec, states[k], y[rows], seed=3))
