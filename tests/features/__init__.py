"""Tests of jaxser.features against librosa on real EmoDB clips."""

from __future__ import annotations

import pathlib

import numpy as np
import soundfile as sf

# Files at these positions of the sorted EmoDB listing: 2.0-3.9 s, all different lengths.
CLIP_INDICES = (3, 107, 214, 321, 428)


def load_clips(emodb_dir: pathlib.Path, indices=CLIP_INDICES):
    """Real clips as float32 arrays, plus the zero-padded batch ``[B, N]`` and ``lengths``."""
    paths = sorted(emodb_dir.glob("*.wav"))
    if len(paths) <= max(indices):
        raise FileNotFoundError(f"{emodb_dir} holds {len(paths)} wav files; expected the 535 of EmoDB")
    clips = [sf.read(paths[i], dtype="float32")[0] for i in indices]
    lengths = np.array([len(c) for c in clips], np.int32)
    batch = np.zeros((len(clips), lengths.max()), np.float32)
    for row, clip in zip(batch, clips):
        row[: len(clip)] = clip
    return clips, batch, lengths
