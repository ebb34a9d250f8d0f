"""Zhong et al. 2020, independent ACLN (MFCC) + FCN (IS09) with hard-example retraining and SVM fusion,
CASIA, leave-one-speaker-out (speaker-independent).

    jaxser cv --config configs/zhong2020_casia_loso.py --workdir runs/zhong2020_casia_loso \
        --config.data.manual_dir=../shared/data/casia

The comparison (each a separate workdir): add ``--config.hard_examples.retrain=false`` (CE),
``--config.hard_examples.retrain=false --config.loss.name=focal`` (focal), and
``--config.model.name=zhong2020_fused`` (fused training); each run's eval.json also holds
the networks' own softmax results (no SVM fusion). See configs/zhong2020_base.py.

The paper reports no speaker-independent CASIA figure; its random 80/20 figure (HE 98.15) is speaker-dependent (CASIA's 4 speakers read the same texts) and far above what leave-one-speaker-out allows.
Expected (ours), at the budget schedule ``--config.hard_examples.retrain_from_epoch=40
--config.hard_examples.retrain_epochs=10`` (the paper's 800 + 80 epochs are about 6,200
optimiser steps a fold, 0.6-1 s each on one core of the dev VM): pooled WA = UA 37.33 (+-4;
fold mean +- 8.23; the IS09 + SVM baseline gets 38.50 on these folds), 16 min for the 4 folds
on one core of the dev VM (Zen 3, 2 cores, the other busy); records in
results/zhong2020_casia_loso_he_b40/. Not measured at the paper's schedule.
Smoke mode: ``configs/zhong2020_casia_loso.py:smoke``.
"""

from . import zhong2020_base


def get_config(arg=None):
    c = zhong2020_base.base("casia", "loso")
    return zhong2020_base.smoke(c) if arg == "smoke" else c
