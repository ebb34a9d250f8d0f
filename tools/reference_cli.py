"""The command line of the reference nets (``reference_cnn_lstm_keras.py``,
``reference_cnn_lstm_torch.py``): a few timed training steps on random input, to check
a reference runs; ``bench_cnn_lstm.py`` does the comparison."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

# 8 s at 16 kHz: the raw waveform (1D) or its log-mel, n_fft 2048, hop 512, 128 mels (2D).
INPUT_SHAPES = {"1d": (128000, 1), "2d": (251, 128, 1)}
NUM_CLASSES = 7


def run(description: str, make_train_step: Callable, make_batch: Callable, describe: Callable, argv=None) -> int:
    """``make_batch(batch, shape) -> (x, y)``; ``describe(model) -> str`` (versions, sizes)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--model", choices=tuple(INPUT_SHAPES), default="2d")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args(argv)
    shape = INPUT_SHAPES[args.model]
    x, y = make_batch(args.batch, shape)
    step, model = make_train_step(args.model, NUM_CLASSES, shape)
    print(describe(model), file=sys.stderr)
    for i in range(args.steps):
        t = time.perf_counter()
        loss = step(x, y)
        print(f"step {i}: loss {loss:.4f}, {time.perf_counter() - t:.3f} s", file=sys.stderr)
    return 0
