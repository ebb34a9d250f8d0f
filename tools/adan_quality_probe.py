"""How good one fold's generated vectors are, quickly (behind BUILD_NOTES' "Why tanh and d = 2" table).

    JAXSER_DATA=../shared/data .venv/bin/python tools/adan_quality_probe.py TAG --config.augmenter.epochs=300 \
        [--config.augmenter.latent_activation=tanh --config.augmenter.d_steps=2 ...]

Trains configs/yi2020_emodb.py's augmenter (with the overrides given) on fold 0's
training speakers in /tmp/adan_probe_TAG, generates one set and prints JSON: the MMD to
the training vectors, a linear SVM (``classifier.svm_C``) of the real vectors scored on
the generated ones with their intended labels, one fitted on the generated vectors scored
on the validation speaker, and the spreads. EmoDB is read from ``$JAXSER_DATA/emodb``.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from jaxser import config as config_lib
from jaxser import linear_svm, mmd
from jaxser.systems import adan, classic
from jaxser.train import adversarial, data

CONFIG = pathlib.Path(__file__).resolve().parents[1] / "configs" / "yi2020_emodb.py"


def accuracy(X_fit, y_fit, X, y, *, num_classes: int, C: float) -> float:
    coef, intercept, _ = linear_svm.fit(X_fit, y_fit, num_classes=num_classes, C=C)
    return float(np.mean(np.argmax(X @ coef.T + intercept, axis=1) == y))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tag", help="names the workdir /tmp/adan_probe_TAG and the JSON line")
    args, overrides = parser.parse_known_args(argv)
    emodb = pathlib.Path(os.environ.get("JAXSER_DATA", "../shared/data")) / "emodb"
    c = config_lib.load(str(CONFIG), [f"--config.data.manual_dir={emodb}", "--config.train.progress=false", *overrides])
    corpus = classic.load_data(c)
    fold = data.fold(c, corpus.meta)
    norm = adan._normalized(c, corpus, fold)
    X, y, _ = adan._part(corpus, fold, "train", norm)
    X_val, y_val, _ = adan._part(corpus, fold, "val", norm)
    k = len(corpus.class_names)
    rec = adan.recipe(c, k, y)
    workdir = pathlib.Path(f"/tmp/adan_probe_{args.tag}")
    shutil.rmtree(workdir, ignore_errors=True)
    a = c.augmenter
    start = time.time()
    state, _ = adversarial.Trainer(
        rec, adan._initial_state(c, rec, X.shape[1]), X, y, workdir, epochs=a.epochs, batch_size=a.batch_size,
        epochs_per_call=a.epochs_per_call, checkpoint_every_epochs=a.checkpoint_every_epochs, mode=c.parallel.mode,
    ).fit()
    generated = adversarial.generate(rec, state, y, seed=1)
    C = c.classifier.svm_C
    print(json.dumps({
        "tag": args.tag, "seconds": round(time.time() - start), "mmd": float(mmd.mmd(X, generated)),
        "mmd_real_val": float(mmd.mmd(X, X_val)),
        "real_svm_on_generated": accuracy(X, y, generated, y, num_classes=k, C=C),
        "generated_svm_on_val": accuracy(generated, y, X_val, y_val, num_classes=k, C=C),
        "real_svm_on_val": accuracy(X, y, X_val, y_val, num_classes=k, C=C),
        "generated_std": float(generated.std()), "real_std": float(X.std()),
    }), flush=True)


if __name__ == "__main__":
    main()
