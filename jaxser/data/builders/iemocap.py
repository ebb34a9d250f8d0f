"""IEMOCAP (USC SAIL) as a TFDS builder.

Five sessions of dyadic conversations, one actress and one actor each, improvised and
scripted. Every turn has a categorical label (the annotators' majority; ``xxx`` where
there was none) and valence/activation/dominance ratings, in
``Session<n>/dialog/EmoEvaluation/<dialog>.txt`` lines of the form::

    [6.2901 - 8.2357]<TAB>Ses01F_impro01_F000<TAB>neu<TAB>[2.5000, 2.5000, 2.5000]

(the lines below each such line hold the individual annotations; they are not read).
The turn's audio is ``Session<n>/sentences/wav/<dialog>/<turn>.wav``.

Configs choose the label set; turns outside it are left out:

* ``4class``: anger, happiness, neutral, sadness (``ang hap neu sad``).
* ``4class_exc_merged``: the same four classes, with excited (``exc``) counted as
  happiness, the usual practice since the two are hard to tell apart.
* ``full``: all eleven categorical labels, ``xxx`` included as ``no_majority``.

The speaker of ``Ses01F_impro01_M003`` is ``Ses01M``: the session prefix plus the
gender letter of the turn's own speaker part (``M003``), not of the dialog name (which
says who wore the motion-capture markers). Extra fields: ``session`` (1-5),
``improvised`` (``impro`` vs ``script`` dialogs) and ``vad`` (valence, activation,
dominance, 1-5). Ids are ``iemocap/<turn name>``. No official split: everything is
``train``; the literature uses leave-one-session-out.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import pathlib
import re

import numpy as np
import tensorflow_datasets as tfds

from jaxser.data import schema
from jaxser.data.builders import common

log = logging.getLogger(__name__)

# Every categorical code IEMOCAP uses -> class name.
CODES = {
    "neu": "neutral",
    "hap": "happiness",
    "exc": "excitement",
    "sad": "sadness",
    "ang": "anger",
    "fru": "frustration",
    "sur": "surprise",
    "fea": "fear",
    "dis": "disgust",
    "oth": "other",
    "xxx": "no_majority",
}
SESSIONS = (1, 2, 3, 4, 5)
_FOUR = {"ang": "anger", "hap": "happiness", "neu": "neutral", "sad": "sadness"}
_GENDER = {"F": "female", "M": "male"}
_LINE = re.compile(
    r"\[\s*(?P<start>[\d.]+)\s*-\s*(?P<end>[\d.]+)\s*\]\s+(?P<turn>\S+)\s+(?P<code>\S+)\s+"
    r"\[\s*(?P<v>[\d.]+)\s*,\s*(?P<a>[\d.]+)\s*,\s*(?P<d>[\d.]+)\s*\]"
)

_LAYOUT = """\
  <manual_dir>/IEMOCAP_full_release/Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F000.wav
  <manual_dir>/IEMOCAP_full_release/Session1/dialog/EmoEvaluation/Ses01F_impro01.txt
  ... the same for Session2 to Session5 (manual_dir may also be IEMOCAP_full_release itself)"""


@dataclasses.dataclass(eq=False, kw_only=True)
class IemocapConfig(tfds.core.BuilderConfig):
    """A label set: IEMOCAP code -> class name; turns with other codes are left out."""

    label_map: dict[str, str] = dataclasses.field(default_factory=dict)
    improvised_only: bool = False  # keep the improvised dialogs' turns only (no scripted ones)

    @property
    def labels(self) -> tuple[str, ...]:
        """Class names in label-index order (first appearance in ``label_map``)."""
        return tuple(dict.fromkeys(self.label_map.values()))


@dataclasses.dataclass(frozen=True)
class Turn:
    """One labelled line of an EmoEvaluation file."""

    name: str
    code: str
    vad: tuple[float, float, float]


class Iemocap(common.ManualCorpusBuilder):
    """IEMOCAP: 5 sessions of English dyadic acted speech, categorical and VAD labels."""

    name = "iemocap"
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release: configs 4class, 4class_exc_merged, full (and later 4class_improvised); int16 at 16 kHz."}
    BUILDER_CONFIGS = [
        IemocapConfig(name="4class", description="anger, happiness, neutral, sadness.", label_map=dict(_FOUR)),
        IemocapConfig(
            name="4class_exc_merged",
            description="anger, happiness (+excited), neutral, sadness.",
            label_map={**_FOUR, "exc": "happiness"},
        ),
        IemocapConfig(name="full", description="All 11 categorical labels, xxx included.", label_map=dict(CODES)),
        IemocapConfig(
            name="4class_improvised",
            description="anger, happiness, neutral, sadness of the improvised dialogs only (Zhong et al. 2020: "
            "2,280 turns).",
            label_map=dict(_FOUR),
            improvised_only=True,
        ),
    ]
    DEFAULT_CONFIG_NAME = "4class"
    MANUAL_DOWNLOAD_INSTRUCTIONS = f"""\
