"""Builders on generated trees in the official layouts (IEMOCAP, RAVDESS, CASIA full),
the CREMA-D/SAVEE adapters, and jaxser.data.load's entry points and errors."""

from __future__ import annotations

import collections
import logging
import pathlib
import subprocess
import sys
import types

import numpy as np
import pytest
import tensorflow_datasets as tfds

from jaxser.data import schema
from jaxser.data.builders import common, iemocap, ravdess, tfds_catalog
from jaxser.data.corpora import BUILDERS, ManualDirError, NotPreparedError, UnknownCorpusError, builder, load, metadata

from . import fixtures

FOUR = {"ang": "anger", "hap": "happiness", "neu": "neutral", "sad": "sadness"}
IEMOCAP_NAMES = {
    "neu": "neutral", "hap": "happiness", "exc": "excitement", "sad": "sadness", "ang": "anger", "fru": "frustration",
    "sur": "surprise", "fea": "fear", "dis": "disgust", "oth": "other", "xxx": "no_majority",
}  # fmt: skip


def label_names(dataset_builder, examples):
    names = dataset_builder.info.features["label"].names
    return {key: names[ex["label"]] for key, ex in examples.items()}


def gender_names(examples):
    return {key: schema.GENDERS[ex["gender"]] for key, ex in examples.items()}


# ----------------------------------------------------------------------------- IEMOCAP


@pytest.fixture(scope="module")
def iemocap_built(tmp_path_factory):
    root = tmp_path_factory.mktemp("iemocap")
    turns = fixtures.make_iemocap_tree(root / "manual")
    built, warnings = {}, {}
    for config in ("4class", "4class_exc_merged", "full", "4class_improvised"):
        with fixtures.builder_warnings() as records:
            ds = load("iemocap", manual_dir=root / "manual", data_dir=root / "tfds", config=config)
        built[config] = fixtures.by_id(ds)
        warnings[config] = [r.getMessage() for r in records]
    return types.SimpleNamespace(turns=turns, built=built, warnings=warnings, data_dir=root / "tfds")


def _usable(turns):
    return [t for t in turns if t.has_wav and t.labelled and not t.bad_audio]


@pytest.mark.parametrize(
    ("config", "count", "mapping"),
    [
        ("4class", 9, FOUR),
        ("4class_exc_merged", 12, {**FOUR, "exc": "happiness"}),
        ("full", 16, IEMOCAP_NAMES),
    ],
)
def test_iemocap_configs_labels(iemocap_built, config, count, mapping):
    expected = {f"iemocap/{t.name}": mapping[t.code] for t in _usable(iemocap_built.turns) if t.code in mapping}
    assert len(expected) == count  # the fixture's own arithmetic, spelled out
    got = label_names(builder("iemocap", iemocap_built.data_dir, config=config), iemocap_built.built[config])
    assert got == expected


def test_iemocap_improvised_config_keeps_improvised_dialogs_only(iemocap_built):
    expected = {
        f"iemocap/{t.name}": FOUR[t.code] for t in _usable(iemocap_built.turns) if t.code in FOUR and "impro" in t.dialog
    }
    assert 0 < len(expected) < 9  # the fixture has scripted four-class turns to leave out
    got = label_names(builder("iemocap", iemocap_built.data_dir, config="4class_improvised"),
                      iemocap_built.built["4class_improvised"])
    assert got == expected


def test_iemocap_label_sets(iemocap_built):
    names = {
        config: builder("iemocap", iemocap_built.data_dir, config=config).info.features["label"].names
        for config in iemocap.Iemocap.builder_configs
    }
    assert names["4class"] == names["4class_exc_merged"] == names["4class_improvised"] == [
        "anger", "happiness", "neutral", "sadness"]
    assert sorted(names["full"]) == sorted(IEMOCAP_NAMES.values())


