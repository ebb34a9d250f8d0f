"""Page faults and CPU time of one jaxser CNN-LSTM train step (the figures behind
BUILD_NOTES' "What dominates on this VM: page faults").

Builds the same jitted step as ``bench_cnn_lstm.py``, warms it up, then reports per
step: wall seconds, minor page faults (as MB of 4 KB pages), user and system CPU
seconds. ``--plain-first-block`` builds the first block the former way (its conv as a
separate op whose full-size output and gradient are stored), for comparison. Run it
with and without ``GLIBC_TUNABLES=glibc.malloc.hugetlb=1`` to see the huge-page effect.

    .venv/bin/python tools/step_memory_probe.py --model 2d
    .venv/bin/python tools/step_memory_probe.py --model 2d --plain-first-block
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("1d", "2d"), default="2d")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--plain-first-block", action="store_true")
    args = parser.parse_args(argv)

    import jax.numpy as jnp
    import numpy as np

    import bench_cnn_lstm
    from jaxser.models import layers

    if args.plain_first_block:
        layers._is_direct = lambda *a: False  # the first block's conv goes through conv_fast as a separate op
    n = 128000
    rng = np.random.default_rng(0)
    audio = jnp.asarray((0.1 * rng.standard_normal((args.batch, n))).astype(np.float32))
    labels = jnp.asarray(rng.integers(0, 7, args.batch).astype(np.int32))
    lengths = jnp.full((args.batch,), n, jnp.int32)
    step, _, _ = bench_cnn_lstm._jaxser_step(args.model, args.batch, n, 7, False, audio, lengths, labels)
    for _ in range(3):
        step()
    rows = []
    for _ in range(args.steps):
        before, t = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        step()
        wall, after = time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF)
        rows.append({
            "wall_s": round(wall, 3),
            "minor_faults": after.ru_minflt - before.ru_minflt,
            "faulted_mb_at_4k": round((after.ru_minflt - before.ru_minflt) * 4 / 1024),
            "user_s": round(after.ru_utime - before.ru_utime, 3),
            "sys_s": round(after.ru_stime - before.ru_stime, 3),
        })
    json.dump({"model": args.model, "batch": args.batch, "plain_first_block": args.plain_first_block,
               "GLIBC_TUNABLES": os.environ.get("GLIBC_TUNABLES", ""), "steps": rows}, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
