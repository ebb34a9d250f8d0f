"""Input pipelines: corpus examples -> fixed-shape batches of waveforms, each process its part.

    ds = jaxser.data.load("emodb", manual_dir=...)
    cfg = PipelineConfig(batch_size=64, clip_seconds=3.0, seed=0)
    train = train_dataset(splits.select(ds, fold.train_ids), cfg)
    test = eval_dataset(splits.select(ds, fold.test_ids), cfg)

Both take a ``tf.data.Dataset`` of example dicts in the schema of
:mod:`jaxser.data.schema` (int16 ``audio``, ``label``, ``speaker``, ``id``) and yield
dicts of this process's part of each GLOBAL batch (``batch_size / process_count``
rows), every shape static so the jitted step compiles once:

========== ================ ===================================================
key        dtype, shape     meaning
========== ================ ===================================================
audio      float32 [B, L]   waveform ``int16 / 32768`` in [-1, 1), zero-padded
length     int32 [B]        valid samples of ``audio`` (the rest is padding)
label      int32 [B]        class index
mask       float32 [B]      example weight: 1 for real examples, 0 for padding
utterance  int32 [B]        evaluation only: index of the row's utterance in the
                            evaluated dataset (-1 for padding)
start      int32 [B]        evaluation only: the row's first sample in its utterance
id         string [B]       example id    (host only: bookkeeping, never to device)
speaker    string [B]       speaker       (host only)
========== ================ ===================================================

:data:`DEVICE_KEYS` are the arrays for the device; :func:`split_host` separates them
from the strings. Fields named in ``PipelineConfig.extra_keys`` ride along (integers
as int32).

Training (:func:`train_dataset`): all processes shuffle the examples alike each epoch,
cut the stream into global batches (dropping the remainder) and keep their own rows
of each, so they see disjoint examples and the same number of batches. Each example
gets a random ``clip_seconds`` window if longer, zero padding if shorter. Randomness
is stateless: the epoch's shuffle seed comes from ``(seed, epoch)`` and an example's
crop offset from ``(seed, epoch, hash(id))``. Two runs give identical batches, the
global batches do not depend on the process count, and a run can restart at any
epoch (``start_epoch``).

Evaluation (:func:`eval_dataset`) sees every example exactly once over all processes,
and every process yields the same number of batches of the same shape:

* ``eval_mode="pad"``: whole utterances zero-padded to ``eval_seconds``; a longer one
  is an error (raise ``eval_seconds`` or use chunks), never silently cut.
* ``eval_mode="chunks"``: each utterance cut into ``chunk_seconds`` windows every
  ``hop_seconds`` (the last one zero-padded) that together cover it; the model's
  per-chunk outputs are averaged per utterance with :func:`aggregate_chunks`.

Every process reads the whole evaluation stream, appends ``global batch - 1`` padding
rows (``mask == 0``), batches it globally and keeps its own rows of each global batch.
That needs no example count up front (a dataset filtered by a fold has none) and the
last, partly padded global batch is the same for all processes. Reading everything on
every process costs host time only, and evaluation sets are small.

TensorFlow is imported through :mod:`jaxser.data.tf_setup`, so it never takes a GPU.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxser.data.pipeline_config import (  # noqa: F401  (re-exported)
    CHUNK_KEYS,
    DEVICE_KEYS,
    EVAL_MODES,
    HOST_KEYS,
    PipelineConfig,
    PipelineError,
)
from jaxser.data.tf_setup import tensorflow

tf = tensorflow()

_INT16_SCALE = 32768.0
# The range of the id hash folded into crop seeds; any fixed value keeps runs identical.
_HASH_BUCKETS = 2**62


def _process(process_index: int | None, process_count: int | None) -> tuple[int, int]:
    """This process' (index, count): JAX's unless given (tests simulate several processes)."""
    index = jax.process_index() if process_index is None else process_index
    count = jax.process_count() if process_count is None else process_count
    if count < 1 or not 0 <= index < count:
        raise PipelineError(f"process_index={index} must be in [0, process_count={count})")
    return index, count


def _examples(dataset: tf.data.Dataset, config: PipelineConfig) -> tf.data.Dataset:
    """Keep only the fields the pipeline emits, after checking the dataset's element spec."""
    spec = dataset.element_spec
    if not isinstance(spec, Mapping):
        raise PipelineError(
            f"the pipeline needs a dataset of example dicts, got elements {spec}; "
            "load it without as_supervised=True and without batching"
        )
    missing = [key for key in ("audio", "label", "id", *config.extra_keys) if key not in spec]
    if missing:
        raise PipelineError(f"dataset examples lack {missing}; they have {sorted(spec)}")
    audio = spec["audio"]
    if audio.shape.rank != 1 or audio.dtype not in (tf.int16, tf.float32):
        raise PipelineError(
            f"audio must be 1-D int16 (the schema) or float32, got {audio.dtype.name} {audio.shape}; "
            "load the corpus with its audio decoded (no SkipDecoding)"
        )
    keys = ["audio", "label", "id", *(["speaker"] if "speaker" in spec else []), *config.extra_keys]
    return dataset.map(lambda example: {key: example[key] for key in keys}, num_parallel_calls=tf.data.AUTOTUNE)


