"""jaxser.augment.noise and augment_batch: SNR against an independent NumPy measurement,
bank slicing, per-row randomness, deterministic evaluation noise, compile-once."""

from __future__ import annotations

import hashlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxser import audio as audio_lib
from jaxser.augment import AugmentConfig, augment_batch
from jaxser.augment import noise as N
from jaxser.data.noise import NoiseCorpus

SR = 16000
FRAME = 320
THRESHOLD_DB = 40.0


# --- independent NumPy references ---------------------------------------------------


def np_active_power(x: np.ndarray, length: int, frame: int = FRAME, threshold_db: float = THRESHOLD_DB) -> float:
    """Active speech power of one clip: 20 ms frames within threshold_db of the loudest."""
    x = np.asarray(x[:length], np.float64)
    frames = [x[i : i + frame] for i in range(0, length, frame)]
    if not frames:
        return 0.0
    powers = np.array([np.mean(f**2) for f in frames])
    active = powers >= powers.max() * 10 ** (-threshold_db / 10)
    return float(sum(np.sum(f**2) for f, a in zip(frames, active) if a) / sum(len(f) for f, a in zip(frames, active) if a))


def np_snr(speech: np.ndarray, mixed: np.ndarray, length: int) -> float:
    """SNR of a mixture, as defined: active speech power over the added noise's power."""
    noise = np.asarray(mixed[:length], np.float64) - np.asarray(speech[:length], np.float64)
    return 10 * np.log10(np_active_power(speech, length) / np.mean(noise**2))


def speechlike(rng: np.random.Generator, n: int) -> np.ndarray:
    """Bursts of modulated tone+noise with near-silent pauses (so the VAD matters)."""
    t = np.arange(n) / SR
    envelope = np.clip(np.sin(2 * np.pi * 1.3 * t), 0, None) ** 2  # half of the time ~silent
    carrier = np.sin(2 * np.pi * 180 * t) + 0.3 * rng.standard_normal(n)
    return (0.3 * envelope * carrier + 1e-4 * rng.standard_normal(n)).astype(np.float32)


def padded_batch(rng, lengths, size):
    audio = np.zeros((len(lengths), size), np.float32)
    for i, n in enumerate(lengths):
        audio[i, :n] = speechlike(rng, n)
    return audio, np.asarray(lengths, np.int32)


