"""Checkpoints: fall back past a damaged newest one; one run per workdir."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from jaxser.train import checkpoint, supervised, workdir
from tests.conftest import make_config

pytestmark = [
    pytest.mark.usefixtures("tiny_model"),
    # orbax leaves its reading coroutines unawaited when a damaged array fails to load
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


@pytest.fixture
def run(tmp_path, tfds_dir, tiny_corpus):
    trainer = supervised.Trainer(make_config(tfds_dir, epochs=3, checkpoint_every_steps=3), tmp_path, corpus=tiny_corpus)
    trainer.fit()
    return trainer, tmp_path / "checkpoints" / "latest"


def _damage(step_dir):
    files = sorted(p for p in step_dir.rglob("*") if p.is_file() and p.stat().st_size > 0)
    victim = max(files, key=lambda p: p.stat().st_size)  # the biggest array data file
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 3])
    return victim


def test_restore_falls_back_to_the_previous_checkpoint(run, caplog):
    trainer, latest = run
    assert sorted(int(p.name) for p in latest.iterdir() if p.name.isdigit()) == [6, 9]
    _damage(latest / "9")
    with caplog.at_level(logging.WARNING, logger="jaxser.train.checkpoint"):
        state, meta = checkpoint.restore(latest, trainer.initial_state)
    assert int(state.step) == 6 and meta["step"] == 6
    assert "9 is damaged" in caplog.text


def test_checkpoint_without_a_checksum_still_restores(run):
    """Checkpoints written before the SHA-256 was saved have none: restored, unchecked."""
    trainer, latest = run
    meta_file = latest / "9" / "meta" / "metadata"
    meta = json.loads(meta_file.read_text())
    assert len(meta.pop(checkpoint.STATE_SHA256)) == 64
    meta_file.write_text(json.dumps(meta))
    state, restored_meta = checkpoint.restore(latest, trainer.initial_state)
    assert int(state.step) == 9 and checkpoint.STATE_SHA256 not in restored_meta


def test_no_restorable_checkpoint_is_an_error_not_a_fresh_start(run, tfds_dir, tiny_corpus):
    trainer, latest = run
    for step in ("6", "9"):
        _damage(latest / step)
    with pytest.raises(checkpoint.CheckpointError, match="could be restored"):
        checkpoint.restore(latest, trainer.initial_state)
    # With every `latest` damaged the run resumes from `best` (test_supervised); damage it too.
    for best in (latest.parent / "best").iterdir():
        _damage(best)
    again = supervised.Trainer(make_config(tfds_dir, epochs=4, checkpoint_every_steps=3), trainer.workdir, corpus=tiny_corpus)
    with pytest.raises(checkpoint.CheckpointError, match="(?s)latest step 9: .*latest step 6: .*best step "):
        again.fit()


def test_second_run_in_the_same_workdir_is_refused(tmp_path, tfds_dir, tiny_corpus):
    trainer = supervised.Trainer(make_config(tfds_dir, epochs=1), tmp_path, corpus=tiny_corpus)
    with workdir.locked(tmp_path):
        with pytest.raises(workdir.WorkdirLockedError, match="in use by pid"):
            trainer.fit()
    _, summary = trainer.fit()  # the lock went with the first holder
    assert summary["steps"] == 3
    assert np.isfinite(summary["epochs"])
