"""Audio files in, float32 mono waveforms at one sample rate out.

Everything jaxser reads from disk goes through :func:`load`: every format the installed
libsndfile decodes (wav, flac, ogg/opus, mp3, aiff...; :data:`READABLE_EXTENSIONS`) at any
bit depth, sample rate and channel count becomes a 1-D ``float32`` array at ``sr``,
averaged over channels. Integer sources land in [-1, 1] (libsndfile divides by
2**(bits-1)); float sources are passed through unscaled.
A file at the target rate is not resampled, so a 16-bit 16 kHz mono wav comes back
bit-identical to ``soundfile.read(path, dtype="float32")``. Other rates go through soxr
at its "HQ" quality; the output then has ``round(frames * sr / file_rate)`` samples.

A file that cannot give a usable waveform raises :class:`AudioError`, carrying the path,
the reason and, where there is one, the fix. No libsndfile or OS exception escapes.
:func:`load_many` and :func:`load_folder` read many files and return the failures next
to the clips, so one bad file never stops a run and none disappears unreported.
:func:`stream` gives what :func:`load` gives in blocks, for files too long to hold.

What libsndfile does not detect, and what is done about it:

- A WAV whose data chunk is cut short reads as shorter audio without any error from
  libsndfile; :func:`load` compares the declared chunk size with the bytes present and
  reports the file as truncated. Sizes from 0x7FFF0000 up (0xFFFFFFFF...) are how
  streaming writers say "length unknown"; libsndfile reads those to the end of the
  file, and so does :func:`load`. A declared size of 0 reads as no frames (an error).
- A truncated Ogg Vorbis stream reports 0 frames (reported as "no audio frames"); a
  truncated Ogg Opus stream reads as shorter audio, which cannot be told from a short
  recording. A truncated FLAC fails to decode and is reported.
- An MP3's length comes from its Xing/Info frame (LAME and ffmpeg write one), and
  libsndfile decodes exactly that many samples, encoder delay and padding removed.
  Without one, libsndfile estimates the length from the file size and the first frame's
  bitrate, and never decodes past its estimate. So :func:`load` counts the MPEG frames
  itself (headers only, no decoding): a header-less file is read in full when the
  estimate is long enough, and reported when it is short, as is a Xing/Info count that
  leaves frames out (a joined file). A stream that ends inside a frame, or whose frames
  stop before the end at something that is not a tag, is reported as truncated or damaged.
  libsndfile's MP3 decoder (mpg123) prints notes about damaged frames to stderr itself.

Formats libsndfile does not decode (m4a/aac, webm, wma, amr...; :data:`UNSUPPORTED_EXTENSIONS`)
are reported as "unsupported audio format", recognised by their content where it has a
signature and otherwise by the file's extension.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import pathlib
import stat
import struct
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, BinaryIO

import numpy as np
import soundfile as sf
import soxr

__all__ = [
    "DEFAULT_EXTENSIONS",
    "READABLE_EXTENSIONS",
    "UNSUPPORTED_EXTENSIONS",
    "AudioError",
    "AudioInfo",
    "info",
    "list_files",
    "load",
    "load_folder",
    "load_many",
    "stream",
]

RESAMPLE_QUALITY = "HQ"  # soxr's high quality, the one librosa calls "soxr_hq"
STREAM_BLOCK_FRAMES = 1 << 16  # what :func:`stream` decodes at a time: 4 s at 16 kHz, 0.7 s at 96 kHz

# The file extensions of libsndfile's formats: (its format name, the codec that needs
# the format to be readable or None for any, extensions). A folder scan lists an
# extension when the installed libsndfile has that format (and codec). Left out, as
# their extensions mostly name other things: MAT4/MAT5 (.mat: Matlab data), HTK (.htk:
# feature files), RAW (no header), SD2 (a Mac resource fork), IRCAM (.sf), MPC2K; and
# XI, instruments whose header holds no sample rate (libsndfile says 44.1 kHz).
# :func:`load` reads those all the same; libsndfile goes by the content, not the name.
_FORMAT_EXTENSIONS = (
    ("WAV", None, (".wav",)),
    ("FLAC", None, (".flac",)),
    ("OGG", None, (".ogg", ".oga")),
    ("OGG", "OPUS", (".opus",)),
    ("MP3", "MPEG_LAYER_III", (".mp3",)),
    ("MP3", "MPEG_LAYER_II", (".mp2",)),
    ("AIFF", None, (".aiff", ".aif", ".aifc")),
    ("CAF", None, (".caf",)),
    ("AU", None, (".au", ".snd")),
    ("W64", None, (".w64",)),
    ("RF64", None, (".rf64",)),
    ("NIST", None, (".sph", ".nist")),
    ("VOC", None, (".voc",)),
    ("SVX", None, (".8svx", ".16sv")),
    ("AVR", None, (".avr",)),
    ("PAF", None, (".paf",)),
    ("PVF", None, (".pvf",)),
    ("SDS", None, (".sds",)),
    ("WVE", None, (".wve",)),
)
# Audio formats that recordings come in and libsndfile may not decode, by extension. A
# folder scan lists those the installed libsndfile cannot read, so that each is reported
# as unsupported instead of silently left out.
_AUDIO_FORMATS = {
    ".m4a": "MPEG-4 audio (AAC or ALAC)",
    ".m4b": "MPEG-4 audio (AAC or ALAC)",
    ".mp4": "MPEG-4 (AAC audio)",
    ".aac": "AAC audio",
    ".3gp": "3GPP audio",
    ".amr": "AMR speech",
    ".webm": "WebM audio",
    ".weba": "WebM audio",
    ".mka": "Matroska audio",
    ".wma": "Windows Media Audio",
    ".ac3": "AC-3 (Dolby Digital)",
    ".ape": "Monkey's Audio",
    ".wv": "WavPack",
    ".tta": "True Audio",
    ".mpc": "Musepack",
    ".spx": "Ogg Speex",
    ".ra": "RealAudio",
    ".dsf": "DSD audio",
    ".opus": "Ogg Opus",
    ".mp3": "MP3",
    ".mp2": "MPEG audio layer II",
}


def _readable_extensions() -> tuple[str, ...]:
    """The extensions of the formats the installed libsndfile reports, in table order."""
    formats = sf.available_formats()
    found = [
        ext
        for fmt, codec, exts in _FORMAT_EXTENSIONS
        if fmt in formats and (codec is None or codec in sf.available_subtypes(fmt))
        for ext in exts
    ]
    return tuple(dict.fromkeys(found))


READABLE_EXTENSIONS = _readable_extensions()
UNSUPPORTED_EXTENSIONS = tuple(ext for ext in _AUDIO_FORMATS if ext not in READABLE_EXTENSIONS)
# What a folder scan lists: the readable files, and the unsupported ones so that reading
# them reports them.
DEFAULT_EXTENSIONS = READABLE_EXTENSIONS + UNSUPPORTED_EXTENSIONS

# First bytes of the containers libsndfile reads. A file that starts like one of these but
# that libsndfile cannot open has a damaged header, which is a more useful reason than
# libsndfile's "Format not recognised". (MP3 has no fixed signature: see _container.)
_MAGIC = {b"RIFF": "WAV", b"RF64": "WAV", b"fLaC": "FLAC", b"OggS": "OGG"}
# First bytes of formats libsndfile does not decode: (offset, bytes, name).
_FOREIGN_MAGIC = (
    (4, b"ftyp", "MPEG-4 audio (AAC or ALAC)"),
    (0, b"\x1a\x45\xdf\xa3", "Matroska/WebM audio"),
    (0, b"\x30\x26\xb2\x75\x8e\x66\xcf\x11", "Windows Media Audio (ASF)"),
    (0, b"#!AMR", "AMR speech"),
    (0, b"MAC ", "Monkey's Audio"),
    (0, b"wvpk", "WavPack"),
    (0, b"TTA1", "True Audio"),
    (0, b"MPCK", "Musepack"),
    (0, b".ra\xfd", "RealAudio"),
    (0, b"DSD ", "DSD audio"),
)
# Ogg codecs other than Vorbis and Opus, by the start of their first packet.
_FOREIGN_OGG = {b"Speex   ": "Ogg Speex", b"\x7fFLAC": "Ogg FLAC", b"\x80theora": "Ogg Theora video"}
_HEAD_BYTES = 64  # enough for every signature above and an Ogg page header

# MPEG audio bitrates in kbit/s by bitrate index, for (MPEG-1?, layer); MPEG-2 and 2.5
# share one table for layers II and III.
_MPEG_BITRATES = {
    (True, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_MPEG_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}  # MPEG-1, 2, 2.5
# LAME's header stores the encoder delay and padding in 12 bits each; libsndfile drops
# both, so a Xing/Info length is at most this many frames short of the frames' total.
_MAX_GAPLESS_TRIM = 2 * 4095
# Tags that may follow the last MPEG frame: ID3v1, APEv2, Lyrics3, an appended ID3v2.
_MPEG_TRAILERS = (b"TAG", b"APETAGEX", b"LYRICSBEGIN", b"ID3")
# A WAV data-chunk size at or above this is a streaming writer's "unknown length"
# placeholder (0xFFFFFFFF, 0x7FFFF000...), not a promise that the file is that long.
_UNKNOWN_WAV_SIZE = 0x7FFF0000
_CONVERT_FIX = "Convert it to wav or flac, e.g. `ffmpeg -i IN -ac 1 -ar 16000 OUT.wav`"
_REEXPORT_FIX = "The file is damaged or incomplete; re-download or re-export it"


class AudioError(Exception):
    """An audio file that cannot give a usable waveform.

    Attributes:
      path: the file, as a string.
      reason: what is wrong, one short phrase (what :func:`load_many` reports).
      fix: what to do about it, or ``None`` where there is nothing obvious.
    """

    def __init__(self, path: str | os.PathLike[str], reason: str, fix: str | None = None):
        super().__init__(path, reason, fix)  # args rebuild the error when unpickled
        self.path = os.fspath(path)
        self.reason = reason
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}" + (f". {self.fix}" if self.fix else "")


@dataclasses.dataclass(frozen=True)
class AudioInfo:
    """What an audio file's header says, read without decoding the samples."""

    path: str
    sample_rate: int
    channels: int
    frames: int
    format: str  # libsndfile's container name: "WAV", "FLAC", "OGG", "MP3"...
    subtype: str  # libsndfile's encoding name: "PCM_16", "FLOAT", "VORBIS"...

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.frames / self.sample_rate


