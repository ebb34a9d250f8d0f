"""The command line: `jaxser demo` end to end on the tiny synthetic corpus, and errors."""

from __future__ import annotations

import json

import librosa
import numpy as np
import pytest

from jaxser import cli
from jaxser.data import synthetic


def test_demo_prints_counts_and_features_that_match_librosa(tmp_path, capsys):
    assert cli.main(["demo", "--config", "tiny", "--data-dir", str(tmp_path), "--json", "--batch-size", "16"]) == 0
    summary = json.loads(capsys.readouterr().out)

    assert summary["examples"] == len(synthetic.TINY) == 48
    assert summary["per_class"] == {name: 12 for name in synthetic.CLASS_NAMES}
    assert summary["speakers"] == 4 and set(summary["per_speaker"].values()) == {12}
    feats = summary["features"]
    assert feats["clips_per_s"] > 0 and feats["first_call_s"] > 0

    # Per-class mean log-mel, recomputed clip by clip with librosa on the unpadded
    # clips: proves padding, masking and the per-clip top_db floor line up end to end.
    p = feats["params"]
    per_class = {name: [] for name in synthetic.CLASS_NAMES}
    for example in synthetic.iter_corpus(synthetic.TINY):
        y = np.round(example["audio"] * 32768).clip(-32768, 32767) / 32768  # as stored (int16)
        mel = librosa.feature.melspectrogram(
            y=y.astype(np.float32), sr=p["sr"], n_fft=p["n_fft"], hop_length=p["hop_length"], n_mels=p["n_mels"]
        )
        per_class[example["label"]].append(librosa.power_to_db(mel, ref=1.0, top_db=80.0).mean())
    for name, values in per_class.items():
        # Per-clip means of ~100 frames x 128 bands agree to ~1e-4 dB; 0.01 dB leaves room
        # for float32 summation order without hiding a masking error (those are > 1 dB).
        assert feats["per_class_mean_log_mel_db"][name] == pytest.approx(np.mean(values), abs=0.01)


def test_demo_table_output(tmp_path, capsys):
    assert cli.main(["demo", "--config", "tiny", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("corpus synthetic/tiny: 48 examples, 4 speakers")
    for name in synthetic.CLASS_NAMES:
        assert f"\n{name}" in out
    assert "clips/s" in out


def test_unknown_corpus_is_a_clean_error(tmp_path, capsys):
    assert cli.main(["summary", "--dataset", "nope", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown corpus 'nope'" in err and "emodb" in err


def test_missing_manual_dir_names_the_folder(tmp_path, capsys):
    missing = tmp_path / "no_such_emodb"
    assert cli.main(["summary", "--dataset", "emodb", "--manual-dir", str(missing), "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert str(missing) in err and "03a01Fa.wav" in err
