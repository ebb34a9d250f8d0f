"""SIGKILL at random steps, and in the middle of checkpoint saves, then restart: the
trainer and the cross-validation runner end bit-identical to uninterrupted runs, no
fold is trained twice and none is lost.

Kill points are drawn from a seeded generator (printed on failure). The runs use a
persistent compilation cache, as the CLI does by default, so the restarts also check
that a cached executable computes exactly what a fresh compile does.
"""

from __future__ import annotations

import json
import os
import pathlib
import random
import subprocess
import sys

import pytest

from tests.reliability.kill import KillAt, run_killed

pytestmark = pytest.mark.slow

CONFIG = pathlib.Path(__file__).parents[2] / "configs" / "default.py"
# The tiny synthetic corpus, 4 speakers in LOSO folds: 2 training speakers (24 clips),
# batch 4 -> 6 steps per epoch, 18 per fold; a checkpoint every 2 steps.
OVERRIDES = [
    "--config.split.kind=loso", "--config.train.global_batch_size=4", "--config.train.epochs=3",
    "--config.train.progress=false", "--config.train.log_every_steps=1", "--config.train.checkpoint_every_steps=2",
]
STEPS_PER_FOLD = 18
SEED = int(os.environ.get("JAXSER_KILL_SEED", "0"))


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("kill")
    return {**os.environ, "JAX_PLATFORMS": "cpu", "JAXSER_TFDS_DIR": str(root / "tfds"),
            "JAXSER_COMPILE_CACHE": str(root / "compile_cache")}


def _cv(workdir):
    return [sys.executable, "-m", "jaxser", "cv", "--config", f"{CONFIG}:smoke", "--workdir", str(workdir),
            "--folds", "0,1", *OVERRIDES]


def _digest(fold_dir: pathlib.Path) -> str:
    return json.loads((fold_dir / "train_summary.json").read_text())["state_digest"]


@pytest.fixture(scope="module")
def reference(env, tmp_path_factory):
    """Uninterrupted cross-validation over folds 0 and 1."""
    workdir = tmp_path_factory.mktemp("reference")
    out = subprocess.run(_cv(workdir), env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return workdir


def test_trainer_killed_and_restarted_ends_bit_identical(env, reference, tmp_path):
    rng = random.Random(SEED)
    points = [KillAt(rng.randint(2, 9)), KillAt(rng.randint(10, 16), during_save=True)]
    command = [sys.executable, "-m", "jaxser", "train", "--config", f"{CONFIG}:smoke", "--workdir", str(tmp_path),
               "--json", "--config.split.fold=0", *OVERRIDES]
    kills, final = run_killed(command, tmp_path, points, env=env)
    assert sum(k.saving for k in kills) >= 1, f"no kill landed in a save: {kills} (seed {SEED})"
    result = json.loads(final.stdout)
    assert result["train"]["steps"] == STEPS_PER_FOLD
    assert result["train"]["state_digest"] == _digest(reference / "fold-00"), f"seed {SEED}, kills {kills}"
    reference_eval = json.loads((reference / "fold-00" / "eval.json").read_text())
    assert result["confusion"] == reference_eval["confusion"]


def test_cv_killed_and_restarted_loses_and_repeats_no_fold(env, reference, tmp_path):
    rng = random.Random(SEED + 1)
    points = [
        KillAt(rng.randint(2, 16)),  # inside fold 0
        KillAt(STEPS_PER_FOLD + rng.randint(2, 14), during_save=True),  # fold 0 done, inside fold 1
    ]
    kills, final = run_killed(_cv(tmp_path), tmp_path, points, env=env)
    assert sum(k.saving for k in kills) >= 1, f"no kill landed in a save: {kills} (seed {SEED})"
    # Fold 0 had finished before the second kill: no later run trained it again.
    assert kills[1].steps_logged > STEPS_PER_FOLD
    for stderr in [k.stderr for k in kills[2:]] + [final.stderr]:
        assert f"training in {tmp_path / 'fold-00'}" not in stderr, stderr[-2000:]
    results = json.loads((tmp_path / "results.json").read_text())
    reference_results = json.loads((reference / "results.json").read_text())
    assert set(results["folds"]) == set(reference_results["folds"]) and len(results["folds"]) == 2
    for name in ("fold-00", "fold-01"):
        assert _digest(tmp_path / name) == _digest(reference / name), f"{name}: seed {SEED}, kills {kills}"
    assert results["aggregate"] == reference_results["aggregate"]