def small_bank(rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Three tracks of different character and length, concatenated."""
    a = rng.standard_normal(12000).astype(np.float32)  # white
    b = np.cumsum(rng.standard_normal(9000)).astype(np.float32)  # brown-ish
    b -= b.mean()
    c = (0.5 * np.sin(2 * np.pi * 50 * np.arange(15000) / SR)).astype(np.float32)  # hum
    tracks = [a, b, c]
    lengths = np.array([len(t) for t in tracks], np.int32)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int32)
    return np.concatenate(tracks), starts, lengths


# --- active power and mixing ---------------------------------------------------------


def test_active_power_matches_numpy_and_ignores_padding():
    rng = np.random.default_rng(0)
    audio, lengths = padded_batch(rng, [8000, 5123, 7999, 1], 8000)
    audio_dirty = audio.copy()
    audio_dirty[1, 5123:] = 9.0  # garbage in the padding must not count
    got = np.asarray(N.active_power(audio_dirty, lengths))
    want = [np_active_power(audio[i], int(n)) for i, n in enumerate(lengths)]
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_active_power_excludes_pauses():
    burst = 0.5 * np.sin(2 * np.pi * 200 * np.arange(3200) / SR)
    clip = np.concatenate([burst, np.zeros(12800)]).astype(np.float32)[None]
    got = float(N.active_power(clip, np.array([16000]))[0])
    assert got == pytest.approx(np.mean(burst**2), rel=1e-4)  # the plain mean would be 5x lower
    assert float(N.active_power(np.zeros((1, 800), np.float32), np.array([800]))[0]) == 0.0
    assert float(N.active_power(clip, np.array([0]))[0]) == 0.0


_mix = jax.jit(N.mix_at_snr)


@pytest.mark.parametrize("snr", [-5.0, 0.0, 5.0, 10.0, 20.0])
def test_mix_at_snr_hits_target_on_padded_batch(snr):
    rng = np.random.default_rng(1)
    lengths = [16000, 9000, 12345]
    speech, lengths = padded_batch(rng, lengths, 16000)
    noise = rng.standard_normal(speech.shape).astype(np.float32) * np.array([[1.0], [0.01], [3.0]], np.float32)
    mixed = np.asarray(_mix(speech, lengths, noise, np.full(3, snr, np.float32)))
    for i, n in enumerate(lengths):
        assert np_snr(speech[i], mixed[i], int(n)) == pytest.approx(snr, abs=0.1)
        assert not mixed[i, n:].any(), "padding must stay 0"


def test_mix_at_snr_per_row_and_scalar_snr():
    rng = np.random.default_rng(2)
    speech, lengths = padded_batch(rng, [6000, 6000, 4000], 6000)
    noise = rng.standard_normal(speech.shape).astype(np.float32)
    snrs = np.array([-5.0, 7.5, 20.0], np.float32)
    mixed = np.asarray(N.mix_at_snr(speech, lengths, noise, snrs))
    for i, n in enumerate(lengths):
        assert np_snr(speech[i], mixed[i], int(n)) == pytest.approx(snrs[i], abs=0.1)
    mixed = np.asarray(N.mix_at_snr(speech, lengths, noise, 3.0))
    assert [round(np_snr(speech[i], mixed[i], int(n)), 1) for i, n in enumerate(lengths)] == [3.0] * 3


def test_mix_at_snr_silent_inputs_stay_finite():
    speech = np.zeros((2, 1000), np.float32)
    speech[1] = 0.1
    noise = np.zeros((2, 1000), np.float32)
    noise[0] = 1.0
    mixed = np.asarray(N.mix_at_snr(speech, np.array([1000, 1000]), noise, 0.0))
    assert np.isfinite(mixed).all()
    np.testing.assert_array_equal(mixed, speech)  # silent speech: nothing to scale to; silent noise: no noise


# --- slicing the bank ----------------------------------------------------------------


def test_noise_segments_flat_and_2d():
    bank = np.arange(100, dtype=np.float32)
    got = np.asarray(N.noise_segments(bank, np.array([0, 10, 95]), 8))
    np.testing.assert_array_equal(got[:2], [np.arange(8), np.arange(10, 18)])
    np.testing.assert_array_equal(got[2], np.arange(92, 100))  # clamped to fit, as dynamic_slice does
    tracks = bank.reshape(4, 25)
    got = np.asarray(N.noise_segments(tracks, np.array([3, 0]), 5, tracks=np.array([2, 1])))
    np.testing.assert_array_equal(got, [tracks[2, 3:8], tracks[1, 0:5]])
    with pytest.raises(ValueError, match="needs tracks"):
        N.noise_segments(tracks, np.array([0]), 5)


def test_track_segments_stay_in_their_track_and_wrap():
    audio, starts, lengths = small_bank(np.random.default_rng(3))
    got = np.asarray(N.track_segments(audio, starts, lengths, np.array([0, 1, 2]), np.array([5, 8990, 0]), 20))
    np.testing.assert_array_equal(got[0], audio[5:25])
    track1 = audio[starts[1] : starts[1] + lengths[1]]
    np.testing.assert_array_equal(got[1], np.concatenate([track1[8990:], track1[:10]]))
    np.testing.assert_array_equal(got[2], audio[starts[2] : starts[2] + 20])


# --- training noise ------------------------------------------------------------------


def test_add_noise_rows_snr_mask_and_padding():
    rng = np.random.default_rng(4)
    speech, lengths = padded_batch(rng, [8000, 7000, 8000, 3000, 0, 8000], 8000)
    mask = np.array([1, 1, 1, 1, 0, 0], np.float32)
    speech[5] = 0.25  # a padding row holding data: must come back bit-identical
    bank = small_bank(rng)
    out = np.asarray(N.add_noise(jax.random.key(0), speech, lengths, bank, (0.0, 10.0), train_rows_mask=mask))
    np.testing.assert_array_equal(out[4:], speech[4:])
    for i in range(4):
        n = int(lengths[i])
        assert min(abs(np_snr(speech[i], out[i], n) - s) for s in (0.0, 10.0)) < 0.1
        assert not out[i, n:].any()
    again = np.asarray(N.add_noise(jax.random.key(0), speech, lengths, bank, (0.0, 10.0), train_rows_mask=mask))
    np.testing.assert_array_equal(out, again)
    other = np.asarray(N.add_noise(jax.random.key(1), speech, lengths, bank, (0.0, 10.0), train_rows_mask=mask))
    assert not np.array_equal(out[:4], other[:4])


def test_add_noise_draws_every_type_snr_range_and_prob():
    rng = np.random.default_rng(5)
    # Tracks of constant +1, -1 and +3: the added noise tells which one a row got.
    bank = (np.array([1.0] * 500 + [-1.0] * 700 + [3.0] * 600, np.float32), np.array([0, 500, 1200]), np.array([500, 700, 600]))
    speech, lengths = padded_batch(rng, [400] * 48, 400)
    out = np.asarray(N.add_noise(jax.random.key(2), speech, lengths, bank, snr_range=(2.0, 8.0), prob=0.5))
    added = out - speech
    changed = np.abs(added).max(axis=1) > 0
    assert 10 < changed.sum() < 38  # about half
    signs = {int(np.sign(added[i, 0])) for i in np.flatnonzero(changed)}
    assert signs == {-1, 1}
    for i in np.flatnonzero(changed):
        assert 2.0 - 0.1 < np_snr(speech[i], out[i], 400) < 8.0 + 0.1
    with pytest.raises(ValueError, match="exactly one"):
        N.add_noise(jax.random.key(0), speech, lengths, bank)


def test_add_noise_compiles_once():
    rng = np.random.default_rng(6)
    bank = small_bank(rng)
    traces = []

    @jax.jit
    def step(key, audio, lengths, mask, bank):
        traces.append(1)
        return N.add_noise(key, audio, lengths, bank, (0.0, 5.0), train_rows_mask=mask)

    for seed in range(2):
        audio, lengths = padded_batch(rng, [4000, 3000 + seed], 4000)
        step(jax.random.key(seed), audio, lengths, np.ones(2, np.float32), bank)
    assert len(traces) == 1


# --- deterministic evaluation noise ----------------------------------------------------


def test_utterance_seeds_stable_hash():
    ids = ["emodb/03a01Fa", "casia/liuchanhg/angry/201", "emodb/03a01Fa"]
    want = [int.from_bytes(hashlib.blake2b(i.encode(), digest_size=4).digest(), "little") for i in ids]
    seeds = N.utterance_seeds(ids)
    assert seeds.dtype == np.uint32 and seeds.tolist() == want
    assert seeds[0] == seeds[2] != seeds[1]
    np.testing.assert_array_equal(N.utterance_seeds([i.encode() for i in ids]), seeds)
    np.testing.assert_array_equal(N.utterance_seeds(np.array(ids, dtype=object)), seeds)
    with pytest.raises(TypeError):
        N.utterance_seeds("emodb/03a01Fa")


def test_eval_noise_key_on_host_equals_in_jit():
    ids = ["a", "b", "c"]
    host = N.eval_noise_key(ids, seed=7)
    traced = jax.jit(lambda s: N.eval_noise_key(s, seed=jax.random.key(7)))(N.utterance_seeds(ids))
    np.testing.assert_array_equal(jax.random.key_data(host), jax.random.key_data(traced))


def test_deterministic_noise_independent_of_batch_position_size_and_padding():
    rng = np.random.default_rng(7)
    bank = small_bank(rng)
    clips = {name: speechlike(rng, n) for name, n in [("u1", 3000), ("u2", 2500), ("u3", 3500), ("u4", 1000)]}

    def noisy(order, size, seed=3):
        audio = np.zeros((len(order), size), np.float32)
        for i, name in enumerate(order):
            audio[i, : len(clips[name])] = clips[name]
        lengths = np.array([len(clips[n]) for n in order], np.int32)
        keys = N.eval_noise_key(order, seed=seed)
        out = np.asarray(N.add_noise_deterministic(keys, audio, lengths, bank, snr_db=(0.0, 5.0, 10.0)))
        return {name: out[i, : len(clips[name])] for i, name in enumerate(order)}

    a = noisy(["u1", "u2", "u3"], 4000)
    b = noisy(["u4", "u3", "u2", "u1"], 4000)  # other positions, other batch size
    c = noisy(["u1"], 6000)  # other padded length
    for name in ("u1", "u2", "u3"):
        np.testing.assert_array_equal(a[name], b[name])
    np.testing.assert_allclose(a["u1"], c["u1"], rtol=1e-6, atol=1e-7)
    assert not np.allclose(a["u1"], clips["u1"])
    other_seed = noisy(["u4", "u3", "u2", "u1"], 4000, seed=4)
    assert not np.array_equal(other_seed["u1"], a["u1"])


# --- augment_batch ---------------------------------------------------------------------


def _batch(rng, lengths, size):
    audio, lengths = padded_batch(rng, lengths, size)
    mask = (lengths > 0).astype(np.float32)
    return {"audio": audio, "length": lengths, "mask": mask, "label": np.zeros(len(lengths), np.int32)}


def test_augment_batch_off_is_identity_and_traces_nothing():
    batch = _batch(np.random.default_rng(8), [2000, 1000], 2000)
    for cfg in (AugmentConfig(), None, {"noise_snr_db": (5.0,), "noise_prob": 0.0}, AugmentConfig(shift_seconds=0.00001)):
        assert augment_batch(jax.random.key(0), batch, cfg) is batch

    def program(augment: bool) -> str:
        def step(batch):
            if augment:
                batch = augment_batch(jax.random.key(0), batch, AugmentConfig())
            return jnp.sum(batch["audio"] * batch["mask"][:, None])

        return jax.jit(step).lower(batch).as_text()

    assert program(True) == program(False)


def test_augment_batch_noise_and_shift_on_train_rows_only_compiles_once():
    rng = np.random.default_rng(9)
    bank = small_bank(rng)
    cfg = AugmentConfig(noise_snr_db=(5.0,), noise_prob=1.0, shift_seconds=0.05, shift_mode="pad")
    traces = []

    @jax.jit
    def step(key, batch, bank):
        traces.append(1)
        return augment_batch(key, batch, cfg, noise_bank=bank)

    for seed in range(2):
        batch = _batch(rng, [3000, 2000, 0], 3000)
        batch["audio"][2] = 0.5  # padding row with data: left alone
        out = step(jax.random.key(seed), batch, bank)
        assert set(out) == set(batch)
        np.testing.assert_array_equal(out["audio"][2], batch["audio"][2])
        np.testing.assert_array_equal(out["label"], batch["label"])
        for i in range(2):
            assert not np.array_equal(out["audio"][i], batch["audio"][i])
            assert not np.asarray(out["audio"][i, batch["length"][i] :]).any()
    assert len(traces) == 1
    with pytest.raises(ValueError, match="noise_bank"):
        augment_batch(jax.random.key(0), batch, cfg)


def test_augment_config_validation_and_from_config():
    cfg = AugmentConfig.from_config({"noise_snr_db": [0, 5], "noise_prob": 0.5, "other": 1})
    assert cfg.noise_snr_db == (0.0, 5.0) and cfg.noise_enabled and not cfg.shift_enabled
    assert AugmentConfig(shift_seconds=0.25).max_shift == 4000
    for bad in (
        {"noise_prob": 1.5, "noise_snr_db": (0,)},
        {"noise_prob": 0.5},
        {"noise_snr_db": (float("nan"),)},
        {"shift_seconds": -1.0},
        {"shift_mode": "wrap"},
        {"noise_snr_db": (5, 0), "noise_snr_uniform": True},
    ):
        with pytest.raises(ValueError):
            AugmentConfig(**bad)


# --- real data -----------------------------------------------------------------------


@pytest.mark.realdata
def test_real_speech_with_real_noise_at_5db(emodb_dir, noise_dir):
    speech = audio_lib.load(emodb_dir / "03a01Fa.wav")
    corpus = NoiseCorpus.load(noise_dir)
    train, _ = corpus.split()
    size = len(speech) + 4321  # padded
    batch = np.zeros((2, size), np.float32)
    batch[0, : len(speech)] = speech
    batch[1, : len(speech) // 2] = speech[: len(speech) // 2]
    lengths = np.array([len(speech), len(speech) // 2], np.int32)
    out = np.asarray(N.add_noise(jax.random.key(0), batch, lengths, train.bank(), snr_db=5.0))
    for i, n in enumerate(lengths):
        assert np_snr(batch[i], out[i], int(n)) == pytest.approx(5.0, abs=0.1)
        assert not out[i, n:].any()
