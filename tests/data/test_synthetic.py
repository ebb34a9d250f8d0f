"""The synthetic corpus: determinism, layout, audio sanity, the TFDS builder, and that its
classes differ as designed and are learnable, but not trivially, across speakers."""

from __future__ import annotations

import hashlib

import librosa
import numpy as np
import pytest
from scipy import signal
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from jaxser.data import schema, synthetic
from jaxser.data.tf_setup import tensorflow

tensorflow()  # before TFDS imports TensorFlow: keep TF off the accelerators
import tensorflow_datasets as tfds  # noqa: E402

from jaxser.data.builders.synthetic import Synthetic  # noqa: E402

SR = schema.SAMPLE_RATE


@pytest.fixture(scope="module")
def tiny_examples():
    return list(synthetic.iter_corpus(synthetic.TINY))


# --- determinism -----------------------------------------------------------------------


def test_same_arguments_give_identical_bytes():
    a = synthetic.generate_utterance("anger", "s03", 5, seed=7)
    b = synthetic.generate_utterance("anger", "s03", 5, seed=7)
    assert a.dtype == np.float32 and a.ndim == 1
    assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize(
    "changed",
    [dict(seed=1), dict(index=1), dict(speaker="s04"), dict(emotion="sadness")],
    ids=lambda d: next(iter(d)),
)
def test_each_argument_changes_the_clip(changed):
    base = dict(emotion="anger", speaker="s03", index=0, seed=0)
    a = synthetic.generate_utterance(**base)
    b = synthetic.generate_utterance(**{**base, **changed})
    assert a.shape != b.shape or not np.array_equal(a, b)


def test_a_subset_generates_the_same_clips(tiny_examples):
    small = synthetic.CorpusConfig(num_speakers=2, utterances_per_class=2)
    tiny = {e["id"]: e["audio"] for e in tiny_examples}
    subset = list(synthetic.iter_corpus(small))
    assert len(subset) == len(small) == 2 * 4 * 2
    for example in subset:
        assert example["audio"].tobytes() == tiny[example["id"]].tobytes(), example["id"]


PINNED_FINGERPRINT = "554526f249ac696c"


def test_pinned_fingerprint():
    """Any change to the generator's tables or formulas changes the corpus silently
    for everyone who built it: this pin makes it loud."""
    digest = hashlib.sha256()
    for emotion in synthetic.CLASS_NAMES:
        digest.update(schema.to_int16(synthetic.generate_utterance(emotion, "s02", 1, seed=0)).tobytes())
    assert digest.hexdigest()[:16] == PINNED_FINGERPRINT, (
        "the synthetic corpus changed: if intended, bump Synthetic.VERSION (with a release note) "
        f"and set PINNED_FINGERPRINT = {digest.hexdigest()[:16]!r}"
    )


# --- layout and audio --------------------------------------------------------------------


def test_counts_ids_and_genders(tiny_examples):
    stats = synthetic.summary(tiny_examples)
    assert stats["examples"] == len(synthetic.TINY) == 48
    assert stats["per_class"] == {name: 12 for name in synthetic.CLASS_NAMES}
    assert stats["per_speaker"] == {s: 12 for s in ("s01", "s02", "s03", "s04")}
    assert stats["per_gender"] == {"female": 24, "male": 24}
    ids = [e["id"] for e in tiny_examples]
    assert len(set(ids)) == len(ids)
    for e in tiny_examples:
        assert e["id"] == f"synthetic/{e['speaker']}/{e['label']}/{e['id'].rsplit('/', 1)[1]}"
        assert e["gender"] in schema.GENDERS


@pytest.mark.parametrize("duration_range", [(1.5, 4.0), (2.0, 2.2)])
def test_durations_in_range(duration_range):
    config = synthetic.CorpusConfig(num_speakers=3, utterances_per_class=3, duration_range=duration_range)
    seconds = np.array([len(e["audio"]) / SR for e in synthetic.iter_corpus(config)])
    low, high = duration_range
    assert seconds.min() >= low - 1 / SR and seconds.max() <= high + 1 / SR
    if high - low > 1:
        assert seconds.max() - seconds.min() > 0.5 * (high - low)  # lengths really vary


