"""Mel filterbank, decibels, log-mel, MFCC, deltas and the log-power spectrum (LPS).

Same layout and ``lengths`` contract as :mod:`jaxser.features.spectral`: outputs are
``[..., frames, features]`` and, per clip, equal librosa 0.11 with the same keywords.
Reductions librosa takes over a whole array (``ref=max``, ``top_db``) are taken per
clip (per index of the batch axes), over its valid frames only.
"""

from __future__ import annotations

import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from jaxser.features import framing, spectral

# Slaney's mel scale: linear below 1 kHz (200/3 Hz per mel), logarithmic above.
_SLANEY_HZ_PER_MEL = 200.0 / 3.0
_SLANEY_BREAK_HZ = 1000.0
_SLANEY_BREAK_MEL = _SLANEY_BREAK_HZ / _SLANEY_HZ_PER_MEL
_SLANEY_LOG_STEP = math.log(6.4) / 27.0


def hz_to_mel(frequencies, *, htk: bool = False) -> np.ndarray:
    """Hz -> mel (Slaney's scale, or HTK's ``2595 log10(1 + f / 700)``), in float64."""
    f = np.asarray(frequencies, dtype=np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + f / 700.0)
    linear = f / _SLANEY_HZ_PER_MEL
    above = np.maximum(f, _SLANEY_BREAK_HZ)  # keeps log() finite where it is not used
    log_part = _SLANEY_BREAK_MEL + np.log(above / _SLANEY_BREAK_HZ) / _SLANEY_LOG_STEP
    return np.where(f >= _SLANEY_BREAK_HZ, log_part, linear)


def mel_to_hz(mels, *, htk: bool = False) -> np.ndarray:
    """Inverse of :func:`hz_to_mel`."""
    m = np.asarray(mels, dtype=np.float64)
    if htk:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    linear = m * _SLANEY_HZ_PER_MEL
    log_part = _SLANEY_BREAK_HZ * np.exp(_SLANEY_LOG_STEP * (m - _SLANEY_BREAK_MEL))
    return np.where(m >= _SLANEY_BREAK_MEL, log_part, linear)


def mel_frequencies(n_mels: int = 128, *, fmin: float = 0.0, fmax: float = 11025.0, htk: bool = False) -> np.ndarray:
    """``n_mels`` frequencies (Hz) equally spaced on the mel scale from fmin to fmax."""
    return mel_to_hz(np.linspace(hz_to_mel(fmin, htk=htk), hz_to_mel(fmax, htk=htk), n_mels), htk=htk)


