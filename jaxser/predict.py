"""Predict emotions for your own audio with a trained checkpoint.

    from jaxser import Predictor

    predictor = Predictor.from_checkpoint("runs/zhao2d")      # a `jaxser train` workdir
    for p in predictor.predict(["a.wav", "b.flac"]):
        print(p.source, p.label, p.probabilities)              # probabilities: {class: p}

Any file :mod:`jaxser.audio` reads (any rate, channels, format) or float arrays at the
config's sample rate. Each input is cut into the config's evaluation windows
(``chunk_seconds`` every ``hop_seconds``; the last one zero-padded and masked), the
windows go through the model in fixed-size batches (one compilation) and their class
probabilities are averaged per input.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import pathlib
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxser import audio as audio_lib
from jaxser.train import checkpoint, data, state as state_lib, steps, supervised
from jaxser.evaluate import load_config


@dataclasses.dataclass(frozen=True)
class Prediction:
    source: str  # the path, or "array[i]"
    label: str
    probabilities: dict[str, float]
    seconds: float
    windows: int


class Predictor:
    """A trained classifier on the default device, for scripts and ``jaxser predict``."""

    def __init__(self, config, variables: dict, class_names: Sequence[str], *, batch_size: int = 16):
        self.config = config
        self.class_names = tuple(class_names)
        self.sample_rate = int(config.data.sample_rate)
        windows = data.pipeline_config(config)  # the evaluation windows training used
        self.window, self.hop = windows.chunk_samples, windows.hop_samples
        self.batch_size = batch_size
        self.model = supervised.build_model(config, len(self.class_names), bn_axis_name=None)
        self.variables = variables
        self._fn = jax.jit(functools.partial(steps.predict_step, model=self.model))

    @classmethod
    def from_checkpoint(cls, workdir: str | pathlib.Path, *, which: str = checkpoint.BEST, batch_size: int = 16):
        """Load the ``which`` ("best" or "latest") checkpoint of a ``jaxser train`` workdir."""
        workdir = pathlib.Path(workdir)
        config = load_config(workdir)
        directory = workdir / "checkpoints" / which
        meta_names = _class_names(workdir)
        model = supervised.build_model(config, len(meta_names), bn_axis_name=None)
        tx = state_lib.optimizer(config.train, 1)
        samples = data.pipeline_config(config).clip_samples
        template = state_lib.create(model, tx, 0, jnp.zeros((1, samples)), jnp.full((1,), samples))
        state, meta = checkpoint.restore(directory, template)
        return cls(config, state.variables(), meta["class_names"], batch_size=batch_size)

    def windows(self, clip: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``[k, window]`` zero-padded windows covering ``clip`` and their valid lengths."""
        n = len(clip)
        k = 1 + max(0, -(-(n - self.window) // self.hop))
        starts = np.arange(k) * self.hop
        padded = np.zeros(starts[-1] + self.window, np.float32)
        padded[:n] = clip
        frames = np.stack([padded[s : s + self.window] for s in starts])
        return frames, np.clip(n - starts, 0, self.window).astype(np.int32)

    def predict_arrays(self, clips: Sequence[np.ndarray], sources: Sequence[str] | None = None) -> list[Prediction]:
        """Predictions for float waveforms already at ``self.sample_rate``."""
        sources = list(sources) if sources is not None else [f"array[{i}]" for i in range(len(clips))]
        rows, lengths, owner = [], [], []
        for i, clip in enumerate(clips):
            clip = np.asarray(clip, np.float32)
            if clip.ndim != 1 or not len(clip):
                raise ValueError(f"{sources[i]}: expected a non-empty 1-D waveform, got shape {clip.shape}")
            frames, valid = self.windows(clip)
            rows.append(frames), lengths.append(valid), owner.extend([i] * len(frames))
        if not rows:
            return []
        rows, lengths, owner = np.concatenate(rows), np.concatenate(lengths), np.asarray(owner)
        probs = np.zeros((len(rows), len(self.class_names)), np.float32)
        for start in range(0, len(rows), self.batch_size):
            stop = min(start + self.batch_size, len(rows))
            batch = np.zeros((self.batch_size, self.window), np.float32)
            batch_lengths = np.full(self.batch_size, self.window, np.int32)  # padding rows: any valid length
            batch[: stop - start], batch_lengths[: stop - start] = rows[start:stop], lengths[start:stop]
            out = self._fn(self.variables, audio=batch, lengths=batch_lengths)
            probs[start:stop] = np.asarray(out)[: stop - start]
        results = []
        for i, clip in enumerate(clips):
            mine = probs[owner == i]
            mean = mine.mean(axis=0)
            results.append(
                Prediction(
                    source=sources[i],
                    label=self.class_names[int(np.argmax(mean))],
                    probabilities={name: float(p) for name, p in zip(self.class_names, mean)},
                    seconds=len(clip) / self.sample_rate,
                    windows=len(mine),
                )
            )
        return results

    def predict(self, inputs: Sequence[str | pathlib.Path | np.ndarray]) -> list[Prediction]:
        """Predictions for files and/or arrays. A file that cannot be read raises
        :class:`jaxser.audio.AudioError` (``jaxser predict`` reports and skips those)."""
        clips, sources = [], []
        for i, item in enumerate(inputs):
            if isinstance(item, (str, pathlib.Path)):
                clips.append(audio_lib.load(item, sr=self.sample_rate))
                sources.append(str(item))
            else:
                clips.append(np.asarray(item, np.float32))
                sources.append(f"array[{i}]")
        return self.predict_arrays(clips, sources)


def _class_names(workdir: pathlib.Path) -> list[str]:
    """The run's class names, which the model's output size needs before restoring."""
    path = workdir / supervised.CLASSES_FILE
    if not path.is_file():
        raise checkpoint.CheckpointError(f"{path} not found: {workdir} is not a jaxser training run directory")
    return json.loads(path.read_text())["class_names"]