def test_audio_finite_on_the_16bit_grid_and_not_clipped(tiny_examples):
    for e in tiny_examples:
        audio = e["audio"]
        assert np.isfinite(audio).all(), e["id"]
        assert np.abs(audio).max() <= 0.9, e["id"]
        scaled = audio.astype(np.float64) * 32768
        np.testing.assert_array_equal(scaled, np.round(scaled), err_msg=e["id"])
        assert np.sqrt(np.mean(audio**2)) > 10 ** (-50 / 20), f"{e['id']} is near silent"
        assert abs(float(audio.mean())) < 1e-3, f"{e['id']} has a DC offset"


def test_summary_of_handmade_examples():
    examples = [
        {"audio": np.zeros(SR), "label": "anger", "speaker": "a", "gender": "male"},
        {"audio": np.zeros(3 * SR), "label": b"sadness", "speaker": b"b", "gender": "female"},
        {"audio": np.zeros(2 * SR), "label": np.int64(3), "speaker": np.bytes_(b"b"), "gender": np.str_("female")},
    ]
    stats = synthetic.summary(examples)
    assert stats["per_class"] == {"anger": 1, "sadness": 1, 3: 1}  # as given: names or indices
    assert stats["per_speaker"] == {"a": 1, "b": 2}
    assert stats["per_gender"] == {"female": 2, "male": 1}
    assert all(type(k) in (str, int) for k in [*stats["per_class"], *stats["per_speaker"], *stats["per_gender"]])
    assert stats["seconds"] == {"total": 6.0, "min": 1.0, "mean": 2.0, "max": 3.0}
    with pytest.raises(ValueError, match="no examples"):
        synthetic.summary([])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(emotion="joy"), "unknown emotion 'joy'; valid: anger, happiness"),
        (dict(speaker="s11"), "unknown speaker 's11'"),
        (dict(index=-1), "index=-1"),
        (dict(seed=-3), "seed=-3"),
        (dict(duration_range=(0.5, 2.0)), r"duration_range=\(0.5, 2.0\)"),
        (dict(duration_range=(3.0, 2.0)), "min <= max"),
    ],
)
def test_invalid_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        synthetic.generate_utterance(**{"emotion": "anger", "speaker": "s01", "index": 0, **kwargs})


def test_invalid_config_is_named():
    with pytest.raises(ValueError, match="num_speakers=11"):
        synthetic.CorpusConfig(num_speakers=11)
    with pytest.raises(ValueError, match="utterances_per_class=0"):
        synthetic.CorpusConfig(utterances_per_class=0)


# --- the TFDS builder ----------------------------------------------------------------------


def test_tiny_builder_matches_the_generator(tmp_path, tiny_examples):
    builder = Synthetic(data_dir=str(tmp_path), config="tiny")
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(try_download_gcs=False))
    assert builder.info.splits["train"].num_examples == 48
    features = builder.info.features
    assert features["label"].names == list(synthetic.CLASS_NAMES)
    expected = {e["id"]: e for e in tiny_examples}
    seen = set()
    for example in tfds.as_numpy(builder.as_dataset(split="train")):
        key = example["id"].decode()
        want = expected[key]
        assert example["audio"].dtype == np.int16
        np.testing.assert_array_equal(example["audio"], schema.to_int16(want["audio"]), err_msg=key)
        # The generator's float32 is exactly the stored int16 / 32768: nothing is lost.
        np.testing.assert_array_equal(example["audio"] / np.float32(32768), want["audio"], err_msg=key)
        assert features["label"].int2str(example["label"]) == want["label"]
        assert features["gender"].int2str(example["gender"]) == want["gender"]
        assert example["speaker"].decode() == want["speaker"]
        seen.add(key)
    assert seen == set(expected)


def test_builder_configs():
    configs = {c.name: c.corpus for c in Synthetic.BUILDER_CONFIGS}
    assert configs == {"default": synthetic.DEFAULT, "tiny": synthetic.TINY}
    assert str(Synthetic.VERSION) == "1.0.0"
    # Our registration under "synthetic" (TFDS refuses a second builder of one name).
    assert tfds.builder_cls("synthetic") is Synthetic


