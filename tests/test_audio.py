"""jaxser.audio: every kind of good and bad file, built in tmp_path, plus real EmoDB files."""

from __future__ import annotations

import json
import os
import pickle
import re
import struct

import numpy as np
import pytest
import soundfile as sf
import soxr

from jaxser import audio
from tests.reliability import faults
from tests.reliability.bad_audio import ADTS, M4A, WEBM, id3v2, mp3_bytes, mpeg_frames, speechlike

SR = 16000


def tone(freq: float, sr: int, n: int, amp: float = 0.5, phase: float = 0.0) -> np.ndarray:
    return amp * np.sin(2 * np.pi * freq * np.arange(n) / sr + phase)


def write(path, data, sr=SR, **kwargs):
    sf.write(path, data, sr, **kwargs)
    return path


def fit_tone(y: np.ndarray, freq: float, sr: int) -> tuple[float, float, float]:
    """Least-squares sine at ``freq``: (amplitude, phase in rad, residual RMS / tone RMS)."""
    t = np.arange(len(y)) / sr
    basis = np.stack([np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t)], axis=1)
    (s, c), *_ = np.linalg.lstsq(basis, y.astype(np.float64), rcond=None)
    amp = float(np.hypot(s, c))
    resid = y - basis @ np.array([s, c])
    return amp, float(np.arctan2(c, s)), float(np.sqrt(np.mean(resid**2)) / (amp / np.sqrt(2)))


# --- good files ----------------------------------------------------------------------

# (format, subtype, largest |error| allowed against the float64 source): the
# quantisation step of each integer depth, exact for float, loose for lossy Vorbis
# (checked on RMS there).
FORMATS = [
    ("WAV", "PCM_U8", 2**-7),
    ("WAV", "PCM_16", 2**-15),
    ("WAV", "PCM_24", 2**-23),
    ("WAV", "PCM_32", 1e-7),
    ("WAV", "FLOAT", 1e-7),
    ("WAV", "DOUBLE", 1e-7),
    ("FLAC", "PCM_16", 2**-15),
    ("FLAC", "PCM_24", 2**-23),
    ("OGG", "VORBIS", 0.01),
]


@pytest.mark.parametrize("fmt,subtype,tol", FORMATS, ids=[f"{f}-{s}" for f, s, _ in FORMATS])
def test_reads_every_format_and_depth_as_float32_mono(tmp_path, fmt, subtype, tol):
    x = tone(440, SR, 8000)
    path = write(tmp_path / f"a.{fmt.lower()}", x, format=fmt, subtype=subtype)
    y = audio.load(path)
    assert y.dtype == np.float32 and y.shape == (8000,) and y.flags.c_contiguous
    if subtype == "VORBIS":
        assert np.sqrt(np.mean((y - x) ** 2)) < tol
    else:
        assert np.abs(y - x).max() <= tol


@pytest.mark.parametrize(
    "fmt,subtype", [("WAV", "PCM_U8"), ("WAV", "PCM_16"), ("WAV", "PCM_24"), ("WAV", "PCM_32"), ("FLAC", "PCM_24")]
)
def test_full_scale_integer_sources_land_in_unit_range(tmp_path, fmt, subtype):
    full_scale = np.array([-(2**31), 2**31 - 1, 0, -(2**31), 2**31 - 1], np.int32)
    path = write(tmp_path / f"a.{fmt.lower()}", full_scale, format=fmt, subtype=subtype)
    y = audio.load(path)
    assert y.min() == -1.0 and 0.99 < y.max() <= 1.0 and y[2] == 0.0


def test_16k_int16_is_bit_exact_with_soundfile(tmp_path):
    path = write(tmp_path / "a.wav", np.random.default_rng(0).integers(-32768, 32767, 5000, dtype=np.int16))
    expected, _ = sf.read(path, dtype="float32")
    np.testing.assert_array_equal(audio.load(path), expected)


@pytest.mark.realdata
def test_emodb_is_bit_exact_with_soundfile(emodb_dir):
    paths = sorted(emodb_dir.glob("*.wav"))[:5]
    assert len(paths) == 5
    for path in paths:
        expected, rate = sf.read(path, dtype="float32")
        assert rate == SR
        y = audio.load(path)
        assert y.dtype == np.float32
        np.testing.assert_array_equal(y, expected)


@pytest.mark.realdata
def test_load_folder_reads_all_of_emodb(emodb_dir):
    clips, failures = audio.load_folder(emodb_dir)
    assert failures == []
    assert len(clips) == 535  # the original release (see the data README)
    assert [p for p, _ in clips] == sorted(emodb_dir.glob("*.wav"))
    assert all(1.0 < len(y) / SR < 9.5 for _, y in clips)  # README: 1.2-9.0 s


