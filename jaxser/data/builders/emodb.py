"""EmoDB (Berlin Database of Emotional Speech) as a TFDS builder.

535 utterances, 10 actors (5 female, 5 male), 10 German sentences, 7 emotions. All
metadata is in the file name ``03a01Fa.wav``: speaker ``03``, text ``a01``, emotion
letter ``F`` (German initial), version ``a``. No official split: everything is
``train``; the literature uses leave-one-speaker-out (see :mod:`jaxser.data.splits`).
"""

from __future__ import annotations

import pathlib
import re

import tensorflow_datasets as tfds

from jaxser.data import schema
from jaxser.data.builders import common

# Emotion letter -> class name (German initials: Wut, Langeweile, Ekel, Angst, Freude,
# Trauer, Neutral).
EMOTIONS = {
    "W": "anger",
    "L": "boredom",
    "E": "disgust",
    "A": "fear",
    "F": "happiness",
    "T": "sadness",
    "N": "neutral",
}
LABELS = tuple(sorted(EMOTIONS.values()))
GENDER = {
    **{s: "male" for s in ("03", "10", "11", "12", "15")},
    **{s: "female" for s in ("08", "09", "13", "14", "16")},
}
_NAME = re.compile(r"(?P<speaker>\d\d)(?P<text>[ab]\d\d)(?P<emotion>[WLEAFTN])(?P<version>[a-z])")

_LAYOUT = """\
  <manual_dir>/wav/03a01Fa.wav, ...   (the `wav` folder of the official download.zip)
or
  <manual_dir>/03a01Fa.wav, ...       (the 535 wav files directly)"""


class Emodb(common.ManualCorpusBuilder):
    """EmoDB: 535 acted German utterances, 7 emotions, 10 speakers."""

    name = "emodb"
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release: all 535 utterances in `train`, int16 at 16 kHz."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = f"""\
Download the original release (download.zip) from http://emodb.bilderbar.info/download/
and unzip it. Point manual_dir at the unzipped folder:
{_LAYOUT}
"""

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description=__doc__,
            features=schema.example_features(LABELS, extra={"text": tfds.features.Text()}),
            supervised_keys=("audio", "label"),
            homepage="http://emodb.bilderbar.info/",
            citation="Burkhardt et al., A database of German emotional speech, Interspeech 2005.",
        )

    def _scan(self, root):
        return scan(root)


def scan(root: pathlib.Path) -> tuple[list[common.Item], list[common.Problem]]:
    """Every EmoDB file under ``root`` as an :class:`~common.Item`, plus the misnamed ones."""
    folder = root / "wav" if (root / "wav").is_dir() else root
    items, problems = [], []
    for path in common.wav_files(folder):
        match = _NAME.fullmatch(path.stem)
        if match is None:
            reason = "name does not follow EmoDB's <speaker><text><emotion><version> pattern, e.g. 03a01Fa.wav"
            problems.append(common.Problem(str(path), reason))
            continue
        speaker = match["speaker"]
        if speaker not in GENDER:
            reason = f"unknown EmoDB speaker {speaker!r} (expected one of {sorted(GENDER)})"
            problems.append(common.Problem(str(path), reason))
            continue
        fields = {
            "label": EMOTIONS[match["emotion"]],
            "speaker": speaker,
            "gender": GENDER[speaker],
            "text": match["text"],
        }
        items.append(common.Item(f"emodb/{path.stem}", path, fields))
    if not items:
        raise common.no_audio_error("emodb", folder, _LAYOUT, problems)
    return items, problems