# --- the classes differ as designed --------------------------------------------------------


def _acoustic_stats(audio: np.ndarray) -> list[float]:
    """[median F0 (semitones re 1 Hz), F0 range (p90-p10, st), level (dB),
    spectral balance (dB above vs below 1 kHz), syllable rate (/s)] over the active frames."""
    hop = 256
    rms = librosa.feature.rms(y=audio, frame_length=1024, hop_length=hop)[0]
    active = rms > 0.1 * rms.max()
    f0 = librosa.yin(audio, fmin=60, fmax=600, sr=SR, frame_length=1024, hop_length=hop)
    semitones = 12 * np.log2(f0[active])
    power = np.abs(librosa.stft(audio, n_fft=1024, hop_length=hop))[:, active] ** 2
    high = librosa.fft_frequencies(sr=SR, n_fft=1024) >= 1000
    envelope = np.convolve(rms, np.hanning(5) / np.hanning(5).sum(), mode="same")
    peaks, _ = signal.find_peaks(
        envelope, height=0.1 * envelope.max(), prominence=0.05 * envelope.max(), distance=int(0.1 * SR / hop)
    )
    frames = np.flatnonzero(active)
    return [
        float(np.median(semitones)),
        float(np.percentile(semitones, 90) - np.percentile(semitones, 10)),
        float(10 * np.log10(np.mean(rms[active] ** 2))),
        float(10 * np.log10(power[high].sum() / power[~high].sum())),
        len(peaks) / ((frames[-1] - frames[0] + 1) * hop / SR),
    ]


@pytest.fixture(scope="module")
def corpus_stats():
    config = synthetic.CorpusConfig(num_speakers=10, utterances_per_class=6)
    rows = [
        (_acoustic_stats(e["audio"]), synthetic.CLASS_NAMES.index(e["label"]), e["speaker"])
        for e in synthetic.iter_corpus(config)
    ]
    stats, labels, speakers = zip(*rows)
    return np.array(stats), np.array(labels), np.array(speakers)


@pytest.mark.parametrize(
    "column, order",
    [
        (0, ("happiness", "anger", "neutral", "sadness")),  # pitch level
        (1, ("happiness", "anger", "neutral", "sadness")),  # pitch range
        (2, ("anger", "happiness", "neutral", "sadness")),  # loudness
        (3, ("anger", "happiness", "neutral", "sadness")),  # tense voice: flatter spectrum
        (4, ("anger", "happiness", "neutral", "sadness")),  # tempo
    ],
    ids=["f0", "f0_range", "level", "spectral_balance", "syllable_rate"],
)
def test_class_means_order_as_designed(corpus_stats, column, order):
    stats, labels, _ = corpus_stats
    means = {name: stats[labels == c, column].mean() for c, name in enumerate(synthetic.CLASS_NAMES)}
    assert sorted(means, key=means.get, reverse=True) == list(order), means


def test_learnable_across_speakers_but_not_trivially(corpus_stats):
    """Logistic regression on five per-speaker-normalised statistics, trained on six
    speakers and tested on the other four: far above chance (25%), below perfect."""
    stats, labels, speakers = corpus_stats
    normalised = stats.copy()
    for s in np.unique(speakers):
        mine = speakers == s
        normalised[mine] = (stats[mine] - stats[mine].mean(0)) / stats[mine].std(0)
    train = np.isin(speakers, ["s01", "s02", "s03", "s04", "s05", "s06"])
    assert set(speakers[~train]) == {"s07", "s08", "s09", "s10"}  # 2 female, 2 male, unseen
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(normalised[train], labels[train])
    predicted = model.predict(normalised[~train])
    accuracy = float((predicted == labels[~train]).mean())
    unweighted = balanced_accuracy_score(labels[~train], predicted)
    print(f"speaker-independent WA {accuracy:.3f} UA {unweighted:.3f}")
    assert 0.65 <= accuracy <= 0.95 and 0.65 <= unweighted <= 0.95
