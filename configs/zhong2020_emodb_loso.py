"""Zhong et al. 2020, independent ACLN (MFCC) + FCN (IS09) with hard-example retraining and SVM fusion,
EmoDB, leave-one-speaker-out (speaker-independent).

    jaxser cv --config configs/zhong2020_emodb_loso.py --workdir runs/zhong2020_emodb_loso \
        --config.data.manual_dir=../shared/data/emodb

The comparison (each a separate workdir): add ``--config.hard_examples.retrain=false`` (CE),
``--config.hard_examples.retrain=false --config.loss.name=focal`` (focal), and
``--config.model.name=zhong2020_fused`` (fused training); each run's eval.json also holds
the networks' own softmax results (no SVM fusion). See configs/zhong2020_base.py.

The paper reports no speaker-independent EmoDB figure; its random 80/20 figures (HE WA 85.76 / UA 86.12) are speaker-dependent and an upper bound for this protocol.
Expected (ours), at the budget schedule ``--config.hard_examples.retrain_from_epoch=40
--config.hard_examples.retrain_epochs=10`` (the paper's 800 + 50 epochs are about 2,700
optimiser steps a fold, 0.6-1 s each on one core of the dev VM): pooled WA 74.39 / UA 72.68
(+-3; fold mean 74.59 +- 5.76), 25 min for the 10 folds on one core of the dev VM (Zen 3,
2 cores, the other busy); records in results/zhong2020_emodb_loso_he_b40/. Not measured at
the paper's schedule.
Smoke mode: ``configs/zhong2020_emodb_loso.py:smoke``.
"""

from . import zhong2020_base


def get_config(arg=None):
    c = zhong2020_base.base("emodb", "loso")
    return zhong2020_base.smoke(c) if arg == "smoke" else c
