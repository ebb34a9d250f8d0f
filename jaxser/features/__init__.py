"""On-device audio features: pure ``jax.numpy``, batch-first, jit/vmap/grad-safe.

Waveforms are ``[..., samples]`` (batch axes first); frame-level outputs are
``[..., frames, features]``. Every function takes ``lengths`` (valid samples per clip,
or valid frames for frame-level inputs) so a zero-padded batch gives, clip by clip,
librosa's result on the unpadded clip; padded frames are 0 and :func:`frame_mask`
marks the valid ones. Shapes depend only on the padded length: one compilation per
batch shape.

    import jax, jax.numpy as jnp
    from jaxser import features

    feats = jax.jit(lambda y, n: features.log_mel(y, sr=16000, n_fft=512, hop_length=160,
                                                  win_length=400, n_mels=40, lengths=n))
    x = feats(waveforms, lengths)                      # [B, 1 + N // 160, 40]
    mask = features.frame_mask(lengths, waveforms.shape[-1], n_fft=512, hop_length=160)
"""

from jaxser.features.framing import frame, frame_mask, length_mask, num_frames, overlap_add
from jaxser.features.mel import (
    delta,
    log_mel,
    lps,
    mel_filterbank,
    mel_spectrogram,
    mfcc,
    mfcc_from_log_mel,
    power_to_db,
)
from jaxser.features.spectral import (
    get_window,
    griffin_lim,
    istft,
    preemphasis,
    spectrogram,
    stft,
)

__all__ = [
    "delta",
    "frame",
    "frame_mask",
    "get_window",
    "griffin_lim",
    "istft",
    "length_mask",
    "log_mel",
    "lps",
    "mel_filterbank",
    "mel_spectrogram",
    "mfcc",
    "mfcc_from_log_mel",
    "num_frames",
    "overlap_add",
    "power_to_db",
    "preemphasis",
    "spectrogram",
    "stft",
]