def info(path: str | os.PathLike[str]) -> AudioInfo:
    """Sample rate, channels, frames, duration, format and subtype of an audio file.

    Only the header is read (and, for an MP3, the frame headers, to know its length), so
    the samples are not checked: a file can pass here and still fail :func:`load`
    (truncated data, NaN samples, no frames...).

    Raises:
      AudioError: the file is missing, unreadable, or not audio libsndfile can open.
    """
    with _open(path) as (fh, snd):
        return _info(path, fh, snd)


def load(
    path: str | os.PathLike[str],
    sr: int = 16000,
    *,
    min_duration: float = 0.0,
    mono: bool = True,
) -> np.ndarray:
    """Read an audio file as a float32 waveform at ``sr``.

    Args:
      path: an audio file in any format libsndfile reads (wav, flac, ogg, mp3...).
      sr: the sample rate to return, in Hz; the file is resampled with soxr if its own
        rate differs.
      min_duration: the shortest file accepted, in seconds of the file's own audio. A
        file with no frames is always rejected.
      mono: average the channels into one (the default). With ``False`` the result is
        ``(channels, samples)``, also for a mono file.

    Returns:
      ``float32`` array of shape ``(samples,)`` (or ``(channels, samples)``).

    Raises:
      AudioError: the file cannot give a usable waveform; ``.reason`` says why.
      ValueError: ``sr`` or ``min_duration`` is not a valid value.
    """
    sr = _check_rate(sr)
    _check_min_duration(min_duration)
    with _open(path) as (fh, snd):
        meta = _info(path, fh, snd)
        _check_wav_data_chunk(path, fh)
        _check_length(path, meta, min_duration)
        try:
            # The count is explicit: an MP3's may be below libsndfile's estimate, and
            # soundfile needs one for files libsndfile calls unseekable (GSM 6.10...).
            data = snd.read(meta.frames, dtype="float32", always_2d=False)
        except sf.SoundFileError as err:
            raise AudioError(path, f"cannot be decoded ({_libsndfile_message(err)})", _REEXPORT_FIX) from err
    if len(data) < meta.frames:  # soundfile returns what decoded; none seen with libsndfile 1.2.2
        reason = f"truncated: decoded {len(data)} of the {meta.frames} frames in its header"
        raise AudioError(path, reason, _REEXPORT_FIX)
    _check_finite(path, data, meta.sample_rate)
    if data.ndim == 2 and mono:
        data = data.mean(axis=1, dtype=np.float32)
    if meta.sample_rate != sr:
        # soxr resamples along axis 0, so multichannel data stays (frames, channels) here.
        data = soxr.resample(data, meta.sample_rate, sr, quality=RESAMPLE_QUALITY)
        if len(data) == 0:
            raise _no_samples_error(path, meta, sr)
    if not mono:
        data = np.ascontiguousarray(data.T) if data.ndim == 2 else data[None, :]
    return data


