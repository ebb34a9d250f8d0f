"""The main job: a small 2D CNN-LSTM on the built-in synthetic corpus (no download).

    jaxser demo                                   # the same config, via the package
    jaxser train --config configs/default.py --workdir runs/default

Speaker-independent: trains on speakers s01-s07, validates on s08, tests on s09-s10.
Expected on 2 CPU cores: a few minutes, WA/UA far above chance (0.25); see
BUILD_NOTES.md for the measured figures. Smoke mode: ``configs/default.py:smoke`` (the tiny
synthetic corpus, 2 epochs).
"""

from jaxser.demo import demo_config


def get_config(arg=None):
    return demo_config(smoke=arg == "smoke")
