"""Small corpus trees in the official layouts, with generated tones as audio.

Each ``make_*`` function writes a tree under the given folder and returns what it
wrote, so tests can compute what a builder must produce without sharing its code.
Reusable by any test that needs a corpus (pipelines, splits).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import pathlib
import zipfile

import numpy as np
import soundfile as sf

BAD_WAV = b"RIFF\x24\x00\x00\x00WAVEfmt this is not audio"


def tone(seconds: float, sr: int, freq: float, amplitude: float = 0.3) -> np.ndarray:
    """A sine tone as int16 samples."""
    t = np.arange(int(round(seconds * sr))) / sr
    return np.round(amplitude * 32767 * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def write_wav(path: pathlib.Path, samples: np.ndarray, sr: int) -> pathlib.Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, samples, sr, subtype="PCM_16")
    return path


def peak_hz(samples: np.ndarray, sr: int) -> float:
    """The frequency of the strongest FFT bin (to check that resampling kept a tone's pitch)."""
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64)))
    return float(np.argmax(spectrum) * sr / len(samples))


def by_id(dataset) -> dict[str, dict]:
    """A built split as ``{id: example}``, numpy values, text fields as ``str``."""
    import tensorflow_datasets as tfds

    out = {}
    for example in tfds.as_numpy(dataset):
        example = {k: v.decode("utf-8") if isinstance(v, bytes) else v for k, v in example.items()}
        assert example["id"] not in out, f"duplicate id {example['id']}"
        out[example["id"]] = example
    return out