def test_iemocap_speaker_session_gender_improvised_vad(iemocap_built):
    examples = iemocap_built.built["full"]
    # The speaker is the turn's own gender letter, not the dialog's.
    assert examples["iemocap/Ses01F_impro01_M000"]["speaker"] == "Ses01M"
    assert examples["iemocap/Ses01M_script01_1_F000"]["speaker"] == "Ses01F"
    genders = gender_names(examples)
    for turn in _usable(iemocap_built.turns):
        ex = examples[f"iemocap/{turn.name}"]
        letter = turn.name.split("_")[-1][0]
        assert ex["session"] == turn.session
        assert ex["speaker"] == f"Ses{turn.session:02d}{letter}"
        assert genders[f"iemocap/{turn.name}"] == {"F": "female", "M": "male"}[letter]
        assert ex["improvised"] == turn.dialog.split("_")[1].startswith("impro")
        np.testing.assert_allclose(ex["vad"], turn.vad)
        assert ex["audio"].dtype == np.int16 and len(ex["audio"]) == 4000  # 0.25 s at 16 kHz
    assert {ex["speaker"] for ex in examples.values()} == {"Ses01F", "Ses01M", "Ses02F", "Ses02M"}
    assert {ex["improvised"] for ex in examples.values()} == {True, False}


def test_iemocap_reports_and_skips_problems(iemocap_built):
    for config, count in (("4class", 12), ("full", 19)):
        (message,) = [m for m in iemocap_built.warnings[config] if "skipped" in m]
        assert f"skipped 3 of {count} files" in message
        assert "Ses01F_impro01_M002 is labelled but has no wav file" in message
        assert "Ses02F_impro02_M001.wav: no EmoEvaluation line labels this turn" in message
        assert "Ses02M_script02_2_F002.wav" in message
    for examples in iemocap_built.built.values():
        skipped = {"Ses01F_impro01_M002", "Ses02F_impro02_M001", "Ses02M_script02_2_F002"}
        assert not {f"iemocap/{name}" for name in skipped} & set(examples)
    assert any("only sessions [1, 2]" in m for m in iemocap_built.warnings["full"])


def test_iemocap_parse_labels_reads_turn_lines_only(tmp_path):
    path = tmp_path / "Ses01F_impro01.txt"
    path.write_text(
        "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"
        "[6.2901 - 8.2357]\tSes01F_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]\n"
        "C-E2:\tNeutral;\t()\nA-E3:\tval 3; act 2; dom  2;\t()\n\n"
        "[10.0100 - 11.3925]\tSes01F_impro01_M000\tfru\t[2.0000, 3.5000, 3.5000]\n"
        "[12.0 - 13.0]\tSes01F_impro01_F001\tjoy\t[2.0, 3.0, 3.0]\n"
        "[broken line\n"
    )
    turns, problems = iemocap.parse_labels(path)
    assert [(t.name, t.code, t.vad) for t in turns] == [
        ("Ses01F_impro01_F000", "neu", (2.5, 2.5, 2.5)),
        ("Ses01F_impro01_M000", "fru", (2.0, 3.5, 3.5)),
    ]
    assert [p.path for p in problems] == [f"{path}:8", f"{path}:9"]
    assert "unknown emotion code 'joy'" in problems[0].reason


def test_iemocap_accepts_release_folder_as_manual_dir(tmp_path):
    fixtures.make_iemocap_tree(tmp_path)
    items, _ = iemocap.scan(tmp_path / "IEMOCAP_full_release", dict(FOUR))
    assert len(items) == 10  # the 9 good turns + the broken wav (read later)


# ----------------------------------------------------------------------------- RAVDESS


@pytest.fixture(scope="module")
def ravdess_built(tmp_path_factory):
    root = tmp_path_factory.mktemp("ravdess")
    files = fixtures.make_ravdess_tree(root / "manual", parent=True)
    with fixtures.builder_warnings() as records:
        ds = load("ravdess", manual_dir=root / "manual", data_dir=root / "tfds")
    return types.SimpleNamespace(
        files=files, examples=fixtures.by_id(ds), warnings=[r.getMessage() for r in records], data_dir=root / "tfds"
    )


