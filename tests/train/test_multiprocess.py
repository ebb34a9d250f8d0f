"""Two processes with jax.distributed on localhost (CPU, gloo collectives) train the 2D
CNN-LSTM on real EmoDB audio, each feeding its own rows of every global batch, and
agree with one process driving two devices.

Checks: the training state is byte-identical on both processes (the trainer compares
digests of each process's copy and reports it); the parameters equal the 1-process,
2-device run's within float32 reduction-order noise; evaluation counts every test
utterance exactly once; the checkpoints are written once (no duplicate log lines, one
set of steps) and a single process restores them.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import jax
import numpy as np
import pytest

from jaxser import data as data_lib
from jaxser.predict import Predictor
from jaxser.train import metric_log
from tests.train import processes

CONFIG = pathlib.Path(__file__).parents[2] / "configs" / "zhao2019_cnn2d_emodb.py"
SPEAKERS = ("03", "08", "09", "10")  # LOSO fold 0: test 03, validation 08, training 09 + 10
TIMEOUT = 600

pytestmark = [pytest.mark.slow, pytest.mark.realdata]


@pytest.fixture(scope="module")
def emodb_subset(emodb_dir, tmp_path_factory):
    """Four EmoDB speakers (links to the real files) built into a TFDS folder once."""
    root = tmp_path_factory.mktemp("mp_emodb")
    manual = root / "emodb"
    manual.mkdir()
    files = sorted(p for p in emodb_dir.glob("*.wav") if p.name[:2] in SPEAKERS)
    for p in files:
        (manual / p.name).symlink_to(p)
    data_lib.load("emodb", manual_dir=manual, data_dir=root / "tfds")  # build before the workers read it
    return manual, root / "tfds", {s: sum(p.name[:2] == s for p in files) for s in SPEAKERS}


def _command(workdir, manual, tfds):
    return [
        sys.executable, "-m", "jaxser", "train", "--config", f"{CONFIG}:smoke", "--workdir", str(workdir), "--json",
        f"--config.data.manual_dir={manual}", f"--config.data.data_dir={tfds}",
        "--config.train.global_batch_size=8", "--config.train.optimizer=sgd", "--config.train.momentum=0.0",
        "--config.train.learning_rate=0.05", "--config.train.epochs=1", "--config.train.progress=false",
        "--config.train.log_every_steps=2",
    ]


def _env(**extra):
    return processes.cpu_env(JAXSER_COMPILE_CACHE="", **extra)


def _result(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, err[-4000:]
    try:
        return json.loads(out)
    except json.JSONDecodeError:
        pytest.fail(f"not JSON on stdout:\n{out[:3000]}\nstderr:\n{err[-3000:]}")


def test_two_processes_match_one_process_with_two_devices(emodb_subset, tmp_path):
    manual, tfds, per_speaker = emodb_subset
    port = processes.free_port()
    mp_dir, sp_dir = tmp_path / "two_processes", tmp_path / "one_process"
    procs = [
        subprocess.Popen(
            _command(mp_dir, manual, tfds)
            + ["--coordinator", f"localhost:{port}", "--num-processes", "2", "--process-id", str(i)],
            env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for i in range(2)
    ]
    try:
        results = [_result(p) for p in procs]
    finally:
        for p in procs:
            p.kill()
    single = _result(subprocess.Popen(
        _command(sp_dir, manual, tfds), env=_env(XLA_FLAGS="--xla_force_host_platform_device_count=2"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ))

    # Both processes: same state, byte for byte, after the same steps.
    a, b = (r["train"] for r in results)
    assert a["processes"] == b["processes"] == 2 and a["devices"] == 2
    assert single["train"]["processes"] == 1 and single["train"]["devices"] == 2
    assert a["steps"] == b["steps"] == single["train"]["steps"] > 0
    assert a["state_digest"] == b["state_digest"]

    # Evaluation: every test utterance of speaker 03 exactly once, on both processes.
    for r in (*results, single):
        assert r["total"] == per_speaker["03"] == sum(map(sum, r["confusion"]))
    assert results[0]["confusion"] == results[1]["confusion"]

    # Checkpoints: one set, written once, restored here by a single process.
    assert sorted(p.name for p in (mp_dir / "checkpoints" / "latest").iterdir()) == sorted(
        p.name for p in (sp_dir / "checkpoints" / "latest").iterdir())
    records = metric_log.read(mp_dir)
    keys = [(r["step"], r["split"]) for r in records]
    assert len(keys) == len(set(keys)), "metrics written by more than one process"
    restored = {d: Predictor.from_checkpoint(d, which="latest").variables for d in (mp_dir, sp_dir)}
    diffs = jax.tree.map(lambda x, y: float(np.max(np.abs(np.asarray(x) - np.asarray(y)))),
                         restored[mp_dir], restored[sp_dir])
    # SGD: the parameter difference is lr x the gradient's float32 reduction-order noise.
    assert max(jax.tree.leaves(diffs)) <= 1e-4, diffs
