"""Zhao et al. 2019, 1D CNN-LSTM on the raw 16 kHz waveform, EmoDB, LOSO.

    jaxser cv --config configs/zhao2019_cnn1d_emodb.py --workdir runs/zhao2019_cnn1d_emodb \
        --config.data.manual_dir=../shared/data/emodb

Paper (Table 7, speaker-independent EmoDB): 86.73 % "average accuracy", 57.14 %
validation accuracy. Expected (ours, 2026-12-01, dev-cpu: 2-core AMD EPYC, 277 min of
training over the 10 folds): pooled WA 54.02 / UA 49.33 % (±3, fold selection on one
speaker is noisy); records in results/zhao2019_cnn1d_emodb_loso/, BUILD_NOTES.md says why
it is below the paper.
Smoke mode: ``configs/zhao2019_cnn1d_emodb.py:smoke``.
"""

from . import zhao2019_base


def get_config(arg=None):
    c = zhao2019_base.base("zhao2019_cnn1d", "emodb")
    c.name = "zhao2019_cnn1d_emodb"
    return zhao2019_base.smoke(c) if arg == "smoke" else c
