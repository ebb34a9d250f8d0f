"""Zhao et al. 2019, 2D CNN-LSTM on IEMOCAP, leave-one-session-out.

    jaxser cv --config configs/zhao2019_cnn2d_iemocap.py --workdir runs/zhao2019_cnn2d_iemocap \
        --config.data.manual_dir=/path/to/IEMOCAP_full_release

IEMOCAP is licensed and not in this repository's data; the builder reads the official
layout. Paper (Table 7, speaker-independent IEMOCAP): 85.58 % "average accuracy",
52.14 % validation accuracy, on the 6 classes angry, excited, frustrated, happy,
neutral, sad of the improvised prototypical subset (1,150 utterances). We use the
builder's "4class_exc_merged" labels (angry, happy+excited, neutral, sad; the usual
4-class protocol), leave-one-session-out with one validation speaker per fold —
not the paper's class set; BUILD_NOTES.md says so. Expected: not measured (no IEMOCAP
here); the paper's 85.58 % is an upper bound for the reasons the EmoDB configs give.
Smoke mode: ``configs/zhao2019_cnn2d_iemocap.py:smoke``.
"""

from . import zhao2019_base


def get_config(arg=None):
    c = zhao2019_base.base("zhao2019_cnn2d", "iemocap")
    c.name = "zhao2019_cnn2d_iemocap"
    c.data.config = "4class_exc_merged"
    c.split.kind = "session"
    return zhao2019_base.smoke(c) if arg == "smoke" else c