def test_ravdess_speech_only_with_labels(ravdess_built):
    emotions = {1: "neutral", 3: "happy", 5: "angry"}
    kept = [f for f in ravdess_built.files if f.speech and not f.bad_audio]
    assert len(kept) == 20
    examples = ravdess_built.examples
    assert set(examples) == {f"ravdess/{f.path.stem}" for f in kept}  # the song file is not there
    corpus = builder("ravdess", ravdess_built.data_dir)
    labels, genders = label_names(corpus, examples), gender_names(examples)
    intensities = corpus.info.features["intensity"].names
    for f in kept:
        key = f"ravdess/{f.path.stem}"
        assert labels[key] == emotions[f.emotion]
        assert genders[key] == ("male" if f.actor % 2 else "female")
        assert examples[key]["speaker"] == f"Actor_{f.actor:02d}"
        assert intensities[examples[key]["intensity"]] == ("normal", "strong")[f.intensity - 1]
        assert examples[key]["statement"] == f.statement


def test_ravdess_resampled_to_16k_keeps_pitch(ravdess_built):
    for f in [f for f in ravdess_built.files if f.speech and not f.bad_audio][:6]:
        audio = ravdess_built.examples[f"ravdess/{f.path.stem}"]["audio"]
        assert audio.dtype == np.int16 and len(audio) == 3200  # 0.2 s: 9,600 samples at 48 kHz
        assert abs(fixtures.peak_hz(audio, 16000) - f.freq) <= 5


def test_ravdess_reports_bad_file(ravdess_built):
    (message,) = [m for m in ravdess_built.warnings if "skipped" in m]
    bad = [f for f in ravdess_built.files if f.bad_audio]
    assert "skipped 1 of 21 files" in message and str(bad[0].path) in message


def test_ravdess_layouts_without_parent_and_doubled(tmp_path):
    fixtures.make_ravdess_tree(tmp_path, parent=False)
    items, problems = ravdess.scan(tmp_path)
    assert len(items) == 21 and not problems  # 20 + the broken file (read later); song left out
    fixtures.make_ravdess_tree(tmp_path, parent=True)  # Kaggle's zip holds both copies
    assert len(ravdess.scan(tmp_path)[0]) == 21


def test_ravdess_misnamed_and_misplaced_files_are_problems(tmp_path):
    fixtures.make_ravdess_tree(tmp_path, actors=(1,), parent=False)
    fixtures.write_wav(tmp_path / "Actor_01" / "notes.wav", fixtures.tone(0.1, 48000, 300), 48000)
    fixtures.write_wav(tmp_path / "Actor_01" / "03-01-09-01-01-01-01.wav", fixtures.tone(0.1, 48000, 300), 48000)
    fixtures.write_wav(tmp_path / "Actor_01" / "03-01-02-01-01-01-02.wav", fixtures.tone(0.1, 48000, 300), 48000)
    items, problems = ravdess.scan(tmp_path)
    assert len(items) == 5
    reasons = {pathlib.Path(p.path).name: p.reason for p in problems}
    assert "seven two-digit fields" in reasons["notes.wav"]
    assert "emotion code 09" in reasons["03-01-09-01-01-01-01.wav"]
    assert "file is in Actor_01" in reasons["03-01-02-01-01-01-02.wav"]


# ----------------------------------------------------------------------------- CASIA (full layout)


def test_casia_full_layout(tmp_path):
    expected = fixtures.make_casia_full_tree(tmp_path / "manual")
    ds = load("casia", manual_dir=tmp_path / "manual", data_dir=tmp_path / "tfds", config="full")
    examples = fixtures.by_id(ds)
    assert set(examples) == set(expected)
    labels = label_names(builder("casia", tmp_path / "tfds", config="full"), examples)
    genders = gender_names(examples)
    gender_of = {"liuchanhg": "female", "zhaoquanyin": "female", "wangzhe": "male", "ZhaoZuoxiang": "male"}
    for key, (speaker, emotion, parallel) in expected.items():
        got = (examples[key]["speaker"], labels[key], bool(examples[key]["parallel_text"]))
        assert got == (speaker, emotion, parallel)
        assert genders[key] == gender_of[speaker]


def test_casia_public_config_refuses_full_layout(tmp_path):
    fixtures.make_casia_full_tree(tmp_path / "manual", per_folder=1)
    with pytest.raises(ManualDirError, match="use config='full'"):
        load("casia", manual_dir=tmp_path / "manual", data_dir=tmp_path / "tfds")


