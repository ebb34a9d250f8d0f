"""Zhao et al. 2019, 2D CNN-LSTM on log-mel (128 mel, n_fft 2048, hop 512), EmoDB, LOSO.

    jaxser cv --config configs/zhao2019_cnn2d_emodb.py --workdir runs/zhao2019_cnn2d_emodb \
        --config.data.manual_dir=../shared/data/emodb

Paper (Table 7, speaker-independent EmoDB): 95.89 % "average accuracy", 82.42 %
validation accuracy — the best model selected on the test-side data, an optimistic
protocol (BUILD_NOTES.md). Expected (ours, dev-cpu: 2-core AMD EPYC, 77 min of training
over the 10 folds alone, about 6.5 h shared with other runs): pooled WA 72.90 / UA 71.18 %
(first run) and 71.59 / 68.22 % (rerun, Zen 3, records in results/), ±3 (fold selection on
one speaker is noisy).
Smoke mode: ``configs/zhao2019_cnn2d_emodb.py:smoke``.
"""

from . import zhao2019_base


def get_config(arg=None):
    c = zhao2019_base.base("zhao2019_cnn2d", "emodb")
    c.name = "zhao2019_cnn2d_emodb"
    return zhao2019_base.smoke(c) if arg == "smoke" else c
