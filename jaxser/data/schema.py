"""The example schema every corpus builder emits.

Each example is a dict with at least:

- ``audio``: int16 waveform at :data:`SAMPLE_RATE` (mono). 16-bit is what every corpus
  here ships, so storing int16 is lossless at the native rate and halves disk use; the
  input pipeline turns it into float32 in [-1, 1) (``x / 32768``).
- ``label``: emotion class index (``tfds.features.ClassLabel`` with the corpus' names).
- ``speaker``: speaker id, a string unique within the corpus.
- ``gender``: one of :data:`GENDERS` (``unknown`` where the corpus does not say).
- ``id``: stable example id, ``<corpus>/<relative path without extension>``.

Corpora may add fields (IEMOCAP: ``session``, ``improvised``); the pipeline keeps only
the fields it is asked for.
"""

from __future__ import annotations

SAMPLE_RATE = 16000
GENDERS = ("female", "male", "unknown")
CORE_KEYS = ("audio", "label", "speaker", "gender", "id")


def example_features(label_names, extra=None):
    """The ``tfds.features.FeaturesDict`` for a corpus with the given class names."""
    import numpy as np
    import tensorflow_datasets as tfds

    spec = {
        "audio": tfds.features.Audio(shape=(None,), dtype=np.int16, sample_rate=SAMPLE_RATE),
        "label": tfds.features.ClassLabel(names=list(label_names)),
        "speaker": tfds.features.Text(),
        "gender": tfds.features.ClassLabel(names=list(GENDERS)),
        "id": tfds.features.Text(),
    }
    spec.update(extra or {})
    return tfds.features.FeaturesDict(spec)


def to_int16(wave):
    """float32 waveform in [-1, 1] -> int16, clipping and rounding."""
    import numpy as np

    return np.clip(np.round(np.asarray(wave, np.float32) * 32768.0), -32768, 32767).astype(np.int16)
