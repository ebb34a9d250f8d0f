"""Seconds per training epoch of the authors' own ADAN/WADAN code (Yi & Mak 2020), for benchmarks.

Not part of the jaxser package, and none of the authors' code is in this repository: given
``--repo`` (a checkout holding ``python/adan.py`` and ``python/utils.py``, or the bare git
directory of one, whose two files are exported with ``git show HEAD:...`` into a temporary
folder), this script imports their module **unmodified** and calls their own
``ADAN.train_adan`` / ``ADAN.train_wadan`` loops. The file targets TensorFlow 1.10; it runs
on TF 2.x through shims installed at import time, not through edits:

* ``tensorflow`` seen by their modules is a module object that forwards to
  ``tf.compat.v1`` (after ``disable_v2_behavior()``: graph mode, reference variables, as TF 1),
  with ``tf.contrib.layers.xavier_initializer`` -> ``glorot_uniform_initializer`` and
  ``tf.layers`` -> ``tf.compat.v1.layers`` when the ``tf_keras`` package is importable
  (``TF_USE_LEGACY_KERAS=1``), else a small stand-in with the same variables and maths
  (``dense``: kernel + bias; ``batch_normalization``: gamma, beta, moving mean and variance,
  inference mode as their calls leave it, eps 1e-3). ``--layers`` picks one.
* ``keras.utils.np_utils.to_categorical`` is a numpy stand-in (Keras 3 has no np_utils).
* Data: a .mat file (keys ``x``, ``y``) of random float32 features (4,368 dims, 7 classes,
  every class present) in the working folder, read by their ``load_data``.

Timing: their module's ``np`` is replaced by a proxy whose ``random.shuffle`` and
``random.normal`` record a timestamp, and their ``show_result``/``show_result2`` by no-op
stubs (no plots; the checkpoint they then save comes after the last timestamp). An epoch
starts at its shuffle and ends after its ``N // batch`` iterations (the next recorded event:
ADAN's end-of-epoch probability read-out, the next shuffle or the end); the loop period,
shuffle to shuffle, is reported beside it. The first epoch (graph warm-up) is dropped and
the median of the others reported, in wall seconds (and process CPU seconds beside them).
One fresh graph and session per (model, size), TF limited to ``--threads`` intra- and
inter-op threads, cwd a temporary folder, batch 128.

    .venv/bin/python tools/adan_authors_reference.py --repo PATH --sizes 486,2000 --epochs 4
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import types

import numpy as np
import scipy.io

FEATURE_DIM, NUM_CLASSES, BATCH = 4368, 7, 128


def source_folder(repo: str, scratch: str) -> str:
    """The folder holding adan.py and utils.py (exported from a git directory if needed)."""
    plain = os.path.join(repo, "python")
    if os.path.isfile(os.path.join(plain, "adan.py")):
        return plain
    git_dir = os.path.join(repo, ".git") if os.path.isdir(os.path.join(repo, ".git")) else repo
    out = os.path.join(scratch, "authors_src")
    os.makedirs(out, exist_ok=True)
    for name in ("adan.py", "utils.py"):
        blob = subprocess.run(["git", f"--git-dir={git_dir}", "show", f"HEAD:python/{name}"],
                              check=True, capture_output=True).stdout
        with open(os.path.join(out, name), "wb") as f:
            f.write(blob)
    return out


def forwarding_module(name: str, target, **overrides) -> types.ModuleType:
    """A module whose attributes are ``overrides``, else those of ``target``."""
    mod = types.ModuleType(name)
    mod.__dict__.update(overrides)
    mod.__getattr__ = lambda attr: getattr(target, attr)
    return mod


def stand_in_layers(v1) -> types.SimpleNamespace:
    """``dense`` and inference-mode ``batch_normalization`` on tf.compat.v1 variables, named
    as TF 1's tf.layers names them (so ``reuse=True`` scopes find the same variables)."""

    def dense(inputs, units, kernel_initializer=None, name=None):
        with v1.variable_scope(name, default_name="dense"):
            kernel = v1.get_variable("kernel", [int(inputs.shape[-1]), units], initializer=kernel_initializer)
            bias = v1.get_variable("bias", [units], initializer=v1.zeros_initializer())
            return v1.nn.bias_add(v1.matmul(inputs, kernel), bias)

    def batch_normalization(inputs, training=False, epsilon=1e-3, name=None):
        if training is not False:
            raise NotImplementedError("only inference mode (the authors' calls) is provided")
        width = [int(inputs.shape[-1])]
        with v1.variable_scope(name, default_name="batch_normalization"):
            gamma = v1.get_variable("gamma", width, initializer=v1.ones_initializer())
            beta = v1.get_variable("beta", width, initializer=v1.zeros_initializer())
            mean = v1.get_variable("moving_mean", width, initializer=v1.zeros_initializer(), trainable=False)
            var = v1.get_variable("moving_variance", width, initializer=v1.ones_initializer(), trainable=False)
            return v1.nn.batch_normalization(inputs, mean, var, beta, gamma, epsilon)

    return types.SimpleNamespace(dense=dense, batch_normalization=batch_normalization)


