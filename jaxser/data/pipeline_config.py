"""The pipeline's options and output keys, without TensorFlow.

:class:`PipelineConfig` says how :mod:`jaxser.data.pipeline` cuts utterances into
windows; prediction needs only those windows, so it reads them from here and never
imports TensorFlow. :mod:`jaxser.data.pipeline` re-exports everything in this module.
"""

from __future__ import annotations

import dataclasses

from jaxser.data.schema import SAMPLE_RATE

DEVICE_KEYS = ("audio", "length", "label", "mask")
CHUNK_KEYS = ("utterance", "start")
HOST_KEYS = ("id", "speaker")
EVAL_MODES = ("pad", "chunks")


class PipelineError(ValueError):
    """A pipeline config, process layout or dataset that cannot work (the message says the fix)."""


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    """Options of :func:`~jaxser.data.pipeline.train_dataset` and :func:`~jaxser.data.pipeline.eval_dataset`.
    Lengths in seconds.

    Attributes:
      batch_size: GLOBAL batch size; each process gets ``batch_size / process_count``.
      clip_seconds: training window; longer utterances are randomly cropped, shorter
        ones zero-padded.
      sample_rate: of the audio (the schema's 16 kHz); turns seconds into samples.
      shuffle_buffer: examples in tf.data's shuffle buffer (>= the corpus size for a
        full shuffle; EmoDB and CASIA fit).
      seed: the shuffle and crop seed.
      num_epochs: training epochs; None repeats forever.
      eval_mode: ``"pad"`` (whole utterances padded to ``eval_seconds``) or
        ``"chunks"`` (fixed windows, aggregated per utterance).
      eval_seconds: ``"pad"`` length; None means ``clip_seconds``.
      chunk_seconds: ``"chunks"`` window; None means ``clip_seconds``.
      hop_seconds: ``"chunks"`` step between windows (<= ``chunk_seconds`` so they
        cover the utterance); None means ``chunk_seconds`` (no overlap).
      extra_keys: more example fields to keep (e.g. ``("gender",)``).
      cache: keep the examples in memory after the first epoch (training only).
      prefetch: batches to prefetch; -1 lets tf.data tune it.
    """

    batch_size: int
    clip_seconds: float = 3.0
    sample_rate: int = SAMPLE_RATE
    shuffle_buffer: int = 2048
    seed: int = 0
    num_epochs: int | None = None
    eval_mode: str = "pad"
    eval_seconds: float | None = None
    chunk_seconds: float | None = None
    hop_seconds: float | None = None
    extra_keys: tuple[str, ...] = ()
    cache: bool = False
    prefetch: int = -1

    def __post_init__(self):
        def fail(what):
            raise PipelineError(f"PipelineConfig: {what}")

        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            fail(f"batch_size must be a positive int, got {self.batch_size!r}")
        if self.eval_mode not in EVAL_MODES:
            fail(f"eval_mode {self.eval_mode!r} is not one of {EVAL_MODES}")
        for name in ("clip_seconds", "eval_seconds", "chunk_seconds", "hop_seconds"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                fail(f"{name} must be > 0, got {value!r}")
        if self.sample_rate < 1 or self.shuffle_buffer < 1:
            fail(f"sample_rate and shuffle_buffer must be >= 1, got {self.sample_rate}, {self.shuffle_buffer}")
        if self.num_epochs is not None and self.num_epochs < 1:
            fail(f"num_epochs must be >= 1 or None (forever), got {self.num_epochs}")
        if self.hop_samples > self.chunk_samples:
            fail(
                f"hop_seconds={self.hop_seconds} exceeds chunk_seconds={self.chunk_seconds}: chunks would "
                "leave gaps; use a hop <= the chunk"
            )
        if isinstance(self.extra_keys, str):
            fail(f"extra_keys must be a tuple of field names, got the string {self.extra_keys!r}")
        clash = set(self.extra_keys) & set(DEVICE_KEYS + CHUNK_KEYS + HOST_KEYS)
        if clash:
            fail(f"extra_keys {sorted(clash)} are already output keys")

    def _samples(self, seconds: float) -> int:
        return max(1, round(seconds * self.sample_rate))

    @property
    def clip_samples(self) -> int:
        return self._samples(self.clip_seconds)

    @property
    def eval_samples(self) -> int:
        return self._samples(self.eval_seconds or self.clip_seconds)

    @property
    def chunk_samples(self) -> int:
        return self._samples(self.chunk_seconds or self.clip_seconds)

    @property
    def hop_samples(self) -> int:
        return self._samples(self.hop_seconds or self.chunk_seconds or self.clip_seconds)

    def local_batch_size(self, process_count: int) -> int:
        """Rows per process; raises unless ``batch_size`` divides by ``process_count``."""
        if self.batch_size % process_count:
            raise PipelineError(
                f"global batch_size={self.batch_size} does not divide by process_count={process_count}; "
                f"use a multiple of {process_count}"
            )
        return self.batch_size // process_count


__all__ = ["CHUNK_KEYS", "DEVICE_KEYS", "EVAL_MODES", "HOST_KEYS", "PipelineConfig", "PipelineError"]
