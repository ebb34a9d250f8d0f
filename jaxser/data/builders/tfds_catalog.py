"""CREMA-D and SAVEE from TFDS's own catalogue, rewritten into jaxser's example schema.

TFDS already ships ``crema_d`` (downloads itself from GitHub) and ``savee`` (manual:
``AudioData.zip``). Their examples are ``{audio: int64 samples, label, speaker_id}``
at 16 and 44.1 kHz, with speaker-disjoint ``train``/``validation``/``test`` splits
that TFDS drew (the corpora have none). The builders here prepare the TFDS dataset
into the same ``data_dir``, then rewrite every example once into jaxser's schema:
int16 at 16 kHz (SAVEE resampled), ``label`` with jaxser's English class names in the
upstream index order, ``speaker`` kept, ``gender`` (SAVEE's four speakers are male;
TFDS's CREMA-D carries no gender, so ``unknown``) and an ``id``. TFDS keeps no file
names in these datasets, so the id is ``<corpus>/<speaker>/<hash of the samples>``:
stable across rebuilds, whatever order TFDS writes the records in.

They register as ``jaxser_crema_d`` and ``jaxser_savee`` (TFDS owns ``crema_d`` and
``savee``); :func:`jaxser.data.load` calls them ``crema_d`` and ``savee``. Use
``split="train+validation+test"`` for every example (e.g. for leave-one-speaker-out).
"""

from __future__ import annotations

import hashlib
from typing import ClassVar

import numpy as np
import tensorflow_datasets as tfds

from jaxser.data import schema
from jaxser.data.builders import common

SPLITS = ("train", "validation", "test")


class _TfdsAdapter(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Prepares the TFDS dataset ``SOURCE`` and rewrites it into jaxser's schema."""

    SOURCE: ClassVar[str]
    LABELS: ClassVar[dict[str, str]]  # upstream class name -> jaxser's, in upstream order
    GENDER: ClassVar[str]
    HOMEPAGE: ClassVar[str]

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description=f"TFDS's `{self.SOURCE}` in jaxser's example schema.\n\n{__doc__}",
            features=schema.example_features(tuple(self.LABELS.values())),
            supervised_keys=("audio", "label"),
            homepage=self.HOMEPAGE,
        )

    def _split_generators(self, dl_manager):
        source = self._source(dl_manager)
        return {split: self._generate_examples(source, split) for split in SPLITS}

    def _source(self, dl_manager) -> tfds.core.DatasetBuilder:
        """The TFDS builder of ``SOURCE``, prepared into this builder's data_dir root."""
        manual_dir = common.manual_root(dl_manager, self.name) if self.MANUAL_DOWNLOAD_INSTRUCTIONS else None
        source = tfds.builder(self.SOURCE, data_dir=self.data_dir_root)
        source.download_and_prepare(
            download_dir=dl_manager.download_dir,
            download_config=tfds.download.DownloadConfig(manual_dir=manual_dir, try_download_gcs=False),
        )
        return source

    def _generate_examples(self, source, split):
        features = source.info.features
        rate = features["audio"].sample_rate
        upstream_names = features["label"].names
        unknown = set(upstream_names) - set(self.LABELS)
        if unknown:
            raise ValueError(f"{self.name}: TFDS's {self.SOURCE} has labels {sorted(unknown)} that are not mapped")
        seen: dict[str, int] = {}
        dataset = source.as_dataset(split=split, shuffle_files=False)
        for example in tfds.as_numpy(dataset):
            speaker = _text(example["speaker_id"])
            samples = np.asarray(example["audio"])
            digest = hashlib.sha1(samples.astype("<i8").tobytes()).hexdigest()[:16]
            key = f"{self.SOURCE}/{speaker}/{digest}"
            # Identical recordings would share a key; number repeats in read order.
            seen[key] = seen.get(key, 0) + 1
            if seen[key] > 1:
                key = f"{key}_{seen[key]}"
            yield key, {
                "audio": to_16k_int16(samples, rate),
                "label": self.LABELS[upstream_names[int(example["label"])]],
                "speaker": speaker,
                "gender": self.GENDER,
                "id": key,
            }


class CremaD(_TfdsAdapter):
    """CREMA-D audio (TFDS ``crema_d``): 7,442 clips, 91 actors, 6 emotions."""

    name = "jaxser_crema_d"
    SOURCE = "crema_d"
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "TFDS crema_d 1.0.0 in jaxser's schema, int16 at 16 kHz."}
    LABELS = {"NEU": "neutral", "HAP": "happiness", "SAD": "sadness", "ANG": "anger", "FEA": "fear", "DIS": "disgust"}
    GENDER = "unknown"
    HOMEPAGE = "https://github.com/CheyneyComputerScience/CREMA-D"


class Savee(_TfdsAdapter):
    """SAVEE (TFDS ``savee``): 480 utterances, 4 male British speakers, 7 emotions."""

    name = "jaxser_savee"
    SOURCE = "savee"
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "TFDS savee 1.0.0 in jaxser's schema, resampled from 44.1 to 16 kHz, int16."}
    LABELS = {name: name for name in ("anger", "disgust", "fear", "happiness", "neutral", "sadness", "surprise")}
    GENDER = "male"
    HOMEPAGE = "http://kahlan.eps.surrey.ac.uk/savee/"
    MANUAL_DOWNLOAD_INSTRUCTIONS = """\
Register at http://personal.ee.surrey.ac.uk/Personal/P.Jackson/SAVEE/Register.html,
download Data/Zip/AudioData.zip and put it, still zipped, in manual_dir:
  <manual_dir>/AudioData.zip   (holding AudioData/DC/a01.wav, ... for DC, JE, JK, KL)
"""


def to_16k_int16(samples: np.ndarray, rate: int) -> np.ndarray:
    """Integer PCM samples (int16 range, any int dtype) at ``rate`` -> int16 at 16 kHz."""
    if rate == schema.SAMPLE_RATE:
        return np.clip(samples, -32768, 32767).astype(np.int16)
    import soxr

    from jaxser import audio  # resample exactly as files read by jaxser.audio.load are

    wave = soxr.resample(samples.astype(np.float32) / 32768.0, rate, schema.SAMPLE_RATE, quality=audio.RESAMPLE_QUALITY)
    return schema.to_int16(wave)


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)
