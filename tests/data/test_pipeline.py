"""Tests of jaxser.data.pipeline on small in-memory datasets in the example schema."""

from __future__ import annotations

import collections
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxser.data import pipeline
from jaxser.data.pipeline import PipelineConfig, PipelineError
from jaxser.data.tf_setup import tensorflow

tf = tensorflow()

# 1 kHz keeps the arrays tiny: clip_seconds=0.05 is a 50-sample window.
SR = 1000


def make_examples(lengths, num_labels=4, seed=0, sessions=False):
    """Examples in the schema: random int16 audio of the given lengths, label, speaker, gender, id."""
    rng = np.random.default_rng(seed)
    examples = []
    for i, n in enumerate(lengths):
        example = {
            "audio": rng.integers(-32768, 32768, size=n, dtype=np.int16),
            "label": np.int64(i % num_labels),
            "speaker": f"spk{i % 3}",
            "gender": np.int64(i % 2),
            "id": f"corpus/utt{i:03d}",
        }
        if sessions:
            example["session"] = np.int32(1 + i % 5)
        examples.append(example)
    return examples


def to_dataset(examples):
    """A tf.data.Dataset of example dicts, in order, like ``jaxser.data.load`` returns."""
    signature = {
        "audio": tf.TensorSpec([None], tf.int16),
        "label": tf.TensorSpec([], tf.int64),
        "speaker": tf.TensorSpec([], tf.string),
        "gender": tf.TensorSpec([], tf.int64),
        "id": tf.TensorSpec([], tf.string),
    }
    if "session" in examples[0]:
        signature["session"] = tf.TensorSpec([], tf.int32)
    return tf.data.Dataset.from_generator(lambda: iter(examples), output_signature=signature)


def batches(dataset, limit=None):
    out = []
    for batch in dataset.as_numpy_iterator():
        out.append(batch)
        if limit is not None and len(out) == limit:
            break
    return out


def config(**kwargs):
    kwargs = {"batch_size": 4, "sample_rate": SR, "clip_seconds": 0.05, "shuffle_buffer": 64, **kwargs}
    return PipelineConfig(**kwargs)


LENGTHS = [20, 50, 51, 130, 7, 90, 49, 200, 64, 33, 75, 120, 50, 41]


def test_fit_length_crops_and_pads():
    audio = tf.constant(np.arange(10, dtype=np.int16))
    window, length = pipeline.fit_length(audio, 4, 3)
    assert window.numpy().tolist() == [3, 4, 5, 6] and int(length) == 4
    window, length = pipeline.fit_length(audio, 6, 7)
    assert window.numpy().tolist() == [7, 8, 9, 0, 0, 0] and int(length) == 3
    window, length = pipeline.fit_length(audio, 12)
    assert window.numpy().tolist() == list(range(10)) + [0, 0] and int(length) == 10


def test_train_batches_are_static_crops_of_the_audio():
    examples = make_examples(LENGTHS)
    by_id = {e["id"]: e for e in examples}
    ds = pipeline.train_dataset(to_dataset(examples), config(num_epochs=2))
    spec = ds.element_spec
    assert spec["audio"].shape == (4, 50) and spec["audio"].dtype == tf.float32
    for key in ("length", "label", "mask", "id", "speaker"):
        assert spec[key].shape == (4,), key
    assert set(spec) == {"audio", "length", "label", "mask", "id", "speaker"}
    got = batches(ds)
    assert len(got) == 2 * (len(LENGTHS) // 4)  # each epoch drops its last partial batch
    for batch in got:
        np.testing.assert_array_equal(batch["mask"], 1.0)
        for row in range(4):
            original = by_id[batch["id"][row].decode()]
            n = len(original["audio"])
            length = batch["length"][row]
            assert length == min(n, 50) and batch["label"][row] == original["label"]
            audio = batch["audio"][row]
            assert np.all(audio[length:] == 0) and np.all(np.abs(audio) < 1.0)
            # The window is a contiguous piece of the utterance, scaled by 1/32768.
            samples = np.round(audio[:length] * 32768).astype(np.int64)
            starts = [s for s in range(n - length + 1) if np.array_equal(original["audio"][s : s + length], samples)]
            assert starts, "the crop is not a window of its utterance"


def test_train_crops_vary_over_epochs_and_examples():
    examples = make_examples([400] * 6)
    cfg = config(batch_size=1, num_epochs=8, shuffle_buffer=1)
    offsets = collections.defaultdict(set)
    for batch in batches(pipeline.train_dataset(to_dataset(examples), cfg)):
        original = next(e for e in examples if e["id"] == batch["id"][0].decode())
        samples = np.round(batch["audio"][0] * 32768).astype(np.int16)
        offsets[batch["id"][0]].add(next(s for s in range(351) if np.array_equal(original["audio"][s : s + 50], samples)))
    assert all(len(seen) > 1 for seen in offsets.values())  # a new crop every epoch
    assert len({min(seen) for seen in offsets.values()}) > 1  # and different crops per example


def assert_batches_equal(one, two):
    assert len(one) == len(two)
    for a, b in zip(one, two):
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])


