"""Train-step throughput of the Zhao 2019 CNN-LSTM: jaxser vs Keras vs PyTorch, interleaved.

One process builds all three, warms each up, then times them round-robin (``--reps``
rounds of ``--steps`` steps each; the figure is the median over rounds), so allocator
and background-load drift hit every framework alike. Prints one JSON object on stdout
and nothing else (TensorFlow/XLA logging goes to stderr).

    .venv/bin/python tools/bench_cnn_lstm.py --model 2d
    .venv/bin/python tools/bench_cnn_lstm.py --model 1d --reps 3 --steps 1

What is timed, per step (batch ``--batch`` of 8 s clips at 16 kHz, 7 classes, Adam):

* jaxser: one jitted, state-donating function: log-mel on device (2D), forward,
  backward, Adam update; ``mask_padding=False`` (the paper's computation, identical to
  the references) unless ``--mask-padding``. Compile time is reported separately.
* Keras (``tools/reference_cnn_lstm_keras.py``): ``train_on_batch`` on a log-mel
  computed once on the host before timing (2D) -- features are free for Keras.
* PyTorch (``tools/reference_cnn_lstm_torch.py``): eager forward/backward/Adam, same
  precomputed input. torch is not a jaxser dependency; a missing torch or TensorFlow
  is reported as an error naming the package (or skip it with ``--frameworks``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

SR = 16000


def _jaxser_step(kind, batch, num_samples, num_classes, mask_padding, audio, lengths, labels):
    import jax
    import optax

    from jaxser.models import CNNLSTM1D, CNNLSTM2D

    model = (CNNLSTM2D if kind == "2d" else CNNLSTM1D)(num_classes=num_classes, mask_padding=mask_padding)
    variables = model.init({"params": jax.random.key(0), "dropout": jax.random.key(1)}, audio[:2], lengths[:2])
    tx = optax.adam(1e-3)
    state = (variables["params"], variables["batch_stats"], tx.init(variables["params"]))

    def train_step(state, audio, lengths, labels):
        params, stats, opt = state

        def loss_fn(p):
            logits, upd = model.apply({"params": p, "batch_stats": stats}, audio, lengths, train=True,
                                      mutable=["batch_stats"])
            return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean(), upd

        (loss, upd), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt = tx.update(grads, opt, params)
        return (optax.apply_updates(params, updates), upd["batch_stats"], opt), loss

    jitted = jax.jit(train_step, donate_argnums=0)
    t = time.perf_counter()
    compiled = jitted.lower(state, audio, lengths, labels).compile()
    compile_s = time.perf_counter() - t
    box = {"state": state}

    def step():
        box["state"], loss = compiled(box["state"], audio, lengths, labels)
        return float(loss)

    n_params = sum(x.size for x in jax.tree.leaves(variables["params"]))
    return step, compile_s, n_params


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("1d", "2d"), default="2d")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--reps", type=int, default=5, help="timed rounds (median reported)")
    parser.add_argument("--steps", type=int, default=2, help="steps per framework per round")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--frameworks", default="jaxser,keras,pytorch")
    parser.add_argument("--mask-padding", action="store_true", help="time jaxser with mask_padding=True")
    args = parser.parse_args(argv)
    frameworks = [f.strip() for f in args.frameworks.split(",") if f.strip()]
    unknown = set(frameworks) - {"jaxser", "keras", "pytorch"}
    if unknown:
        parser.error(f"unknown frameworks {sorted(unknown)}")

    import jax
    import jax.numpy as jnp
    import numpy as np

    from jaxser import features, machine

    num_samples, num_classes = int(round(args.seconds * SR)), 7
    rng = np.random.default_rng(0)
    audio_np = (0.1 * rng.standard_normal((args.batch, num_samples))).astype(np.float32)
    labels_np = rng.integers(0, num_classes, args.batch).astype(np.int32)
    audio, labels = jnp.asarray(audio_np), jnp.asarray(labels_np)
    lengths = jnp.full((args.batch,), num_samples, jnp.int32)
    if args.model == "2d":  # host input of the references: the same log-mel, computed once
        db = features.log_mel(audio, sr=SR, n_fft=2048, hop_length=512, n_mels=128, ref="max", top_db=80.0)
        ref_input = np.asarray((db + 80.0) / 80.0)[..., None]
    else:
        ref_input = audio_np[..., None]

    steps, info = {}, {}
    for name in frameworks:
        if name == "jaxser":
            step, compile_s, n_params = _jaxser_step(args.model, args.batch, num_samples, num_classes,
                                                     args.mask_padding, audio, lengths, labels)
            info[name] = {"version": jax.__version__, "compile_s": round(compile_s, 2), "params": int(n_params)}
        elif name == "keras":
            import reference_cnn_lstm_keras as ref_keras

            tf, keras = ref_keras.import_keras()
            step_fn, model = ref_keras.make_train_step(args.model, num_classes, ref_input.shape[1:])
            step = lambda f=step_fn: f(ref_input, labels_np)  # noqa: E731
            info[name] = {"version": f"keras {keras.__version__} / tensorflow {tf.__version__}",
                          "params_incl_bn_stats": int(model.count_params()),
                          "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads()}
        else:
            import reference_cnn_lstm_torch as ref_torch

            torch = ref_torch.import_torch()
            step_fn, model = ref_torch.make_train_step(args.model, num_classes, ref_input.shape[1:])
            x_t, y_t = torch.from_numpy(ref_input), torch.from_numpy(labels_np.astype(np.int64))
            step = lambda f=step_fn: f(x_t, y_t)  # noqa: E731
            info[name] = {"version": torch.__version__, "threads": torch.get_num_threads(),
                          "params": int(sum(p.numel() for p in model.parameters()))}
        for _ in range(args.warmup):
            step()
        steps[name] = step
        print(f"[bench] {name} ready", file=sys.stderr, flush=True)

    rounds = {name: [] for name in frameworks}
    for r in range(args.reps):
        for name in frameworks:
            t = time.perf_counter()
            for _ in range(args.steps):
                steps[name]()
            rounds[name].append((time.perf_counter() - t) / args.steps)
        print(f"[bench] round {r}: " + ", ".join(f"{n} {rounds[n][-1]:.3f}s" for n in frameworks),
              file=sys.stderr, flush=True)

    result = {"model": f"zhao2019_cnn{args.model}", "examples_per_s": {}, "step_s_median": {}, "step_s_rounds": {}}
    for name in frameworks:
        med = statistics.median(rounds[name])
        result["examples_per_s"][name] = round(args.batch / med, 2)
        result["step_s_median"][name] = round(med, 4)
        result["step_s_rounds"][name] = [round(t, 4) for t in rounds[name]]
    eps = result["examples_per_s"]
    result["ratios"] = {f"jaxser/{o}": round(eps["jaxser"] / eps[o], 3) for o in ("keras", "pytorch")
                        if "jaxser" in eps and o in eps}
    result["frameworks"] = info
    result["settings"] = {
        "batch": args.batch, "seconds": args.seconds, "num_samples": num_samples, "reps": args.reps,
        "steps_per_rep": args.steps, "warmup": args.warmup, "jaxser_mask_padding": args.mask_padding,
        "reference_input": "log-mel precomputed on host (not timed)" if args.model == "2d" else "raw waveform",
        "jaxser_input": "raw waveform; log-mel computed inside the step" if args.model == "2d" else "raw waveform",
        "XLA_FLAGS": os.environ.get("XLA_FLAGS", ""), "GLIBC_TUNABLES": os.environ.get("GLIBC_TUNABLES", ""),
    }
    result["machine"] = machine.describe()
    json.dump(result, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
