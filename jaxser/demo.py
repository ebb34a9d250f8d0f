"""The main job's config: a small 2D CNN-LSTM on the built-in synthetic corpus.

``jaxser demo`` trains it and evaluates it on held-out speakers in a few minutes on two
CPU cores, with no download. Same trainer, model family and pipeline as the paper
configs; only the sizes are small. ``configs/default.py`` returns this config.
"""

from __future__ import annotations

from jaxser import config as config_lib


def demo_config(smoke: bool = False):
    """The demo; ``smoke``: its smoke mode, 2 epochs on the 48-clip ``tiny`` synthetic corpus."""
    c = config_lib.base_config()
    c.name = "demo_cnn2d_synthetic"
    c.data.name = "synthetic"
    c.data.config = "tiny" if smoke else "default"  # the corpus builder's config, not a mode
    c.data.clip_seconds = 3.0
    c.data.eval_mode = "chunks"
    # Speaker-independent: two speakers to test, one to validate, seven to train (tiny: 1, 1, 2).
    c.split.kind = "fixed"
    c.split.test_speakers = ("s04",) if smoke else ("s09", "s10")
    c.split.fixed_val_speakers = ("s03",) if smoke else ("s08",)
    c.model.name = "zhao2019_cnn2d"
    c.model.kwargs.filters = (16, 16, 32, 32)
    c.model.kwargs.pools = (2, 2, 2, 2)
    c.model.kwargs.lstm_units = 32
    c.model.kwargs.n_fft = 512
    c.model.kwargs.hop_length = 256
    c.model.kwargs.n_mels = 64
    c.model.kwargs.bn_momentum = 0.9  # a short run: running statistics must settle within ~250 steps
    c.train.global_batch_size = 16
    c.train.epochs = 2 if smoke else 20
    c.train.learning_rate = 3e-3
    c.train.schedule = "cosine"
    c.train.early_stopping_patience = 0  # short run: keep the best on validation, never stop early
    c.train.log_every_steps = 10
    return c