@pytest.mark.parametrize("channels", [2, 6])
def test_multichannel_is_averaged_or_kept(tmp_path, channels):
    rng = np.random.default_rng(channels)
    x = rng.uniform(-1, 1, (3000, channels)).astype(np.float32)
    path = write(tmp_path / "multi.wav", x, subtype="FLOAT")
    y = audio.load(path)
    assert y.shape == (3000,) and y.dtype == np.float32
    np.testing.assert_allclose(y, x.mean(axis=1), rtol=0, atol=1e-7)
    kept = audio.load(path, mono=False)
    assert kept.shape == (channels, 3000) and kept.flags.c_contiguous
    np.testing.assert_array_equal(kept, x.T)


def test_mono_false_on_a_mono_file_gives_one_row(tmp_path):
    path = write(tmp_path / "a.wav", tone(440, SR, 400), subtype="FLOAT")
    assert audio.load(path, mono=False).shape == (1, 400)


# --- resampling ----------------------------------------------------------------------


@pytest.mark.parametrize("sr_in", [8000, 44100, 48000])
def test_resampling_keeps_frequency_amplitude_and_timing(tmp_path, sr_in):
    # A 1 kHz sine, 0.5 amplitude, with an odd length so the output length is rounded.
    n = sr_in + 123
    path = write(tmp_path / "tone.wav", tone(1000, sr_in, n), sr_in, subtype="PCM_16")
    y = audio.load(path)
    assert y.dtype == np.float32
    assert len(y) == round(n * SR / sr_in)  # soxr's length: the rounded ratio (no ties here)
    inner = slice(800, -800)  # 50 ms at each end, where the filter meets the file's edges
    amp, phase, resid = fit_tone(y[inner], 1000, SR)
    # Measured: |amp - 0.5| < 1e-5, phase < 1e-6 rad, residual < 5e-5 (16-bit noise).
    assert amp == pytest.approx(0.5, rel=1e-3)
    assert abs(phase) < 1e-3  # the slice starts 50 whole periods in: any delay shows here
    assert resid < 1e-3  # any other frequency would leave most of the energy here


@pytest.mark.parametrize("freq,sr_in", [(10000, 44100), (9000, 48000)])
def test_resampling_removes_tones_above_the_new_nyquist(tmp_path, freq, sr_in):
    # A plain decimator would alias these into the 0-8 kHz band; soxr filters them out.
    path = write(tmp_path / "high.wav", tone(freq, sr_in, sr_in), sr_in, subtype="FLOAT")
    y = audio.load(path)
    assert np.sqrt(np.mean(y[800:-800] ** 2)) < 1e-4 * (0.5 / np.sqrt(2))  # measured ~7e-8


def test_resampling_multichannel_kept(tmp_path):
    x = np.stack([tone(1000, 48000, 4800), tone(500, 48000, 4800)], axis=1)
    path = write(tmp_path / "st.wav", x, 48000, subtype="FLOAT")
    y = audio.load(path, mono=False)
    assert y.shape == (2, 1600)
    assert fit_tone(y[0, 100:-100], 1000, SR)[2] < 1e-3
    assert fit_tone(y[1, 100:-100], 500, SR)[2] < 1e-3


def test_no_resampling_at_other_target_rates_when_rates_match(tmp_path):
    x = tone(440, 22050, 2205).astype(np.float32)
    path = write(tmp_path / "a.wav", x, 22050, subtype="FLOAT")
    np.testing.assert_array_equal(audio.load(path, sr=22050), x)


# --- bad files -----------------------------------------------------------------------


def _good_wav_bytes(tmp_path) -> bytes:
    return write(tmp_path / "good.wav", tone(440, SR, SR), subtype="PCM_16").read_bytes()


