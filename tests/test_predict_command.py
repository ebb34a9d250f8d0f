"""`jaxser predict` as a user runs it, in fresh processes: no TensorFlow, nothing on the
terminal but our own output, the re-execution before any heavy import, and the
compilation cache reused by the second run.

The run predicted is an untrained one of the demo's tiny config: a model the package
registers (a subprocess cannot see the tests' tiny model), saved as training saves it.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import pytest
import soundfile as sf

from jaxser import config as config_lib
from jaxser.demo import demo_config
from jaxser.train import checkpoint, data, network, state as state_lib

REPO = pathlib.Path(__file__).resolve().parents[1]
# Run as `jaxser` is (main() with no argv: it may re-execute itself), reporting at exit
# whether TensorFlow was imported.
ENTRY = (
    "import atexit, sys\n"
    "atexit.register(lambda: print('tensorflow imported:', 'tensorflow' in sys.modules, file=sys.stderr))\n"
    "from jaxser.cli import main\n"
    "sys.exit(main())\n"
)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory, tfds_dir, tiny_corpus):
    config = demo_config(smoke=True)
    config.data.data_dir = str(tfds_dir)  # the tiny corpus the session built
    workdir = tmp_path_factory.mktemp("demo_run")
    names = list(tiny_corpus.class_names)
    model = network.build_model(config, len(names), bn_axis_name=None)
    samples = data.pipeline_config(config).clip_samples
    tx = state_lib.optimizer(config.train, 1)
    state = state_lib.create(model, tx, 0, jnp.zeros((1, samples)), jnp.full((1,), samples))
    (workdir / "config.json").write_text(config_lib.to_json(config))
    (workdir / network.CLASSES_FILE).write_text(json.dumps({"class_names": names}))
    saved = checkpoint.Checkpoints(workdir)
    saved.save_best(state, {"step": 0, "class_names": names}, score=0.0)
    saved.finish()
    return workdir


def _env(tmp_path, **extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "JAXSER_VERBOSE")}
    return {**env, "PYTHONPATH": str(REPO), "JAXSER_COMPILE_CACHE": str(tmp_path / "cache"), **extra}


def _jaxser(args: list[str], env: dict[str, str], status: int = 0) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-c", ENTRY, *args], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == status, done.stderr[-3000:]
    return done


def _run_in_python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_prediction_and_evaluation_modules_import_no_tensorflow():
    out = _run_in_python(
        "import sys\n"
        "import jaxser.predict\n"
        "print('predict', 'tensorflow' in sys.modules, 'sklearn' in sys.modules)\n"
        "from jaxser import Predictor, evaluate\n"
        "print('evaluate', 'tensorflow' in sys.modules)\n"
    )
    assert out.split() == ["predict", "False", "False", "evaluate", "False"]


@pytest.mark.parametrize("entry", ["python -m jaxser", "console script"])
def test_the_command_re_executes_before_any_heavy_import(entry):
    # Whatever re-executes (host_memory: glibc reads its tunables at start-up only)
    # must come before TensorFlow or JAX are imported, or they are imported twice.
    start = "runpy.run_module('jaxser', run_name='__main__')" if entry == "python -m jaxser" else "cli.main()"
    out = _run_in_python(
        "import runpy, sys\n"
        "from jaxser import cli, host_memory\n"
        "def reexec():\n"
        "    print(sorted(m for m in ('tensorflow', 'jax', 'flax', 'numpy') if m in sys.modules))\n"
        "    sys.exit(0)\n"
        "host_memory.reexec_with_hugepages = reexec\n"
        "sys.argv = ['jaxser', 'predict', '--checkpoint', 'run', 'a.wav']\n"
        f"{start}\n"
    )
    assert out.strip() == "[]"


def test_predict_is_quiet_imports_no_tensorflow_and_reuses_its_compilation(demo_run, tmp_path):
    clip = tmp_path / "clip.wav"
    sf.write(clip, 0.1 * np.random.default_rng(0).standard_normal(24000), 16000)
    blip = tmp_path / "blip.wav"  # 2.5 ms: the clip
    sf.write(blip, 0.1 * np.random.default_rng(1).standard_normal(40), 16000)
    args = ["predict", "--checkpoint", str(demo_run), str(clip), str(blip), "--format", "json"]
    env = _env(tmp_path)

    first = _jaxser(args, env)
    assert first.stderr == "tensorflow imported: False\n"  # and not one third-party line
    out = json.loads(first.stdout)
    assert [(p["status"], p["label"] is None) for p in out] == [("ok", False), ("too_short", True)]
    compiled = set((tmp_path / "cache").iterdir())
    assert compiled  # the model's compilation, stored

    # A second run compiles nothing (the cache gains no entry); --verbose lets the
    # libraries' lines through (orbax's note on the read-only checkpoint folder).
    second = _jaxser(["--verbose", *args], env)
    assert set((tmp_path / "cache").iterdir()) == compiled
    assert json.loads(second.stdout) == out
    assert "Given directory is read only" in second.stderr


def test_commands_that_import_tensorflow_are_quiet(tmp_path):
    # The corpus commands (summary, train, evaluate, cv) import TensorFlow; its start-up
    # lines come at import. The cheapest of them: an unknown corpus, refused after TF loads.
    done = _jaxser(["summary", "--dataset", "nope", "--data-dir", str(tmp_path)], _env(tmp_path), status=2)
    lines = done.stderr.splitlines()
    assert lines[-1] == "tensorflow imported: True"
    assert lines[:-1] == [lines[0]] and lines[0].startswith("jaxser summary: error: unknown corpus 'nope'"), done.stderr
