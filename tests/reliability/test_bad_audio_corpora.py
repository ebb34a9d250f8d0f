"""Every kind of bad or odd audio file (bad_audio.py) inside corpus layouts: the builders
build every good file and report every bad one, and the input pipeline reads what they built.
"""

from __future__ import annotations

import itertools
import os
import types

import numpy as np
import pytest

from jaxser.data import pipeline
from jaxser.data.builders import common, emodb
from jaxser.data.corpora import load
from tests.data import fixtures

from .bad_audio import SR, check_outcomes, make_bad_audio

EMODB_SPEAKERS = sorted(emodb.GENDER)
EMODB_LETTERS = sorted(emodb.EMOTIONS)


def skipped_files(records) -> list[tuple[str, str]]:
    """``(path, reason)`` of every file the builders' warnings report as skipped."""
    found = []
    for record in records:
        lines = record.getMessage().splitlines()
        if "skipped" in lines[0]:
            found.extend(tuple(line.strip().split(": ", 1)) for line in lines[1:])
    # The warning writes a non-UTF-8 name's bytes as \\xNN (common.text_id): back to the
    # path Python gave the builder, so it compares with the case's own path.
    return [(os.fsdecode(path.encode("utf-8").decode("unicode_escape").encode("latin-1")), reason)
            if "\\x" in path else (path, reason) for path, reason in found]


def _build(name, root, config=None):
    with fixtures.builder_warnings() as records:
        examples = fixtures.by_id(load(name, manual_dir=root / "manual", data_dir=root / "tfds", config=config))
    return examples, skipped_files(records)


def _emodb_namer():
    """A rename giving each kind its own valid EmoDB name; non-UTF-8 names stay as they are."""
    count = itertools.count(1)

    def rename(kind: str, default: str | bytes) -> str | bytes:
        if isinstance(default, bytes):
            return default  # cannot match EmoDB's ASCII scheme: reported as misnamed
        i = next(count)
        # The builder reads .wav only: every audio kind gets that name (libsndfile goes by
        # the content), the text file keeps its own.
        extension = ".txt" if default.endswith(".txt") else ".WAV" if default.endswith(".WAV") else ".wav"
        return f"{EMODB_SPEAKERS[i % 10]}a{i:02d}{EMODB_LETTERS[i % 7]}a{extension}"

    return rename


@pytest.fixture(scope="module")
def emodb_built(tmp_path_factory):
    root = tmp_path_factory.mktemp("emodb_bad")
    cases = make_bad_audio(root / "manual" / "wav", rename=_emodb_namer())
    examples, skipped = _build("emodb", root)
    return types.SimpleNamespace(cases=cases, examples=examples, skipped=skipped, root=root)


def _built_cases(cases, examples, id_of):
    return [c.path for c in cases if common.text_id(id_of(c)) in examples]


def test_emodb_builds_every_good_file_and_reports_every_bad_one(emodb_built):
    cases, examples = emodb_built.cases, emodb_built.examples
    built = _built_cases(cases, examples, lambda c: f"emodb/{c.path.stem}")
    misnamed = "does not follow EmoDB's"
    reasons = {"non_utf8_name": misnamed, "non_utf8_name_bad": misnamed}
    check_outcomes(cases, built, emodb_built.skipped, listing=True, reasons=reasons)
    assert len(examples) == len(built)  # nothing else was built
    for case in cases:
        example = examples.get(f"emodb/{case.path.stem}")
        if example is not None:
            assert example["audio"].dtype == np.int16 and len(example["audio"]) == case.samples()


def _casia_name(kind: str, default: str | bytes) -> str | bytes:
    """``<speaker>/<emotion>/<name>.wav``: CASIA takes any file name, non-UTF-8 ones too."""
    prefix = b"liuchanhg/angry/" if isinstance(default, bytes) else "liuchanhg/angry/"
    if isinstance(default, bytes):
        return prefix + default
    return prefix + f"{kind}{'.txt' if default.endswith('.txt') else '.WAV' if default.endswith('.WAV') else '.wav'}"