def stream(
    path: str | os.PathLike[str],
    sr: int = 16000,
    *,
    min_duration: float = 0.0,
    block_frames: int = STREAM_BLOCK_FRAMES,
) -> Iterator[np.ndarray]:
    """:func:`load` (mono) in blocks, so a file of any length takes a fixed amount of memory.

    Decodes ``block_frames`` frames at a time, averages the channels and resamples
    with soxr's streaming resampler. Concatenated, the blocks equal
    ``load(path, sr, min_duration=min_duration)`` bit for bit, and every check of
    :func:`load` raises the same :class:`AudioError`. Header problems raise before the
    first block; a problem in the samples (NaN, a decoding error) raises when its block
    is reached, after the blocks before it, so keep nothing until the iterator ends.

    Yields:
      1-D ``float32`` arrays at ``sr``, none empty.

    Raises:
      ValueError: at the call, for a bad ``sr``, ``min_duration`` or ``block_frames``.
    """
    sr = _check_rate(sr)
    _check_min_duration(min_duration)
    if isinstance(block_frames, bool) or not isinstance(block_frames, (int, np.integer)) or block_frames < 1:
        raise ValueError(f"block_frames must be a positive integer, got {block_frames!r}")
    return _stream(path, sr, min_duration, int(block_frames))