def write_bad_wav(path: pathlib.Path) -> pathlib.Path:
    """A file with a .wav name and a broken header."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(BAD_WAV)
    return path


# ----------------------------------------------------------------------------- IEMOCAP


@dataclasses.dataclass(frozen=True)
class IemocapTurn:
    name: str
    code: str
    vad: tuple[float, float, float]
    session: int
    dialog: str
    has_wav: bool = True  # False: labelled, but no wav file
    labelled: bool = True  # False: wav file, but no label line
    bad_audio: bool = False  # True: the wav file is broken


# dialog -> [(speaker part, code, (v, a, d), flags)], two sessions, impro + script.
_IEMOCAP = {
    "Ses01F_impro01": [
        ("F000", "neu", (2.5, 2.5, 2.5), {}),
        ("M000", "ang", (1.5, 4.0, 4.0), {}),
        ("F001", "exc", (4.0, 4.0, 3.0), {}),
        ("M001", "xxx", (2.0, 3.0, 3.0), {}),
        ("F002", "hap", (4.5, 3.5, 3.0), {}),
        ("M002", "ang", (1.0, 4.5, 4.5), {"has_wav": False}),
    ],
    "Ses01M_script01_1": [
        ("F000", "sad", (1.5, 2.0, 2.0), {}),
        ("M000", "fru", (2.0, 3.5, 3.5), {}),
        ("F001", "exc", (4.0, 4.5, 3.5), {}),
        ("M001", "neu", (3.0, 2.0, 2.5), {}),
        ("M002", "sur", (3.5, 4.0, 2.5), {}),
    ],
    "Ses02F_impro02": [
        ("M000", "sad", (2.0, 1.5, 2.0), {}),
        ("F000", "hap", (4.0, 3.0, 3.0), {}),
        ("F001", "neu", (3.0, 2.5, 3.0), {}),
        ("M001", "neu", (3.0, 2.5, 3.0), {"labelled": False}),
    ],
    "Ses02M_script02_2": [
        ("F000", "ang", (1.5, 4.0, 4.0), {}),
        ("M000", "exc", (4.5, 4.0, 3.5), {}),
        ("F001", "oth", (3.0, 3.0, 3.0), {}),
        ("F002", "neu", (3.0, 2.0, 2.0), {"bad_audio": True}),
    ],
}


def make_iemocap_tree(root: pathlib.Path, seconds: float = 0.25) -> list[IemocapTurn]:
    """``root/IEMOCAP_full_release/Session{1,2}/...`` as the official release lays it out.

    Besides well-formed turns: a labelled turn without wav, a wav no label line names,
    a broken wav, annotator lines and the Categorical/ subfolder (neither is a label
    line), and a macOS ``._`` resource fork next to a label file.
    """
    release = root / "IEMOCAP_full_release"
    turns = []
    for index, (dialog, entries) in enumerate(_IEMOCAP.items()):
        session = int(dialog[3:5])
        session_dir = release / f"Session{session}"
        lines = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""]
        start = 1.0
        for number, (speaker_part, code, vad, flags) in enumerate(entries):
            turn = IemocapTurn(f"{dialog}_{speaker_part}", code, vad, session, dialog, **flags)
            turns.append(turn)
            wav = session_dir / "sentences" / "wav" / dialog / f"{turn.name}.wav"
            if turn.bad_audio:
                write_bad_wav(wav)
            elif turn.has_wav:
                write_wav(wav, tone(seconds, 16000, 200 + 40 * index + 10 * number), 16000)
            if turn.labelled:
                v, a, d = vad
                lines += [
                    f"[{start:.4f} - {start + seconds:.4f}]\t{turn.name}\t{code}\t[{v:.4f}, {a:.4f}, {d:.4f}]",
                    "C-E2:\tNeutral;\t()",
                    "C-E3:\tAnger; Frustration;\t(annoyed)",
                    "A-E3:\tval 3; act 2; dom  2;\t()",
                    "",
                ]
            start += seconds + 0.5
        evaluation = session_dir / "dialog" / "EmoEvaluation"
        evaluation.mkdir(parents=True, exist_ok=True)
        (evaluation / f"{dialog}.txt").write_text("\n".join(lines) + "\n")
        (evaluation / f"._{dialog}.txt").write_bytes(b"\x00\x05\x16\x07 mac resource fork")
        categorical = evaluation / "Categorical"
        categorical.mkdir(exist_ok=True)
        (categorical / f"{dialog}_e1_cat.txt").write_text(f"{dialog}_F000 :Neutral state; ()\n")
    return turns


# ----------------------------------------------------------------------------- RAVDESS


@dataclasses.dataclass(frozen=True)
class RavdessFile:
    path: pathlib.Path
    actor: int
    emotion: int
    intensity: int
    statement: int
    speech: bool  # audio-only speech (03-01-...), the files the builder keeps
    freq: float = 0.0  # of the tone (0 for a broken file)
    bad_audio: bool = False


def make_ravdess_tree(
    root: pathlib.Path, actors=(1, 2, 3, 4), parent: bool = True, seconds: float = 0.2
) -> list[RavdessFile]:
    """``root/[Audio_Speech_Actors_01-24/]Actor_XX/03-01-EE-II-SS-RR-AA.wav`` at 48 kHz.

    Each actor gets neutral (normal only, as in the corpus), happy and angry takes,
    plus one song file (``03-02-...``) for the first actor and one broken wav for the
    second.
    """
    base = root / "Audio_Speech_Actors_01-24" if parent else root
    files = []
    takes = [(1, 1, 1), (3, 1, 1), (3, 2, 2), (5, 1, 2), (5, 2, 1)]  # (emotion, intensity, statement)
    for actor in actors:
        folder = base / f"Actor_{actor:02d}"
        for number, (emotion, intensity, statement) in enumerate(takes):
            name = f"03-01-{emotion:02d}-{intensity:02d}-{statement:02d}-01-{actor:02d}.wav"
            freq = 300 + 25 * number + 5 * actor
            path = write_wav(folder / name, tone(seconds, 48000, freq), 48000)
            files.append(RavdessFile(path, actor, emotion, intensity, statement, speech=True, freq=freq))
        if actor == actors[0]:
            name = f"03-02-03-01-01-01-{actor:02d}.wav"
            path = write_wav(folder / name, tone(seconds, 48000, 440), 48000)
            files.append(RavdessFile(path, actor, 3, 1, 1, speech=False, freq=440))
        if len(actors) > 1 and actor == actors[1]:
            path = write_bad_wav(folder / f"03-01-04-01-01-02-{actor:02d}.wav")
            files.append(RavdessFile(path, actor, 4, 1, 1, speech=True, bad_audio=True))
    return files


# ----------------------------------------------------------------------------- SAVEE

SAVEE_SPEAKERS = ("DC", "JE", "JK", "KL")
SAVEE_CODES = {
    "a": "anger", "d": "disgust", "f": "fear", "h": "happiness", "n": "neutral", "sa": "sadness", "su": "surprise",
}  # fmt: skip


def make_savee_zip(manual_dir: pathlib.Path, per_code: int = 1, seconds: float = 0.2) -> dict[str, str]:
    """``manual_dir/AudioData.zip`` holding ``AudioData/<speaker>/<code><nn>.wav`` at 44.1 kHz.

    Returns ``{"<speaker>_<code><nn>": emotion name}`` for every file written.
    """
    manual_dir.mkdir(parents=True, exist_ok=True)
    staging = manual_dir / "_staging"
    written = {}
    with zipfile.ZipFile(manual_dir / "AudioData.zip", "w") as archive:
        for s, speaker in enumerate(SAVEE_SPEAKERS):
            for c, (code, emotion) in enumerate(SAVEE_CODES.items()):
                for n in range(1, per_code + 1):
                    stem = f"{code}{n:02d}"
                    freq = 150 + 30 * c + 7 * s + n
                    path = write_wav(staging / speaker / f"{stem}.wav", tone(seconds, 44100, freq), 44100)
                    archive.write(path, f"AudioData/{speaker}/{stem}.wav")
                    written[f"{speaker}_{stem}"] = emotion
    for path in sorted(staging.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    staging.rmdir()
    return written


# ----------------------------------------------------------------------------- CASIA (full)

# Folder names of the full release: (part, speaker folder, emotion folder, canonical
# speaker, canonical emotion, parallel text).
CASIA_FULL_FOLDERS = [
    ("相同文本300", "liuchanhg", "angry", "liuchanhg", "angry", True),
    ("相同文本300", "wangzhe", "neutral", "wangzhe", "neutral", True),
    ("不同文本100", "Chang.Liu", "normal", "liuchanhg", "neutral", False),
    ("不同文本100", "Zuoxiang.Zhao", "sad", "ZhaoZuoxiang", "sad", False),
]


def make_casia_full_tree(root: pathlib.Path, per_folder: int = 2, seconds: float = 0.2) -> dict[str, tuple]:
    """A few files in the full release's two-part layout, same stems in both parts.

    Returns ``{id: (speaker, emotion, parallel_text)}`` as the builder should name them.
    """
    expected = {}
    for f, (part, speaker_dir, emotion_dir, speaker, emotion, parallel) in enumerate(CASIA_FULL_FOLDERS):
        for n in range(per_folder):
            stem = f"{201 + n}"
            path = root / part / speaker_dir / emotion_dir / f"{stem}.wav"
            write_wav(path, tone(seconds, 16000, 250 + 20 * f + n), 16000)
            prefix = "casia" if parallel else "casia/different_text"
            expected[f"{prefix}/{speaker}/{emotion}/{stem}"] = (speaker, emotion, parallel)
    return expected


@contextlib.contextmanager
def builder_warnings():
    """Collect the warnings the builders log (caplog is per test; the builds are per module)."""
    records = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append
    logger = logging.getLogger("jaxser.data.builders")
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)
