"""Zhao et al. 2019, 1D CNN-LSTM on the raw 16 kHz waveform, EmoDB, LOSO.

    jaxser cv --config configs/zhao2019_cnn1d_emodb.py --workdir runs/zhao2019_cnn1d_emodb \
        --config.data.manual_dir=../shared/data/emodb

Paper (Table 7, speaker-independent EmoDB): 86.73 % "average accuracy", 57.14 %
validation accuracy. Ours: see the results table in BUILD_NOTES.md.
Smoke mode: ``configs/zhao2019_cnn1d_emodb.py:smoke``.
"""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import zhao2019_base  # noqa: E402


def get_config(arg=None):
    c = zhao2019_base.base("zhao2019_cnn1d", "emodb")
    c.name = "zhao2019_cnn1d_emodb"
    return zhao2019_base.smoke(c) if arg == "smoke" else c