def _stream(path: str | os.PathLike[str], sr: int, min_duration: float, block_frames: int) -> Iterator[np.ndarray]:
    with _open(path) as (fh, snd):
        meta = _info(path, fh, snd)
        _check_wav_data_chunk(path, fh)
        _check_length(path, meta, min_duration)
        resampler = None
        if meta.sample_rate != sr:  # soxr's stream gives the one-shot result, block size regardless
            resampler = soxr.ResampleStream(meta.sample_rate, sr, 1, dtype="float32", quality=RESAMPLE_QUALITY)
        decoded = produced = 0
        while decoded < meta.frames:
            block = _read_block(path, snd, meta, decoded, block_frames)
            bad = ~np.isfinite(block).all(axis=1)
            if bad.any():
                first = decoded + int(np.argmax(bad))
                count = int(bad.sum()) + _count_nonfinite(path, snd, meta, decoded + len(block), block_frames)
                raise _nonfinite_error(path, count, first, meta.sample_rate)
            decoded += len(block)
            mono = block[:, 0] if meta.channels == 1 else block.mean(axis=1, dtype=np.float32)
            if resampler is not None:
                mono = resampler.resample_chunk(mono, last=decoded == meta.frames)
            produced += len(mono)
            if len(mono):
                yield mono
        if produced == 0:
            raise _no_samples_error(path, meta, sr)


def load_many(
    paths: Iterable[str | os.PathLike[str]], sr: int = 16000, **kwargs: Any
) -> tuple[list[tuple[Any, np.ndarray]], list[tuple[Any, str]]]:
    """:func:`load` every path; collect the failures instead of raising.

    Args:
      paths: the files, in the order wanted.
      sr: as for :func:`load`.
      **kwargs: passed to :func:`load` (``min_duration``, ``mono``).

    Returns:
      ``(clips, failures)``: ``clips`` holds ``(path, waveform)`` for every file that
      loaded and ``failures`` ``(path, reason)`` for every :class:`AudioError`, both in
      input order and with each path as given. Other exceptions (a bad argument,
      running out of memory) propagate.
    """
    clips, failures = [], []
    for path in paths:
        try:
            clips.append((path, load(path, sr, **kwargs)))
        except AudioError as err:
            failures.append((path, err.reason))
    return clips, failures


def load_folder(
    folder: str | os.PathLike[str],
    sr: int = 16000,
    extensions: Sequence[str] | str = DEFAULT_EXTENSIONS,
    recursive: bool = True,
    **kwargs: Any,
) -> tuple[list[tuple[pathlib.Path, np.ndarray]], list[tuple[pathlib.Path, str]]]:
    """:func:`load_many` on the audio files of a folder, in sorted path order.

    Which files: see :func:`list_files`. Returns ``(clips, failures)`` as
    :func:`load_many` does, with :class:`pathlib.Path` paths; a file in a format
    libsndfile cannot read is among the failures, its reason starting "unsupported
    audio format".
    """
    return load_many(list_files(folder, extensions, recursive), sr, **kwargs)