def test_train_is_deterministic_for_a_seed_and_differs_across_seeds():
    ds = to_dataset(make_examples(LENGTHS))
    first = batches(pipeline.train_dataset(ds, config(seed=1)), limit=7)
    again = batches(pipeline.train_dataset(ds, config(seed=1)), limit=7)
    other = batches(pipeline.train_dataset(ds, config(seed=2)), limit=7)
    cached = batches(pipeline.train_dataset(ds, config(seed=1, cache=True)), limit=7)
    assert_batches_equal(first, again)
    assert_batches_equal(first, cached)
    ids = lambda got: [i for b in got for i in b["id"].tolist()]  # noqa: E731
    assert ids(first) != ids(other)
    # An epoch is 3 batches of distinct examples (2 of the 14 left over), shuffled anew each epoch.
    epoch0, epoch1 = ids(first)[:12], ids(first)[12:24]
    assert len(set(epoch0)) == len(set(epoch1)) == 12
    assert epoch0 != epoch1


def test_train_can_start_at_an_epoch():
    ds = to_dataset(make_examples(LENGTHS[:12]))
    two = batches(pipeline.train_dataset(ds, config(num_epochs=2)))
    second = batches(pipeline.train_dataset(ds, config(num_epochs=1), start_epoch=1))
    assert_batches_equal(two[3:], second)


@pytest.mark.parametrize("count", [2, 3])
def test_train_processes_split_the_same_global_batches(count):
    ds = to_dataset(make_examples(LENGTHS + [60] * 9))  # 23 examples: 3 global batches of 6 per epoch
    cfg = config(batch_size=6, num_epochs=2)
    single = batches(pipeline.train_dataset(ds, cfg, process_index=0, process_count=1))
    assert len(single) == 2 * 3
    parts = [batches(pipeline.train_dataset(ds, cfg, process_index=i, process_count=count)) for i in range(count)]
    assert [len(p) for p in parts] == [len(single)] * count
    for step, whole in enumerate(single):
        for key, value in whole.items():
            assert parts[0][step][key].shape[0] == 6 // count
            # The processes' rows of a step, in process order, are the single-process batch:
            # disjoint examples, same crops, whatever the process count.
            np.testing.assert_array_equal(np.concatenate([p[step][key] for p in parts]), value)
    for epoch in (single[:3], single[3:]):
        assert len({i for b in epoch for i in b["id"].tolist()}) == 18


def eval_rows(count, cfg, ds):
    """Every process' batches, and all rows with mask > 0 concatenated."""
    per_process = [batches(pipeline.eval_dataset(ds, cfg, process_index=i, process_count=count)) for i in range(count)]
    keys = per_process[0][0].keys()
    flat = {k: np.concatenate([b[k] for got in per_process for b in got]) for k in keys}
    real = flat["mask"] > 0
    return per_process, {k: v[real] for k, v in flat.items()}, flat


@pytest.mark.parametrize("count", [1, 2, 3])
@pytest.mark.parametrize("num", [19, 23])  # global batch 6: 1 and 5 examples in the last batch
def test_eval_pad_sees_every_example_once_on_any_process_count(count, num):
    examples = make_examples((LENGTHS * 2)[:num])
    by_id = {e["id"]: e for e in examples}
    cfg = config(batch_size=6, eval_seconds=0.2, extra_keys=("gender",))
    per_process, rows, flat = eval_rows(count, cfg, to_dataset(examples))
    assert [len(got) for got in per_process] == [pipeline.num_batches(num, 6)] * count == [math.ceil(num / 6)] * count
    for got in per_process:
        for batch in got:
            assert batch["audio"].shape == (6 // count, 200)
    assert collections.Counter(rows["id"].tolist()) == collections.Counter(e["id"].encode() for e in examples)
    padding = flat["mask"] == 0
    assert padding.sum() == 24 - num  # padding rows complete the last global batch
    assert set(flat["id"][padding].tolist()) == {b""} and np.all(flat["audio"][padding] == 0)
    for i, example_id in enumerate(rows["id"]):
        original = by_id[example_id.decode()]
        n = len(original["audio"])
        assert rows["length"][i] == n and rows["label"][i] == original["label"]
        assert rows["gender"][i] == original["gender"] and rows["gender"].dtype == np.int32
        np.testing.assert_array_equal(rows["audio"][i][:n], original["audio"] / 32768.0)
        assert np.all(rows["audio"][i][n:] == 0)


def test_eval_pad_rejects_utterances_longer_than_the_pad_length():
    cfg = config(eval_seconds=0.1)
    ds = pipeline.eval_dataset(to_dataset(make_examples([30, 101])), cfg)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"set eval_mode to chunks.*\[corpus/utt001\] \[101\]"):
        batches(ds)


def chunk_count(n, size, hop):
    return 1 + max(0, math.ceil((n - size) / hop))


