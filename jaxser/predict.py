"""Predict emotions for your own audio with a trained checkpoint.

    from jaxser import Predictor

    predictor = Predictor.from_checkpoint("runs/zhao2d")      # a `jaxser train` workdir
    for p in predictor.predict(["a.wav", "b.flac"]):
        print(p.source, p.label, p.probabilities)              # probabilities: {class: p}

Any file :mod:`jaxser.audio` reads (any rate, channels, format) or float arrays at the
config's sample rate. Each input is scored the way evaluation scores a test utterance:
with ``data.eval_mode="chunks"`` it is cut into the config's evaluation windows
(``chunk_seconds`` every ``hop_seconds``; the last one zero-padded and masked) whose
class probabilities are averaged; with ``"pad"`` the whole clip is one row, zero-padded
to ``eval_seconds``, and a longer clip is refused as evaluation refuses it. Rows go
through the model in fixed-size batches (one compilation).

A clip shorter than ``min_seconds`` (by default an eighth of the model's window) is not
labelled: its :class:`Prediction` has ``status="too_short"`` and ``label=None``, since
a model that sees a few milliseconds of audio and mostly padding still answers with
confidence.

Memory does not grow with the input: files are read in blocks (:func:`jaxser.audio.stream`)
and cut into windows as the blocks arrive, and only one batch of windows exists at a
time, so a 10-minute file takes what a 10-second one takes.

Importing this module imports no TensorFlow: prediction needs the model and the
evaluation windows, not the training input pipeline.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import pathlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import flax.errors
import jax
import numpy as np

from jaxser import audio as audio_lib
from jaxser.evaluate import load_config
from jaxser.train import checkpoint, data, ema as ema_lib, network, state as state_lib, steps

OK, TOO_SHORT, UNREADABLE = "ok", "too_short", "unreadable"  # a file's status (UNREADABLE: jaxser predict)
MIN_WINDOW_FRACTION = 1 / 8  # default min_seconds: this fraction of the model's window


@dataclasses.dataclass(frozen=True)
class Prediction:
    source: str  # the path, or "array[i]"
    label: str | None  # None unless status is "ok"
    probabilities: dict[str, float]  # {class: p}; empty unless status is "ok"
    seconds: float
    windows: int  # model windows averaged; 0 when not labelled
    status: str = OK  # "ok", or "too_short" (shorter than the Predictor's min_seconds)


class Predictor:
    """A trained classifier on the default device, for scripts and ``jaxser predict``."""

    def __init__(
        self, config, variables: dict, class_names: Sequence[str], *, batch_size: int = 16,
        min_seconds: float | None = None,
    ):
        self.config = config
        self.class_names = tuple(class_names)
        self.sample_rate = int(config.data.sample_rate)
        windows = data.pipeline_config(config)  # the evaluation windows training used
        # Score a clip as evaluation does: "chunks" averages windows; "pad" takes the whole
        # clip, zero-padded to eval_seconds, and refuses a longer one (as evaluation does).
        self.pad_mode = windows.eval_mode == "pad"
        if self.pad_mode:
            self.window = self.hop = windows.eval_samples
        else:
            self.window, self.hop = windows.chunk_samples, windows.hop_samples
        if min_seconds is None:
            min_seconds = MIN_WINDOW_FRACTION * self.window / self.sample_rate
        if not min_seconds >= 0:
            raise ValueError(f"min_seconds must be >= 0, got {min_seconds!r}")
        self.min_seconds = float(min_seconds)
        self.batch_size = batch_size
        self.model = network.build_model(config, len(self.class_names), bn_axis_name=None)
        self.variables = variables
        self._fn = jax.jit(functools.partial(steps.predict_step, model=self.model))

    @classmethod
    def from_checkpoint(
        cls, workdir: str | pathlib.Path, *, which: str = checkpoint.BEST, batch_size: int = 16,
        min_seconds: float | None = None,
    ):
        """Load the ``which`` ("best" or "latest") checkpoint of a ``jaxser train`` workdir.

        The newest checkpoint that restores whole and matches the SHA-256 saved with it
        is used, as evaluation and resuming use it: one damaged anywhere, also in the
        optimiser state prediction does not need, is skipped with a warning for the
        previous one; none good raises :class:`~jaxser.train.checkpoint.CheckpointError`.

        ``min_seconds``: clips shorter than this are reported ``"too_short"``, not
        labelled; None: an eighth of the model's window (``window_seconds``).
        """
        workdir = pathlib.Path(workdir)
        config = load_config(workdir)
        if config.kind != "supervised":  # the kind says what serves its runs instead
            from jaxser import systems

            try:
                return systems.get(config).predictor(workdir, which=which, batch_size=batch_size)
            except NotImplementedError as err:
                raise checkpoint.CheckpointError(str(err)) from None
        directory = workdir / "checkpoints" / which
        model = network.build_model(config, len(_class_names(workdir)), bn_axis_name=None)
        tx = state_lib.optimizer(config.train, 1)
        device = jax.sharding.SingleDeviceSharding(jax.devices()[0])

        def template(saved: dict):
            """The state to restore a checkpoint into, shaped by the checkpoint's own
            metadata (``saved``), not by initialising the model: even for shapes only
            (``eval_shape``) that traces the model, most of a second of every start-up.

            The optimiser state is shaped by the optimiser, as training shapes it: the
            metadata records its NamedTuples as dicts, and the SHA-256 checked on
            restoring covers the tree as it was saved. The averaged weights are attached
            as training attaches them (``train.ema_decay``). Placed on the default
            device. That the weights fit the model is checked when the model first runs
            with them (:meth:`_probabilities`).
            """

            def state(step, params, batch_stats, rng):
                plain = state_lib.TrainState(
                    step=step, params=params, batch_stats=batch_stats, opt_state=tx.init(params), rng=rng,
                    model=model, tx=tx,
                )
                return ema_lib.maybe_attach(plain, config)

            shapes = jax.eval_shape(state, saved["step"], saved["params"], saved.get("batch_stats", {}), saved["rng"])
            return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=device), shapes)

        state, meta = checkpoint.restore(directory, template)
        state = ema_lib.for_eval(state)  # predict with the averaged weights when the run kept them
        return cls(config, state.variables(), meta["class_names"], batch_size=batch_size, min_seconds=min_seconds)

    @property
    def window_seconds(self) -> float:
        """The model's input: the evaluation window (chunks mode) or padded length (pad mode)."""
        return self.window / self.sample_rate

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
        clips = [_as_clip(clip, source) for clip, source in zip(clips, sources)]
        return self._run([(source, _blocks_of(clip)) for clip, source in zip(clips, sources)], raise_errors=True)

    def predict(self, inputs: Sequence[str | pathlib.Path | np.ndarray]) -> list[Prediction]:
        """Predictions for files and/or arrays. A file that cannot be read raises
        :class:`jaxser.audio.AudioError` (``jaxser predict`` reports and skips those)."""
        streams = []
        for i, item in enumerate(inputs):
            if isinstance(item, (str, pathlib.Path)):
                streams.append((str(item), functools.partial(audio_lib.stream, item, self.sample_rate)))
            else:
                streams.append((f"array[{i}]", _blocks_of(_as_clip(item, f"array[{i}]"))))
        return self._run(streams, raise_errors=True)

    def predict_files(self, paths: Iterable[Any]) -> tuple[list[Prediction], list[tuple[Any, str]]]:
        """Predict every file; collect the unreadable ones instead of raising.

        Returns ``(predictions, failures)`` like :func:`jaxser.audio.load_many`:
        ``failures`` holds ``(path, reason)`` for every :class:`~jaxser.audio.AudioError`,
        also one found part-way through a file (its windows so far are dropped).
        """
        paths = list(paths)
        outcomes = self.outcomes(paths)
        predictions = [o for o in outcomes if isinstance(o, Prediction)]
        failures = [(p, o.reason) for p, o in zip(paths, outcomes) if isinstance(o, audio_lib.AudioError)]
        return predictions, failures

    def outcomes(
        self, paths: Iterable[Any], *, progress: Callable[[float], None] | None = None
    ) -> list[Prediction | audio_lib.AudioError]:
        """One outcome per file, in order: its :class:`Prediction` ("ok" or "too_short"),
        or the :class:`~jaxser.audio.AudioError` that made it unreadable.

        ``progress(seconds)`` is called as each file has been read, with the seconds of
        audio read from it (``jaxser predict``'s progress bar).
        """
        streams = [(str(p), functools.partial(audio_lib.stream, p, self.sample_rate)) for p in paths]
        return self._run(streams, raise_errors=False, progress=progress)

    def stream_windows(self, blocks: Iterable[np.ndarray]) -> Iterator[tuple[int, np.ndarray, int]]:
        """``(start, samples, valid)`` of the windows :meth:`windows` cuts, from a stream of blocks.

        Holds one window plus one block, whatever the total length. ``samples`` is
        shorter than a window only for the last ones (to be zero-padded).
        """
        w, h = self.window, self.hop
        held, base, start, n = np.zeros(0, np.float32), 0, 0, 0  # held: samples from index base on
        for block in blocks:
            block = np.asarray(block, np.float32)
            held = np.concatenate([held, block]) if len(held) else block
            n += len(block)
            while start + w <= n:
                yield start, held[start - base : start - base + w], w
                start += h
            cut = min(start, n) - base
            held, base = held[cut:], base + cut
        # The tail: as windows() does, the fewest windows whose last one reaches the end.
        k = 1 + max(0, -(-(n - w) // h))
        for s in range(start, k * h if n else 0, h):
            yield s, held[s - base : s - base + w], min(n - s, w)

    def _run(
        self,
        streams: Iterable[tuple[str, Callable[[], Iterable[np.ndarray]]]],
        *,
        raise_errors: bool,
        progress: Callable[[float], None] | None = None,
    ) -> list[Prediction | audio_lib.AudioError]:
        """One outcome per ``(source, blocks)``: its Prediction, or the AudioError its blocks raised.

        Windows of consecutive inputs share batches (short clips do not each pay for a
        whole batch); only the batch being filled is held. A too-short clip is known at
        its end: its windows (one, unless min_seconds exceeds the window) are scored with
        the rest and dropped, which is simpler than holding windows back.
        """
        batch = np.zeros((self.batch_size, self.window), np.float32)
        lengths = np.full(self.batch_size, self.window, np.int32)  # padding rows: any valid length
        owners: list[int] = []  # the input of each filled row
        probs: list[list[np.ndarray]] = []  # per input, per window
        outcomes: list[Any] = []  # per input: (source, samples) until done, or its AudioError

        def flush():
            if owners:
                batch[len(owners) :], lengths[len(owners) :] = 0.0, self.window
                out = self._probabilities(batch, lengths)
                for row, i in enumerate(owners):
                    probs[i].append(out[row])
                owners.clear()

        for i, (source, blocks) in enumerate(streams):
            probs.append([])
            outcomes.append((source, 0))
            try:
                for start, samples, valid in self.stream_windows(blocks()):
                    if self.pad_mode and start > 0:  # a second window: longer than the model's input
                        raise audio_lib.AudioError(
                            source, f"longer than the model's input ({self.window / self.sample_rate:g} s): this "
                            "config scores whole clips (data.eval_mode=pad, data.eval_seconds)",
                            "cut the file, or train with data.eval_mode=chunks",
                        )
                    row = len(owners)
                    batch[row, : len(samples)], batch[row, len(samples) :] = samples, 0.0
                    lengths[row] = valid
                    owners.append(i)
                    outcomes[i] = (source, start + valid)  # the last window ends at the input's end
                    if len(owners) == self.batch_size:
                        flush()
            except audio_lib.AudioError as err:
                if raise_errors:
                    raise
                outcomes[i] = err
            if progress is not None:
                progress(0.0 if isinstance(outcomes[i], Exception) else outcomes[i][1] / self.sample_rate)
        flush()
        return [o if isinstance(o, Exception) else self._prediction(*o, probs[i]) for i, o in enumerate(outcomes)]

    def _probabilities(self, batch: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        try:
            return np.asarray(self._fn(self.variables, audio=batch, lengths=lengths))
        except (flax.errors.ScopeParamShapeError, flax.errors.ScopeParamNotFoundError) as err:
            # Found when the model is first traced with the weights (from_checkpoint reads
            # them shaped by the checkpoint, not by the model): the model's code or the
            # run's config changed since training.
            raise checkpoint.CheckpointError(
                f"the weights do not fit the model the config builds (its code or the config changed since "
                f"training?): {str(err).split(' (https://')[0]}"
            ) from None

    def _prediction(self, source: str, samples: int, window_probs: list[np.ndarray]) -> Prediction:
        seconds = samples / self.sample_rate
        if seconds < self.min_seconds:
            return Prediction(source, None, {}, seconds, windows=0, status=TOO_SHORT)
        mean = np.stack(window_probs).mean(axis=0)
        return Prediction(
            source=source,
            label=self.class_names[int(np.argmax(mean))],
            probabilities={name: float(p) for name, p in zip(self.class_names, mean)},
            seconds=seconds,
            windows=len(window_probs),
        )


def _as_clip(clip, source: str) -> np.ndarray:
    clip = np.asarray(clip, np.float32)
    if clip.ndim != 1 or not len(clip):
        raise ValueError(f"{source}: expected a non-empty 1-D waveform, got shape {clip.shape}")
    return clip


def _blocks_of(clip: np.ndarray) -> Callable[[], list[np.ndarray]]:
    return lambda: [clip]


def _class_names(workdir: pathlib.Path) -> list[str]:
    """The run's class names, which the model's output size needs before restoring."""
    path = workdir / network.CLASSES_FILE
    if not path.is_file():
        raise checkpoint.CheckpointError(f"{path} not found: {workdir} is not a jaxser training run directory")
    return json.loads(path.read_text())["class_names"]