def _raw(tmp_path, name, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _patched_wav(tmp_path, offset, fmt, value):
    data = bytearray(_good_wav_bytes(tmp_path))
    struct.pack_into(fmt, data, offset, value)  # offsets in the canonical 44-byte header
    return _raw(tmp_path, "patched.wav", bytes(data))


def _truncated(tmp_path, fmt, keep):
    path = write(tmp_path / f"full.{fmt.lower()}", tone(440, SR, 3 * SR), format=fmt)
    data = path.read_bytes()
    return _raw(tmp_path, f"cut.{fmt.lower()}", data[: int(len(data) * keep)])


def _with_nonfinite(tmp_path, value, subtype):
    x = tone(440, SR, 1600)
    x[[800, 1000]] = value
    return write(tmp_path / "nf.wav", x, subtype=subtype)


def _broken_link(tmp_path):
    link = tmp_path / "link.wav"
    link.symlink_to(tmp_path / "gone.wav")
    return link


def _folder(tmp_path):
    (tmp_path / "d.wav").mkdir()
    return tmp_path / "d.wav"


# Each case builds a file and gives the pattern its reason must match.
BAD_FILES = {
    "missing": (lambda p: p / "nope.wav", r"^file not found$"),
    "broken link": (_broken_link, r"^broken symbolic link to .*gone\.wav$"),
    "directory": (_folder, r"^is a directory"),
    "empty": (lambda p: _raw(p, "e.wav", b""), r"^empty file \(0 bytes\)$"),
    "no frames": (lambda p: write(p / "z.wav", np.zeros(0), subtype="PCM_16"), r"^no audio frames$"),
    "text": (lambda p: _raw(p, "t.wav", b"not audio at all\n" * 20), r"^not a recognised audio file \(libsndfile: "),
    "riff only": (lambda p: _raw(p, "r.wav", b"RIFF"), r"^malformed or truncated WAV header \(libsndfile: "),
    "header cut in fmt": (
        lambda p: _raw(p, "h.wav", _good_wav_bytes(p)[:20]),
        r"^malformed or truncated WAV header \(libsndfile: .*fmt",
    ),
    "header cut before data": (
        lambda p: _raw(p, "h.wav", _good_wav_bytes(p)[:36]),
        r"^malformed or truncated WAV header \(libsndfile: .*data",
    ),
    "rate 0 Hz": (lambda p: _patched_wav(p, 24, "<I", 0), r"^malformed or truncated WAV header \(libsndfile: "),
    "0 channels": (lambda p: _patched_wav(p, 22, "<H", 0), r"^malformed or truncated WAV header \(.*[Cc]hannel"),
    # libsndfile reads these as shorter audio without an error; load checks the size.
    "wav data cut": (
        lambda p: _raw(p, "c.wav", _good_wav_bytes(p)[: 44 + 10001]),
        r"^truncated: its data chunk declares 32000 bytes but only 10001 are present$",
    ),
    "wav header only": (
        lambda p: _raw(p, "c.wav", _good_wav_bytes(p)[:44]),
        r"^truncated: its data chunk declares 32000 bytes but only 0 are present$",
    ),
    "flac cut": (lambda p: _truncated(p, "FLAC", 0.5), r"^cannot be decoded \(libsndfile: .*lost sync\)$"),
    "flac header cut": (lambda p: _truncated(p, "FLAC", 0.001), r"^malformed or truncated FLAC header"),
    "ogg cut early": (lambda p: _truncated(p, "OGG", 0.3), r"^malformed or truncated OGG header"),
    # libsndfile finds no final granule in a cut Vorbis stream and reports 0 frames.
    "ogg cut late": (lambda p: _truncated(p, "OGG", 0.95), r"^no audio frames \(an Ogg Vorbis file .*truncated\)$"),
    "nan": (
        lambda p: _with_nonfinite(p, np.nan, "FLOAT"),
        r"^non-finite samples \(NaN or Inf\) in 2 frame\(s\), the first at 0\.050 s$",
    ),
    "inf": (lambda p: _with_nonfinite(p, -np.inf, "DOUBLE"), r"^non-finite samples .* 2 frame\(s\)"),
    "beyond float32": (lambda p: _with_nonfinite(p, 1e300, "DOUBLE"), r"^non-finite samples"),
    "too short for the target rate": (
        lambda p: write(p / "one.wav", np.full(1, 0.5), 48000, subtype="FLOAT"),
        r"^1 frame\(s\) at 48000 Hz give no samples at 16000 Hz$",
    ),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_files_raise_audio_error_with_reason(tmp_path, case):
    make, pattern = BAD_FILES[case]
    path = make(tmp_path)
    with pytest.raises(audio.AudioError) as info:
        audio.load(path)
    err = info.value
    assert not isinstance(err, (RuntimeError, OSError))  # nothing raw leaks
    assert err.path == str(path)
    assert re.search(pattern, err.reason), err.reason
    assert str(err).startswith(f"{path}: {err.reason}")
    if err.fix:
        assert str(err).endswith(err.fix)


@pytest.mark.parametrize("declared", [0xFFFFFFFF, 0x7FFFF000])
def test_streaming_placeholder_sizes_are_not_truncation(tmp_path, declared):
    # Writers that cannot seek back leave "unknown length" in the RIFF and data sizes;
    # libsndfile then reads to the end of the file, and so must load.
    x = tone(440, SR, 1600)
    data = bytearray(write(tmp_path / "a.wav", x, subtype="PCM_16").read_bytes())
    at = data.index(b"data")
    data[4:8] = data[at + 4 : at + 8] = struct.pack("<I", declared)
    path = _raw(tmp_path, "streamed.wav", bytes(data))
    np.testing.assert_allclose(audio.load(path), x, atol=2**-15)


def test_short_decode_is_reported(tmp_path, monkeypatch):
    # libsndfile 1.2.2 either decodes every frame its header counts or fails; soundfile
    # would return a shorter array without an error, so load checks the count.
    path = write(tmp_path / "a.flac", tone(440, SR, 1600), format="FLAC")
    read = sf.SoundFile.read
    monkeypatch.setattr(sf.SoundFile, "read", lambda self, *a, **k: read(self, *a, **k)[:-10])
    with pytest.raises(audio.AudioError, match=r"truncated: decoded 1590 of the 1600 frames in its header\. "):
        audio.load(path)


def test_unreadable_file(tmp_path):
    # Mode 000 in a child process that gives up root's right to ignore permissions, so
    # the kernel refuses the read also when the tests run as root (containers, CI).
    path = write(tmp_path / "locked.wav", tone(440, SR, 1600), subtype="PCM_16")
    expected = audio.load(path)
    path.chmod(0)
    try:
        child = faults.run_python(
            f"""
            import json
            from jaxser import audio
            path = {str(path)!r}
            try:
                open(path, "rb").close()
                denied = False
            except PermissionError:
                denied = True
            try:
                audio.load(path)
                print(json.dumps({{"denied": denied, "error": None}}))
            except audio.AudioError as e:
                print(json.dumps({{"denied": denied, "error": [e.path, e.reason, e.fix, str(e)]}}))
            """,
            drop_root_file_access=True, timeout=120,
        )
    finally:
        path.chmod(0o644)
    assert child.returncode == 0, child.stderr[-4000:]
    report = json.loads(child.stdout.strip().splitlines()[-1])
    assert report["denied"], "the child could still read a mode-000 file: the fault was not in effect"
    assert report["error"] is not None, "audio.load read a file it had no permission to read"
    err_path, reason, fix, message = report["error"]
    assert (err_path, reason) == (str(path), "permission denied")
    assert "chmod" in fix and "permission denied" in message
    np.testing.assert_array_equal(audio.load(path), expected)  # readable again: nothing else was wrong


def test_min_duration(tmp_path):
    path = write(tmp_path / "quarter.wav", tone(440, SR, 4000), subtype="PCM_16")  # 0.25 s
    assert audio.load(path, min_duration=0.25).shape == (4000,)
    with pytest.raises(audio.AudioError, match=r"0\.250 s long, shorter than min_duration=0\.3 s"):
        audio.load(path, min_duration=0.3)
    # The duration is that of the file, not of the resampled clip.
    path48 = write(tmp_path / "q48.wav", tone(440, 48000, 12000), 48000, subtype="PCM_16")
    assert audio.load(path48, min_duration=0.25).shape == (4000,)


@pytest.mark.parametrize("kwargs", [{"sr": 0}, {"sr": -16000}, {"sr": 16000.5}, {"sr": True}, {"min_duration": -1}])
def test_invalid_arguments_raise_value_error(tmp_path, kwargs):
    path = write(tmp_path / "a.wav", tone(440, SR, 160), subtype="PCM_16")
    with pytest.raises(ValueError, match="sr must be|min_duration must be"):
        audio.load(path, **kwargs)


def test_numpy_integer_rate_accepted(tmp_path):
    path = write(tmp_path / "a.wav", tone(440, SR, 160), subtype="PCM_16")
    assert audio.load(path, sr=np.int64(8000)).shape == (80,)


def test_audio_error_pickles_and_formats():
    err = audio.AudioError("x/a.wav", "empty file (0 bytes)", "Re-export it")
    assert str(err) == "x/a.wav: empty file (0 bytes). Re-export it"
    assert str(audio.AudioError("b.wav", "file not found")) == "b.wav: file not found"
    back = pickle.loads(pickle.dumps(err))
    assert (back.path, back.reason, back.fix, str(back)) == (err.path, err.reason, err.fix, str(err))


# --- info ----------------------------------------------------------------------------


def test_info_reads_the_header(tmp_path):
    path = write(tmp_path / "a.flac", np.zeros((44100 // 2, 2)), 44100, subtype="PCM_24")
    meta = audio.info(path)
    assert meta == audio.AudioInfo(str(path), 44100, 2, 22050, "FLAC", "PCM_24")
    assert meta.duration == 0.5


def test_info_does_not_decode_and_still_rejects_non_audio(tmp_path):
    # NaN samples are a decoding-time problem: info describes the file, load rejects it.
    nan = _with_nonfinite(tmp_path, np.nan, "FLOAT")
    assert audio.info(nan).frames == 1600
    with pytest.raises(audio.AudioError, match="not a recognised audio file"):
        audio.info(_raw(tmp_path, "t.wav", b"hello" * 10))


# --- many files ----------------------------------------------------------------------


def test_load_many_keeps_order_and_reports_every_failure(tmp_path):
    good = [write(tmp_path / f"g{i}.wav", tone(200 * (i + 1), SR, 1600 * (i + 1)), subtype="PCM_16") for i in range(3)]
    empty = _raw(tmp_path, "empty.wav", b"")
    text = _raw(tmp_path, "text.wav", b"text " * 40)
    missing = tmp_path / "missing.wav"
    paths = [good[2], empty, good[0], missing, text, str(good[1])]
    clips, failures = audio.load_many(paths)
    assert [p for p, _ in clips] == [good[2], good[0], str(good[1])]  # input order, paths as given
    assert [len(y) for _, y in clips] == [4800, 1600, 3200]
    np.testing.assert_array_equal(clips[1][1], audio.load(good[0]))
    assert [p for p, _ in failures] == [empty, missing, text]
    assert [r.split(" (")[0] for _, r in failures] == ["empty file", "file not found", "not a recognised audio file"]


def test_load_many_forwards_options(tmp_path):
    short = write(tmp_path / "short.wav", tone(440, SR, 800), subtype="PCM_16")
    longer = write(tmp_path / "long.wav", np.zeros((16000, 2)), 32000, subtype="PCM_16")
    clips, failures = audio.load_many([short, longer], sr=8000, min_duration=0.1, mono=False)
    assert [(p, y.shape) for p, y in clips] == [(longer, (2, 4000))]
    assert failures == [(short, "0.050 s long, shorter than min_duration=0.1 s")]


@pytest.fixture
def tree(tmp_path):
    """A folder of good, bad, hidden and non-audio files, nested two levels deep."""
    root = tmp_path / "corpus"
    (root / "b" / "deep").mkdir(parents=True)
    (root / "a").mkdir()
    (root / ".cache").mkdir()
    x = tone(440, SR, 1600)
    write(root / "z.wav", x, subtype="PCM_16")
    write(root / "a" / "1.flac", x, format="FLAC")
    write(root / "a" / "2.OGG", x, format="OGG")
    write(root / "b" / "deep" / "3.WAV", x, 44100, subtype="PCM_24")
    write(root / ".cache" / "hidden.wav", x)
    _raw(root, "._z.wav", b"\x00\x05\x16\x07 macOS resource fork")
    _raw(root, "notes.txt", b"not audio")
    _raw(root, "meta.json", b"{}")
    _raw(root, "README", b"read me")
    _raw(root, ".DS_Store", b"\x00\x00\x00\x01Bud1")
    _raw(root / "b", "broken.wav", b"RIFF....WAVEjunk")
    _raw(root / "a", "empty.flac", b"")
    write(root / "b" / "clip.aiff", x, format="AIFF")
    write(root / "a" / "4.mp3", x, format="MP3")
    _raw(root, "voice.m4a", M4A)
    return root


def test_load_folder_recursive(tree):
    clips, failures = audio.load_folder(tree)
    assert [p.relative_to(tree).as_posix() for p, _ in clips] == [
        "a/1.flac", "a/2.OGG", "a/4.mp3", "b/clip.aiff", "b/deep/3.WAV", "z.wav"
    ]  # fmt: skip
    assert all(y.dtype == np.float32 and y.ndim == 1 for _, y in clips)
    assert [len(y) for _, y in clips] == [1600, 1600, 1600, 1600, round(1600 * SR / 44100), 1600]
    # Unsupported formats are reported with the unreadable files; text files are not listed.
    assert [(p.relative_to(tree).as_posix(), r.split(" (")[0]) for p, r in failures] == [
        ("a/empty.flac", "empty file"),
        ("b/broken.wav", "malformed or truncated WAV header"),
        ("voice.m4a", "unsupported audio format: MPEG-4 audio"),
    ]


def test_load_folder_options_and_errors(tree):
    clips, failures = audio.load_folder(tree, recursive=False)
    assert [p.name for p, _ in clips] == ["z.wav"]
    assert [(p.name, r.split(",")[0]) for p, r in failures] == [
        ("voice.m4a", "unsupported audio format: MPEG-4 audio (AAC or ALAC)")
    ]
    clips, failures = audio.load_folder(tree, extensions="aiff", sr=8000)  # a bare string, no dot
    assert [(p.name, y.shape) for p, y in clips] == [("clip.aiff", (800,))]
    assert audio.list_files(tree, extensions=[".txt"]) == [tree / "notes.txt"]
    with pytest.raises(FileNotFoundError, match="folder not found"):
        audio.load_folder(tree / "nope")
    with pytest.raises(NotADirectoryError, match="use jaxser.audio.load"):
        audio.load_folder(tree / "z.wav")
    with pytest.raises(ValueError, match="extensions is empty"):
        audio.list_files(tree, extensions=())


def test_list_files_keeps_links_to_files_but_does_not_follow_folder_links(tree):
    os.symlink(tree / "z.wav", tree / "link.wav")
    os.symlink(tree / "a", tree / "b" / "loop")
    assert [p.relative_to(tree).as_posix() for p in audio.list_files(tree)] == [
        "a/1.flac",
        "a/2.OGG",
        "a/4.mp3",
        "a/empty.flac",
        "b/broken.wav",
        "b/clip.aiff",
        "b/deep/3.WAV",
        "link.wav",
        "voice.m4a",
        "z.wav",
    ]


# --- formats: what the installed libsndfile reads, and what it does not -------------------


def test_readable_extensions_are_the_formats_libsndfile_reports(monkeypatch):
    assert {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".caf"} <= set(audio.READABLE_EXTENSIONS)
    assert {".m4a", ".aac", ".webm", ".wma", ".amr"} <= set(audio.UNSUPPORTED_EXTENSIONS)
    assert not set(audio.READABLE_EXTENSIONS) & set(audio.UNSUPPORTED_EXTENSIONS)
    assert audio.DEFAULT_EXTENSIONS == audio.READABLE_EXTENSIONS + audio.UNSUPPORTED_EXTENSIONS
    assert all(e.startswith(".") and e == e.lower() for e in audio.DEFAULT_EXTENSIONS)
    assert len(set(audio.DEFAULT_EXTENSIONS)) == len(audio.DEFAULT_EXTENSIONS)
    assert ".mat" not in audio.DEFAULT_EXTENSIONS and ".txt" not in audio.DEFAULT_EXTENSIONS
    # A libsndfile without MPEG or Opus decoding lists no .mp3 or .opus (they become unsupported).
    formats, subtypes = sf.available_formats(), sf.available_subtypes
    monkeypatch.setattr(sf, "available_formats", lambda: {k: v for k, v in formats.items() if k != "MP3"})
    monkeypatch.setattr(sf, "available_subtypes", lambda f=None: {k: v for k, v in subtypes(f).items() if k != "OPUS"})
    readable = audio._readable_extensions()
    assert ".ogg" in readable and not {".mp3", ".mp2", ".opus"} & set(readable)


def test_every_listed_extension_is_read(tmp_path):
    # One file per extension, written by libsndfile in that format: all of them list and load.
    x = speechlike(0.5)
    written = {}
    for fmt, codec, extensions in audio._FORMAT_EXTENSIONS:
        if fmt not in sf.available_formats():
            continue
        subtypes = sf.available_subtypes(fmt)
        subtype = codec or ("PCM_16" if "PCM_16" in subtypes else next(iter(subtypes)))
        for ext in extensions:
            path = tmp_path / f"{fmt}_{subtype}{ext}"
            try:
                written[ext] = write(path, x, format=fmt, subtype=subtype)
            except sf.LibsndfileError:
                assert ext == ".mp2"  # libsndfile decodes MPEG layer II but cannot encode it
                path.unlink()  # the empty file the failed write left
    assert set(written) == set(audio.READABLE_EXTENSIONS) - {".mp2"}
    clips, failures = audio.load_folder(tmp_path)
    assert failures == []
    assert sorted(p.suffix for p, _ in clips) == sorted(written)
    for path, y in clips:
        meta = audio.info(path)
        assert len(y) == round(meta.frames * SR / meta.sample_rate), path.name
        if meta.format == "WVE":  # Psion's format is 8 kHz: the same samples, played at half speed
            assert meta.sample_rate == 8000 and meta.frames == len(x)
            continue
        assert meta.sample_rate == SR and abs(len(y) - len(x)) <= 1, path.name  # VOC adds a frame
        assert np.corrcoef(y[: len(x)], x[: len(y)])[0, 1] > 0.99, path.name


@pytest.mark.parametrize("fmt,subtype", [("WAV", "GSM610"), ("AU", "G721_32"), ("WAV", "NMS_ADPCM_16")])
def test_encodings_libsndfile_cannot_seek_in_are_read(tmp_path, fmt, subtype):
    # libsndfile calls these unseekable, and soundfile then wants every read's frame count
    # (a bare read raised soundfile's ValueError). Lossy telephony codecs: GSM gives 0.987.
    x = speechlike(1.0)
    path = write(tmp_path / "a.wav", x, format=fmt, subtype=subtype)
    y = audio.load(path)
    assert len(y) == audio.info(path).frames and np.corrcoef(y[: len(x)], x[: len(y)])[0, 1] > 0.98
    np.testing.assert_array_equal(np.concatenate(list(audio.stream(path, block_frames=999))), y)


# --- MP3 -----------------------------------------------------------------------------


@pytest.mark.parametrize("rate,channels", [(16000, 1), (8000, 1), (44100, 2), (48000, 2)])
def test_mp3_reads_close_to_the_source(tmp_path, rate, channels):
    x = speechlike(1.5, rate, channels)
    path = write(tmp_path / "a.mp3", x, rate, format="MP3")
    meta = audio.info(path)
    assert (meta.format, meta.subtype, meta.sample_rate, meta.channels) == ("MP3", "MPEG_LAYER_III", rate, channels)
    assert meta.frames == len(x)  # LAME's Xing/Info frame gives the length; its delay and padding are removed
    y = audio.load(path)
    source = x if channels == 1 else x.mean(axis=1)
    if rate != SR:
        source = soxr.resample(source, rate, SR, quality=audio.RESAMPLE_QUALITY)
    assert y.dtype == np.float32 and len(y) == len(source)
    # Lossy: the same signal, in time (no lag) and at the same level, not the same samples.
    assert np.corrcoef(y, source)[0, 1] > 0.99
    assert np.sqrt(np.mean(y**2)) == pytest.approx(np.sqrt(np.mean(source**2)), rel=0.05)


def test_mp3_stream_equals_load_in_any_block_size(tmp_path):
    # soundfile seeks after every read and libsndfile's MP3 seeks land off target: read
    # that way, blocks after the first came out garbled. jaxser reads without seeking.
    x = speechlike(3.0, 44100, channels=2)
    path = write(tmp_path / "a.mp3", x, 44100, format="MP3")
    for sr in (44100, 16000):
        whole = audio.load(path, sr)
        for block in (1000, 1152, 4099, audio.STREAM_BLOCK_FRAMES):
            streamed = np.concatenate(list(audio.stream(path, sr, block_frames=block)))
            np.testing.assert_array_equal(streamed, whole)
    decoded, _ = sf.read(path, dtype="float32")  # soundfile in one read, for the reference
    np.testing.assert_allclose(audio.load(path, 44100), decoded.mean(axis=1), rtol=0, atol=1e-6)
    assert np.corrcoef(audio.load(path, 44100), x.mean(axis=1))[0, 1] > 0.99


def _no_xing(padding: int, tail: bytes = b"") -> tuple[bytes, int]:
    """A 1-second MP3 without its Xing/Info frame (after an ID3 tag of ``padding``
    bytes, if any) and the frames its MPEG frames decode to."""
    frames = mpeg_frames(mp3_bytes(speechlike(1.0)))[1:]
    head = id3v2("t", padding) if padding else b""
    return head + b"".join(frames) + tail, len(frames) * 576


@pytest.mark.parametrize(
    "tail", [b"", b"TAG" + bytes(125), b"APETAGEX" + bytes(24), bytes(700)], ids=["none", "id3v1", "ape", "zeros"]
)
def test_mp3_without_length_header_is_read_in_full_when_libsndfile_overestimates(tmp_path, tail):
    data, frames = _no_xing(40000, tail)
    path = _raw(tmp_path, "a.mp3", data)
    assert sf.info(path).frames > frames  # libsndfile's estimate, from the file size
    assert audio.info(path).frames == frames
    y = audio.load(path)
    assert len(y) == frames
    np.testing.assert_array_equal(np.concatenate(list(audio.stream(path, block_frames=1000))), y)


MP3_BAD = {
    # libsndfile estimates short and would stop there: reported, not read as a shorter clip.
    "no length header, short estimate": (
        lambda: _no_xing(0)[0],
        r"^MP3 without a Xing/Info length header: libsndfile estimates \d+ frames and would decode only those "
        r"of its 17280$",
    ),
    "joined": (
        lambda: mp3_bytes(speechlike(1.0)) + b"".join(mpeg_frames(mp3_bytes(speechlike(0.5)))[1:]),
        r"^its Xing/Info header counts 16000 frames but its MPEG frames hold 2\d+ \(a joined or edited file\?\)",
    ),
    "cut in a frame": (lambda: mp3_bytes(speechlike(1.0))[:2000], r"^truncated: the file ends inside an MPEG frame"),
    "cut between frames": (
        lambda: b"".join(mpeg_frames(mp3_bytes(speechlike(1.0)))[:10]),
        r"^truncated: its Xing/Info header counts 16000 frames but its MPEG frames hold 5184$",
    ),
    "zeros inside": (
        lambda: (lambda f: b"".join(f[:10]) + bytes(500) + b"".join(f[10:]))(mpeg_frames(mp3_bytes(speechlike(1.0)))),
        r"^damaged: no MPEG frame at byte \d+ of \d+, where the frames stop$",
    ),
    "header only": (lambda: mpeg_frames(mp3_bytes(speechlike(1.0)))[0], r"^malformed or truncated MP3 header"),
    "tag only": (lambda: id3v2("nothing else"), r"^not a recognised audio file"),
    "garbage": (lambda: np.random.default_rng(0).bytes(3000), r"^not a recognised audio file"),
}


@pytest.mark.parametrize("case", list(MP3_BAD))
def test_damaged_mp3_is_reported(tmp_path, case):
    make, pattern = MP3_BAD[case]
    path = _raw(tmp_path, "bad.mp3", make())
    with pytest.raises(audio.AudioError) as err:
        list(audio.stream(path, block_frames=1000))
    assert re.search(pattern, err.value.reason), err.value.reason
    with pytest.raises(audio.AudioError) as whole:
        audio.load(path)
    assert whole.value.reason == err.value.reason


def test_mp3_cut_in_its_last_frame_is_reported_when_decoding(tmp_path):
    # The frames before the cut hold the length in the header (LAME's padding is
    # dropped anyway), so the header passes; the decoder then runs short.
    path = _raw(tmp_path, "a.mp3", mp3_bytes(speechlike(1.0))[:-20])
    assert audio.info(path).frames == SR
    for read in (audio.load, lambda p: list(audio.stream(p, block_frames=1000))):
        with pytest.raises(audio.AudioError, match=r"^.*: truncated: decoded \d+ of the 16000 frames in its header"):
            read(path)


# --- formats libsndfile does not read --------------------------------------------------

_OGG_SPEEX = b"OggS\x00\x02" + bytes(20) + b"\x01\x50" + b"Speex   1.2" + bytes(69)

# file name, content, what the reason names; content wins over the name.
UNSUPPORTED = {
    "m4a": ("a.m4a", M4A, "MPEG-4 audio (AAC or ALAC)"),
    "m4a named .wav": ("a.wav", M4A, "MPEG-4 audio (AAC or ALAC)"),
    "webm": ("a.webm", WEBM, "Matroska/WebM audio"),
    "wma": ("a.wma", b"\x30\x26\xb2\x75\x8e\x66\xcf\x11" + bytes(500), "Windows Media Audio (ASF)"),
    "amr": ("a.amr", b"#!AMR\n" + bytes(500), "AMR speech"),
    "aac": ("a.aac", ADTS, "AAC audio (ADTS)"),
    "aac after an id3 tag": ("a.aac", id3v2("t") + ADTS, "AAC audio (ADTS)"),
    "ogg speex": ("a.spx", _OGG_SPEEX, "Ogg Speex"),
    "m4a by its name": ("b.M4A", b"\x00\x01opaque" * 50, "MPEG-4 audio (AAC or ALAC) (by its .m4a name)"),
    "wma by its name": ("b.wma", b"\x00\x01opaque" * 50, "Windows Media Audio (by its .wma name)"),
}


@pytest.mark.parametrize("case", list(UNSUPPORTED))
def test_unsupported_formats_are_reported_by_name_and_reason(tmp_path, case):
    name, data, what = UNSUPPORTED[case]
    path = _raw(tmp_path, name, data)
    for read in (audio.load, audio.info, lambda p: list(audio.stream(p))):
        with pytest.raises(audio.AudioError) as err:
            read(path)
        assert err.value.path == str(path)
        version = sf.__libsndfile_version__
        assert err.value.reason == f"unsupported audio format: {what}, which libsndfile {version} cannot read"
        assert "ffmpeg" in err.value.fix
    if name != "a.wav":
        assert audio.list_files(tmp_path) == [path]  # listed, so that a folder scan reports it


def test_content_wins_over_an_unsupported_name(tmp_path):
    x = tone(440, SR, 1600)
    path = write(tmp_path / "really_a_wav.m4a", x, format="WAV", subtype="FLOAT")
    np.testing.assert_array_equal(audio.load(path), x.astype(np.float32))
    path = write(tmp_path / "really_an_mp3.wav", x, format="MP3")
    assert audio.info(path).format == "MP3" and len(audio.load(path)) == 1600