@pytest.mark.parametrize("count", [1, 3])
def test_eval_chunks_reassemble_every_utterance(count):
    lengths = [20, 50, 51, 130, 7, 90, 200]
    examples = make_examples(lengths)
    size, hop = 50, 30
    cfg = config(batch_size=6, eval_mode="chunks", chunk_seconds=0.05, hop_seconds=0.03)
    per_process, rows, _ = eval_rows(count, cfg, to_dataset(examples))
    total = sum(chunk_count(n, size, hop) for n in lengths)
    assert [len(got) for got in per_process] == [math.ceil(total / 6)] * count
    assert len(rows["id"]) == total
    for u, example in enumerate(examples):
        mine = rows["utterance"] == u
        assert set(rows["id"][mine].tolist()) == {example["id"].encode()}
        assert np.all(rows["label"][mine] == example["label"])
        n = len(example["audio"])
        assert sorted(rows["start"][mine].tolist()) == [j * hop for j in range(chunk_count(n, size, hop))]
        rebuilt = np.full(n, np.nan)
        for start, length, audio in zip(rows["start"][mine], rows["length"][mine], rows["audio"][mine]):
            assert np.all(audio[length:] == 0)
            rebuilt[start : start + length] = audio[:length]
        np.testing.assert_array_equal(rebuilt, example["audio"] / 32768.0)  # NaN left = a gap


def test_aggregate_chunks_averages_per_utterance():
    lengths = [20, 130, 51, 200, 90]
    size, hop = 50, 20
    cfg = config(batch_size=4, eval_mode="chunks", chunk_seconds=0.05, hop_seconds=0.02)
    aggregate = jax.jit(pipeline.aggregate_chunks, static_argnums=3)
    sums, counts = jnp.zeros((len(lengths), 2)), jnp.zeros(len(lengths))
    for batch in batches(pipeline.eval_dataset(to_dataset(make_examples(lengths)), cfg)):
        device, host = pipeline.split_host(batch)
        assert set(host) == {"id", "speaker"} and set(pipeline.DEVICE_KEYS) <= set(device)
        # A known per-chunk quantity: (start, valid length); padding rows get junk to prove they are ignored.
        values = np.stack([device["start"], device["length"]], axis=1).astype(np.float32)
        values[device["mask"] == 0] = 1e6
        s, c = aggregate(values, device["utterance"], device["mask"], len(lengths))
        sums, counts = sums + s, counts + c
    for u, n in enumerate(lengths):
        k = chunk_count(n, size, hop)
        starts = np.arange(k) * hop
        assert counts[u] == k
        np.testing.assert_allclose(sums[u] / counts[u], [starts.mean(), np.minimum(n - starts, size).mean()])


def test_batch_size_must_divide_by_the_process_count():
    ds = to_dataset(make_examples([10, 20]))
    with pytest.raises(PipelineError, match="batch_size=5 does not divide by process_count=2"):
        pipeline.train_dataset(ds, config(batch_size=5), process_index=0, process_count=2)
    with pytest.raises(PipelineError, match="batch_size=4 does not divide by process_count=3"):
        pipeline.eval_dataset(ds, config(batch_size=4), process_index=0, process_count=3)
    with pytest.raises(PipelineError, match="process_index=2"):
        pipeline.eval_dataset(ds, config(batch_size=4), process_index=2, process_count=2)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"batch_size": 0}, "batch_size"),
        ({"eval_mode": "crop"}, "eval_mode"),
        ({"chunk_seconds": 0.05, "hop_seconds": 0.06}, "gaps"),
        ({"eval_seconds": 0.0}, "eval_seconds"),
        ({"extra_keys": "gender"}, "extra_keys"),
        ({"extra_keys": ("mask",)}, "already output keys"),
        ({"num_epochs": 0}, "num_epochs"),
    ],
)
def test_config_errors(kwargs, message):
    with pytest.raises(PipelineError, match=message):
        config(**kwargs)


def test_dataset_errors():
    with pytest.raises(PipelineError, match="lack \\['session'\\]"):
        pipeline.train_dataset(to_dataset(make_examples([10])), config(extra_keys=("session",)))
    with pytest.raises(PipelineError, match="example dicts"):
        pipeline.eval_dataset(tf.data.Dataset.range(3), config())
    encoded = tf.data.Dataset.from_tensors({"audio": tf.constant(b"flac"), "label": 0, "id": "x"})
    with pytest.raises(PipelineError, match="SkipDecoding"):
        pipeline.eval_dataset(encoded, config())


def test_extra_keys_ride_along():
    ds = to_dataset(make_examples(LENGTHS, sessions=True))
    batch = batches(pipeline.train_dataset(ds, config(extra_keys=("session",))), limit=1)[0]
    by_id = {e["id"].encode(): e for e in make_examples(LENGTHS, sessions=True)}
    assert batch["session"].tolist() == [by_id[i]["session"] for i in batch["id"]]
