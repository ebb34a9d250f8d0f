"""RAVDESS (Ryerson Audio-Visual Database of Emotional Speech and Song), speech only.

24 actors (odd numbers male, even female), 2 statements, 8 emotions, 2 intensities,
2 repetitions, 48 kHz. Every file name is seven two-digit fields,
``MM-VV-EE-II-SS-RR-AA.wav``: modality (``03`` audio-only), vocal channel (``01``
speech, ``02`` song), emotion (``01`` neutral ... ``08`` surprised), intensity (``01``
normal, ``02`` strong; neutral has no strong take), statement, repetition, actor.
Only audio-only speech is built (1,440 files in the full set); song and video files
are left out. Audio is resampled to 16 kHz. Ids are ``ravdess/<file stem>``;
speakers ``Actor_01`` ... ``Actor_24``. No official split: everything is ``train``.
"""

from __future__ import annotations

import collections
import logging
import pathlib
import re

import numpy as np
import tensorflow_datasets as tfds

from jaxser.data import schema
from jaxser.data.builders import common

log = logging.getLogger(__name__)

LABELS = ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised")  # codes 01-08
INTENSITIES = ("normal", "strong")  # codes 01-02
AUDIO_ONLY, SPEECH = "03", "01"
PARENT = "Audio_Speech_Actors_01-24"
_NAME = re.compile(
    r"(?P<modality>\d\d)-(?P<channel>\d\d)-(?P<emotion>\d\d)-(?P<intensity>\d\d)-"
    r"(?P<statement>\d\d)-(?P<repetition>\d\d)-(?P<actor>\d\d)"
)
_ACTOR_DIR = re.compile(r"Actor_(\d\d)")

_LAYOUT = f"""\
  <manual_dir>/Actor_01/03-01-01-01-01-01-01.wav ... <manual_dir>/Actor_24/...
or
  <manual_dir>/{PARENT}/Actor_01/... (the folder of Audio_Speech_Actors_01-24.zip)"""


class Ravdess(common.ManualCorpusBuilder):
    """RAVDESS speech: 24 North-American actors, 8 emotions, resampled to 16 kHz."""

    name = "ravdess"
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release: audio-only speech, resampled from 48 to 16 kHz, int16."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = f"""\
Download Audio_Speech_Actors_01-24.zip from https://zenodo.org/record/1188976 (CC BY-NC-SA
4.0) and unzip it. Point manual_dir at a folder holding:
{_LAYOUT}
"""

    def _info(self) -> tfds.core.DatasetInfo:
        extra = {
            "intensity": tfds.features.ClassLabel(names=list(INTENSITIES)),
            "statement": tfds.features.Scalar(np.int32),
        }
        return tfds.core.DatasetInfo(
            builder=self,
            description=__doc__,
            features=schema.example_features(LABELS, extra=extra),
            supervised_keys=("audio", "label"),
            homepage="https://zenodo.org/record/1188976",
            citation=(
                "Livingstone and Russo, The Ryerson Audio-Visual Database of Emotional Speech and Song "
                "(RAVDESS), PLoS ONE 2018."
            ),
        )

    def _scan(self, root):
        return scan(root)


def actor_dirs(root: pathlib.Path) -> list[pathlib.Path]:
    """``Actor_XX`` folders in ``root`` and in ``root/Audio_Speech_Actors_01-24``.

    Some redistributions (Kaggle's) hold both copies; a file seen twice is built once.
    """
    parents = [root] + [p for p in (root / PARENT, root / PARENT.lower()) if p.is_dir()]
    return [d for parent in parents for d in sorted(parent.iterdir()) if d.is_dir() and _ACTOR_DIR.fullmatch(d.name)]


def scan(root: pathlib.Path) -> tuple[list[common.Item], list[common.Problem]]:
    """Every audio-only speech file under ``root``, plus the misnamed ones."""
    items, problems, seen = [], [], set()
    left_out = collections.Counter()
    for folder in actor_dirs(root):
        for path in common.wav_files(folder):
            match = _NAME.fullmatch(path.stem)
            problem = _name_problem(match, folder)
            if problem:
                problems.append(common.Problem(str(path), problem))
            elif (match["modality"], match["channel"]) != (AUDIO_ONLY, SPEECH):
                left_out["song" if match["channel"] == "02" else "not audio-only"] += 1
            elif path.stem not in seen:
                seen.add(path.stem)
                items.append(_item(match, path))
    if not items:
        raise common.no_audio_error("ravdess", root, _LAYOUT, problems)
    if left_out:
        log.info("ravdess: left out %s (this builder takes audio-only speech)", dict(left_out))
    return items, problems


def _name_problem(match: re.Match | None, folder: pathlib.Path) -> str | None:
    """Why a file name breaks the RAVDESS scheme, or None."""
    if match is None:
        return "name is not RAVDESS's MM-VV-EE-II-SS-RR-AA (seven two-digit fields)"
    if not 1 <= int(match["emotion"]) <= len(LABELS):
        return f"emotion code {match['emotion']} is not 01-08"
    if not 1 <= int(match["intensity"]) <= len(INTENSITIES):
        return f"intensity code {match['intensity']} is not 01 or 02"
    if not 1 <= int(match["actor"]) <= 24:
        return f"actor {match['actor']} is not 01-24"
    if folder.name != f"Actor_{match['actor']}":
        return f"actor {match['actor']} in the name but the file is in {folder.name}"
    return None


def _item(match: re.Match, path: pathlib.Path) -> common.Item:
    actor = int(match["actor"])
    fields = {
        "label": LABELS[int(match["emotion"]) - 1],
        "speaker": f"Actor_{match['actor']}",
        "gender": "male" if actor % 2 else "female",
        "intensity": INTENSITIES[int(match["intensity"]) - 1],
        "statement": int(match["statement"]),
    }
    return common.Item(f"ravdess/{path.stem}", path, fields)
