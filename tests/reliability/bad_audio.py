"""A corpus of bad and odd audio files, and the outcome every reader must give for each.

    cases = make_bad_audio(tmp_path)            # ~30 files, one per kind, in one folder
    for case in cases: ...                      # case.readable, case.reason, case.path

Each kind is either *readable* (odd but valid: 8/24/32-bit, float64, stereo, 6
channels, 8 and 96 kHz, silence, DC, clipping, 1 frame to 10 minutes, a FLAC behind a
``.wav`` name, a non-UTF-8 name, MP3s with and without tags...) and must give audio, or
*rejected* and must be reported with a reason containing ``case.reason`` (empty, header
only, truncated, NaN/Inf, not audio, unreadable, a folder or a FIFO named like audio, a
broken link, damaged MP3s, formats libsndfile cannot read such as m4a...). A text file
(``README.txt``) is not ``listed``: a folder scan must leave it out, silently.
Any component that reads audio (the reader, ``jaxser predict``, the corpus builders)
checks itself against the same list with :func:`check_outcomes`; later systems reuse it
unchanged.

``rename`` puts the files into a corpus layout: it gets each kind's name and default file
name and returns the relative path (str or bytes) to write it at.
"""

from __future__ import annotations

import dataclasses
import io
import os
import pathlib
import struct
from collections.abc import Callable, Iterable

import numpy as np
import soundfile as sf

SR = 16000
LONG_SECONDS = 600.0  # the 10-minute file


@dataclasses.dataclass(frozen=True)
class Case:
    """One generated file and what reading it must give.

    Attributes:
      name: the kind, e.g. ``"stereo"``.
      path: where it was written (a non-UTF-8 name is surrogate-escaped, as ``os.walk``
        returns it).
      readable: True if a reader must return its audio, False if it must report it.
      reason: for a rejected file, a substring of the reason the reader gives.
      rate, frames, channels: for a readable file, what its header holds.
      listed: a folder scan (``jaxser.audio.list_files``) finds it; False for a folder
        named like an audio file.
      header_ok: ``jaxser.audio.info`` reads its header (the problem is in the samples).
      note: how the file was made, where that is not obvious from the name.
    """

    name: str
    path: pathlib.Path
    readable: bool
    reason: str = ""
    rate: int = SR
    frames: int = 0
    channels: int = 1
    listed: bool = True
    header_ok: bool = True
    note: str = ""

    def samples(self, sr: int = SR) -> int:
        """Length at ``sr`` of a readable file, as soxr resamples it."""
        return round(self.frames * sr / self.rate)


# --- signals -------------------------------------------------------------------------


def speechlike(seconds: float, rate: int = SR, channels: int = 1, seed: int = 0) -> np.ndarray:
    """A tone with a wobbling pitch plus a little noise, ``(frames,)`` or ``(frames, channels)``."""
    n = max(1, round(seconds * rate))
    t = np.arange(n) / rate
    rng = np.random.default_rng(seed)
    phase = 2 * np.pi * (180 * t + 15 * np.sin(2 * np.pi * 3 * t))
    columns = [0.3 * np.sin(phase + c) + 0.01 * rng.standard_normal(n) for c in range(channels)]
    x = np.stack(columns, axis=1)
    return x[:, 0] if channels == 1 else x