def load_authors_module(src: str, tf_shim, events: list):
    """Import their adan.py with the shims in place; restore sys.modules afterwards."""
    one_hot = lambda y, num_classes=None: np.eye(num_classes or int(np.max(y)) + 1, dtype="float32")[np.asarray(y, int)]
    np_utils = types.SimpleNamespace(to_categorical=one_hot)
    fakes = {"tensorflow": tf_shim, "keras": types.SimpleNamespace(utils=types.SimpleNamespace(np_utils=np_utils)),
             "keras.utils": types.SimpleNamespace(np_utils=np_utils), "keras.utils.np_utils": np_utils}
    saved = {k: sys.modules.get(k) for k in (*fakes, "adan", "utils")}
    sys.modules.update(fakes)
    sys.path.insert(0, src)
    try:
        for name in ("adan", "utils"):
            sys.modules.pop(name, None)
        mod = importlib.import_module("adan")
    finally:
        sys.path.remove(src)
        for k, v in saved.items():
            sys.modules.pop(k, None) if v is None else sys.modules.__setitem__(k, v)

    def stamped(kind, fn):
        return lambda *a, **k: (events.append((kind, time.perf_counter(), time.process_time())), fn(*a, **k))[1]

    rnd = forwarding_module("numpy.random", np.random, shuffle=stamped("shuffle", np.random.shuffle),
                            normal=stamped("normal", np.random.normal))
    mod.np = forwarding_module("numpy", np, random=rnd)
    mod.show_result = mod.show_result2 = stamped("end", lambda *a, **k: None)
    return mod


