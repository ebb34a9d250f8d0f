"""Windows, pre-emphasis, STFT/iSTFT, spectrograms and Griffin-Lim.

Pure ``jax.numpy``: every function works under ``jit``, ``vmap`` and ``grad``, takes
batch-first input (see :mod:`jaxser.features.framing` for the layout and ``lengths``)
and, clip by clip, reproduces librosa 0.11 with the same keyword arguments, except that
time frames sit on axis -2 (``stft(y[B, N])`` is ``[B, frames, 1 + n_fft // 2]``).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxser.features import framing

_NUMPY_WINDOWS = {"hann": np.hanning, "hamming": np.hamming}


def get_window(window, win_length: int, *, fftbins: bool = True, dtype=np.float32) -> np.ndarray:
    """A window of ``win_length`` samples as a NumPy constant (float32 unless ``dtype``).

    As ``librosa.filters.get_window``: a name or ``(name, parameter)`` tuple goes to
    ``scipy.signal.get_window`` (``'hann'``, ``'hamming'``, ``('kaiser', 8.0)``, ...), a
    callable is called as ``f(win_length)``, an array of that length is taken as is.
    ``fftbins=True`` gives the periodic window used for spectral analysis (what librosa
    uses); ``False`` the symmetric one. A static constant, so jit folds it.
    """
    if isinstance(window, str) and window in _NUMPY_WINDOWS and win_length > 1:
        # NumPy's symmetric window of one more sample, last one dropped, is the periodic
        # window scipy gives; scipy.signal costs ~1.3 s to import, a second of every
        # `jaxser predict` start, for the two windows every model here uses.
        values = _NUMPY_WINDOWS[window](win_length + 1)[:-1] if fftbins else _NUMPY_WINDOWS[window](win_length)
    elif isinstance(window, (str, tuple)):
        import scipy.signal  # here: slow to import, and only tracing needs it

        try:
            values = scipy.signal.get_window(window, win_length, fftbins=fftbins)
        except ValueError as err:
            raise ValueError(f"window={window!r} is not supported: {err}") from None
    else:
        values = window(win_length) if callable(window) else window
    values = np.asarray(values, dtype=dtype)
    if values.shape != (win_length,):
        raise ValueError(f"window has shape {values.shape}; expected ({win_length},) for win_length={win_length}")
    return values


@dataclasses.dataclass(frozen=True, eq=False)
class FrameSpec:
    """Resolved STFT geometry; the librosa defaults are filled in by :func:`frame_spec`."""

    n_fft: int
    hop_length: int
    win_length: int
    window: np.ndarray  # analysis window, zero-padded to n_fft; float64, cast to the signal's dtype
    center: bool
    pad_mode: str

    @property
    def n_bins(self) -> int:
        return 1 + self.n_fft // 2

    def num_frames(self, n_samples):
        return framing.num_frames(n_samples, n_fft=self.n_fft, hop_length=self.hop_length, center=self.center)


def _positive_int(name: str, value) -> int:
    if not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}={value!r} must be a positive integer")
    return int(value)


def frame_spec(
    *, n_fft: int, hop_length=None, win_length=None, window="hann", center: bool = True, pad_mode: str = "constant"
) -> FrameSpec:
    """Validate STFT arguments; ``win_length`` defaults to ``n_fft``, ``hop_length`` to ``win_length // 4``."""
    n_fft = _positive_int("n_fft", n_fft)
    win_length = n_fft if win_length is None else _positive_int("win_length", win_length)
    if win_length > n_fft:
        raise ValueError(
            f"win_length={win_length} exceeds n_fft={n_fft}; raise n_fft to at least win_length "
            "(the spectrum is then sampled more densely) or shorten the window"
        )
    hop_length = max(1, win_length // 4) if hop_length is None else _positive_int("hop_length", hop_length)
    if pad_mode not in framing.PAD_MODES:
        raise ValueError(f"pad_mode={pad_mode!r} is not supported; use one of {framing.PAD_MODES}")
    # Kept in float64: the float64 path (jax.enable_x64) needs it unrounded, since window
    # round-off leaks into weak bins; the float32 path casts it once, at trace time.
    window = framing.pad_center(get_window(window, win_length, fftbins=True, dtype=np.float64), n_fft)
    return FrameSpec(n_fft, hop_length, win_length, window, bool(center), pad_mode)


def waveform_rows(y, lengths):
    """Check a waveform batch and flatten its batch axes: ``(rows[M, N], lengths[M] | None, batch)``."""
    y = jnp.asarray(y)
    if not jnp.issubdtype(y.dtype, jnp.floating):
        raise TypeError(
            f"waveform dtype {y.dtype} is not floating point; convert it first, e.g. "
            "int16 PCM with y.astype(jnp.float32) / 32768"
        )
    if y.ndim < 1:
        raise ValueError("waveform must have at least one axis (samples)")
    if jnp.finfo(y.dtype).bits < 32:
        y = y.astype(jnp.float32)  # XLA's FFT takes float32/float64 only
    return framing.flatten_rows(y, lengths, trailing=1)


def mask_frames(values: jax.Array, lengths, n_samples: int, spec: FrameSpec) -> jax.Array:
    """Zero the frames (axis -2) of ``values[M, T, F]`` past each row's valid count."""
    if lengths is None:
        return values
    mask = framing.frame_mask(
        lengths, n_samples, n_fft=spec.n_fft, hop_length=spec.hop_length, center=spec.center
    )
    return jnp.where(mask[..., None], values, jnp.zeros((), values.dtype))


def stft_rows(rows: jax.Array, lengths, spec: FrameSpec) -> jax.Array:
    """Complex STFT of ``rows[M, N]`` -> ``[M, T, n_bins]``; frames past ``lengths`` are 0."""
    if spec.center:
        padded = framing.center_pad(rows, spec.n_fft // 2, spec.pad_mode, lengths)
    else:
        if rows.shape[-1] < spec.n_fft:
            raise ValueError(
                f"center=False needs at least n_fft={spec.n_fft} samples, got {rows.shape[-1]}; "
                "use center=True or a smaller n_fft"
            )
        padded = rows if lengths is None else jnp.where(framing.length_mask(lengths, rows.shape[-1]), rows, 0)
    frames = framing.frame(padded, frame_length=spec.n_fft, hop_length=spec.hop_length)
    spectrum = jnp.fft.rfft(frames * spec.window.astype(rows.dtype), axis=-1)
    return mask_frames(spectrum, lengths, rows.shape[-1], spec)


def power_of(spectrum: jax.Array, power: float) -> jax.Array:
    """``|X| ** power`` without a square root for power 2 and with finite gradients at 0."""
    energy = jnp.real(spectrum) ** 2 + jnp.imag(spectrum) ** 2
    if power == 2.0:
        return energy
    if power <= 0:
        raise ValueError(f"power={power} must be positive (1 magnitude, 2 power)")
    # Double-where: the derivative of x**(p/2) at 0 is infinite for p < 2; keep it out
    # of the backward pass of the zero entries (padding, digital silence).
    positive = energy > 0
    safe = jnp.where(positive, energy, 1.0)
    return jnp.where(positive, safe ** (power / 2.0), 0.0)


def per_frame_bytes(spec: FrameSpec, n_samples: int, itemsize: int = 4) -> int:
    """Bytes of one row's frame matrix: sizes the CPU row groups of :func:`framing.map_rows`."""
    return max(1, spec.num_frames(n_samples)) * spec.n_fft * itemsize


def analyse(y, lengths, spec: FrameSpec, head: Callable) -> jax.Array:
    """Run ``head(stft_rows(rows), rows_lengths)`` over a waveform batch; restore its batch axes."""
    rows, row_lengths, batch = waveform_rows(y, lengths)
    fn = lambda r, n: head(stft_rows(r, n, spec), n)  # noqa: E731
    out = framing.map_rows(fn, rows, row_lengths, bytes_per_row=per_frame_bytes(spec, rows.shape[-1]))
    return out.reshape(*batch, *out.shape[1:])


def stft(
    y,
    *,
    n_fft: int = 2048,
    hop_length: int | None = None,
    win_length: int | None = None,
    window="hann",
    center: bool = True,
    pad_mode: str = "constant",
    lengths=None,
) -> jax.Array:
    """Short-time Fourier transform, ``[..., N]`` -> complex ``[..., T, 1 + n_fft // 2]``.

    Equals ``librosa.stft(y, ...).T`` per clip (same keywords and defaults: ``pad_mode``
    ``'constant'``, hop ``win_length // 4``). ``T = 1 + N // hop`` with ``center``. With
    ``lengths`` every clip is padded at its own end and frames past
    ``num_frames(lengths)`` are 0.
    """
    spec = frame_spec(
        n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window, center=center, pad_mode=pad_mode
    )
    return analyse(y, lengths, spec, lambda x, _: x)


def spectrogram(
    y,
    *,
    power: float = 2.0,
    n_fft: int = 2048,
    hop_length: int | None = None,
    win_length: int | None = None,
    window="hann",
    center: bool = True,
    pad_mode: str = "constant",
    lengths=None,
) -> jax.Array:
    """``|stft(y)| ** power`` (2: power spectrogram, 1: magnitude), ``[..., T, 1 + n_fft // 2]``."""
    spec = frame_spec(
        n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window, center=center, pad_mode=pad_mode
    )
    return analyse(y, lengths, spec, lambda x, _: power_of(x, power))


def _window_sumsquare(spec: FrameSpec, frames_mask, count: int, dtype) -> jax.Array:
    """Overlap-added squared window (librosa's ``window_sumsquare``); per row if masked."""
    squared = jnp.asarray(spec.window.astype(np.float64) ** 2, dtype)
    if frames_mask is None:
        weights = jnp.broadcast_to(squared, (1, count, spec.n_fft))  # a broadcast, not a constant
    else:
        weights = frames_mask[..., None].astype(dtype) * squared
    return framing.overlap_add(weights, hop_length=spec.hop_length)


def istft_rows(spectra: jax.Array, lengths, spec: FrameSpec, length: int) -> jax.Array:
    """Inverse of :func:`stft_rows`: ``[M, T, n_bins]`` -> ``[M, length]``."""
    count = spectra.shape[-2]
    frames = jnp.fft.irfft(spectra, n=spec.n_fft, axis=-1)
    dtype = frames.dtype
    frames = frames * spec.window.astype(dtype)
    mask = None
    if lengths is not None:
        valid = spec.num_frames(lengths)
        mask = framing.length_mask(valid, count)
        frames = jnp.where(mask[..., None], frames, 0)
    signal = framing.overlap_add(frames, hop_length=spec.hop_length)
    norm = _window_sumsquare(spec, mask, count, dtype)
    # Divide where the envelope is not ~0, like librosa (only the far edges can be 0).
    nonzero = norm > np.finfo(np.float32).tiny
    signal = jnp.where(nonzero, signal / jnp.where(nonzero, norm, 1.0), signal)
    start = spec.n_fft // 2 if spec.center else 0
    signal = signal[..., start : start + length]
    if signal.shape[-1] < length:
        signal = jnp.pad(signal, ((0, 0), (0, length - signal.shape[-1])))
    if lengths is not None:
        signal = jnp.where(framing.length_mask(lengths, length), signal, 0)
    return signal


def _default_length(spec: FrameSpec, count: int) -> int:
    full = spec.n_fft + spec.hop_length * (count - 1)
    return full - 2 * (spec.n_fft // 2) if spec.center else full


def _spectrum_rows(stft_matrix, lengths, n_fft):
    x = jnp.asarray(stft_matrix)
    if x.ndim < 2:
        raise ValueError(f"expected a [..., frames, bins] array, got shape {x.shape}")
    n_bins = x.shape[-1]
    n_fft = 2 * (n_bins - 1) if n_fft is None else n_fft
    if n_bins != 1 + n_fft // 2:
        raise ValueError(
            f"last axis has {n_bins} bins but n_fft={n_fft} gives {1 + n_fft // 2}; "
            "frequency must be the last axis (frames on axis -2)"
        )
    rows, row_lengths, batch = framing.flatten_rows(x, lengths, trailing=2)
    return rows, row_lengths, batch, n_fft


def istft(
    stft_matrix,
    *,
    hop_length: int | None = None,
    win_length: int | None = None,
    n_fft: int | None = None,
    window="hann",
    center: bool = True,
    length: int | None = None,
    lengths=None,
) -> jax.Array:
    """Inverse STFT by weighted overlap-add, ``[..., T, F]`` -> ``[..., length]``.

    Equals ``librosa.istft(S.T, ...)`` per clip. ``length`` defaults to
    ``hop * (T - 1)`` (``center``); ``lengths`` (valid output samples per clip) makes
    each clip use only its own frames, as if inverted alone, and zeroes the rest.
    """
    rows, row_lengths, batch, n_fft = _spectrum_rows(stft_matrix, lengths, n_fft)
    spec = frame_spec(n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window, center=center)
    length = _default_length(spec, rows.shape[-2]) if length is None else _positive_int("length", length)
    out = istft_rows(rows, row_lengths, spec, length)
    return out.reshape(*batch, length)


def griffin_lim(
    S,
    *,
    n_iter: int = 32,
    hop_length: int | None = None,
    win_length: int | None = None,
    n_fft: int | None = None,
    window="hann",
    center: bool = True,
    length: int | None = None,
    pad_mode: str = "constant",
    momentum: float = 0.99,
    init: str | None = "random",
    key: jax.Array | None = None,
    lengths=None,
) -> jax.Array:
    """Waveform ``[..., length]`` from a magnitude spectrogram ``S[..., T, F]`` by (fast) Griffin-Lim.

    The iteration of ``librosa.griffinlim``: ``n_iter`` rounds of iSTFT -> STFT, the new
    phase extrapolated with ``momentum`` (0 gives the original algorithm). ``init``:
    ``'random'`` phases drawn from ``key`` (a ``jax.random`` key, required), or ``None``
    for zero phase (deterministic, equal to librosa's ``init=None``).
    """
    if momentum < 0:
        raise ValueError(f"momentum={momentum} must be non-negative")
    if momentum > 1:
        warnings.warn(f"Griffin-Lim with momentum={momentum} > 1 can be unstable", stacklevel=2)
    n_iter = int(n_iter)
    if n_iter < 0:
        raise ValueError(f"n_iter={n_iter} must be >= 0")
    rows, row_lengths, batch, n_fft = _spectrum_rows(S, lengths, n_fft)
    spec = frame_spec(
        n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window, center=center, pad_mode=pad_mode
    )
    count = rows.shape[-2]
    length = _default_length(spec, count) if length is None else _positive_int("length", length)
    if spec.num_frames(length) != count:
        raise ValueError(
            f"length={length} gives {spec.num_frames(length)} frames but S has {count}; "
            "pass the length of the signal S was computed from"
        )
    magnitude = rows.astype(jnp.result_type(rows.dtype, jnp.float32))
    if init == "random":
        if key is None:
            raise ValueError("init='random' needs key=jax.random.key(seed); or pass init=None")
        phase = jax.random.uniform(key, magnitude.shape, magnitude.dtype, 0.0, 2.0 * np.pi)
        angles = magnitude * jnp.exp(1j * phase)
    elif init is None:
        angles = magnitude.astype(jnp.result_type(magnitude.dtype, jnp.complex64))
    else:
        raise ValueError(f"init={init!r} must be 'random' or None")

    eps = np.finfo(np.float32).tiny
    beta = momentum / (1.0 + momentum)

    def step(_, carry):
        angles, previous = carry
        rebuilt = stft_rows(istft_rows(angles, row_lengths, spec, length), row_lengths, spec)
        update = rebuilt - beta * previous
        return magnitude * update / (jnp.abs(update) + eps), rebuilt

    angles, _ = jax.lax.fori_loop(0, n_iter, step, (angles, jnp.zeros_like(angles)))
    out = istft_rows(angles, row_lengths, spec, length)
    return out.reshape(*batch, length)


def preemphasis(y, *, coef: float = 0.97, zi=None, lengths=None) -> jax.Array:
    """First-order pre-emphasis ``y[n] - coef * y[n - 1]`` along the last axis.

    As ``librosa.effects.preemphasis``: the first output is ``y[0] + zi`` with the
    filter state ``zi`` defaulting to ``2 * y[0] - y[1]`` (librosa's choice); pass
    ``zi=0.0`` for plain ``y[0]``. Samples past ``lengths`` are zeroed.
    """
    rows, row_lengths, batch = waveform_rows(y, lengths)
    if rows.shape[-1] < 2:
        raise ValueError("preemphasis needs at least 2 samples")
    if zi is None:
        state = 2.0 * rows[:, :1] - rows[:, 1:2]
    else:
        state = jnp.asarray(zi, rows.dtype)
        if state.ndim == len(batch) + 1 and state.shape[-1] == 1:
            state = state[..., 0]  # librosa's zi shape [..., 1]
        state = jnp.broadcast_to(state, batch).reshape(-1, 1)
    out = jnp.concatenate([rows[:, :1] + state, rows[:, 1:] - coef * rows[:, :-1]], axis=-1)
    if row_lengths is not None:
        out = jnp.where(framing.length_mask(row_lengths, out.shape[-1]), out, 0)
    return out.reshape(*batch, out.shape[-1])
