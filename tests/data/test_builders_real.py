"""EmoDB and CASIA builders on the real corpora under $JAXSER_DATA.

Each corpus is built once per module; expected counts come from the corpus
documentation (../shared/data/README.md) or from the file names, never from the builder.
"""

from __future__ import annotations

import collections
import logging
import time

import numpy as np
import pytest
import soundfile as sf

from jaxser.data import schema
from jaxser.data.corpora import builder, load, metadata

from . import fixtures

pytestmark = pytest.mark.realdata

# Documented counts per emotion letter (README of the data folder, and the corpus paper).
EMODB_PER_EMOTION = {"W": 127, "L": 81, "E": 46, "A": 69, "F": 71, "T": 62, "N": 79}
EMODB_EMOTION = {
    "W": "anger", "L": "boredom", "E": "disgust", "A": "fear", "F": "happiness", "T": "sadness", "N": "neutral",
}  # fmt: skip
EMODB_MALE = {"03", "10", "11", "12", "15"}
EMODB_FEMALE = {"08", "09", "13", "14", "16"}
CASIA_GENDER = {"liuchanhg": "female", "zhaoquanyin": "female", "wangzhe": "male", "ZhaoZuoxiang": "male"}


def _build(name, manual_dir, data_dir, **kwargs):
    start = time.perf_counter()
    examples = fixtures.by_id(load(name, manual_dir=manual_dir, data_dir=data_dir, **kwargs))
    seconds = time.perf_counter() - start
    logging.getLogger(__name__).info("built %s (%d examples) in %.1f s", name, len(examples), seconds)
    return examples, seconds


@pytest.fixture(scope="module")
def emodb(emodb_dir, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("tfds_emodb")
    examples, seconds = _build("emodb", emodb_dir, data_dir)
    return examples, builder("emodb", data_dir), seconds


@pytest.fixture(scope="module")
def casia(casia_dir, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("tfds_casia")
    examples, seconds = _build("casia", casia_dir, data_dir)
    return examples, builder("casia", data_dir), seconds


def _names(corpus, examples, field):
    names = corpus.info.features[field].names
    return {key: names[ex[field]] for key, ex in examples.items()}


def test_emodb_counts_labels_speakers(emodb, emodb_dir):
    examples, corpus, _ = emodb
    files = sorted(emodb_dir.glob("*.wav"))
    assert len(files) == len(examples) == 535
    assert set(examples) == {f"emodb/{p.stem}" for p in files}
    labels = _names(corpus, examples, "label")
    # Every label agrees with the emotion letter of its file name ...
    assert all(labels[key] == EMODB_EMOTION[key[len("emodb/") :][5]] for key in examples)
    # ... and the counts are the documented ones.
    assert collections.Counter(labels.values()) == {EMODB_EMOTION[k]: v for k, v in EMODB_PER_EMOTION.items()}
    per_speaker = collections.Counter(p.name[:2] for p in files)
    assert collections.Counter(ex["speaker"] for ex in examples.values()) == per_speaker
    assert set(per_speaker) == EMODB_MALE | EMODB_FEMALE


def test_emodb_gender_per_speaker(emodb):
    examples, corpus, _ = emodb
    genders = _names(corpus, examples, "gender")
    by_speaker = {ex["speaker"]: set() for ex in examples.values()}
    for key, ex in examples.items():
        by_speaker[ex["speaker"]].add(genders[key])
    assert by_speaker == {s: {"male"} for s in EMODB_MALE} | {s: {"female"} for s in EMODB_FEMALE}


def test_emodb_audio_is_the_file(emodb, emodb_dir):
    examples, corpus, _ = emodb
    assert corpus.info.features["audio"].sample_rate == schema.SAMPLE_RATE
    for stem in ("03a01Fa", "08b02Ff", "16b10Td", "11a04Wc"):
        expected, sr = sf.read(emodb_dir / f"{stem}.wav", dtype="int16")
        assert sr == schema.SAMPLE_RATE
        got = examples[f"emodb/{stem}"]["audio"]
        assert got.dtype == np.int16
        np.testing.assert_array_equal(got, expected)


def test_emodb_build_time_is_reasonable(emodb):
    *_, seconds = emodb
    assert seconds < 120, f"building EmoDB took {seconds:.0f} s"


def test_emodb_ids_stable_across_builds_and_bad_files_reported(emodb, emodb_dir, tmp_path, caplog):
    """A second build from a subset (symlinks) gives the same ids for the same audio;
    a misnamed and a broken file next to them are reported and skipped."""
    examples, *_ = emodb
    manual = tmp_path / "manual"
    manual.mkdir()
    subset = sorted(emodb_dir.glob("*.wav"))[::53]
    for path in subset:
        (manual / path.name).symlink_to(path)
    (manual / "notes.wav").symlink_to(subset[0])
    fixtures.write_bad_wav(manual / "03a01Fz.wav")
    with caplog.at_level(logging.WARNING, logger="jaxser.data.builders"):
        again, _ = _build("emodb", manual, tmp_path / "tfds")
    assert set(again) == {f"emodb/{p.stem}" for p in subset}
    for key, ex in again.items():
        np.testing.assert_array_equal(ex["audio"], examples[key]["audio"])
        for field in ("label", "speaker", "gender"):
            assert ex[field] == examples[key][field]
    (message,) = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert f"skipped 2 of {len(subset) + 2} files" in message
    assert "notes.wav: name does not follow EmoDB" in message and "03a01Fz.wav" in message


def test_emodb_metadata_matches_examples(emodb):
    examples, corpus, _ = emodb
    meta = metadata("emodb", data_dir=corpus.data_dir_root)
    assert sorted(meta["id"]) == sorted(examples)
    for i in (0, 100, 534):
        ex = examples[meta["id"][i]]
        assert (meta["label"][i], meta["speaker"][i], meta["gender"][i], meta["text"][i]) == (
            ex["label"], ex["speaker"], ex["gender"], ex["text"],
        )  # fmt: skip


def test_casia_counts_speakers_genders(casia, casia_dir):
    examples, corpus, _ = casia
    assert len(examples) == 1200
    labels = _names(corpus, examples, "label")
    emotions = ("angry", "fear", "happy", "neutral", "sad", "surprise")
    assert collections.Counter(labels.values()) == {emotion: 200 for emotion in emotions}
    assert collections.Counter(ex["speaker"] for ex in examples.values()) == {s: 300 for s in CASIA_GENDER}
    genders = _names(corpus, examples, "gender")
    for key, ex in examples.items():
        _, speaker, emotion, stem = key.split("/")
        assert (ex["speaker"], labels[key], genders[key]) == (speaker, emotion, CASIA_GENDER[speaker])
        assert 201 <= int(stem) <= 250
    files = {f"casia/{p.relative_to(casia_dir).with_suffix('').as_posix()}" for p in casia_dir.rglob("*.wav")}
    assert set(examples) == files


def test_casia_audio_is_the_file(casia, casia_dir):
    examples, *_ = casia
    for rel in ("liuchanhg/angry/201", "ZhaoZuoxiang/surprise/250", "wangzhe/neutral/225"):
        expected, sr = sf.read(casia_dir / f"{rel}.wav", dtype="int16")
        assert sr == schema.SAMPLE_RATE
        np.testing.assert_array_equal(examples[f"casia/{rel}"]["audio"], expected)


def test_casia_build_time_is_reasonable(casia):
    *_, seconds = casia
    assert seconds < 120, f"building CASIA took {seconds:.0f} s"