def list_files(
    folder: str | os.PathLike[str],
    extensions: Sequence[str] | str = DEFAULT_EXTENSIONS,
    recursive: bool = True,
) -> list[pathlib.Path]:
    """The files under ``folder`` whose name ends in one of ``extensions``, sorted.

    The default, :data:`DEFAULT_EXTENSIONS`, is every extension of a format the installed
    libsndfile reads (:data:`READABLE_EXTENSIONS`: .wav, .flac, .ogg, .opus, .mp3,
    .aiff...) and of the audio formats it does not (:data:`UNSUPPORTED_EXTENSIONS`: .m4a,
    .aac, .webm, .wma, .amr...). Those are listed so that reading them reports each one
    as an "unsupported audio format" rather than leaving it out unseen. Every other file
    (.txt, .json, README, images...) is left out silently: a corpus folder holds
    transcripts and metadata beside the audio, and reporting each would bury the real
    failures.

    Extensions match case-insensitively, with or without the dot. Hidden files and
    folders (name starting with ``.``) are left out: copies made on macOS carry a
    ``._name.wav`` resource fork beside every file, and those are not audio. Symbolic
    links to folders are not followed (no loops); links to files are kept, broken ones
    too, so that reading them fails and is reported.

    Raises:
      FileNotFoundError / NotADirectoryError: ``folder`` is missing or not a folder.
      ValueError: ``extensions`` is empty.
    """
    root = pathlib.Path(folder)
    if not root.exists():
        raise FileNotFoundError(f"{root}: folder not found; check the path")
    if not root.is_dir():
        raise NotADirectoryError(f"{root}: not a folder; use jaxser.audio.load for a single file")
    if isinstance(extensions, str):  # ".wav" alone would otherwise iterate as characters
        extensions = (extensions,)
    suffixes = tuple("." + ext.lower().lstrip(".") for ext in extensions)
    if not suffixes:
        raise ValueError("extensions is empty; pass e.g. ('.wav', '.flac')")
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")] if recursive else []
        found += [
            pathlib.Path(dirpath, name)
            for name in filenames
            if name.lower().endswith(suffixes) and not name.startswith(".")
        ]
    return sorted(found)


# --- helpers -------------------------------------------------------------------------


@contextlib.contextmanager
def _open(path: str | os.PathLike[str]) -> Iterator[tuple[BinaryIO, sf.SoundFile]]:
    """``(python file, soundfile.SoundFile)`` for ``path``, every failure an AudioError.

    The path is checked with ``os.stat`` before it is opened: opening a FIFO would block
    and a directory gives an unhelpful error. Python opens the file, so OS errors arrive
    as precise exceptions; libsndfile then reads through that handle.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise AudioError(path, f"broken symbolic link to {os.readlink(path)}", "Fix or remove the link") from None
        raise AudioError(path, "file not found", "Check the path") from None
    except OSError as err:
        raise AudioError(path, f"cannot be accessed ({err.strerror})") from err
    if stat.S_ISDIR(st.st_mode):
        raise AudioError(path, "is a directory, not an audio file", "Use jaxser.audio.load_folder for folders")
    if not stat.S_ISREG(st.st_mode):
        raise AudioError(path, "not a regular file (a device, pipe or socket)")
    if st.st_size == 0:
        raise AudioError(path, "empty file (0 bytes)", _REEXPORT_FIX)
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed below
    except PermissionError:
        raise AudioError(path, "permission denied", "Make it readable, e.g. `chmod a+r FILE`") from None
    except OSError as err:
        raise AudioError(path, f"cannot be opened ({err.strerror})") from err
    with fh:
        head = _stream_head(fh)
        try:
            snd = _SequentialSoundFile(fh)
        except sf.SoundFileError as err:
            raise _open_error(path, head, err) from err
        with snd:
            yield fh, snd


class _SequentialSoundFile(sf.SoundFile):
    """A SoundFile read strictly in sequence, never seeking.

    soundfile seeks to where each read ended after every read of a seekable file.
    libsndfile's MP3 seek (mpg123's) lands off that position, so an MP3 read in blocks
    came out shifted and garbled (correlation with the source 0.75 instead of 0.9999).
    Reported as unseekable, soundfile skips the seeks; every read names its frame count.
    """

    def seekable(self) -> bool:
        return False


def _open_error(path: str | os.PathLike[str], head: bytes, err: sf.SoundFileError) -> AudioError:
    """The AudioError for a file libsndfile refused to open; ``head`` is its first bytes."""
    message = _libsndfile_message(err)
    code = getattr(err, "code", None)
    foreign = _foreign_format(head)
    if foreign is not None:
        return _unsupported_error(path, foreign)
    container = _container(head)
    if container is not None:
        if code == 7:  # SFE_BAD_FILE, "File does not exist...": what its MPEG decoder says of a bad stream
            message = "libsndfile: its decoder could not read the stream"
        return AudioError(path, f"malformed or truncated {container} header ({message})", _REEXPORT_FIX)
    suffix = pathlib.PurePath(os.fspath(path)).suffix.lower()
    if code == 1 and suffix in UNSUPPORTED_EXTENSIONS:  # SF_ERR_UNRECOGNISED_FORMAT, named like a known format
        return _unsupported_error(path, f"{_AUDIO_FORMATS[suffix]} (by its {suffix} name)")
    if code == 1:
        return AudioError(path, f"not a recognised audio file ({message})", _CONVERT_FIX)
    if code == 4:  # SF_ERR_UNSUPPORTED_ENCODING
        return AudioError(path, f"unsupported audio encoding ({message})", _CONVERT_FIX)
    return AudioError(path, f"malformed audio file ({message})", _REEXPORT_FIX)


def _unsupported_error(path: str | os.PathLike[str], what: str) -> AudioError:
    reason = f"unsupported audio format: {what}, which libsndfile {sf.__libsndfile_version__} cannot read"
    return AudioError(path, reason, _CONVERT_FIX)


def _stream_head(fh: BinaryIO) -> bytes:
    """The file's first bytes, past the ID3v2 tag MP3 (and some AAC) files start with."""
    head = fh.read(_HEAD_BYTES)
    skip = _id3v2_size(head)
    if skip:
        fh.seek(skip)
        head = fh.read(_HEAD_BYTES)
    fh.seek(0)
    return head