def test_casia_full_config_names_missing_part(tmp_path):
    path = tmp_path / "manual" / "相同文本300" / "wangzhe" / "sad" / "201.wav"
    fixtures.write_wav(path, fixtures.tone(0.1, 16000, 300), 16000)
    with pytest.raises(ManualDirError, match="lacks 不同文本100"):
        load("casia", manual_dir=tmp_path / "manual", data_dir=tmp_path / "tfds", config="full")


# ----------------------------------------------------------------------------- CREMA-D / SAVEE


class _MockSource:
    """Stands in for a prepared TFDS builder: its real info, examples from mock_data."""

    def __init__(self, name, num_examples):
        with tfds.testing.mock_data(num_examples=num_examples):
            source = tfds.builder(name)
            self.info = source.info
            self._splits = {s: source.as_dataset(split=s, shuffle_files=False) for s in tfds_catalog.SPLITS}

    def as_dataset(self, split, shuffle_files):
        assert not shuffle_files
        return self._splits[split]


def test_crema_d_adapter_on_mock_data(tmp_path, monkeypatch):
    source = _MockSource("crema_d", num_examples=5)
    monkeypatch.setattr(tfds_catalog.CremaD, "_source", lambda self, dl_manager: source)
    upstream = list(tfds.as_numpy(source.as_dataset("validation", shuffle_files=False)))
    examples = fixtures.by_id(load("crema_d", split="validation", data_dir=tmp_path))
    corpus = builder("crema_d", tmp_path)
    assert set(corpus.info.features.keys()) == set(schema.CORE_KEYS)
    assert corpus.info.features["audio"].sample_rate == schema.SAMPLE_RATE
    assert corpus.info.features["label"].names == ["neutral", "happiness", "sadness", "anger", "fear", "disgust"]
    assert len(examples) == len(upstream) == 5
    upstream_names = source.info.features["label"].names  # NEU, HAP, ... in the same order
    got = {(ex["speaker"], int(ex["label"]), ex["audio"].tobytes()) for ex in examples.values()}
    want = {(up["speaker_id"].decode(), int(up["label"]), up["audio"].astype(np.int16).tobytes()) for up in upstream}
    assert got == want
    assert upstream_names == ["NEU", "HAP", "SAD", "ANG", "FEA", "DIS"]
    assert set(gender_names(examples).values()) == {"unknown"}
    assert all(key.startswith(f"crema_d/{ex['speaker']}/") for key, ex in examples.items())


def test_savee_adapter_builds_tfds_savee_from_zip(tmp_path):
    written = fixtures.make_savee_zip(tmp_path / "manual")
    ds = load("savee", split="train+validation+test", manual_dir=tmp_path / "manual", data_dir=tmp_path / "tfds")
    examples = fixtures.by_id(ds)
    corpus = builder("savee", tmp_path / "tfds")
    assert corpus.info.features["label"].names == list(fixtures.SAVEE_CODES.values())
    assert sum(corpus.info.splits[s].num_examples for s in tfds_catalog.SPLITS) == len(written) == 28
    labels = label_names(corpus, examples)
    pairs = collections.Counter((ex["speaker"], labels[key]) for key, ex in examples.items())
    assert pairs == collections.Counter((k.split("_")[0], v) for k, v in written.items())
    assert set(gender_names(examples).values()) == {"male"}
    for ex in examples.values():
        assert ex["audio"].dtype == np.int16 and len(ex["audio"]) == 3200  # 0.2 s from 44.1 kHz
    # Speaker-disjoint upstream splits are kept.
    speakers = {
        split: {ex["speaker"] for ex in fixtures.by_id(load("savee", split=split, data_dir=tmp_path / "tfds")).values()}
        for split in tfds_catalog.SPLITS
    }
    assert not (speakers["train"] & speakers["test"]) and not (speakers["train"] & speakers["validation"])


def test_to_16k_int16_resamples_and_keeps_pitch():
    tone = fixtures.tone(0.5, 44100, 440).astype(np.int64)
    out = tfds_catalog.to_16k_int16(tone, 44100)
    assert out.dtype == np.int16 and len(out) == 8000
    assert abs(fixtures.peak_hz(out, 16000) - 440) <= 2
    np.testing.assert_array_equal(tfds_catalog.to_16k_int16(tone, 16000), tone.astype(np.int16))


# ----------------------------------------------------------------------------- jaxser.data.load


