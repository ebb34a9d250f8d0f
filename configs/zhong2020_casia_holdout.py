"""Zhong et al. 2020, independent ACLN (MFCC) + FCN (IS09) with hard-example retraining and SVM fusion,
CASIA, random 80/20 split repeated 10 times (the paper's protocol: SPEAKER-DEPENDENT).

    jaxser cv --config configs/zhong2020_casia_holdout.py --workdir runs/zhong2020_casia_holdout \
        --config.data.manual_dir=../shared/data/casia

The comparison (each a separate workdir): add ``--config.hard_examples.retrain=false`` (CE),
``--config.hard_examples.retrain=false --config.loss.name=focal`` (focal), and
``--config.model.name=zhong2020_fused`` (fused training); each run's eval.json also holds
the networks' own softmax results (no SVM fusion). See configs/zhong2020_base.py.

Paper (Table 5, CASIA, random 80/20 x 10, speaker-DEPENDENT): HE WA 98.15 / UA 98.15; CE 98.12; focal 98.08; fused training (Table 3) 96.14.
Expected (ours): not measured at the paper's schedule yet (800 + 80 epochs are about 6,160
optimiser steps per repetition, 1-3 s each on the 2-core dev VM); BUILD_NOTES.md's Zhong section has the
runs made so far, with their epochs.
Smoke mode: ``configs/zhong2020_casia_holdout.py:smoke``.
"""

from . import zhong2020_base


def get_config(arg=None):
    c = zhong2020_base.base("casia", "holdout")
    return zhong2020_base.smoke(c) if arg == "smoke" else c
