"""Seconds per training epoch of ADAN and WADAN (Yi & Mak 2020), ours beside the authors'.

    .venv/bin/python tools/bench_adan.py                                  # ours, 486/2000/10000 rows
    .venv/bin/python tools/bench_adan.py --authors-repo /path/to/adan     # + the authors' TF code
    .venv/bin/python tools/bench_adan.py --sizes 486 --epochs 5

Prints one JSON object. For each variant and training-set size (random IS11-sized vectors,
4,368 features, 7 classes, the paper's networks: E/R 800-800, C/G/D 100-100, latent and
noise 100, batch 128): the seconds of one epoch (the on-device shuffle plus every
iteration, ``N // 128`` of them), the median over ``--epochs`` epochs after the first call;
the compile time (the first call less one epoch); the number of compilations (one per step
function: the loop compiles its epoch call once). With ``--authors-repo`` the authors'
unmodified TensorFlow code is timed in a subprocess on the same machine right after
(tools/adan_authors_reference.py, ``--threads`` threads), and ``speedup`` is theirs / ours.
Run it on a quiet machine: the two are timed one after the other, not interleaved.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
FEATURES, CLASSES = 4368, 7


def ours(variant: str, rows: int, epochs: int, d_steps: int) -> dict:
    import jax
    import numpy as np

    from jaxser.train import adversarial

    rng = np.random.default_rng(0)
    X = rng.standard_normal((rows, FEATURES)).astype(np.float32)
    y = (np.arange(rows) % CLASSES).astype(np.int32)
    recipe = adversarial.Recipe(variant, CLASSES, d_steps=d_steps, class_weights=(1.0,) * CLASSES)
    rates = dict.fromkeys("CDEGR", 1e-4)
    state = adversarial.initial_state(recipe, feature_dim=FEATURES, seed=0, learning_rates=rates)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = adversarial.Trainer(recipe, state, X, y, tmp, epochs=1, batch_size=128)
        fn = trainer.step_fn(1)
        data = trainer.dp.replicate({"x": X, "y": y})
        placed = trainer.dp.replicate(state)
        times = []
        for _ in range(epochs + 1):
            start = time.perf_counter()
            placed, losses = fn(placed, data)
            jax.block_until_ready((placed, losses))
            times.append(time.perf_counter() - start)
    epoch = statistics.median(times[1:])
    return {"seconds_per_epoch": epoch, "compile_seconds": times[0] - epoch, "compilations": trainer.compilations,
            "iterations_per_epoch": rows // 128, "epochs_timed": times[1:]}


def authors(repo: str, sizes, epochs: int, threads: int, d_steps: int) -> dict:
    command = [sys.executable, str(ROOT / "tools" / "adan_authors_reference.py"), "--repo", repo,
               "--sizes", ",".join(map(str, sizes)), "--epochs", str(epochs), "--threads", str(threads),
               "--models", "adan,wadan", "--d-times", str(d_steps)]
    out = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="486,2000,10000")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--variants", default="adan,wadan")
    parser.add_argument("--d-steps", type=int, default=2, help="discriminator updates per iteration (authors' script: 2)")
    parser.add_argument("--authors-repo", default="", help="the authors' repository (checkout or bare git dir)")
    parser.add_argument("--authors-epochs", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2, help="TensorFlow threads for the authors' code")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    import jax

    from jaxser import machine

    sizes = [int(s) for s in args.sizes.split(",")]
    result = {"machine": machine.describe(), "backend": jax.default_backend(), "devices": jax.device_count(),
              "jax": jax.__version__, "d_steps": args.d_steps, "batch_size": 128, "features": FEATURES,
              "load_average_before": os.getloadavg()[0], "ours": {}}
    for variant in args.variants.split(","):
        result["ours"][variant] = {str(n): ours(variant, n, args.epochs, args.d_steps) for n in sizes}
    if args.authors_repo:
        theirs = authors(args.authors_repo, sizes, args.authors_epochs, args.threads, args.d_steps)
        result["authors"] = theirs
        result["speedup"] = {
            v: {str(n): theirs["authors_code"][v][str(n)] / result["ours"][v][str(n)]["seconds_per_epoch"] for n in sizes}
            for v in result["ours"] if v in theirs.get("authors_code", {})
        }
    result["load_average_after"] = os.getloadavg()[0]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
