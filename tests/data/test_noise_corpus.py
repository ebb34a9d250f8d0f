"""jaxser.data.noise: the noise folder as a corpus of types, split by type, as a bank."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import soundfile as sf

from jaxser.data import noise as noise_lib
from jaxser.data.noise import NoiseCorpus, NoiseCorpusError

SR = 16000


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    for name, seconds in [("white_noise", 0.5), ("running_tap", 0.25), ("hum", 0.3), ("babble", 0.2)]:
        sf.write(tmp_path / f"{name}.wav", 0.1 * rng.standard_normal(int(seconds * SR)), SR, subtype="PCM_16")
    sf.write(tmp_path / "fan.flac", 0.1 * rng.standard_normal((4000, 2)), 8000)  # stereo 8 kHz
    (tmp_path / "README.md").write_text("not audio, not read")
    (tmp_path / "sub").mkdir()
    sf.write(tmp_path / "sub" / "nested.wav", np.zeros(100), SR)  # subfolders are not read
    return tmp_path


def test_load_names_tracks_and_resampling(folder):
    corpus = NoiseCorpus.load(folder)
    assert corpus.names == ("babble", "fan", "hum", "running_tap", "white_noise")
    assert corpus.folder == folder and corpus.failures == ()
    assert all(t.dtype == np.float32 and t.ndim == 1 for t in corpus.tracks)
    assert corpus.lengths.tolist() == [3200, 8000, 4800, 4000, 8000]  # fan: 0.5 s at 8 kHz -> 16 kHz mono
    assert corpus.seconds == pytest.approx(28000 / SR)
    np.testing.assert_array_equal(corpus.tracks[3], sf.read(folder / "running_tap.wav", dtype="float32")[0])


def test_bad_file_reported_and_skipped(folder, caplog):
    (folder / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    with caplog.at_level(logging.WARNING, logger="jaxser.data.noise"):
        corpus = NoiseCorpus.load(folder)
    assert "broken" not in corpus.names and len(corpus) == 5
    assert [(p.name, "header" in reason) for p, reason in corpus.failures] == [("broken.wav", True)]
    assert "skipped 1 of 6" in caplog.text and "broken.wav" in caplog.text


def test_missing_empty_unreadable_and_clashing_folders(tmp_path, monkeypatch):
    with pytest.raises(NoiseCorpusError, match="noise folder not found") as err:
        NoiseCorpus.load(tmp_path / "nope")
    assert str(tmp_path / "nope") in str(err.value) and "JAXSER_DATA" in str(err.value)
    with pytest.raises(NoiseCorpusError, match="no noise files") as err:
        NoiseCorpus.load(tmp_path)
    assert str(tmp_path) in str(err.value) and err.value.fix
    (tmp_path / "bad.wav").write_text("not audio")
    with pytest.raises(NoiseCorpusError, match="none of the 1 noise files"):
        NoiseCorpus.load(tmp_path)
    sf.write(tmp_path / "bad.flac", np.zeros(100), SR)
    with pytest.raises(NoiseCorpusError, match="two files for noise type 'bad'"):
        NoiseCorpus.load(tmp_path)
    monkeypatch.delenv("JAXSER_DATA", raising=False)
    with pytest.raises(NoiseCorpusError, match="JAXSER_DATA is not set"):
        NoiseCorpus.load()
    monkeypatch.setenv("JAXSER_DATA", str(tmp_path))
    assert noise_lib.default_folder() == tmp_path / "noise"
    with pytest.raises(NoiseCorpusError, match="not found"):
        NoiseCorpus.load()


def test_split_by_type(folder):
    corpus = NoiseCorpus.load(folder)
    train, test = corpus.split()
    assert test.names == ("running_tap", "white_noise")
    assert train.names == ("babble", "fan", "hum")
    assert test.tracks[0] is corpus.tracks[3]
    train, test = corpus.split(["hum"])
    assert test.names == ("hum",) and "hum" not in train.names
    drawn = [corpus.split(None, num_test=2, seed=s) for s in (0, 0, 1, 2, 3)]
    assert drawn[0][1].names == drawn[1][1].names
    assert len({d[1].names for d in drawn}) > 1
    for train, test in drawn:
        assert len(test) == 2 and not set(train.names) & set(test.names)
        assert set(train.names) | set(test.names) == set(corpus.names)
    with pytest.raises(ValueError, match="unknown noise type"):
        corpus.split(["traffic"])
    with pytest.raises(ValueError, match="both sides"):
        corpus.split(list(corpus.names))
    with pytest.raises(ValueError, match="num_test"):
        corpus.split(None, num_test=5)


def test_bank_concatenates_tracks(folder):
    corpus = NoiseCorpus.load(folder)
    bank = corpus.bank()
    assert bank.audio.dtype == np.float32 and bank.starts.dtype == bank.lengths.dtype == np.int32
    assert len(bank.audio) == corpus.lengths.sum()
    for track, start, length in zip(corpus.tracks, bank.starts, bank.lengths):
        np.testing.assert_array_equal(bank.audio[start : start + length], track)
    audio, starts, lengths = bank  # a plain (audio, starts, lengths) tuple too
    assert starts[0] == 0 and np.all(starts[1:] == np.cumsum(lengths)[:-1])


@pytest.mark.realdata
def test_real_noise_folder(noise_dir):
    corpus = NoiseCorpus.load(noise_dir)
    assert set(corpus.names) == {
        "doing_the_dishes", "dude_miaowing", "exercise_bike", "running_tap", "pink_noise", "white_noise"
    }
    assert corpus.failures == ()
    assert all(60 <= len(t) / SR <= 96 for t in corpus.tracks)
    train, test = corpus.split()
    assert set(test.names) == {"running_tap", "white_noise"}
    assert not set(train.names) & set(test.names) and len(train) == 4
    bank = corpus.bank()
    assert len(bank.audio) == int(corpus.lengths.sum()) == int(bank.lengths.sum())
    assert np.isfinite(bank.audio).all() and np.abs(bank.audio).max() <= 1.0