def long_signal(seconds: float, rate: int = SR) -> np.ndarray:
    """A long file's samples as int16, built from one repeated second (cheap to make)."""
    one = np.round(speechlike(1.0, rate) * 32767).astype(np.int16)
    n = round(seconds * rate)
    return np.tile(one, -(-n // len(one)))[:n]


# --- writers: each makes the file at ``path`` and returns what the Case must say ---------


def _write(path: pathlib.Path, data: np.ndarray, rate: int = SR, **kwargs) -> dict:
    sf.write(path, data, rate, **kwargs)
    channels = 1 if data.ndim == 1 else data.shape[1]
    return {"rate": rate, "frames": len(data), "channels": channels}


def _wav_bytes(seconds: float = 1.0) -> bytes:
    """A canonical 44-byte-header 16-bit mono wav, as bytes to cut or patch."""
    data = np.round(speechlike(seconds) * 32767).astype("<i2").tobytes()
    header = b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, SR, 2 * SR, 2, 16)
    return header + b"data" + struct.pack("<I", len(data)) + data


def _with_nonfinite(path, value) -> dict:
    x = speechlike(0.5)
    x[[100, 4000]] = value
    sf.write(path, x, SR, subtype="FLOAT")
    return {}


def _truncated_flac(path) -> dict:
    sf.write(path, speechlike(2.0), SR, format="FLAC")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return {}


def _unreadable(path) -> dict:
    _write(path, speechlike(0.5), subtype="PCM_16")
    path.chmod(0)
    try:
        path.open("rb").close()
    except PermissionError:
        return {"note": "mode 000"}
    # Root reads a mode-000 file, so no permission can make it unreadable here. A
    # symbolic link to itself is refused by the OS for any user (ELOOP): the same
    # "the name exists but cannot be opened" case, reported as "cannot be accessed".
    path.unlink()
    os.symlink(path.name, path)
    return {"reason": "cannot be accessed", "note": "running as root: a link to itself instead of mode 000"}


def _directory(path) -> dict:
    path.mkdir()
    return {}


def _broken_link(path) -> dict:
    os.symlink(path.parent / "gone-away.wav", path)
    return {}


def _fifo(path) -> dict:
    os.mkfifo(path)  # opening it would block until someone writes: a reader must not
    return {}


# --- MP3: libsndfile encodes with LAME; at 16 kHz that is MPEG-2 layer III -----------

_MPEG2_L3_KBPS = (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)


def mp3_bytes(data: np.ndarray, rate: int = SR) -> bytes:
    """``data`` as an MP3 written by libsndfile: a Xing/Info frame first, then the audio."""
    out = io.BytesIO()
    sf.write(out, data, rate, format="MP3")
    return out.getvalue()


def mpeg_frames(data: bytes) -> list[bytes]:
    """A 16 kHz MP3 (as :func:`mp3_bytes` writes it) split into its frames, the Xing/Info one first."""
    frames, at = [], 0
    while at < len(data):
        header = int.from_bytes(data[at : at + 4], "big")
        assert header >> 17 == 0x7FF9 and (header >> 10) & 3 == 2, f"not a 16 kHz MPEG-2 layer III frame at {at}"
        length = 72 * 1000 * _MPEG2_L3_KBPS[(header >> 12) & 15] // SR + ((header >> 9) & 1)
        frames.append(data[at : at + length])
        at += length
    return frames


def id3v2(title: str, padding: int = 0) -> bytes:
    """An ID3v2.3 tag with a title and ``padding`` zero bytes (taggers leave room to edit)."""
    text = b"\x00" + title.encode("latin-1")
    body = b"TIT2" + struct.pack(">I", len(text)) + b"\x00\x00" + text + bytes(padding)
    size = bytes((len(body) >> shift) & 0x7F for shift in (21, 14, 7, 0))  # 7 bits a byte
    return b"ID3\x03\x00\x00" + size + body


def _mp3(path, data: np.ndarray, rate: int = SR) -> dict:
    path.write_bytes(mp3_bytes(data, rate))
    channels = 1 if data.ndim == 1 else data.shape[1]
    return {"rate": rate, "frames": len(data), "channels": channels}  # libsndfile drops LAME's delay and padding


def _mp3_with_id3(path) -> dict:
    path.write_bytes(id3v2("A tagged recording") + mp3_bytes(speechlike(1.0)))
    return {"frames": SR}


def _mp3_without_xing(path, padding: int) -> tuple[int, int]:
    """An MP3 with no Xing/Info frame, after an ID3 tag of ``padding`` bytes; returns the
    frames libsndfile would decode and its estimate of the length."""
    frames = mpeg_frames(mp3_bytes(speechlike(1.0)))[1:]
    path.write_bytes((id3v2("no length header", padding) if padding else b"") + b"".join(frames))
    decodable = len(frames) * 576  # every audio frame, none trimmed without LAME's header
    return decodable, sf.info(path).frames


def _mp3_long_estimate(path) -> dict:
    # Without a Xing/Info frame libsndfile estimates the length from the file size; a
    # large tag makes the estimate long, and the file is then read in full.
    decodable, estimate = _mp3_without_xing(path, padding=40000)
    assert estimate > decodable, f"libsndfile's estimate {estimate} is no longer above {decodable}"
    return {"frames": decodable}


def _mp3_short_estimate(path) -> dict:
    decodable, estimate = _mp3_without_xing(path, padding=0)
    assert estimate < decodable, f"libsndfile's estimate {estimate} is no longer below {decodable}"
    return {}


def _mp3_edit(edit: Callable[[list[bytes]], bytes]) -> Callable[[pathlib.Path], dict]:
    """A writer of a 1-second MP3's frames changed by ``edit``."""

    def write(path):
        path.write_bytes(edit(mpeg_frames(mp3_bytes(speechlike(1.0)))))
        return {}

    return write


def _zero_middle(frames: list[bytes]) -> bytes:
    middle = len(frames) // 2
    return b"".join(frames[:middle] + [bytes(sum(map(len, frames[middle : middle + 5])))] + frames[middle + 5 :])


def _join_two(frames: list[bytes]) -> bytes:
    return b"".join(frames) + b"".join(frames[1:])  # the second one's Xing/Info frame dropped, as joiners do


# First bytes of formats libsndfile does not read, then filler: there is no encoder for
# them here, and what a reader sees of them is their signature.
M4A = b"\x00\x00\x00\x20ftypM4A \x00\x00\x02\x00M4A isommp42" + b"\x00\x00\x10\x08mdat" + bytes(4096)
WEBM = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm" + bytes(4096)
ADTS = (b"\xff\xf1\x50\x80\x02\x1f\xfc" + bytes(9)) * 256  # AAC frames' 7-byte ADTS headers


def _bytes(data: bytes) -> Callable[[pathlib.Path], dict]:
    def write(path):
        path.write_bytes(data)
        return {}

    return write


@dataclasses.dataclass(frozen=True)
class Kind:
    name: str
    filename: str | bytes  # the default file name; bytes for a non-UTF-8 one
    make: Callable[[pathlib.Path], dict]
    reason: str = ""  # "" for a readable kind
    listed: bool = True
    header_ok: bool = True


def kinds(long_seconds: float = LONG_SECONDS) -> list[Kind]:
    """Every kind of file, readable ones first."""
    nonfinite = "non-finite samples (NaN or Inf)"
    return [
        # -- odd but valid: every reader must give the audio --------------------------
        Kind("plain", "plain.wav", lambda p: _write(p, speechlike(1.0), subtype="PCM_16")),
        Kind("silence", "silence.wav", lambda p: _write(p, np.zeros(SR), subtype="PCM_16")),
        Kind("dc_only", "dc_only.wav", lambda p: _write(p, np.full(SR, 0.5), subtype="PCM_16")),
        Kind("clipped", "clipped.wav", lambda p: _write(p, np.clip(10 * speechlike(1.0), -1, 1), subtype="PCM_16")),
        # Float files are not scaled: peaks of 4.0 reach the model as they are.
        Kind("float_over_full_scale", "loud_float.wav", lambda p: _write(p, 13 * speechlike(1.0), subtype="FLOAT")),
        Kind("pcm_u8", "pcm_u8.wav", lambda p: _write(p, speechlike(1.0), subtype="PCM_U8")),
        Kind("pcm_24", "pcm_24.wav", lambda p: _write(p, speechlike(1.0), subtype="PCM_24")),
        Kind("pcm_32", "pcm_32.wav", lambda p: _write(p, speechlike(1.0), subtype="PCM_32")),
        Kind("float64", "float64.wav", lambda p: _write(p, speechlike(1.0), subtype="DOUBLE")),
        Kind("stereo", "stereo.wav", lambda p: _write(p, speechlike(1.0, channels=2), subtype="PCM_16")),
        Kind("six_channel", "six_channel.wav", lambda p: _write(p, speechlike(1.0, channels=6), subtype="PCM_16")),
        Kind("rate_8k", "rate_8k.wav", lambda p: _write(p, speechlike(1.0, 8000), 8000, subtype="PCM_16")),
        Kind("rate_96k", "rate_96k.wav", lambda p: _write(p, speechlike(1.0, 96000), 96000, subtype="PCM_24")),
        Kind("short_50ms", "short_50ms.wav", lambda p: _write(p, speechlike(0.05), subtype="PCM_16")),
        Kind("one_frame", "one_frame.wav", lambda p: _write(p, np.full(1, 0.25), subtype="PCM_16")),
        Kind("long", "long.wav", lambda p: _write(p, long_signal(long_seconds), subtype="PCM_16")),
        # libsndfile goes by the content, not the name.
        Kind("flac_named_wav", "flac_inside.wav", lambda p: _write(p, speechlike(1.0), format="FLAC")),
        Kind("upper_case_extension", "LOUD.WAV", lambda p: _write(p, speechlike(1.0), format="WAV")),
        Kind("non_utf8_name", b"caf\xe9-latin1.wav", lambda p: _write(p, speechlike(1.0), subtype="PCM_16")),
        Kind("mp3", "speech.mp3", lambda p: _mp3(p, speechlike(1.0))),
        Kind("mp3_stereo_44k", "stereo_44k.mp3", lambda p: _mp3(p, speechlike(1.0, 44100, channels=2), 44100)),
        Kind("mp3_id3_tag", "tagged.mp3", _mp3_with_id3),
        Kind("mp3_no_length_header", "no_xing.mp3", _mp3_long_estimate),
        # -- bad: every reader must report it, with this in the reason ----------------
        Kind("empty", "empty.wav", _bytes(b""), "empty file (0 bytes)", header_ok=False),
        Kind("header_only", "header_only.wav", _bytes(_wav_bytes()[:44]), "truncated: its data chunk declares"),
        Kind("truncated_data", "truncated.wav", _bytes(_wav_bytes()[:20000]), "truncated: its data chunk declares"),
        Kind("truncated_flac", "truncated.flac", _truncated_flac, "cannot be decoded"),
        Kind("cut_in_header", "cut_header.wav", _bytes(_wav_bytes()[:30]), "malformed or truncated WAV header",
             header_ok=False),  # fmt: skip
        Kind("nan", "nan.wav", lambda p: _with_nonfinite(p, np.nan), nonfinite),
        Kind("inf", "inf.wav", lambda p: _with_nonfinite(p, np.inf), nonfinite),
        Kind("not_audio", "notes.wav", _bytes(b"These are my notes, not audio.\n" * 40), "not a recognised audio file",
             header_ok=False),  # fmt: skip
        Kind("unreadable", "unreadable.wav", _unreadable, "permission denied", header_ok=False),
        Kind("directory", "folder.wav", _directory, "is a directory", listed=False, header_ok=False),
        Kind("broken_link", "broken_link.wav", _broken_link, "broken symbolic link", header_ok=False),
        Kind("fifo", "fifo.wav", _fifo, "not a regular file", header_ok=False),
        Kind("non_utf8_name_bad", b"\xff\xfe-bad.wav", _bytes(b"\x00\x01junk" * 50), "not a recognised audio file",
             header_ok=False),  # fmt: skip
        # MP3s: cut, damaged, garbage, and lengths libsndfile would get wrong.
        Kind("mp3_truncated", "truncated.mp3", _mp3_edit(lambda f: b"".join(f)[: len(b"".join(f)) * 3 // 5]),
             "truncated", header_ok=False),  # fmt: skip
        Kind("mp3_cut_in_header", "cut_header.mp3", _mp3_edit(lambda f: f[0] + f[1][:10]),
             "malformed or truncated MP3 header", header_ok=False),  # fmt: skip
        Kind("mp3_damaged", "damaged.mp3", _mp3_edit(_zero_middle), "damaged: no MPEG frame", header_ok=False),
        Kind("mp3_garbage", "garbage.mp3", _bytes(np.random.default_rng(3).bytes(5000)), "not a recognised audio file",
             header_ok=False),  # fmt: skip
        Kind("mp3_short_estimate", "no_xing_short.mp3", _mp3_short_estimate, "without a Xing/Info length header",
             header_ok=False),  # fmt: skip
        Kind("mp3_joined", "joined.mp3", _mp3_edit(_join_two), "a joined or edited file", header_ok=False),
        # Formats libsndfile cannot read, known by their content whatever their name.
        Kind("m4a", "voice.m4a", _bytes(M4A), "unsupported audio format: MPEG-4 audio", header_ok=False),
        Kind("webm", "voice.webm", _bytes(WEBM), "unsupported audio format: Matroska/WebM", header_ok=False),
        Kind("aac", "voice.aac", _bytes(ADTS), "unsupported audio format: AAC", header_ok=False),
        # Not audio: a folder scan leaves it out; named explicitly, it is reported.
        Kind("text_file", "README.txt", _bytes(b"Recorded in May.\n" * 20), "not a recognised audio file",
             listed=False, header_ok=False),  # fmt: skip
    ]


def make_bad_audio(
    folder: str | os.PathLike[str],
    *,
    long_seconds: float = LONG_SECONDS,
    rename: Callable[[str, str | bytes], str | bytes] | None = None,
    only: Iterable[str] | None = None,
) -> list[Case]:
    """Write one file of every kind (or of the kinds in ``only``) under ``folder``.

    Args:
      folder: created if missing.
      long_seconds: length of the ``long`` kind (10 minutes by default).
      rename: ``(kind name, default file name) -> relative path`` to write it at, for
        corpus layouts; folders on the way are created.
      only: the kind names to write; all by default.

    Returns:
      A :class:`Case` per file, in :func:`kinds` order.
    """
    root = os.fsencode(folder)
    os.makedirs(root, exist_ok=True)
    wanted = None if only is None else set(only)
    cases = []
    for kind in kinds(long_seconds):
        if wanted is not None and kind.name not in wanted:
            continue
        relative = kind.filename if rename is None else rename(kind.name, kind.filename)
        target = os.path.join(root, os.fsencode(relative))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        path = pathlib.Path(os.fsdecode(target))
        if isinstance(kind.filename, bytes) or isinstance(relative, bytes):
            # soundfile encodes str paths strictly, so write under a plain name and rename.
            staging = path.with_name(f".staging-{kind.name}.wav")
            extra = kind.make(staging)
            os.rename(staging, target)
        else:
            extra = kind.make(path)
        fields = {"reason": kind.reason, **extra}
        cases.append(
            Case(kind.name, path, readable=not kind.reason, listed=kind.listed, header_ok=kind.header_ok, **fields)
        )
    return cases


# --- checking a component's outcome --------------------------------------------------


def check_outcomes(
    cases: Iterable[Case],
    processed: Iterable[str | os.PathLike[str]],
    failures: Iterable[tuple[str | os.PathLike[str], str]],
    *,
    listing: bool = False,
    reasons: dict[str, str] | None = None,
) -> None:
    """Assert a component processed every readable case and reported every rejected one.

    Args:
      cases: what :func:`make_bad_audio` wrote (other files may be among the outcomes).
      processed: the paths the component gave results for.
      failures: ``(path, reason)`` for every file it reported.
      listing: the component found the files by scanning a folder, so cases that are
        not ``listed`` must appear nowhere.
      reasons: per kind name, a reason substring replacing ``case.reason`` (a builder
        may reject a file for its name before reading it).
    """
    processed = [os.fspath(p) for p in processed]
    reported = {}
    for path, reason in failures:
        path = os.fspath(path)
        assert path not in reported, f"{path!r} reported twice"
        reported[path] = reason
    assert len(set(processed)) == len(processed), "a file was processed twice"
    for case in cases:
        path = os.fspath(case.path)
        expected = (reasons or {}).get(case.name, case.reason)
        if listing and not case.listed:
            assert path not in processed and path not in reported, f"{case.name}: {path!r} should not be listed"
        elif expected:
            assert path not in processed, f"{case.name}: {path!r} should be rejected, but was processed"
            assert path in reported, f"{case.name}: {path!r} was neither processed nor reported"
            assert expected in reported[path], f"{case.name}: reason {reported[path]!r} lacks {expected!r}"
        else:
            assert path not in reported, f"{case.name}: {path!r} should be readable: {reported.get(path)}"
            assert path in processed, f"{case.name}: {path!r} was neither processed nor reported"