def _id3v2_size(head: bytes) -> int:
    """Bytes taken by the ID3v2 tag ``head`` starts with, 0 if it starts with none."""
    if len(head) < 10 or head[:3] != b"ID3" or any(b & 0x80 for b in head[6:10]):
        return 0
    size = (head[6] << 21) | (head[7] << 14) | (head[8] << 7) | head[9]  # 7 bits a byte
    return 10 + size + (10 if head[5] & 0x10 else 0)  # flag 0x10: a 10-byte footer follows


def _container(head: bytes) -> str | None:
    """The readable container ``head`` starts like: "WAV", "FLAC", "OGG", "MP3" or None."""
    return _MAGIC.get(head[:4]) or ("MP3" if _mpeg_frame(head) is not None else None)


def _foreign_format(head: bytes) -> str | None:
    """The name of the format libsndfile does not decode that ``head`` starts like, or None."""
    for offset, magic, name in _FOREIGN_MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return name
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0:  # 12-bit sync, MPEG layer "0"
        return "AAC audio (ADTS)"
    if head[:4] == b"OggS" and len(head) > 27:  # the first packet follows the page's segment table
        packet = head[27 + head[26] :]
        return next((name for start, name in _FOREIGN_OGG.items() if packet.startswith(start)), None)
    return None


def _libsndfile_message(err: sf.SoundFileError) -> str:
    text = getattr(err, "error_string", None) or str(err)
    return "libsndfile: " + text.strip().rstrip(".")


def _info(path: str | os.PathLike[str], fh: BinaryIO, snd: sf.SoundFile) -> AudioInfo:
    # libsndfile already refuses a header with 0 Hz or 0 channels, so no check here.
    frames = _mp3_frames(path, fh, snd.frames) if snd.format == "MP3" else snd.frames
    return AudioInfo(os.fspath(path), snd.samplerate, snd.channels, frames, snd.format, snd.subtype)


