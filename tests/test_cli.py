"""The command line: `jaxser summary` on the tiny synthetic corpus, training commands, and errors."""

from __future__ import annotations

import argparse
import csv
import io
import json

import librosa
import soundfile as sf
import numpy as np
import pytest

from jaxser import cli
from jaxser.data import synthetic


def test_summary_prints_counts_and_features_that_match_librosa(tmp_path, capsys):
    assert cli.main(["summary", "--dataset", "synthetic", "--config", "tiny", "--data-dir", str(tmp_path), "--json", "--batch-size", "16"]) == 0
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


def test_summary_table_output(tmp_path, capsys):
    assert cli.main(["summary", "--dataset", "synthetic", "--config", "tiny", "--data-dir", str(tmp_path)]) == 0
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


# -- train / evaluate / predict / cv on the tiny synthetic corpus with a tiny model --------


@pytest.fixture
def tiny_config_file(tmp_path, tfds_dir, tiny_model):
    path = tmp_path / "tiny_config.py"
    path.write_text(
        "from tests.conftest import make_config\n\n\n"
        f"def get_config(arg=None):\n    return make_config({str(tfds_dir)!r}, epochs=2)\n"
    )
    return path


def test_train_evaluate_predict_from_the_command_line(tmp_path, tiny_config_file, capsys):
    workdir = tmp_path / "run"
    argv = ["train", "--config", str(tiny_config_file), "--workdir", str(workdir), "--config.train.epochs=1"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "WA " in out and "UA " in out and "(12 utterances)" in out
    assert json.loads((workdir / "config.json").read_text())["train"]["epochs"] == 1

    assert cli.main(["evaluate", "--workdir", str(workdir), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["total"] == 12

    good = tmp_path / "good.wav"
    sf.write(good, 0.1 * np.random.default_rng(0).standard_normal(24000), 16000)
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio at all")
    blip = tmp_path / "blip.wav"  # 2.5 ms: too short to judge
    sf.write(blip, 0.1 * np.random.default_rng(1).standard_normal(40), 16000)
    argv = ["predict", "--checkpoint", str(workdir), str(good), str(bad), str(blip)]
    assert cli.main([*argv, "--format", "json"]) == 0
    captured = capsys.readouterr()
    predictions = json.loads(captured.out)
    assert [(p["file"], p["status"]) for p in predictions] == [
        (str(good), "ok"), (str(bad), "unreadable"), (str(blip), "too_short")
    ]
    ok, unreadable, too_short = predictions
    assert ok["label"] in ok["probabilities"] and ok["seconds"] == 1.5
    assert unreadable["label"] is None and "not a recognised audio file" in unreadable["reason"]
    assert too_short["label"] is None and too_short["probabilities"] is None and too_short["seconds"] == 0.0025
    assert "skipped" in captured.err and "bad.wav" in captured.err and "blip" not in captured.err
    assert cli.main(["predict", "--checkpoint", str(workdir), str(bad)]) == 1

    assert cli.main([*argv, "--format", "csv"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0][:2] == ["file", "label"] and rows[0][-2:] == ["seconds", "status"]  # status last: old columns stay
    assert [(r[0], r[-1]) for r in rows[1:]] == [(str(good), "ok"), (str(bad), "unreadable"), (str(blip), "too_short")]
    assert rows[3][1:-2] == [""] * (len(rows[0]) - 3)  # a too-short clip gets no label and no probabilities

    # The table is for reading: unreadable files are reported on stderr only.
    assert cli.main([*argv, "--min-seconds", "0.001"]) == 0
    captured = capsys.readouterr()
    table = captured.out.splitlines()
    assert len(table) == 3 and "too short" not in captured.out  # 2.5 ms is long enough now
    assert cli.main([*argv]) == 0
    assert "(too short, 0.0025 s)" in capsys.readouterr().out


def test_cv_from_the_command_line(tmp_path, tiny_config_file, capsys):
    argv = ["cv", "--config", str(tiny_config_file), "--workdir", str(tmp_path / "cv"), "--folds", "0,1", "--config.train.epochs=1"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "| **Pooled** |" in out and "Mean ± std" in out
    assert json.loads((tmp_path / "cv" / "results.json").read_text())["aggregate"]["pooled"]["total"] == 24


def test_training_commands_report_clean_errors(tmp_path, tiny_config_file, capsys):
    assert cli.main(["train", "--config", str(tmp_path / "nope.py"), "--workdir", str(tmp_path)]) == 2
    assert "not found" in capsys.readouterr().err
    argv = ["train", "--config", str(tiny_config_file), "--workdir", str(tmp_path), "--config.train.epoch=3"]
    assert cli.main(argv) == 2
    assert "no field 'epoch'" in capsys.readouterr().err
    argv = ["train", "--config", str(tiny_config_file), "--workdir", str(tmp_path), "--config.train.global_batch_size=100"]
    assert cli.main(argv) == 2
    assert "lower the batch size" in capsys.readouterr().err
    assert cli.main(["evaluate", "--workdir", str(tmp_path / "empty")]) == 2
    assert "not a jaxser training run" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["train", "--config", str(tiny_config_file), "--workdir", str(tmp_path), "--bogus"])


@pytest.mark.parametrize("flags,message", [
    (["--coordinator", "localhost:1"], "--coordinator needs --num-processes and --process-id"),
    (["--coordinator", "localhost:1", "--num-processes", "2", "--process-id", "2"], "--process-id 2 must be in 0..1"),
])
def test_distributed_flags_checked_before_connecting(tmp_path, tiny_config_file, capsys, flags, message):
    code = cli.main(["train", "--config", str(tiny_config_file), "--workdir", str(tmp_path / "w"), *flags])
    assert code == 2
    assert message in capsys.readouterr().err


def _all_parsers(parser: argparse.ArgumentParser):
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _all_parsers(sub)


def test_help_is_plain_text():
    """Help shows on a terminal: no reStructuredText markup such as ``jaxser``."""
    parsers = list(_all_parsers(cli.build_parser()))
    assert len(parsers) == 8  # jaxser and its seven commands
    for parser in parsers:
        text = parser.format_help()
        assert "``" not in text, parser.prog
    predict_help = parsers[0]._actions[-1].choices["predict"].format_help()
    assert "--min-seconds" in predict_help and "eighth of the model's input window" in " ".join(predict_help.split())


def test_verbose_goes_before_or_after_the_command_or_in_the_environment(monkeypatch):
    parser = cli.build_parser()
    monkeypatch.delenv(cli.VERBOSE_ENV, raising=False)
    for argv, verbose in ((["--verbose", "demo"], True), (["demo", "--verbose"], True), (["demo"], False)):
        assert cli._verbose(parser.parse_args(argv)) is verbose, argv
    for value, verbose in (("1", True), ("0", False), ("", False)):
        monkeypatch.setenv(cli.VERBOSE_ENV, value)
        assert cli._verbose(parser.parse_args(["demo"])) is verbose, value


@pytest.mark.parametrize("value", ["-1", "nan", "soon"])
def test_min_seconds_must_be_a_duration(value, capsys):
    with pytest.raises(SystemExit):
        cli.main(["predict", "--checkpoint", "run", "a.wav", "--min-seconds", value])
    assert "--min-seconds: expected seconds >= 0" in capsys.readouterr().err


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_predict_progress_bar_only_on_a_terminal(monkeypatch):
    monkeypatch.setattr("sys.stderr", io.StringIO())
    with cli._progress_bar(3) as progress:
        assert progress is None  # redirected: no bar, no callback
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    with cli._progress_bar(3, refresh_s=0) as progress:
        for seconds in (2.0, 0.0, 4.0):  # per file: seconds of audio read (0: unreadable)
            progress(seconds)
    shown = terminal.getvalue()
    assert "3/3" in shown and "6 s audio" in shown and "x real time" in shown
