"""Zhong et al. 2020, independent ACLN (MFCC) + FCN (IS09) with hard-example retraining and SVM fusion,
EmoDB, random 80/20 split repeated 10 times (the paper's protocol: SPEAKER-DEPENDENT).

    jaxser cv --config configs/zhong2020_emodb_holdout.py --workdir runs/zhong2020_emodb_holdout \
        --config.data.manual_dir=../shared/data/emodb

The comparison (each a separate workdir): add ``--config.hard_examples.retrain=false`` (CE),
``--config.hard_examples.retrain=false --config.loss.name=focal`` (focal), and
``--config.model.name=zhong2020_fused`` (fused training); each run's eval.json also holds
the networks' own softmax results (no SVM fusion). See configs/zhong2020_base.py.

Paper (Table 5, EmoDB, random 80/20 x 10, speaker-DEPENDENT): HE WA 85.76 / UA 86.12; CE 83.33 / 82.88; focal 83.51 / 83.56; fused training (Table 3) 80.93 / 77.48.
Expected (ours), at the budget schedule ``--config.hard_examples.retrain_from_epoch=40
--config.hard_examples.retrain_epochs=10`` (the paper's 800 + 50 epochs are about 2,450
optimiser steps per split, 1-3 s each on the 2-core dev VM): pooled WA 82.90 / UA 80.98
(+-3) over the 10 splits, 4-12 min per split on the dev VM (Zen 3, 2 cores, shared with
other runs; about 1.5 h); records in results/zhong2020_emodb_holdout_he_b40/.
Smoke mode: ``configs/zhong2020_emodb_holdout.py:smoke``.
"""

from . import zhong2020_base


def get_config(arg=None):
    c = zhong2020_base.base("emodb", "holdout")
    return zhong2020_base.smoke(c) if arg == "smoke" else c
