"""CASIA Chinese emotional speech corpus (Institute of Automation, CAS) as a TFDS builder.

Four professional speakers (2 female, 2 male), six emotions. Two layouts circulate:

* ``public`` (default config): the freely shared 1,200-utterance subset,
  ``<speaker>/<emotion>/<NNN>.wav`` with sentence ids 201-250, the same 50 texts for
  every speaker and emotion (50 x 6 x 4).
* ``full``: the complete 9,600-utterance release (400 sentences x 6 x 4), split in two
  top folders: ``相同文本300`` ("same text 300": 300 texts read in every emotion, with
  the speaker folders of the public set) and ``不同文本100`` ("different text 100": 100
  texts whose wording fits the emotion, speaker folders ``Chang.Liu``, ``Zhe.Wang``,
  ``Quanyin.Zhao``, ``Zuoxiang.Zhao`` and ``normal`` instead of ``neutral``). The full
  config maps those names onto the public ones, so a speaker keeps one id throughout,
  and marks each example with ``parallel_text`` (True for the same-text part).

Ids are ``casia/<speaker>/<emotion>/<stem>`` for same-text files (identical in both
configs, the public set being a subset of the full one) and
``casia/different_text/<speaker>/<emotion>/<stem>`` for the other part. No official
split: everything is ``train``.
"""

from __future__ import annotations

import pathlib

import numpy as np
import tensorflow_datasets as tfds

from jaxser.data import schema
from jaxser.data.builders import common

LABELS = ("angry", "fear", "happy", "neutral", "sad", "surprise")
GENDER = {"liuchanhg": "female", "zhaoquanyin": "female", "wangzhe": "male", "ZhaoZuoxiang": "male"}

SAME_TEXT = "相同文本300"
DIFFERENT_TEXT = "不同文本100"
# Folder names of the different-text part -> the public set's names.
_DIFFERENT_SPEAKERS = {
    "Chang.Liu": "liuchanhg",
    "Zhe.Wang": "wangzhe",
    "Quanyin.Zhao": "zhaoquanyin",
    "Zuoxiang.Zhao": "ZhaoZuoxiang",
}
_DIFFERENT_EMOTIONS = {**{e: e for e in LABELS}, "normal": "neutral"}

_PUBLIC_LAYOUT = f"""\
  <manual_dir>/<speaker>/<emotion>/<NNN>.wav
  speakers {", ".join(GENDER)}; emotions {", ".join(LABELS)}"""
_FULL_LAYOUT = f"""\
  <manual_dir>/{SAME_TEXT}/<speaker>/<emotion>/<NNN>.wav   speakers {", ".join(GENDER)}
  <manual_dir>/{DIFFERENT_TEXT}/<speaker>/<emotion>/*.wav  speakers {", ".join(_DIFFERENT_SPEAKERS)}
  emotions {", ".join(LABELS)} (`normal` accepted for neutral)"""


class Casia(common.ManualCorpusBuilder):
    """CASIA: Mandarin acted emotional speech, 4 speakers, 6 emotions."""

    name = "casia"
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release: `public` (1,200) and `full` (9,600) layouts, int16 at 16 kHz."}
    BUILDER_CONFIGS = [
        tfds.core.BuilderConfig(name="public", description="The public 1,200-utterance subset (sentences 201-250)."),
        tfds.core.BuilderConfig(name="full", description="The full 9,600-utterance release (same + different text)."),
    ]
    DEFAULT_CONFIG_NAME = "public"
    MANUAL_DOWNLOAD_INSTRUCTIONS = f"""\
CASIA is distributed by the Institute of Automation, Chinese Academy of Sciences
(Chinese LDC, http://www.chineseldc.org); the public 1,200-utterance subset circulates
freely among researchers. Extract it and point manual_dir at the folder holding:
config `public`:
{_PUBLIC_LAYOUT}
config `full`:
{_FULL_LAYOUT}
(If the Chinese folder names came out garbled, the archive was unpacked with the wrong
encoding: unzip with `unzip -O GBK` and keep the names above.)
"""

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description=__doc__,
            features=schema.example_features(LABELS, extra={"parallel_text": tfds.features.Scalar(np.bool_)}),
            supervised_keys=("audio", "label"),
            homepage="http://www.chineseldc.org/",
            citation="CASIA Chinese Emotional Speech Corpus, Institute of Automation, Chinese Academy of Sciences.",
        )

    def _scan(self, root):
        return scan(root, full=self.builder_config.name == "full")


def scan(root: pathlib.Path, full: bool) -> tuple[list[common.Item], list[common.Problem]]:
    """Every CASIA file under ``root`` (``full``: both parts of the full release)."""
    canonical_speakers, canonical_emotions = {s: s for s in GENDER}, {e: e for e in LABELS}
    if not full:
        if (root / SAME_TEXT).is_dir():
            raise common.ManualDirError(f"casia: {root} holds the full release ({SAME_TEXT}/...); use config='full'")
        items, problems = _scan_part(root, canonical_speakers, canonical_emotions, "casia", parallel_text=True)
        if not items:
            raise common.no_audio_error("casia (config public)", root, _PUBLIC_LAYOUT, problems)
        return items, problems
    missing = [part for part in (SAME_TEXT, DIFFERENT_TEXT) if not (root / part).is_dir()]
    if missing:
        raise common.ManualDirError(
            f"casia (config full): {root} lacks {', '.join(missing)}. Expected layout:\n{_FULL_LAYOUT}\n"
            "For the 1,200-utterance public subset use config='public'."
        )
    same, same_problems = _scan_part(
        root / SAME_TEXT, canonical_speakers, canonical_emotions, "casia", parallel_text=True
    )
    diff, diff_problems = _scan_part(
        root / DIFFERENT_TEXT, _DIFFERENT_SPEAKERS, _DIFFERENT_EMOTIONS, "casia/different_text", parallel_text=False
    )
    if not same + diff:
        raise common.no_audio_error("casia (config full)", root, _FULL_LAYOUT, same_problems + diff_problems)
    return same + diff, same_problems + diff_problems


def _scan_part(
    root: pathlib.Path, speakers: dict[str, str], emotions: dict[str, str], prefix: str, parallel_text: bool
) -> tuple[list[common.Item], list[common.Problem]]:
    """``root/<speaker>/<emotion>/*.wav`` with folder names mapped to canonical ones."""
    items, problems = [], []
    for speaker_dir in _subdirs(root):
        speaker = speakers.get(speaker_dir.name)
        if speaker is None:
            reason = f"unknown CASIA speaker folder (expected one of {sorted(speakers)})"
            problems.append(common.Problem(str(speaker_dir), reason))
            continue
        for emotion_dir in _subdirs(speaker_dir):
            emotion = emotions.get(emotion_dir.name)
            if emotion is None:
                reason = f"unknown CASIA emotion folder (expected one of {sorted(emotions)})"
                problems.append(common.Problem(str(emotion_dir), reason))
                continue
            fields = {"label": emotion, "speaker": speaker, "gender": GENDER[speaker], "parallel_text": parallel_text}
            for path in common.wav_files(emotion_dir):
                items.append(common.Item(f"{prefix}/{speaker}/{emotion}/{path.stem}", path, dict(fields)))
    return items, problems


def _subdirs(folder: pathlib.Path) -> list[pathlib.Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