def _mp3_frames(path: str | os.PathLike[str], fh: BinaryIO, listed: int) -> int:
    """The frames an MP3 decodes to, libsndfile saying ``listed``; raise where it cannot give them all.

    libsndfile never decodes past ``listed``: with a Xing/Info header that is the exact
    length, without one an estimate that may fall short (the end lost) or run long.
    """
    position = fh.tell()  # libsndfile reads through fh: leave it where it was
    try:
        scan = _scan_mpeg(fh)
    finally:
        fh.seek(position)
    if scan is None:  # junk before the first frame, or free-format: nothing to check against
        return listed
    if scan.counted and scan.samples - _MAX_GAPLESS_TRIM <= listed <= scan.samples:
        return listed
    if scan.cut:
        raise AudioError(path, f"truncated: the file ends inside an MPEG frame (at byte {scan.size})", _REEXPORT_FIX)
    if scan.junk:
        reason = f"damaged: no MPEG frame at byte {scan.end} of {scan.size}, where the frames stop"
        raise AudioError(path, reason, _REEXPORT_FIX)
    if scan.counted and listed > scan.samples:
        reason = f"truncated: its Xing/Info header counts {listed} frames but its MPEG frames hold {scan.samples}"
        raise AudioError(path, reason, _REEXPORT_FIX)
    if scan.counted:
        reason = (
            f"its Xing/Info header counts {listed} frames but its MPEG frames hold {scan.samples} (a joined or "
            f"edited file?); libsndfile decodes only the first {listed}"
        )
        raise AudioError(path, reason, _CONVERT_FIX)
    if listed < scan.samples:
        reason = (
            f"MP3 without a Xing/Info length header: libsndfile estimates {listed} frames and would decode only "
            f"those of its {scan.samples}"
        )
        raise AudioError(path, reason, _CONVERT_FIX)
    return scan.samples


@dataclasses.dataclass(frozen=True)
class _MpegScan:
    """What the frame headers of an MPEG audio file say."""

    samples: int  # per channel, in the complete audio frames (a Xing/Info frame is not audio)
    counted: bool  # a Xing/Info frame holds the frame count, so libsndfile's length is exact
    end: int  # the byte where the frames stop
    size: int  # of the file, in bytes
    cut: bool  # the frame at ``end`` runs past the end of the file
    junk: bool  # the frames stop at something that is not a tag


def _scan_mpeg(fh: BinaryIO) -> _MpegScan | None:
    """Walk an MPEG audio file's frame headers (no decoding); None if no frame starts the audio."""
    size = os.fstat(fh.fileno()).st_size
    fh.seek(0)
    offset = _id3v2_size(fh.read(10))
    frames = samples = 0
    counted = cut = False
    while offset + 4 <= size:
        fh.seek(offset)
        head = fh.read(_HEAD_BYTES if frames == 0 else 4)
        frame = _mpeg_frame(head)
        if frame is None:
            break
        length, per_frame = frame
        if offset + length > size:
            cut = True
            break
        flags = _xing_flags(head) if frames == 0 else None
        if flags is None:
            samples += per_frame
        counted = counted or (flags is not None and bool(flags & 1))  # bit 0: the frame count is there
        frames += 1
        offset += length
    if frames == 0:
        return None
    junk = not cut and size - offset >= 4 and not _is_trailer(fh, offset, size)
    return _MpegScan(samples, counted, offset, size, cut, junk)


def _mpeg_frame(head: bytes) -> tuple[int, int] | None:
    """``(bytes, samples per channel)`` of the MPEG audio frame ``head`` starts, None if it starts none."""
    if len(head) < 4:
        return None
    word = int.from_bytes(head[:4], "big")
    version, layer = (word >> 19) & 3, 4 - ((word >> 17) & 3)
    bitrate_index, rate_index, padding = (word >> 12) & 15, (word >> 10) & 3, (word >> 9) & 1
    # No sync, reserved values, or a free-format bitrate (no fixed frame size to walk by).
    if word >> 21 != 0x7FF or version == 1 or layer == 4 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    mpeg1 = version == 3
    bitrate = 1000 * _MPEG_BITRATES[(mpeg1, layer if mpeg1 or layer == 1 else 2)][bitrate_index]
    rate = _MPEG_RATES[version][rate_index]
    if layer == 1:
        return (12 * bitrate // rate + padding) * 4, 384
    per_frame = 576 if layer == 3 and not mpeg1 else 1152
    return per_frame // 8 * bitrate // rate + padding, per_frame


def _xing_flags(head: bytes) -> int | None:
    """The flags of the Xing/Info header in the frame ``head`` starts, None for an audio frame."""
    window = head[4:46]  # the tag follows the side information: 9 to 32 bytes, 2 more with a CRC
    at = max(window.find(b"Xing"), window.find(b"Info"))
    return None if at < 0 else int.from_bytes(window[at + 4 : at + 8], "big")


def _is_trailer(fh: BinaryIO, offset: int, size: int) -> bool:
    """Whether the bytes from ``offset`` on are a tag or zero padding, not damage."""
    fh.seek(offset)
    tail = fh.read(min(size - offset, 1 << 16))
    return tail.startswith(_MPEG_TRAILERS) or (size - offset <= 1 << 16 and not tail.strip(b"\0"))


def _check_wav_data_chunk(path: str | os.PathLike[str], fh: BinaryIO) -> None:
    """Raise if a RIFF/WAVE file's data chunk declares more bytes than the file holds.

    libsndfile trims such a file to the bytes present without an error; the clip would
    silently be shorter than the recording. Only the chunk headers are read.
    """
    position = fh.tell()
    try:
        size = os.fstat(fh.fileno()).st_size
        fh.seek(0)
        head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:] != b"WAVE":
            return
        offset = 12
        while offset + 8 <= size:
            fh.seek(offset)
            chunk_id, chunk_size = struct.unpack("<4sI", fh.read(8))
            if chunk_id == b"data":
                present = size - offset - 8
                if present < chunk_size < _UNKNOWN_WAV_SIZE:
                    raise AudioError(
                        path,
                        f"truncated: its data chunk declares {chunk_size} bytes but only {present} are present",
                        _REEXPORT_FIX,
                    )
                return
            offset += 8 + chunk_size + (chunk_size & 1)  # chunks are padded to even sizes
    finally:
        fh.seek(position)


