"""Throughput of jaxser's jitted log-mel and MFCC against librosa, on real EmoDB clips.

    python tools/bench_features.py [--clips 64] [--seconds 4] [--reps 15] [--n-fft 2048] [--hop 512] [--n-mels 128]

One batch of real clips (cropped / zero-padded to ``--seconds``) goes through:
* ``jaxser``: ``jax.jit(features.log_mel)`` / ``features.mfcc`` on the whole batch,
  the batch already on the device (as inside a training step);
* ``librosa_loop``: librosa clip by clip (the usual loop);
* ``librosa_batch``: one librosa call on the 2-D batch.
Competitors run interleaved, round-robin, ``--reps`` times after one warm-up round, so
allocator and page-cache state affect all alike; we report the median. Prints JSON:
clips/s, seconds per batch, real-time factor, ratios, compile time and the machine.
No XLA flags are set here (``xla_flags`` reports any from the environment).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import sys
import time

import jax
import librosa
import numpy as np
import soundfile as sf

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from jaxser import features, machine  # noqa: E402

SR = 16000


def load_batch(data: pathlib.Path, clips: int, seconds: float) -> np.ndarray:
    """``clips`` EmoDB files spread over the corpus, cropped / zero-padded to ``seconds``."""
    paths = sorted(data.glob("*.wav"))
    if len(paths) < clips:
        raise SystemExit(f"{data} holds {len(paths)} wav files, fewer than --clips {clips}; pass --data")
    picks = [paths[int(i)] for i in np.linspace(0, len(paths) - 1, clips)]
    n = int(round(seconds * SR))
    batch = np.zeros((clips, n), np.float32)
    for row, path in zip(batch, picks):
        audio, rate = sf.read(path, dtype="float32")
        if rate != SR:
            raise SystemExit(f"{path}: {rate} Hz, expected {SR}")
        row[: min(n, len(audio))] = audio[:n]
    return batch


def machine_info() -> dict:
    return {**machine.describe(), "librosa": librosa.__version__, "numpy": np.__version__}


def build(args):
    """Competitors by name ('feature/who'): each maps the batch to its features."""
    mel_kw = dict(n_fft=args.n_fft, hop_length=args.hop, n_mels=args.n_mels)
    mfcc_kw = dict(mel_kw, n_mfcc=args.n_mfcc)
    competitors = {}
    for feature, fn, kw in (("log_mel", features.log_mel, mel_kw), ("mfcc", features.mfcc, mfcc_kw)):
        competitors[f"{feature}/jaxser"] = jax.jit(lambda y, fn=fn, kw=kw: fn(y, sr=SR, **kw))
    competitors["log_mel/librosa_loop"] = lambda b: [
        librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=SR, **mel_kw)) for y in b
    ]
    competitors["log_mel/librosa_batch"] = lambda b: librosa.power_to_db(
        librosa.feature.melspectrogram(y=b, sr=SR, **mel_kw)
    )
    competitors["mfcc/librosa_loop"] = lambda b: [librosa.feature.mfcc(y=y, sr=SR, **mfcc_kw) for y in b]
    competitors["mfcc/librosa_batch"] = lambda b: librosa.feature.mfcc(y=b, sr=SR, **mfcc_kw)
    return competitors


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=pathlib.Path, default=pathlib.Path("../shared/data/emodb"))
    parser.add_argument("--clips", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--n-fft", type=int, default=2048)
    parser.add_argument("--hop", type=int, default=512)
    parser.add_argument("--n-mels", type=int, default=128)
    parser.add_argument("--n-mfcc", type=int, default=20)
    args = parser.parse_args(argv)

    host_batch = load_batch(args.data, args.clips, args.seconds)
    device_batch = jax.device_put(host_batch)
    competitors = build(args)

    compile_s = {}
    for name, fn in competitors.items():
        if name.endswith("/jaxser"):
            start = time.perf_counter()
            competitors[name] = fn.lower(device_batch).compile()
            compile_s[name] = time.perf_counter() - start

    def run(name):
        fn = competitors[name]
        x = device_batch if name.endswith("/jaxser") else host_batch
        start = time.perf_counter()
        jax.block_until_ready(fn(x))
        return time.perf_counter() - start

    times = {name: [] for name in competitors}
    for name in competitors:  # warm-up round: caches, lazy imports, first-touch memory
        run(name)
    for _ in range(args.reps):
        for name in competitors:
            times[name].append(run(name))

    audio_s = args.clips * args.seconds
    results = {}
    for name, samples in times.items():
        median = statistics.median(samples)
        results[name] = {
            "median_s_per_batch": median,
            "min_s": min(samples),
            "max_s": max(samples),
            "clips_per_s": args.clips / median,
            "real_time_factor": median / audio_s,  # compute seconds per second of audio
            "x_real_time": audio_s / median,
            "compile_s": compile_s.get(name),
        }
    ratios = {}
    for feature in ("log_mel", "mfcc"):
        ours = results[f"{feature}/jaxser"]["clips_per_s"]
        ratios[f"{feature}/jaxser_vs_librosa_loop"] = ours / results[f"{feature}/librosa_loop"]["clips_per_s"]
        ratios[f"{feature}/jaxser_vs_librosa_batch"] = ours / results[f"{feature}/librosa_batch"]["clips_per_s"]
    report = {
        "setting": {
            "clips": args.clips,
            "seconds": args.seconds,
            "sr": SR,
            "n_fft": args.n_fft,
            "hop_length": args.hop,
            "n_mels": args.n_mels,
            "n_mfcc": args.n_mfcc,
            "reps": args.reps,
            "data": str(args.data),
        },
        "results": results,
        "ratios": ratios,
        "machine": machine_info(),
        "notes": [
            "median over interleaved repetitions after one warm-up round",
            "jaxser input already on the device; librosa input is the same batch as NumPy float32",
            "librosa_batch applies top_db=80 over the whole batch, jaxser and librosa_loop per clip",
        ],
    }
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