IEMOCAP is licensed by USC SAIL: request it at https://sail.usc.edu/iemocap/ and extract
IEMOCAP_full_release.tar.gz. Point manual_dir at the folder that holds
IEMOCAP_full_release (or at IEMOCAP_full_release itself):
{_LAYOUT}
"""

    def _info(self) -> tfds.core.DatasetInfo:
        extra = {
            "session": tfds.features.Scalar(np.int32),
            "improvised": tfds.features.Scalar(np.bool_),
            "vad": tfds.features.Tensor(shape=(3,), dtype=np.float32),
        }
        return tfds.core.DatasetInfo(
            builder=self,
            description=__doc__,
            features=schema.example_features(self.builder_config.labels, extra=extra),
            supervised_keys=("audio", "label"),
            homepage="https://sail.usc.edu/iemocap/",
            citation="Busso et al., IEMOCAP: Interactive emotional dyadic motion capture database, LREC 2008.",
        )

    def _scan(self, root):
        return scan(root, self.builder_config.label_map, improvised_only=self.builder_config.improvised_only)

    def _report_name(self) -> str:
        return f"{self.name} ({self.builder_config.name})"


def release_root(root: pathlib.Path) -> pathlib.Path:
    """``root/IEMOCAP_full_release`` if it is there, else ``root`` itself."""
    inner = root / "IEMOCAP_full_release"
    return inner if inner.is_dir() else root


def parse_labels(path: pathlib.Path) -> tuple[list[Turn], list[common.Problem]]:
    """The turns of one EmoEvaluation file, plus its lines that look like turns but do not parse."""
    turns, problems = [], []
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if not line.startswith("["):  # header (%), annotator lines (C-E2:, A-F1:), blanks
            continue
        match = _LINE.match(line)
        if match is None:
            reason = f"not a `[start - end] TURN EMOTION [V, A, D]` line: {line!r}"
            problems.append(common.Problem(f"{path}:{number}", reason))
        elif match["code"] not in CODES:
            reason = f"unknown emotion code {match['code']!r} (known: {sorted(CODES)})"
            problems.append(common.Problem(f"{path}:{number}", reason))
        else:
            vad = (float(match["v"]), float(match["a"]), float(match["d"]))
            turns.append(Turn(match["turn"], match["code"], vad))
    return turns, problems


def scan(
    root: pathlib.Path, label_map: dict[str, str], *, improvised_only: bool = False
) -> tuple[list[common.Item], list[common.Problem]]:
    """Every labelled turn under ``root`` whose code is in ``label_map``, plus the problems.

    A labelled turn without its wav file, or a wav file no label file mentions, is a
    problem; a turn whose label the config does not use is only counted.
    """
    release = release_root(root)
    present = [n for n in SESSIONS if (release / f"Session{n}").is_dir()]
    if not present:
        raise common.no_audio_error("iemocap", root, _LAYOUT)
    if len(present) < len(SESSIONS):
        log.warning("iemocap: only sessions %s found under %s", present, release)
    items, problems = [], []
    excluded = collections.Counter()
    for session in present:
        wavs = _session_wavs(release / f"Session{session}")
        labelled = set()
        for label_file in _label_files(release / f"Session{session}"):
            turns, bad_lines = parse_labels(label_file)
            problems += bad_lines
            for turn in turns:
                labelled.add(turn.name)
                path = wavs.get(turn.name)
                if path is None:
                    reason = f"turn {turn.name} is labelled but has no wav file under sentences/wav/"
                    problems.append(common.Problem(str(label_file), reason))
                elif turn.code not in label_map:
                    excluded[turn.code] += 1
                elif improvised_only and "impro" not in label_file.stem:
                    excluded["scripted"] += 1
                else:
                    problem = _turn_problem(turn.name, session)
                    if problem:
                        problems.append(common.Problem(str(path), problem))
                    else:
                        items.append(_item(turn, path, session, label_map[turn.code], label_file.stem))
        for name in sorted(wavs.keys() - labelled):
            problems.append(common.Problem(str(wavs[name]), "no EmoEvaluation line labels this turn"))
    if not items:
        raise common.no_audio_error("iemocap", root, _LAYOUT, problems)
    if excluded:
        log.info("iemocap: left out %d turns labelled outside this config: %s", sum(excluded.values()), dict(excluded))
    return items, problems


def _session_wavs(session_dir: pathlib.Path) -> dict[str, pathlib.Path]:
    """Turn name -> wav path for ``sentences/wav/<dialog>/<turn>.wav``."""
    wav_root = session_dir / "sentences" / "wav"
    if not wav_root.is_dir():
        return {}
    dialogs = sorted(p for p in wav_root.iterdir() if p.is_dir() and not p.name.startswith("."))
    return {path.stem: path for dialog in dialogs for path in common.wav_files(dialog)}


def _label_files(session_dir: pathlib.Path) -> list[pathlib.Path]:
    """``dialog/EmoEvaluation/<dialog>.txt``; its subfolders (Categorical, Attribute...) are not read."""
    folder = session_dir / "dialog" / "EmoEvaluation"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix == ".txt" and p.is_file() and not p.name.startswith("."))


def _turn_problem(name: str, session: int) -> str | None:
    """Why a turn name cannot give its speaker, or None if it can."""
    prefix, _, speaker_part = name.rpartition("_")
    if not name.startswith(f"Ses{session:02d}") or not prefix:
        return f"turn name {name!r} does not start with Ses{session:02d}"
    if speaker_part[:1] not in _GENDER:
        return f"turn name {name!r} does not end in _F<nnn> or _M<nnn>"
    return None


def _item(turn: Turn, path: pathlib.Path, session: int, label: str, dialog: str) -> common.Item:
    gender_letter = turn.name.rpartition("_")[2][0]
    fields = {
        "label": label,
        "speaker": f"Ses{session:02d}{gender_letter}",
        "gender": _GENDER[gender_letter],
        "session": session,
        "improvised": "impro" in dialog,
        "vad": np.asarray(turn.vad, np.float32),
    }
    return common.Item(f"iemocap/{turn.name}", path, fields)