def _check_finite(path: str | os.PathLike[str], data: np.ndarray, rate: int) -> None:
    # Integer sources cannot hold NaN/Inf, but one pass costs ~5% of decoding, so every
    # file is checked rather than trusting the subtype. float64 samples beyond the
    # float32 range have become Inf in the float32 read and are reported here too.
    finite = np.isfinite(data)
    if finite.all():
        return
    bad = ~finite.reshape(len(data), -1).all(axis=1)
    raise _nonfinite_error(path, int(bad.sum()), int(np.argmax(bad)), rate)


def _nonfinite_error(path: str | os.PathLike[str], count: int, first: int, rate: int) -> AudioError:
    return AudioError(
        path,
        f"non-finite samples (NaN or Inf) in {count} frame(s), the first at {first / rate:.3f} s",
        "Repair or re-export the file",
    )


def _read_block(path: str | os.PathLike[str], snd: sf.SoundFile, meta: AudioInfo, done: int, size: int) -> np.ndarray:
    """The next ``size`` frames (fewer at the end) as float32 ``(frames, channels)``."""
    want = min(size, meta.frames - done)
    try:
        block = snd.read(want, dtype="float32", always_2d=True)
    except sf.SoundFileError as err:
        raise AudioError(path, f"cannot be decoded ({_libsndfile_message(err)})", _REEXPORT_FIX) from err
    if len(block) < want:  # as in load: the header promised more than decodes
        reason = f"truncated: decoded {done + len(block)} of the {meta.frames} frames in its header"
        raise AudioError(path, reason, _REEXPORT_FIX)
    return block


def _count_nonfinite(path: str | os.PathLike[str], snd: sf.SoundFile, meta: AudioInfo, done: int, size: int) -> int:
    """Frames with NaN/Inf from ``done`` to the end, so stream's error counts them all as load's does."""
    count = 0
    while done < meta.frames:
        block = _read_block(path, snd, meta, done, size)
        count += int((~np.isfinite(block).all(axis=1)).sum())
        done += len(block)
    return count


def _check_length(path: str | os.PathLike[str], meta: AudioInfo, min_duration: float) -> None:
    if meta.frames == 0:
        hint = " (an Ogg Vorbis file reads as 0 frames when truncated)" if meta.subtype == "VORBIS" else ""
        raise AudioError(path, f"no audio frames{hint}", _REEXPORT_FIX)
    if meta.duration < min_duration:
        raise AudioError(
            path,
            f"{meta.duration:.3f} s long, shorter than min_duration={min_duration:g} s",
            "Pass a smaller min_duration to keep it",
        )


def _no_samples_error(path: str | os.PathLike[str], meta: AudioInfo, sr: int) -> AudioError:
    return AudioError(path, f"{meta.frames} frame(s) at {meta.sample_rate} Hz give no samples at {sr} Hz")


def _check_min_duration(min_duration: Any) -> None:
    if not (min_duration >= 0 and math.isfinite(min_duration)):
        raise ValueError(f"min_duration must be a finite number of seconds >= 0, got {min_duration!r}")


def _check_rate(sr: Any) -> int:
    if isinstance(sr, bool) or not isinstance(sr, (int, np.integer)) or sr <= 0:
        raise ValueError(f"sr must be a positive integer sample rate in Hz, got {sr!r}")
    return int(sr)