def test_every_corpus_has_the_schema(tmp_path):
    for name in BUILDERS:
        features = builder(name, tmp_path).info.features
        assert set(schema.CORE_KEYS) <= set(features.keys()), name
        assert features["audio"].sample_rate == schema.SAMPLE_RATE and features["audio"].np_dtype == np.int16
        assert features["gender"].names == list(schema.GENDERS)


def test_load_synthetic_needs_no_manual_dir(tmp_path):
    meta = metadata("synthetic", data_dir=tmp_path, config="tiny")
    assert len(meta["id"]) == len(set(meta["id"])) == 48


def test_unknown_name_lists_valid_ones():
    with pytest.raises(UnknownCorpusError) as info:
        load("emo_db")
    for name in BUILDERS:
        assert name in str(info.value)


def test_unknown_config_lists_valid_ones(tmp_path):
    with pytest.raises(ValueError, match="valid configs: 4class, 4class_exc_merged, full"):
        builder("iemocap", tmp_path, config="5class")
    with pytest.raises(ValueError, match="has no configs"):
        builder("emodb", tmp_path, config="full")


def test_missing_manual_dir_is_named_with_instructions(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(ManualDirError) as info:
        load("ravdess", manual_dir=missing, data_dir=tmp_path / "tfds")
    assert str(missing) in str(info.value) and "Audio_Speech_Actors_01-24" in str(info.value)


def test_default_manual_dir_missing_gives_instructions(tmp_path):
    with pytest.raises(ManualDirError) as info:
        load("iemocap", data_dir=tmp_path / "tfds")
    assert "manual_dir" in str(info.value) and "IEMOCAP_full_release" in str(info.value)


def test_manual_dir_without_audio_names_layout(tmp_path):
    (tmp_path / "manual").mkdir()
    (tmp_path / "manual" / "README.txt").write_text("not audio")
    with pytest.raises(ManualDirError, match="no usable audio files") as info:
        load("emodb", manual_dir=tmp_path / "manual", data_dir=tmp_path / "tfds")
    assert "03a01Fa.wav" in str(info.value)


def test_all_unreadable_is_an_error(tmp_path):
    fixtures.write_bad_wav(tmp_path / "manual" / "03a01Fa.wav")
    with pytest.raises(ManualDirError, match="none of the 1 audio files could be read"):
        load("emodb", manual_dir=tmp_path / "manual", data_dir=tmp_path / "tfds")


def test_not_prepared_without_download_and_prepare(tmp_path):
    with pytest.raises(NotPreparedError, match="download_and_prepare=True"):
        load("emodb", data_dir=tmp_path, download_and_prepare=False)


def test_metadata_by_name_and_from_dataset_agree(ravdess_built):
    by_name = metadata("ravdess", data_dir=ravdess_built.data_dir)
    from_dataset = metadata(load("ravdess", data_dir=ravdess_built.data_dir))
    assert set(by_name) == {"id", "label", "speaker", "gender", "intensity", "statement"}
    for key in by_name:
        np.testing.assert_array_equal(by_name[key], from_dataset[key])
    assert by_name["id"].dtype.kind == "U" and by_name["label"].dtype == np.int64
    assert sorted(by_name["id"]) == sorted(ravdess_built.examples)


def test_common_report_lists_every_problem(caplog):
    problems = [common.Problem(f"/x/{i}.wav", "broken") for i in range(3)]
    with caplog.at_level(logging.WARNING, logger="jaxser.data.builders.common"):
        common.report("corpus", problems, total=10)
    (record,) = caplog.records
    assert "corpus: skipped 3 of 10 files" in record.getMessage()
    assert all(f"/x/{i}.wav: broken" in record.getMessage() for i in range(3))


def test_import_jaxser_data_does_not_import_tensorflow():
    code = "import sys, jaxser.data\nassert 'tensorflow' not in sys.modules, 'import jaxser.data imported TF'\n"
    repo = pathlib.Path(__file__).parents[2]
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=repo)
    assert result.returncode == 0, result.stderr[-2000:]


def test_jaxser_data_reexports_the_corpora_entry_points():
    import jaxser.data

    assert jaxser.data.load is load and callable(jaxser.data.load)
    assert jaxser.data.builder is builder and jaxser.data.metadata is metadata
