"""jaxser.data.noise with the formats of jaxser.audio: MP3 noise is read, formats libsndfile
cannot read are reported by name and reason, and other files in the folder are ignored."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import soundfile as sf

from jaxser import audio
from jaxser.data.noise import EXTENSIONS, NoiseCorpus, NoiseCorpusError
from tests.reliability.bad_audio import M4A

SR = 16000


def test_noise_lists_what_the_reader_lists():
    assert EXTENSIONS == audio.DEFAULT_EXTENSIONS
    assert {".mp3", ".m4a"} <= set(EXTENSIONS)


def test_mp3_noise_is_read_and_unsupported_files_are_reported(tmp_path, caplog):
    rng = np.random.default_rng(0)
    sf.write(tmp_path / "hum.wav", 0.1 * rng.standard_normal(4000), SR, subtype="PCM_16")
    sf.write(tmp_path / "traffic.mp3", 0.1 * rng.standard_normal((8000, 2)), SR, format="MP3")
    (tmp_path / "rain.m4a").write_bytes(M4A)
    (tmp_path / "notes.txt").write_text("recorded outside\n")
    (tmp_path / "LICENSE").write_text("CC-BY\n")
    with caplog.at_level(logging.WARNING, logger="jaxser.data.noise"):
        corpus = NoiseCorpus.load(tmp_path)
    assert corpus.names == ("hum", "traffic") and corpus.lengths.tolist() == [4000, 8000]
    (path, reason), *others = corpus.failures
    assert not others and path.name == "rain.m4a"
    assert reason.startswith("unsupported audio format: MPEG-4 audio (AAC or ALAC), which libsndfile")
    assert "skipped 1 of 3 files" in caplog.text and "rain.m4a: unsupported audio format" in caplog.text
    assert "notes.txt" not in caplog.text and "LICENSE" not in caplog.text


def test_folders_without_readable_noise(tmp_path):
    (tmp_path / "README.md").write_text("no audio here")
    with pytest.raises(NoiseCorpusError, match=r"no noise files \(\.wav, \.flac, .*\.mp3.*\) in the folder"):
        NoiseCorpus.load(tmp_path)
    (tmp_path / "rain.m4a").write_bytes(M4A)
    with pytest.raises(NoiseCorpusError, match="none of the 1 noise files could be read"):
        NoiseCorpus.load(tmp_path)
