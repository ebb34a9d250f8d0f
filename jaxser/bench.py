"""Train-step throughput of a config: compile time, steps/s and examples/s.

Three measurements, each after a warm-up, with the config's model, batch and devices:

* ``synthetic``: the jitted, data-parallel train step alone on one placed batch, the
  pipeline's first, over and over (the ceiling);
* ``pipeline_only``: the tf.data input pipeline alone (batches/s it can deliver);
* ``end_to_end``: pipeline + host-to-device transfer + step, as in training. If this
  is well below ``synthetic`` while ``pipeline_only`` is close to it, the pipeline
  starves the step.

Peak host memory (max RSS) and, where the backend reports it, peak device memory.
"""

from __future__ import annotations

import resource
import time

import jax

from jaxser import machine
from jaxser.train import supervised


def _timed(n: int, step, *, wait=lambda: None) -> float:
    """Seconds for ``n`` calls, including the device finishing them (``wait`` blocks)."""
    start = time.perf_counter()
    for _ in range(n):
        step()
    wait()
    return time.perf_counter() - start


# Kinds without a device train step, and where their speed is measured instead.
ELSEWHERE = {
    "adan": "its augmenter's epochs are timed by tools/bench_adan.py (ours beside the authors' code)",
    "sklearn": "it fits a scikit-learn estimator on the host",
}


def run(config, *, steps: int = 20, warmup: int = 3) -> dict:
    from jaxser import config as config_lib, systems

    kind = systems.get(config)
    if kind.train_step is None:
        raise config_lib.ConfigError(
            f"jaxser bench times a kind's device train step, and kind {config.kind!r} has none: "
            f"{ELSEWHERE.get(config.kind, 'see its module')}"
        )
    config.train.progress = False
    trainer = supervised.Trainer(config, "/nonexistent-bench-workdir")  # never written: no fit()
    dp, batch_size = trainer.dp, config.train.global_batch_size
    batches = trainer._train_batches(0, 0)
    first = next(batches)  # the ceiling runs on one real batch, whatever fields the kind's step takes
    state = dp.replicate(trainer.initial_state)
    placed = dp.shard({k: first[k] for k in trainer.train_keys})

    compile_start = time.perf_counter()
    if dp.mode == "shard_map":
        trainer.train_fn.lower(state, placed, trainer.train_noise).compile()
    compile_s = time.perf_counter() - compile_start

    holder = {"state": state}

    def synthetic_step():
        holder["state"], metrics = trainer.train_fn(holder["state"], placed, trainer.train_noise)
        return metrics

    def wait():
        jax.block_until_ready(holder["state"])

    _timed(warmup, synthetic_step, wait=wait)
    synthetic_s = _timed(steps, synthetic_step, wait=wait)

    _timed(warmup, lambda: next(batches))
    pipeline_s = _timed(steps, lambda: next(batches))

    def real_step():
        batch = next(batches)
        holder["state"], _ = trainer.train_fn(holder["state"], dp.shard({k: batch[k] for k in trainer.train_keys}), trainer.train_noise)

    _timed(warmup, real_step, wait=wait)
    real_s = _timed(steps, real_step, wait=wait)

    def rates(seconds):
        return {
            "steps_per_s": steps / seconds,
            "examples_per_s": steps * batch_size / seconds,
            "examples_per_s_per_device": steps * batch_size / seconds / dp.num_devices,
        }

    device_peak = None
    stats = jax.local_devices()[0].memory_stats() if hasattr(jax.local_devices()[0], "memory_stats") else None
    if stats:
        device_peak = stats.get("peak_bytes_in_use")
    return {
        "config": config.name,
        "model": config.model.name,
        "global_batch_size": batch_size,
        "clip_seconds": config.data.clip_seconds,
        "parallel_mode": dp.mode,
        "devices": dp.num_devices,
        "steps_timed": steps,
        "compile_s": compile_s if dp.mode == "shard_map" else None,
        "synthetic": rates(synthetic_s),
        "pipeline_only": {"batches_per_s": steps / pipeline_s, "examples_per_s": steps * batch_size / pipeline_s},
        "end_to_end": rates(real_s),
        "peak_host_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_device_bytes": device_peak,
        "machine": machine.describe(),
    }
