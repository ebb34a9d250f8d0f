"""Every kind of bad or odd audio file (bad_audio.py) through the audio reader and ``jaxser predict``.

Each component must give the audio of every readable file, report every bad one with
its reason, never raise anything but its documented error, and never hang. Predicting
a 10-minute file must take no more memory than a 1-minute one.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest
import soundfile as sf
import soxr

from jaxser import Predictor, audio, cli
from tests.conftest import train_tiny_run

from .bad_audio import SR, check_outcomes, kinds, long_signal, make_bad_audio, speechlike

KIND_NAMES = [kind.name for kind in kinds()]
REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    """One file of every kind (the long one 10 minutes) in one folder."""
    return {case.name: case for case in make_bad_audio(tmp_path_factory.mktemp("bad_audio"))}


@pytest.fixture(scope="module")
def folder(cases):
    return next(iter(cases.values())).path.parent


def test_the_corpus_covers_every_kind_the_issue_lists(cases):
    assert len(cases) >= 20
    issue = {
        "empty", "header_only", "truncated_data", "silence", "dc_only", "clipped", "nan", "inf", "pcm_u8", "pcm_24",
        "pcm_32", "float64", "stereo", "six_channel", "rate_8k", "rate_96k", "short_50ms", "long", "flac_named_wav",
        "not_audio", "unreadable", "non_utf8_name",
    }  # fmt: skip
    mp3_issue = {
        "mp3", "mp3_stereo_44k", "mp3_truncated", "mp3_garbage", "mp3_damaged", "m4a", "aac", "webm", "text_file",
    }  # fmt: skip
    assert issue | mp3_issue <= set(cases)
    assert cases["long"].frames == 600 * SR
    assert {c.readable for c in cases.values()} == {True, False}


# --- the reader ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,source", [("mp3", speechlike(1.0)), ("mp3_id3_tag", speechlike(1.0)), ("mp3_stereo_44k", None)]
)
def test_mp3_gives_its_source_signal(cases, name, source):
    # Lossy coding: compare the length, the level and the waveform's shape, not samples.
    if source is None:
        source = soxr.resample(speechlike(1.0, 44100, channels=2).mean(axis=1), 44100, SR, quality="HQ")
    y = audio.load(cases[name].path)
    assert len(y) == len(source) == SR
    assert np.corrcoef(y, source)[0, 1] > 0.99
    assert np.sqrt(np.mean(y**2)) == pytest.approx(np.sqrt(np.mean(source**2)), rel=0.05)


def test_mp3_without_length_header_is_the_source_after_the_encoder_delay(cases):
    # Without LAME's header nothing tells the decoder the encoder's delay and padding:
    # the clip is longer than the source by both, and the source starts after the delay.
    y, source = audio.load(cases["mp3_no_length_header"].path), speechlike(1.0)
    delay = int(np.argmax([np.dot(y[lag : lag + SR // 2], source[: SR // 2]) for lag in range(2 * 576)]))
    assert len(y) == cases["mp3_no_length_header"].frames > SR and 529 <= delay <= 2 * 576
    assert np.corrcoef(y[delay : delay + SR], source[: len(y) - delay])[0, 1] > 0.99


@pytest.mark.parametrize("name", KIND_NAMES)
def test_load(cases, name):
    case = cases[name]
    if case.readable:
        y = audio.load(case.path)
        assert y.dtype == np.float32 and y.ndim == 1 and len(y) == case.samples()
        assert np.isfinite(y).all()
    else:
        with pytest.raises(audio.AudioError) as info:
            audio.load(case.path)
        assert info.value.path == os.fspath(case.path) and case.reason in info.value.reason
        assert str(info.value).startswith(f"{case.path}: ")


@pytest.mark.parametrize("name", KIND_NAMES)
def test_info(cases, name):
    case = cases[name]
    if case.readable:
        meta = audio.info(case.path)
        assert (meta.sample_rate, meta.frames, meta.channels) == (case.rate, case.frames, case.channels)
    elif case.header_ok:  # the problem is in the samples: info describes the file, load rejects it
        assert audio.info(case.path).sample_rate == SR
    else:
        with pytest.raises(audio.AudioError) as info:
            audio.info(case.path)
        assert case.reason in info.value.reason


@pytest.mark.parametrize("name", KIND_NAMES)
def test_stream_gives_what_load_gives(cases, name):
    case = cases[name]
    if case.readable:
        expected = audio.load(case.path)
        for block_frames in (4099, audio.STREAM_BLOCK_FRAMES):  # a size that splits windows and resampler input
            blocks = list(audio.stream(case.path, block_frames=block_frames))
            assert all(b.dtype == np.float32 and b.ndim == 1 and len(b) for b in blocks)
            np.testing.assert_array_equal(np.concatenate(blocks), expected)
    else:
        with pytest.raises(audio.AudioError) as info:
            list(audio.stream(case.path, block_frames=1000))
        with pytest.raises(audio.AudioError) as whole:
            audio.load(case.path)
        assert info.value.reason == whole.value.reason  # NaN counts too, found block by block


def test_stream_checks_its_arguments_at_the_call_and_short_decodes(cases, monkeypatch):
    for bad in ({"sr": 0}, {"block_frames": 0}, {"min_duration": -1.0}):
        with pytest.raises(ValueError):
            audio.stream(cases["plain"].path, **bad)  # before any iteration
    # libsndfile decodes every frame its header counts or fails; a short read must not
    # pass as a shorter file.
    read = sf.SoundFile.read
    monkeypatch.setattr(sf.SoundFile, "read", lambda self, n=-1, **k: read(self, n, **k)[: max(0, n - 3)])
    with pytest.raises(audio.AudioError, match=r"truncated: decoded 997 of the 16000 frames"):
        list(audio.stream(cases["plain"].path, block_frames=1000))


def test_permission_denied_is_reported(cases, monkeypatch):
    # As root (many containers) mode 000 does not stop reads, so the "unreadable" case
    # may be a self-link instead; the permission branch is exercised here regardless.
    def denied(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", os.fspath(path))

    monkeypatch.setattr(audio, "open", denied, raising=False)  # the reader's own open()
    path = cases["plain"].path
    for read in (audio.load, audio.info, lambda p: list(audio.stream(p))):
        with pytest.raises(audio.AudioError, match="permission denied") as info:
            read(path)
        assert "chmod" in info.value.fix


def test_load_many_load_folder_and_list_files(cases, folder):
    everything = list(cases.values())
    clips, failures = audio.load_many([c.path for c in everything])
    check_outcomes(everything, [p for p, _ in clips], failures)
    listed = audio.list_files(folder)
    assert sorted(map(str, listed)) == sorted(str(c.path) for c in everything if c.listed)
    clips, failures = audio.load_folder(folder)
    check_outcomes(everything, [p for p, _ in clips], failures, listing=True)


# --- predict -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, tfds_dir, tiny_corpus):
    """A trained tiny run (1 epoch) for Predictor and ``jaxser predict``."""
    return train_tiny_run(tmp_path_factory.mktemp("run"), tfds_dir, tiny_corpus, epochs=1)


@pytest.fixture(scope="module")
def predictor(run_dir):
    return Predictor.from_checkpoint(run_dir)


def _check_prediction(prediction, case, predictor):
    assert prediction.seconds == pytest.approx(case.samples() / SR)
    if prediction.seconds < predictor.min_seconds:  # 50 ms, one frame: too short to judge, not labelled
        assert (prediction.status, prediction.label, prediction.probabilities) == ("too_short", None, {}), case.name
        return
    assert prediction.status == "ok", case.name
    assert set(prediction.probabilities) == set(predictor.class_names)
    values = np.array(list(prediction.probabilities.values()))
    assert np.isfinite(values).all() and values.sum() == pytest.approx(1.0, abs=1e-5), case.name
    assert prediction.label == max(prediction.probabilities, key=prediction.probabilities.get)


def test_predictor_predicts_every_good_file_and_reports_every_bad_one(cases, predictor):
    everything = list(cases.values())
    predictions, failures = predictor.predict_files([c.path for c in everything])
    check_outcomes(everything, [p.source for p in predictions], failures)
    by_source = {p.source: p for p in predictions}
    for case in everything:
        if case.readable:
            _check_prediction(by_source[os.fspath(case.path)], case, predictor)
    # predict() raises the reader's error for a bad file (jaxser predict skips those).
    with pytest.raises(audio.AudioError, match="non-finite samples"):
        predictor.predict([cases["plain"].path, cases["nan"].path])


def _skipped(stderr: str, cases) -> list[tuple[str, str]]:
    """``(path, reason)`` of every "skipped" line of ``jaxser predict``, paths as the cases hold them."""
    shown = {cli._printable(c.path, sys.stderr): os.fspath(c.path) for c in cases}
    out = []
    for line in stderr.splitlines():
        if line.startswith("jaxser predict: skipped "):
            path, reason = line[len("jaxser predict: skipped ") :].split(": ", 1)
            out.append((shown.get(path, path), reason))
    return out


@pytest.mark.usefixtures("tiny_model")
def test_predict_command_on_a_folder_of_every_kind(cases, folder, run_dir, capsys):
    everything = list(cases.values())
    assert cli.main(["predict", "--checkpoint", str(run_dir), str(folder), "--format", "json"]) == 0
    captured = capsys.readouterr()
    predictions = json.loads(captured.out)
    predicted = [p["file"] for p in predictions if p["status"] != "unreadable"]  # those are the skipped ones
    check_outcomes(everything, predicted, _skipped(captured.err, everything), listing=True)
    assert "Traceback" not in captured.err


@pytest.mark.usefixtures("tiny_model")
def test_predict_command_on_named_files_in_every_format(cases, run_dir, capsys, tmp_path):
    # Everything but the long file (the folder test has it); named one by one, the
    # folder-named-like-audio is scanned as a folder and reported as holding no audio.
    named = [c for c in cases.values() if c.name != "long"]
    argv = ["predict", "--checkpoint", str(run_dir), *[os.fspath(c.path) for c in named]]
    for fmt in ("table", "csv", "json"):
        assert cli.main([*argv, "--format", fmt]) == 0
        captured = capsys.readouterr()
        if fmt != "json":
            assert "caf\\xe9-latin1.wav" in captured.out and "\\xff\\xfe-bad.wav" in captured.err
        skipped = _skipped(captured.err, named)
        if fmt == "json":
            done = [p["file"] for p in json.loads(captured.out) if p["status"] != "unreadable"]
        else:  # the table and csv show a non-UTF-8 name with \xNN escapes; map them back
            shown = {cli._printable(c.path, sys.stdout): os.fspath(c.path) for c in named}
            rows = [r for r in captured.out.splitlines()[1:] if not r.endswith(",unreadable")]  # csv lists them
            done = [shown[row.split(",")[0] if fmt == "csv" else row.split("  ")[0].rstrip()] for row in rows]
        check_outcomes(named, done, skipped, reasons={"directory": "folder holds no"})
    # Nothing readable: exit status 1, and every file still reported.
    bad = [c for c in cases.values() if not c.readable and c.listed]
    assert cli.main(["predict", "--checkpoint", str(run_dir), *[os.fspath(c.path) for c in bad]]) == 1
    captured = capsys.readouterr()
    check_outcomes(bad, [], _skipped(captured.err, bad))
    assert "no input could be read" in captured.err


def test_chunked_prediction_equals_all_windows_at_once(predictor, tmp_path):
    # A 9.3 s stereo 48 kHz file: streamed, resampled and windowed block by block, it must
    # give what the whole clip gives with all its windows in one batch (the old way).
    path = tmp_path / "stereo48k.wav"
    sf.write(path, speechlike(9.3, 48000, channels=2), 48000, subtype="PCM_24")
    clip = audio.load(path, sr=predictor.sample_rate)
    frames, valid = predictor.windows(clip)
    at_once = np.asarray(predictor._fn(predictor.variables, audio=frames, lengths=valid)).mean(axis=0)
    (streamed,) = predictor.predict([path])
    assert streamed.windows == len(frames)
    np.testing.assert_allclose(list(streamed.probabilities.values()), at_once, rtol=0, atol=1e-5)
    assert streamed.probabilities == predictor.predict_arrays([clip])[0].probabilities


@pytest.mark.parametrize("seconds", [0.00006, 0.5, 2.0, 2.00006, 3.0, 9.3])
def test_stream_windows_match_windows(predictor, seconds):
    clip = speechlike(seconds).astype(np.float32)
    frames, valid = predictor.windows(clip)
    for size in (len(clip), 1, 777, predictor.hop, predictor.window + 1):
        blocks = [clip[i : i + size] for i in range(0, len(clip), size)]
        got = list(predictor.stream_windows(blocks))
        assert [s for s, _, _ in got] == [predictor.hop * i for i in range(len(frames))]
        assert [v for _, _, v in got] == valid.tolist()
        for (_, samples, _), frame in zip(got, frames):
            np.testing.assert_array_equal(samples, frame[: len(samples)])
            assert not frame[len(samples) :].any()  # the rest is the zero padding


@pytest.mark.parametrize("seconds", [0.00006, 0.5, 2.0, 2.00006, 3.0, 9.3])
def test_windows_are_the_evaluation_pipelines_chunks(predictor, seconds):
    # Predictor.windows (NumPy, for users' files) restates the tf.data chunking that
    # `jaxser evaluate` and cv use: the same windows and valid lengths, sample for sample.
    import tensorflow as tf

    from jaxser.data import pipeline

    clip = speechlike(seconds).astype(np.float32)
    frames, valid = predictor.windows(clip)
    chunks = pipeline._chunk_example(tf.constant(0), {"audio": tf.constant(clip)}, predictor.window, predictor.hop)
    np.testing.assert_array_equal(frames, chunks["audio"].numpy())
    np.testing.assert_array_equal(valid, chunks["length"].numpy())


def test_predicting_a_long_file_takes_no_more_memory_than_a_short_one(cases, predictor, tmp_path):
    # tracemalloc counts numpy's buffers: the decoded blocks, windows and batches.
    one_minute = tmp_path / "one_minute.wav"
    sf.write(one_minute, long_signal(60.0), SR, subtype="PCM_16")
    predictor.predict_files([one_minute])  # compiled already; this only settles caches
    peaks = {}
    for name, path in (("1 min", one_minute), ("10 min", cases["long"].path)):
        tracemalloc.start()
        try:
            (prediction,), _ = predictor.predict_files([path])
            peaks[name] = tracemalloc.get_traced_memory()[1] / 2**20
        finally:
            tracemalloc.stop()
        assert prediction.windows == round(prediction.seconds) - 1  # 2 s windows every 1 s
    # Measured: ~3 MB for both (a batch of 16 windows plus one decoded block). Holding
    # the 10-minute clip alone takes 37 MB; all its windows at once took 146 MB.
    assert peaks["10 min"] < 8 and peaks["10 min"] < peaks["1 min"] + 1, peaks


@pytest.mark.slow  # ~20 s: a fresh process imports TF and JAX and compiles
def test_predict_command_in_a_process_is_bounded_and_never_hangs(cases, folder, run_dir, tmp_path):
    one_minute = tmp_path / "one_minute.wav"
    sf.write(one_minute, long_signal(60.0), SR, subtype="PCM_16")
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2", "JAXSER_COMPILE_CACHE": ""}
    command = [sys.executable, "-m", "tests.reliability.predict_memory", str(run_dir), str(one_minute), str(folder)]
    done = subprocess.run(command, capture_output=True, timeout=300, cwd=REPO, env=env)  # a hang fails here
    stderr = done.stderr.decode("utf-8", "surrogateescape")
    assert done.returncode == 0, stderr[-3000:]
    assert "Traceback" not in stderr
    everything = list(cases.values())
    rows = done.stdout.decode("utf-8").splitlines()  # valid UTF-8 even with a non-UTF-8 file name
    shown = {cli._printable(c.path, sys.stdout): os.fspath(c.path) for c in everything}
    predicted = [shown[row.split("  ")[0].rstrip()] for row in rows[1:]]
    check_outcomes(everything, predicted, _skipped(stderr, everything), listing=True)
    memory = json.loads(stderr.strip().splitlines()[-1])
    # The whole folder, the 10-minute file included, on top of a 1-minute warm-up:
    # measured +5 to +20 MB (a second checkpoint restore and compilation). The 10-minute
    # clip alone is 37 MB as float32; predicting it all at once added ~180 MB.
    assert memory["peak_mb"] - memory["warm_mb"] < 30, memory
