"""Audio files in, float32 mono waveforms at one sample rate out.

Everything jaxser reads from disk goes through :func:`load`: wav, flac and ogg (and any
other format libsndfile knows) at any bit depth, sample rate and channel count become a
1-D ``float32`` array at ``sr``, averaged over channels. Integer sources land in
[-1, 1] (libsndfile divides by 2**(bits-1)); float sources are passed through unscaled.
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

__all__ = ["AudioError", "AudioInfo", "info", "list_files", "load", "load_folder", "load_many", "stream"]

DEFAULT_EXTENSIONS = (".wav", ".flac", ".ogg")
RESAMPLE_QUALITY = "HQ"  # soxr's high quality, the one librosa calls "soxr_hq"
STREAM_BLOCK_FRAMES = 1 << 16  # what :func:`stream` decodes at a time: 4 s at 16 kHz, 0.7 s at 96 kHz

# First bytes of the containers jaxser expects. A file that starts like one of these but
# that libsndfile cannot open has a damaged header, which is a more useful reason than
# libsndfile's "Format not recognised".
_MAGIC = {b"RIFF": "WAV", b"RF64": "WAV", b"fLaC": "FLAC", b"OggS": "OGG"}
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
    format: str  # libsndfile's container name: "WAV", "FLAC", "OGG"...
    subtype: str  # libsndfile's encoding name: "PCM_16", "FLOAT", "VORBIS"...

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.frames / self.sample_rate


def info(path: str | os.PathLike[str]) -> AudioInfo:
    """Sample rate, channels, frames, duration, format and subtype of an audio file.

    Only the header is read, so the samples are not checked: a file can pass here and
    still fail :func:`load` (truncated data, NaN samples, no frames...).

    Raises:
      AudioError: the file is missing, unreadable, or not audio libsndfile can open.
    """
    with _open(path) as (_, snd):
        return _info(path, snd)


def load(
    path: str | os.PathLike[str],
    sr: int = 16000,
    *,
    min_duration: float = 0.0,
    mono: bool = True,
) -> np.ndarray:
    """Read an audio file as a float32 waveform at ``sr``.

    Args:
      path: a wav, flac or ogg file (any format libsndfile reads works).
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
        meta = _info(path, snd)
        _check_wav_data_chunk(path, fh)
        _check_length(path, meta, min_duration)
        try:
            data = snd.read(dtype="float32", always_2d=False)
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
        meta = _info(path, snd)
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
    :func:`load_many` does, with :class:`pathlib.Path` paths.
    """
    return load_many(list_files(folder, extensions, recursive), sr, **kwargs)


def list_files(
    folder: str | os.PathLike[str],
    extensions: Sequence[str] | str = DEFAULT_EXTENSIONS,
    recursive: bool = True,
) -> list[pathlib.Path]:
    """The files under ``folder`` whose name ends in one of ``extensions``, sorted.

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
        magic = fh.read(4)
        fh.seek(0)
        try:
            snd = sf.SoundFile(fh)
        except sf.SoundFileError as err:
            raise _open_error(path, magic, err) from err
        with snd:
            yield fh, snd


def _open_error(path: str | os.PathLike[str], magic: bytes, err: sf.SoundFileError) -> AudioError:
    """The AudioError for a file libsndfile refused to open."""
    message = _libsndfile_message(err)
    container = _MAGIC.get(magic)
    if container is not None:
        return AudioError(path, f"malformed or truncated {container} header ({message})", _REEXPORT_FIX)
    code = getattr(err, "code", None)
    if code == 1:  # SF_ERR_UNRECOGNISED_FORMAT
        return AudioError(path, f"not a recognised audio file ({message})", _CONVERT_FIX)
    if code == 4:  # SF_ERR_UNSUPPORTED_ENCODING
        return AudioError(path, f"unsupported audio encoding ({message})", _CONVERT_FIX)
    return AudioError(path, f"malformed audio file ({message})", _REEXPORT_FIX)


def _libsndfile_message(err: sf.SoundFileError) -> str:
    text = getattr(err, "error_string", None) or str(err)
    return "libsndfile: " + text.strip().rstrip(".")


def _info(path: str | os.PathLike[str], snd: sf.SoundFile) -> AudioInfo:
    # libsndfile already refuses a header with 0 Hz or 0 channels, so no check here.
    return AudioInfo(os.fspath(path), snd.samplerate, snd.channels, snd.frames, snd.format, snd.subtype)


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