def mel_filterbank(
    *,
    sr: float,
    n_fft: int,
    n_mels: int = 128,
    fmin: float = 0.0,
    fmax: float | None = None,
    htk: bool = False,
    norm="slaney",
    dtype=np.float32,
) -> np.ndarray:
    """Triangular mel filters ``[n_mels, 1 + n_fft // 2]``, the matrix of ``librosa.filters.mel``.

    Built here rather than by librosa: importing ``librosa.filters`` pulls in
    scipy.signal and numba, 2.5 s of every command's start (a prediction's included),
    for a few lines of NumPy that the tests hold to librosa's matrix within 1e-6.

    ``norm='slaney'`` scales each triangle to unit area (2 / bandwidth), ``None`` keeps
    peak 1, a number p divides each filter by its p-norm. A NumPy constant: apply it
    as ``S @ fb.T`` on ``[..., frames, bins]`` spectra.
    """
    if fmax is None:
        fmax = float(sr) / 2.0
    if not 0.0 <= fmin < fmax:
        raise ValueError(f"need 0 <= fmin < fmax, got fmin={fmin}, fmax={fmax}")
    bins = np.fft.rfftfreq(n_fft, d=1.0 / sr)
    edges = mel_frequencies(n_mels + 2, fmin=fmin, fmax=fmax, htk=htk)
    width = np.diff(edges)
    offset = edges[:, None] - bins[None, :]  # [n_mels + 2, n_bins]
    rising = -offset[:-2] / width[:-1, None]
    falling = offset[2:] / width[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    if norm == "slaney":
        weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    elif isinstance(norm, str):
        raise ValueError(f"norm={norm!r} is not supported; use 'slaney', None or a number (p-norm)")
    elif norm is not None:
        if np.isinf(norm):
            size = np.max(np.abs(weights), axis=1)
        else:
            size = np.sum(np.abs(weights) ** norm, axis=1) ** (1.0 / norm)
        weights /= np.where(size > np.finfo(weights.dtype).tiny, size, 1.0)[:, None]
    if np.any((edges[:-2] > 0) & (weights.max(axis=1) <= 0)):
        warnings.warn(
            f"empty mel filters for sr={sr}, n_fft={n_fft}, n_mels={n_mels}: some channels are always 0; "
            "reduce n_mels or raise n_fft",
            stacklevel=2,
        )
    return weights.astype(dtype)


def _is_max(ref) -> bool:
    if isinstance(ref, str):
        return ref == "max"
    return callable(ref) and any(ref is f for f in (np.max, np.amax, jnp.max, jnp.amax))


def _check_db_args(ref, amin, top_db):
    if amin <= 0:
        raise ValueError(f"amin={amin} must be strictly positive")
    if top_db is not None and top_db < 0:
        raise ValueError(f"top_db={top_db} must be non-negative (or None)")
    if not _is_max(ref) and (callable(ref) or isinstance(ref, str)):
        raise ValueError(f"ref={ref!r} is not supported; use a number, 'max' or numpy.max / jax.numpy.max")


def _masked_max(x: jax.Array, mask) -> jax.Array:
    """Max over the last two axes of ``x[M, T, F]``, valid frames only -> ``[M, 1, 1]``."""
    if mask is not None:
        x = jnp.where(mask, x, -jnp.inf)
    return jnp.max(x, axis=(-2, -1), keepdims=True)


def db_rows(power: jax.Array, valid_frames, *, ref, amin: float, top_db) -> jax.Array:
    """power_to_db on rows ``[M, T, F]`` with ``valid_frames[M]`` (or None); padding -> 0."""
    mask = None if valid_frames is None else framing.length_mask(valid_frames, power.shape[-2])[..., None]
    amin = jnp.asarray(amin, power.dtype)
    if _is_max(ref):
        ref_value = _masked_max(power, mask)
    else:
        ref_value = jnp.asarray(abs(ref), power.dtype)
    db = 10.0 * jnp.log10(jnp.maximum(amin, power)) - 10.0 * jnp.log10(jnp.maximum(amin, ref_value))
    if top_db is not None:
        db = jnp.maximum(db, _masked_max(db, mask) - top_db)
    return db if mask is None else jnp.where(mask, db, 0.0)


def power_to_db(S, *, ref=1.0, amin: float = 1e-10, top_db: float | None = 80.0, lengths=None) -> jax.Array:
    """``10 log10(S / ref)`` with librosa's flooring, on ``S[..., frames, features]``.

    ``ref`` is a number or max (``'max'``, ``numpy.max`` or ``jax.numpy.max``): the
    maximum of each clip. ``top_db`` floors each clip at its maximum minus top_db.
    ``lengths`` counts valid frames per clip; the others are excluded and set to 0.
    """
    _check_db_args(ref, amin, top_db)
    S = jnp.asarray(S)
    if jnp.iscomplexobj(S):
        raise TypeError("power_to_db expects a real power spectrogram; pass jnp.abs(X) ** 2 for a complex STFT")
    if S.ndim < 2:
        raise ValueError(f"expected [..., frames, features], got shape {S.shape}")
    rows, valid, batch = framing.flatten_rows(S, lengths, trailing=2)
    out = db_rows(rows, valid, ref=ref, amin=amin, top_db=top_db)
    return out.reshape(S.shape)


def _project(x: jax.Array, matrix: np.ndarray) -> jax.Array:
    """``x @ matrix`` at full float32 precision: GPUs would otherwise use TF32/bf16
    passes, whose ~1e-3 relative error alone exceeds the log-mel tolerance."""
    return jnp.matmul(x, jnp.asarray(matrix, x.dtype), precision=jax.lax.Precision.HIGHEST)


def _mel_head(power, fb):
    """Complex STFT -> mel spectrogram: one matmul ``[.., n_bins] @ [n_bins, n_mels]``."""
    weights = np.ascontiguousarray(fb.T)
    return lambda x: _project(spectral.power_of(x, power), weights)


def mel_spectrogram(
    y,
    *,
    sr: float,
    n_fft: int = 2048,
    hop_length: int = 512,
    win_length: int | None = None,
    window="hann",
    center: bool = True,
    pad_mode: str = "constant",
    power: float = 2.0,
    n_mels: int = 128,
    fmin: float = 0.0,
    fmax: float | None = None,
    htk: bool = False,
    norm="slaney",
    lengths=None,
) -> jax.Array:
    """Mel spectrogram ``[..., T, n_mels]``, as ``librosa.feature.melspectrogram(...).T`` per clip.

    Defaults follow librosa's ``melspectrogram`` (note its ``hop_length=512``, unlike
    ``stft``'s ``win_length // 4``); ``sr`` has no default on purpose.
    """
    spec = spectral.frame_spec(
        n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window, center=center, pad_mode=pad_mode
    )
    fb = mel_filterbank(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, norm=norm)
    head = _mel_head(power, fb)
    return spectral.analyse(y, lengths, spec, lambda x, _: head(x))


def log_mel(
    y,
    *,
    sr: float,
    n_fft: int = 2048,
    hop_length: int = 512,
    win_length: int | None = None,
    window="hann",
    center: bool = True,
    pad_mode: str = "constant",
    power: float = 2.0,
    n_mels: int = 128,
    fmin: float = 0.0,
    fmax: float | None = None,
    htk: bool = False,
    norm="slaney",
    ref=1.0,
    amin: float = 1e-10,
    top_db: float | None = 80.0,
    lengths=None,
) -> jax.Array:
    """Log-mel spectrogram in dB, ``[..., T, n_mels]``.

    ``power_to_db(mel_spectrogram(y, ...), ref=, amin=, top_db=)``, computed in one pass
    per group of clips. Frames past ``lengths`` are 0; see :func:`jaxser.features.frame_mask`.
    """
    _check_db_args(ref, amin, top_db)
    spec = spectral.frame_spec(
        n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window, center=center, pad_mode=pad_mode
    )
    fb = mel_filterbank(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, norm=norm)
    head = _mel_head(power, fb)

    def fn(x, n):
        valid = None if n is None else spec.num_frames(n)
        return db_rows(head(x), valid, ref=ref, amin=amin, top_db=top_db)

    return spectral.analyse(y, lengths, spec, fn)


def _cepstral_matrix(n_mels: int, n_mfcc: int, dct_type: int, norm, lifter: float) -> np.ndarray:
    if dct_type != 2:
        raise ValueError(f"dct_type={dct_type} is not supported; MFCCs use the DCT-II (dct_type=2)")
    if not 1 <= n_mfcc <= n_mels:
        raise ValueError(f"n_mfcc={n_mfcc} must be between 1 and n_mels={n_mels}")
    if lifter < 0:
        raise ValueError(f"lifter={lifter} must be non-negative (0 disables liftering)")
    if norm not in ("ortho", None):
        raise ValueError(f"norm={norm!r} must be 'ortho' or None")
    import scipy.fft  # here: keeps `import jaxser.features` light

    # Row i is the DCT of the i-th unit vector, so x @ matrix = dct(x)[..., :n_mfcc].
    matrix = scipy.fft.dct(np.eye(n_mels), type=2, norm=norm, axis=-1)[:, :n_mfcc]
    if lifter > 0:
        # Sinusoidal liftering folded into the DCT: column k scales by 1 + L/2 sin(pi (k+1) / L).
        matrix = matrix * (1.0 + 0.5 * lifter * np.sin(np.pi * np.arange(1, n_mfcc + 1) / lifter))
    return matrix  # float64; cast to the features' dtype where used


def mfcc_from_log_mel(
    S, *, n_mfcc: int = 20, dct_type: int = 2, norm: str | None = "ortho", lifter: float = 0.0
) -> jax.Array:
    """MFCCs ``[..., T, n_mfcc]`` from a log-mel spectrogram ``S[..., T, n_mels]`` (dB)."""
    S = jnp.asarray(S)
    matrix = _cepstral_matrix(S.shape[-1], n_mfcc, dct_type, norm, lifter)
    return _project(S, matrix)


def mfcc(
    y,
    *,
    sr: float,
    n_mfcc: int = 20,
    dct_type: int = 2,
    norm: str | None = "ortho",
    lifter: float = 0.0,
    mel_norm="slaney",
    n_fft: int = 2048,
    hop_length: int = 512,
    win_length: int | None = None,
    window="hann",
    center: bool = True,
    pad_mode: str = "constant",
    power: float = 2.0,
    n_mels: int = 128,
    fmin: float = 0.0,
    fmax: float | None = None,
    htk: bool = False,
    ref=1.0,
    amin: float = 1e-10,
    top_db: float | None = 80.0,
    lengths=None,
) -> jax.Array:
    """MFCCs ``[..., T, n_mfcc]``, as ``librosa.feature.mfcc(y=, sr=, ...).T`` per clip.

    DCT-II (``norm='ortho'``) of the dB mel spectrogram, then optional sinusoidal
    ``lifter``. ``norm`` is the DCT's, ``mel_norm`` the filterbank's (librosa's names);
    ``ref``/``amin``/``top_db`` are those of the inner ``power_to_db``.
    """
    _check_db_args(ref, amin, top_db)
    spec = spectral.frame_spec(
        n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window, center=center, pad_mode=pad_mode
    )
    fb = mel_filterbank(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, norm=mel_norm)
    head = _mel_head(power, fb)
    cepstral = _cepstral_matrix(n_mels, n_mfcc, dct_type, norm, lifter)

    def fn(x, n):
        valid = None if n is None else spec.num_frames(n)
        db = db_rows(head(x), valid, ref=ref, amin=amin, top_db=top_db)
        return _project(db, cepstral)  # padded frames stay 0: 0 @ D = 0

    return spectral.analyse(y, lengths, spec, fn)


def lps(
    y,
    *,
    n_fft: int = 512,
    hop_length: int | None = None,
    win_length: int | None = None,
    window="hann",
    center: bool = True,
    pad_mode: str = "constant",
    amin: float = 1e-10,
    lengths=None,
) -> jax.Array:
    """Log-power spectrum ``ln(max(|X|^2, amin))``, ``[..., T, 1 + n_fft // 2]`` (257 bins at 512).

    The natural-log power spectrum used as input and target of regression speech
    enhancement; ``amin`` keeps digital silence finite. Frames past ``lengths`` are 0.
    """
    if amin <= 0:
        raise ValueError(f"amin={amin} must be strictly positive")
    spec = spectral.frame_spec(
        n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window, center=center, pad_mode=pad_mode
    )

    n_samples = jnp.shape(y)[-1]

    def fn(x, n):
        out = jnp.log(jnp.maximum(spectral.power_of(x, 2.0), amin))
        return spectral.mask_frames(out, n, n_samples, spec)  # log(0) would be ln(amin)

    return spectral.analyse(y, lengths, spec, fn)


def _savgol_slope(width: int, order: int) -> np.ndarray:
    """Weights w with ``w @ x[s:s + width]`` = the order-th derivative of the least-squares
    polynomial of degree ``order`` through those points.

    With degree == derivative order that derivative is one constant over the window,
    so the same weights give Savitzky-Golay's interior values and its ``mode='interp'``
    edge values (which evaluate the first/last window's fit at the edge frames).
    """
    positions = np.arange(width, dtype=np.float64) - width // 2
    vandermonde = positions[:, None] ** np.arange(order + 1)[None, :]
    return math.factorial(order) * np.linalg.pinv(vandermonde)[order]


def delta(data, *, width: int = 9, order: int = 1, axis: int = -2, mode: str = "interp", lengths=None) -> jax.Array:
    """Local derivative of ``data`` along ``axis`` (frames), as ``librosa.feature.delta``.

    A Savitzky-Golay filter of ``width`` frames and degree ``order`` taking the
    order-th derivative, with ``mode='interp'`` edges: the first and last
    ``width // 2`` frames take the derivative of the fit to the first/last ``width``
    frames. With ``lengths`` (valid frames per clip) the last window is each clip's
    own; frames past it are 0. Each clip needs at least ``width`` valid frames.
    """
    if mode != "interp":
        raise ValueError(f"mode={mode!r} is not supported; librosa's default 'interp' is implemented")
    if not isinstance(width, (int, np.integer)) or width < 3 or width % 2 != 1:
        raise ValueError(f"width={width!r} must be an odd integer >= 3")
    if not isinstance(order, (int, np.integer)) or order < 1:
        raise ValueError(f"order={order!r} must be a positive integer")
    data = jnp.asarray(data)
    if data.ndim < 2:
        data = data[:, None]  # a single feature track: frames on axis -2
        return delta(data, width=width, order=order, axis=-2, lengths=lengths)[:, 0]
    x = jnp.moveaxis(data, axis, -2)
    count = x.shape[-2]
    if width > count:
        raise ValueError(f"width={width} exceeds the {count} frames on axis {axis}; use a smaller width")
    rows, valid, _ = framing.flatten_rows(x, lengths, trailing=2)
    weights = _savgol_slope(width, int(order))
    starts = count - width + 1
    window_value = sum(float(w) * rows[:, j : j + starts] for j, w in enumerate(weights))  # [M, starts, F]
    half = width // 2
    # Frame t uses the window starting at clip(t - half, 0, last start): edges repeat.
    out = jnp.concatenate(
        [jnp.repeat(window_value[:, :1], half, axis=1), window_value, jnp.repeat(window_value[:, -1:], half, axis=1)],
        axis=1,
    )
    if valid is not None:
        last = jnp.clip(valid - width, 0, starts - 1)[:, None, None]
        tail = jnp.take_along_axis(window_value, last, axis=1)  # [M, 1, F]
        frame_index = jnp.arange(count)[None, :, None]
        out = jnp.where(frame_index > valid[:, None, None] - 1 - half, tail, out)
        out = jnp.where(frame_index < valid[:, None, None], out, 0)
    out = out.astype(x.dtype).reshape(x.shape)
    return jnp.moveaxis(out, -2, axis)
