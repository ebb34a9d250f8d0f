"""A corpus at a glance: counts, durations, and its on-device features.

This is the library behind ``jaxser demo`` and ``jaxser summary``; it is also the
quickest end-to-end check that a corpus, the input pipeline and the jitted features
work together on this machine.
"""

from __future__ import annotations

import collections
import dataclasses
import math
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


@dataclasses.dataclass(frozen=True)
class FeatureParams:
    """The log-mel/MFCC settings summarised (defaults: Zhao et al.'s 2D CNN-LSTM input)."""

    sr: int = 16000
    n_fft: int = 2048
    hop_length: int = 512
    n_mels: int = 128
    n_mfcc: int = 40


def _durations_and_columns(dataset):
    """One host pass: label/speaker/gender/duration of every example, in order."""
    from jaxser.data.tf_setup import tensorflow

    tf = tensorflow()
    keys = [k for k in ("label", "speaker", "gender", "id") if k in dataset.element_spec]

    def strip(example):
        row = {k: example[k] for k in keys}
        row["samples"] = tf.shape(example["audio"])[0]
        return row

    columns = collections.defaultdict(list)
    for batch in dataset.map(strip).batch(1024).as_numpy_iterator():
        for key, value in batch.items():
            columns[key].extend(v.decode() if isinstance(v, bytes) else v for v in value)
    return {k: np.asarray(v) for k, v in columns.items()}


def _feature_fn(params: FeatureParams):
    """Jitted: padded waveforms + lengths -> per-clip mean log-mel (dB) and mean MFCCs."""
    from jaxser import features as F

    @jax.jit
    def summarize(audio, lengths):
        kw = dict(sr=params.sr, n_fft=params.n_fft, hop_length=params.hop_length)
        # ref=1.0: dB re full scale, so loudness differences between classes show.
        logmel = F.log_mel(audio, n_mels=params.n_mels, ref=1.0, top_db=80.0, lengths=lengths, **kw)
        mfcc = F.mfcc(audio, n_mfcc=params.n_mfcc, n_mels=params.n_mels, lengths=lengths, **kw)
        valid = F.frame_mask(lengths, audio.shape[-1], n_fft=params.n_fft, hop_length=params.hop_length)
        count = jnp.maximum(valid.sum(-1), 1)[:, None]
        w = valid[..., None].astype(audio.dtype)
        return (logmel * w).sum(1) / count, (mfcc * w).sum(1) / count, logmel.shape[1]

    return summarize


def summarize(dataset, class_names, *, params: FeatureParams = FeatureParams(), batch_size: int = 32) -> dict[str, Any]:
    """Counts, durations and feature statistics of a ``tf.data.Dataset`` of examples."""
    from jaxser.data import pipeline

    cols = _durations_and_columns(dataset)
    n = len(cols["label"])
    if n == 0:
        raise ValueError("the dataset is empty: nothing to summarise")
    seconds = cols["samples"] / params.sr
    out: dict[str, Any] = {
        "examples": n,
        "classes": list(class_names),
        "per_class": {class_names[c]: int((cols["label"] == c).sum()) for c in range(len(class_names))},
        "speakers": len(set(cols["speaker"])) if "speaker" in cols else None,
        "per_speaker": dict(sorted(collections.Counter(cols["speaker"]).items())) if "speaker" in cols else None,
        "duration_s": {
            "total": float(seconds.sum()),
            "min": float(seconds.min()),
            "median": float(np.median(seconds)),
            "max": float(seconds.max()),
        },
    }
    out["per_speaker"] = {k: int(v) for k, v in (out["per_speaker"] or {}).items()}

    # Features: every clip padded to the longest (rounded up to a hop) and masked.
    eval_seconds = math.ceil(seconds.max() * params.sr / params.hop_length) * params.hop_length / params.sr
    cfg = pipeline.PipelineConfig(batch_size=batch_size, eval_mode="pad", eval_seconds=eval_seconds)
    fn = _feature_fn(params)
    mel_means, mfcc_means, labels = [], [], []
    compile_s, run_s, frames = 0.0, 0.0, 0
    for i, batch in enumerate(pipeline.eval_dataset(dataset, cfg, process_index=0, process_count=1).as_numpy_iterator()):
        keep = batch["mask"] > 0
        t0 = time.perf_counter()
        mel, mfcc, frames = jax.block_until_ready(fn(batch["audio"], batch["length"]))
        elapsed = time.perf_counter() - t0
        if i == 0:
            compile_s = elapsed  # first call traces and compiles; later ones only run
        else:
            run_s += elapsed
        mel_means.append(np.asarray(mel)[keep])
        mfcc_means.append(np.asarray(mfcc)[keep])
        labels.append(batch["label"][keep])
    mel, mfcc, labels = map(np.concatenate, (mel_means, mfcc_means, labels))
    timed = n - min(n, batch_size)
    out["features"] = {
        "params": dataclasses.asdict(params),
        "device": str(jax.devices()[0]),
        "padded_seconds": eval_seconds,
        "frames": int(frames),
        "first_call_s": round(compile_s, 3),
        "clips_per_s": round(timed / run_s, 1) if run_s > 0 and timed else None,
        "per_class_mean_log_mel_db": {
            class_names[c]: round(float(mel[labels == c].mean()), 2) for c in range(len(class_names)) if (labels == c).any()
        },
        "per_class_mean_mfcc1": {
            class_names[c]: round(float(mfcc[labels == c, 1].mean()), 2)
            for c in range(len(class_names))
            if (labels == c).any()
        },
    }
    return out


def format_summary(name: str, summary: dict[str, Any]) -> str:
    """The summary as aligned plain text."""
    d = summary["duration_s"]
    lines = [
        f"corpus {name}: {summary['examples']} examples, {summary['speakers']} speakers, "
        f"{d['total'] / 60:.1f} min (clips {d['min']:.2f}-{d['max']:.2f} s, median {d['median']:.2f} s)",
        "",
        f"{'class':<12}{'examples':>9}{'mean log-mel dB':>17}{'mean MFCC1':>12}",
    ]
    f = summary["features"]
    for cls, count in summary["per_class"].items():
        mel = f["per_class_mean_log_mel_db"].get(cls, float("nan"))
        mfcc = f["per_class_mean_mfcc1"].get(cls, float("nan"))
        lines.append(f"{cls:<12}{count:>9}{mel:>17.2f}{mfcc:>12.2f}")
    lines += ["", "speakers: " + ", ".join(f"{k} ({v})" for k, v in summary["per_speaker"].items())]
    p = f["params"]
    rate = f"{f['clips_per_s']} clips/s" if f["clips_per_s"] else "n/a (one batch)"
    lines += [
        "",
        f"features on {f['device']}: log-mel {p['n_mels']} bands + MFCC {p['n_mfcc']} "
        f"(n_fft {p['n_fft']}, hop {p['hop_length']}), clips padded to {f['padded_seconds']:.2f} s "
        f"= {f['frames']} frames, masked per clip",
        f"first call (compile) {f['first_call_s']:.2f} s; then {rate}",
    ]
    return "\n".join(lines)