def epoch_times(events: list, n: int) -> tuple[list, list, list]:
    """Per epoch: wall seconds shuffle -> end of its iterations, the same in process CPU
    seconds, and wall seconds shuffle -> next shuffle (or end)."""
    iters, train, cpu, loop = n // BATCH, [], [], []
    starts = [i for i, ev in enumerate(events) if ev[0] == "shuffle"]
    for j, i in enumerate(starts):
        assert all(ev[0] == "normal" for ev in events[i + 1:i + 1 + iters]), "unexpected event order"
        train.append(events[i + 1 + iters][1] - events[i][1])
        cpu.append(events[i + 1 + iters][2] - events[i][2])
        stop = starts[j + 1] if j + 1 < len(starts) else next(k for k in range(i, len(events)) if events[k][0] == "end")
        loop.append(events[stop][1] - events[i][1])
    return train, cpu, loop


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repo", required=True, help="folder with python/adan.py, or its bare git directory")
    p.add_argument("--sizes", default="486,2000,10000")
    p.add_argument("--epochs", type=int, default=4, help="epochs per run; the first is dropped")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--z-dim", type=int, default=100, help="100 as the paper and train_adan.py; the class default is 2")
    p.add_argument("--d-times", type=int, default=2, help="D updates per iteration (train_adan.py: 2, class default 1)")
    p.add_argument("--models", default="adan,wadan")
    p.add_argument("--layers", choices=("auto", "tf_keras", "shim"), default="auto")
    args = p.parse_args(argv)
    if args.epochs < 2:
        p.error("--epochs must be >= 2 (the first epoch is dropped)")
    use_tf_keras = args.layers == "tf_keras" or (args.layers == "auto" and importlib.util.find_spec("tf_keras"))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if use_tf_keras:
        os.environ["TF_USE_LEGACY_KERAS"] = "1"
    import tensorflow as tf  # heavy: only here

    v1 = tf.compat.v1
    v1.disable_v2_behavior()
    v1.logging.set_verbosity(v1.logging.ERROR)
    layers = v1.layers if use_tf_keras else stand_in_layers(v1)
    contrib = types.SimpleNamespace(layers=types.SimpleNamespace(xavier_initializer=v1.glorot_uniform_initializer))
    tf_shim = forwarding_module("tensorflow", v1, layers=layers, contrib=contrib)
    events: list = []
    load_before = os.getloadavg()
    result = {"authors_code": {}, "authors_code_cpu_s": {}, "authors_loop_period": {}, "epochs_timed": {}}
    with tempfile.TemporaryDirectory(prefix="adan_authors_") as work:
        mod = load_authors_module(source_folder(args.repo, work), tf_shim, events)
        rng = np.random.default_rng(0)
        home = os.getcwd()
        os.chdir(work)
        try:
            for size in [int(s) for s in args.sizes.split(",")]:
                mat = os.path.join(work, f"train_{size}.mat")
                y = rng.permutation(np.arange(size) % NUM_CLASSES).astype("int32")
                scipy.io.savemat(mat, {"x": rng.standard_normal((size, FEATURE_DIM), dtype=np.float32), "y": y})
                for model in args.models.split(","):
                    events.clear()
                    config = v1.ConfigProto(intra_op_parallelism_threads=args.threads,
                                            inter_op_parallelism_threads=args.threads)
                    with v1.Graph().as_default(), v1.Session(config=config) as sess, \
                            contextlib.redirect_stdout(sys.stderr):
                        net = mod.ADAN(mat, sess, latent_dim=100, z_dim=args.z_dim, lr_C=1e-4, lr_D=1e-4,
                                       lr_G=1e-4, lr_E=1e-4, lr_R=1e-4, d_times=args.d_times, e_times=1,
                                       imbalanced=False, batch=BATCH, epoch=args.epochs, num=0)
                        getattr(net, f"train_{model}")()
                    train, cpu, loop = epoch_times(events, size)
                    for key, values in (("authors_code", train), ("authors_code_cpu_s", cpu),
                                        ("authors_loop_period", loop)):
                        result[key].setdefault(model, {})[str(size)] = round(statistics.median(values[1:]), 4)
                    result["epochs_timed"].setdefault(model, {})[str(size)] = [round(t, 4) for t in train]
                os.remove(mat)
        finally:
            os.chdir(home)
    result.update({
        "tf_version": tf.__version__, "threads": args.threads, "z_dim": args.z_dim, "d_times": args.d_times,
        "batch": BATCH, "layers": "tf.compat.v1.layers (tf_keras)" if use_tf_keras else "stand-in dense/batch_norm",
        "cpu_count": os.cpu_count(),
        "load_average_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "notes": [
            "authors' python/adan.py run unmodified under tf.compat.v1 (disable_v2_behavior) with import-time shims",
            "sec/epoch: shuffle + N//128 iterations as their loop runs them (incl. their per-iteration loss "
            "read-outs), median over epochs after the first; authors_code_cpu_s: the same epochs in process "
            "CPU seconds (less sensitive to a busy machine); authors_loop_period adds ADAN's end-of-epoch "
            "full-set probability read-out; epochs_timed: every epoch's wall seconds, warm-up first",
            f"z_dim={args.z_dim} (the paper's and train_adan.py's 100; the ADAN class default is 2); "
            f"d_times={args.d_times}; random features {FEATURE_DIM} dims, {NUM_CLASSES} classes",
        ],
    })
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
