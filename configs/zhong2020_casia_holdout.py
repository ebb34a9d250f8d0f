"""Zhong et al. 2020, independent ACLN (MFCC) + FCN (IS09) with hard-example retraining and SVM fusion,
CASIA, random 80/20 split repeated 10 times (the paper's protocol: SPEAKER-DEPENDENT).

    jaxser cv --config configs/zhong2020_casia_holdout.py --workdir runs/zhong2020_casia_holdout \
        --config.data.manual_dir=../shared/data/casia

The comparison (each a separate workdir): add ``--config.hard_examples.retrain=false`` (CE),
``--config.hard_examples.retrain=false --config.loss.name=focal`` (focal), and
``--config.model.name=zhong2020_fused`` (fused training); each run's eval.json also holds
the networks' own softmax results (no SVM fusion). See configs/zhong2020_base.py.

Paper (Table 5, CASIA, random 80/20 x 10, speaker-DEPENDENT): HE WA 98.15 / UA 98.15; CE 98.12; focal 98.08; fused training (Table 3) 96.14.
Expected (ours), at the budget schedule ``--config.hard_examples.retrain_from_epoch=40
--config.hard_examples.retrain_epochs=10`` (the paper's 800 + 80 epochs are about 6,600
optimiser steps a split, 0.6-1 s each on one core of the dev VM): pooled WA = UA 82.67
(+-3; split std 1.58), 43 min for the 10 splits on one core of the dev VM (Zen 3, 2
cores, the other busy); records in results/zhong2020_casia_holdout_he_b40/. Not measured
at the paper's schedule; BUILD_NOTES.md's Zhong section has a longer-schedule probe.
Smoke mode: ``configs/zhong2020_casia_holdout.py:smoke``.
"""

from . import zhong2020_base


def get_config(arg=None):
    c = zhong2020_base.base("casia", "holdout")
    return zhong2020_base.smoke(c) if arg == "smoke" else c