def _to_float(audio: tf.Tensor) -> tf.Tensor:
    return tf.cast(audio, tf.float32) / _INT16_SCALE if audio.dtype == tf.int16 else audio


def _fields(example: Mapping[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """The non-audio fields for the output: integers as int32 (JAX's default int)."""
    out = {}
    for key, value in example.items():
        if key != "audio":
            out[key] = tf.cast(value, tf.int32) if value.dtype == tf.int64 else value
    return out


def fit_length(audio: tf.Tensor, size: int, offset: tf.Tensor | int = 0) -> tuple[tf.Tensor, tf.Tensor]:
    """``audio[offset:offset + size]`` zero-padded to ``size``, and its valid length."""
    window = audio[offset : offset + size]
    length = tf.shape(window)[0]
    # ensure_shape makes the size static, so batches have static shapes.
    return tf.ensure_shape(tf.pad(window, [[0, size - length]]), [size]), length


def _crop_seed(epoch_key: tf.Tensor, example_id: tf.Tensor) -> tf.Tensor:
    return tf.random.experimental.stateless_fold_in(epoch_key, tf.strings.to_hash_bucket_fast(example_id, _HASH_BUCKETS))


def _train_example(epoch_key: tf.Tensor, example: Mapping[str, tf.Tensor], size: int) -> dict[str, tf.Tensor]:
    audio = example["audio"]
    max_offset = tf.maximum(tf.shape(audio)[0] - size, 0)
    offset = tf.random.stateless_uniform(
        [], _crop_seed(epoch_key, example["id"]), minval=0, maxval=max_offset + 1, dtype=tf.int32
    )
    window, length = fit_length(audio, size, offset)
    return {"audio": _to_float(window), "length": length, "mask": tf.constant(1.0), **_fields(example)}


def _finish(dataset: tf.data.Dataset, config: PipelineConfig) -> tf.data.Dataset:
    options = tf.data.Options()
    options.deterministic = True  # parallel maps keep their order: identical batches run to run
    return dataset.with_options(options).prefetch(config.prefetch)


def train_dataset(
    dataset: tf.data.Dataset,
    config: PipelineConfig,
    *,
    process_index: int | None = None,
    process_count: int | None = None,
    start_epoch: int = 0,
) -> tf.data.Dataset:
    """Shuffled, cropped training batches of this process (see the module docstring).

    ``dataset`` must come in a fixed order (TFDS reads its files in order unless
    ``shuffle_files=True``): the shuffles permute that order. Epochs run from
    ``start_epoch`` for ``config.num_epochs`` (or forever). Each epoch yields
    ``N // batch_size`` global batches (the remainder, different examples every epoch,
    is dropped), so every process yields the same number of batches, and global batch
    ``b`` holds the same examples, with the same crops, whatever the process count.
    """
    index, count = _process(process_index, process_count)
    local = config.local_batch_size(count)
    size = config.clip_samples
    lo, hi = index * local, (index + 1) * local
    examples = _examples(dataset, config)
    if config.cache:
        examples = examples.cache()
    if config.num_epochs is None:
        epochs = tf.data.Dataset.counter(start_epoch)
    else:
        epochs = tf.data.Dataset.range(start_epoch, start_epoch + config.num_epochs)

    def one_epoch(epoch):
        key = tf.stack([tf.constant(config.seed, tf.int64), epoch])
        shuffle_seed = tf.random.stateless_uniform([], key, minval=None, maxval=None, dtype=tf.int64)
        # Every process shuffles all examples alike, groups them into global batches
        # (ragged: lengths differ before cropping) and keeps its rows of each. Unlike
        # Dataset.shard, this gives all processes the same number of batches even when
        # the example count is unknown (a fold's filtered dataset), at the cost of each
        # process reading the whole (small) corpus.
        mine = (
            examples.shuffle(config.shuffle_buffer, seed=shuffle_seed, reshuffle_each_iteration=False)
            .ragged_batch(config.batch_size, drop_remainder=True)
            .map(lambda batch: {key: value[lo:hi] for key, value in batch.items()})
            .unbatch()
        )
        return mine.map(lambda example: (key, example))

    batches = (
        epochs.flat_map(one_epoch)
        .map(lambda key, example: _train_example(key, example, size), num_parallel_calls=tf.data.AUTOTUNE)
        .batch(local, drop_remainder=True, num_parallel_calls=tf.data.AUTOTUNE)
    )
    return _finish(batches, config)


def _pad_example(utterance: tf.Tensor, example: Mapping[str, tf.Tensor], size: int) -> dict[str, tf.Tensor]:
    audio = example["audio"]
    n = tf.shape(audio)[0]
    too_long = tf.debugging.Assert(
        n <= size,
        [
            # No quotes: TF escapes them in the error message.
            f"eval_mode pad: an utterance is longer than eval_seconds ({size} samples); raise "
            "eval_seconds to the longest utterance or set eval_mode to chunks. Utterance id, samples:",
            example["id"],
            n,
        ],
    )
    with tf.control_dependencies([too_long]):
        window, length = fit_length(audio, size)
    return {
        "audio": _to_float(window),
        "length": length,
        "mask": tf.constant(1.0),
        "utterance": tf.cast(utterance, tf.int32),
        "start": tf.constant(0, tf.int32),
        **_fields(example),
    }


def _chunk_example(utterance: tf.Tensor, example: Mapping[str, tf.Tensor], size: int, hop: int) -> dict[str, tf.Tensor]:
    """All chunks of one utterance, stacked: the first covers [0, size), then every ``hop``."""
    audio = example["audio"]
    n = tf.shape(audio)[0]
    # The fewest chunks whose last one reaches the end: starts 0, hop, ..., (k-1)*hop.
    k = 1 + (tf.maximum(n - size, 0) + hop - 1) // hop
    frames = tf.signal.frame(tf.pad(audio, [[0, (k - 1) * hop + size - n]]), size, hop)
    starts = tf.range(k) * hop
    tiled = {key: tf.repeat(value[tf.newaxis], k, axis=0) for key, value in _fields(example).items()}
    return {
        "audio": tf.ensure_shape(_to_float(frames), [None, size]),
        "length": tf.clip_by_value(n - starts, 0, size),
        "mask": tf.ones([k]),
        "utterance": tf.fill([k], tf.cast(utterance, tf.int32)),
        "start": starts,
        **tiled,
    }


def _padding_row(spec: Mapping[str, tf.TensorSpec]) -> dict[str, tf.Tensor]:
    """An all-zero (empty-string) example with mask 0 and utterance -1."""
    row = {key: tf.zeros(s.shape, s.dtype) for key, s in spec.items()}
    if "utterance" in row:
        row["utterance"] = tf.constant(-1, tf.int32)
    return row


def eval_dataset(
    dataset: tf.data.Dataset,
    config: PipelineConfig,
    *,
    process_index: int | None = None,
    process_count: int | None = None,
) -> tf.data.Dataset:
    """This process' evaluation batches: every example once over all processes, masked padding.

    One pass, in ``dataset``'s order. All processes yield ``ceil(N / batch_size)``
    batches, where N counts utterances (``"pad"``) or chunks (``"chunks"``); rows with
    ``mask == 0`` are padding.
    """
    index, count = _process(process_index, process_count)
    local = config.local_batch_size(count)
    examples = _examples(dataset, config)
    if config.eval_mode == "pad":
        size = config.eval_samples
        rows = examples.enumerate().map(
            lambda i, example: _pad_example(i, example, size), num_parallel_calls=tf.data.AUTOTUNE
        )
    else:
        size, hop = config.chunk_samples, config.hop_samples
        rows = (
            examples.enumerate()
            .map(lambda i, example: _chunk_example(i, example, size, hop), num_parallel_calls=tf.data.AUTOTUNE)
            .unbatch()
        )
    padding = tf.data.Dataset.from_tensors(_padding_row(rows.element_spec)).repeat(config.batch_size - 1)
    # The global batch holds each process' rows in process order; keep ours.
    lo, hi = index * local, (index + 1) * local
    batches = (
        rows.concatenate(padding)
        .batch(config.batch_size, drop_remainder=True)
        .map(lambda batch: {key: value[lo:hi] for key, value in batch.items()})
    )
    return _finish(batches, config)


def split_host(batch: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(device, host)``: the numeric arrays of a numpy batch, and its string fields."""
    device, host = {}, {}
    for key, value in batch.items():
        (host if np.asarray(value).dtype.kind in "OSU" else device)[key] = value
    return device, host


def aggregate_chunks(values: jax.Array, utterance: jax.Array, weight: jax.Array, num_utterances: int):
    """Per-utterance weighted sums of per-chunk ``values`` [B, ...], and the weights' sums.

    ``utterance`` and ``weight`` are the batch's ``utterance`` and ``mask`` (or
    ``mask * length`` to weight chunks by their valid samples). Padding rows (weight 0,
    utterance -1) add nothing. Sums add up over batches; the per-utterance mean is
    ``sums / counts[:, None]``. Pure ``jnp``: jit-safe with a static ``num_utterances``.
    """
    values = jnp.asarray(values)
    weight = jnp.asarray(weight, values.dtype)
    weighted = values * weight.reshape(weight.shape + (1,) * (values.ndim - 1))
    sums = jax.ops.segment_sum(weighted, utterance, num_segments=num_utterances)
    counts = jax.ops.segment_sum(weight, utterance, num_segments=num_utterances)
    return sums, counts


def num_batches(num_rows: int, batch_size: int) -> int:
    """Batches :func:`eval_dataset` yields for ``num_rows`` utterances (pad) or chunks."""
    return math.ceil(num_rows / batch_size)