def test_casia_builds_every_good_file_and_reports_every_bad_one(tmp_path):
    cases = make_bad_audio(tmp_path / "manual", rename=_casia_name, long_seconds=60.0)
    fixtures.write_wav(tmp_path / "manual" / "wangzhe" / "sad" / "201.wav", fixtures.tone(0.3, SR, 300), SR)
    examples, skipped = _build("casia", tmp_path)
    built = _built_cases(cases, examples, lambda c: f"casia/liuchanhg/angry/{c.path.stem}")
    check_outcomes(cases, built, skipped, listing=True)
    assert set(examples) - {common.text_id(f"casia/liuchanhg/angry/{c.path.stem}") for c in cases} == {
        "casia/wangzhe/sad/201"
    }
    # A non-UTF-8 file name is kept, its bad byte escaped in the id (TFDS ids are text).
    assert examples["casia/liuchanhg/angry/caf\\xe9-latin1"]["label"] == 0  # angry


# --- the input pipeline on what the builder wrote ----------------------------------------------


def _readable_lengths(emodb_built) -> dict[str, int]:
    """Samples at 16 kHz of every built example, by id."""
    lengths = {f"emodb/{c.path.stem}": c.samples() for c in emodb_built.cases}
    return {key: n for key, n in lengths.items() if key in emodb_built.examples}


def test_eval_pipeline_chunks_every_odd_example(emodb_built):
    dataset = load("emodb", data_dir=emodb_built.root / "tfds")
    config = pipeline.PipelineConfig(batch_size=16, clip_seconds=2.0, eval_mode="chunks", hop_seconds=1.0)
    ids, ends, rows = [], {}, 0
    for batch in pipeline.eval_dataset(dataset, config, process_index=0, process_count=1).as_numpy_iterator():
        assert batch["audio"].shape == (16, 2 * SR) and np.isfinite(batch["audio"]).all()
        assert np.abs(batch["audio"]).max() <= 1.0
        real = batch["mask"] == 1
        rows += int(real.sum())
        for example_id, start, length in zip(batch["id"][real], batch["start"][real], batch["length"][real]):
            example_id = example_id.decode()
            if example_id not in ends:
                ids.append(example_id)
            ends[example_id] = max(ends.get(example_id, 0), int(start + length))
    expected = _readable_lengths(emodb_built)
    assert ends == expected  # every utterance, covered to its last sample
    windows = {key: 1 + max(0, -(-(n - 2 * SR) // SR)) for key, n in expected.items()}
    assert rows == sum(windows.values()) and windows[f"emodb/{_long_stem(emodb_built)}"] == 599


def _long_stem(emodb_built) -> str:
    return next(c.path.stem for c in emodb_built.cases if c.name == "long")


def test_train_pipeline_crops_and_pads_every_odd_example(emodb_built):
    dataset = load("emodb", data_dir=emodb_built.root / "tfds")
    config = pipeline.PipelineConfig(batch_size=4, clip_seconds=2.0, num_epochs=1)
    seen = []
    for batch in pipeline.train_dataset(dataset, config, process_index=0, process_count=1).as_numpy_iterator():
        assert batch["audio"].shape == (4, 2 * SR) and np.isfinite(batch["audio"]).all()
        seen += [i.decode() for i in batch["id"]]
        expected = _readable_lengths(emodb_built)
        assert [int(n) for n in batch["length"]] == [min(expected[i.decode()], 2 * SR) for i in batch["id"]]
    assert len(seen) == len(set(seen)) == len(emodb_built.examples) // 4 * 4


def test_eval_pipeline_pad_mode_names_an_utterance_too_long_for_it(emodb_built):
    # Whole-utterance padding cannot fit the 10-minute file: an error naming it and the
    # fix, by design (the chunks mode above is the one for long utterances).
    import tensorflow as tf

    dataset = load("emodb", data_dir=emodb_built.root / "tfds")
    config = pipeline.PipelineConfig(batch_size=8, clip_seconds=2.0, eval_seconds=10.0)
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        for _ in pipeline.eval_dataset(dataset, config, process_index=0, process_count=1):
            pass
    message = str(info.value)
    assert "set eval_mode to chunks" in message and _long_stem(emodb_built) in message
