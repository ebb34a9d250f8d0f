"""Zhong et al. 2020, independent ACLN (MFCC) + FCN (IS09) with hard-example retraining and SVM fusion,
IEMOCAP improvised, 4 classes, 8 speakers train / 2 test (Session 5), as the paper.

    jaxser cv --config configs/zhong2020_iemocap.py --workdir runs/zhong2020_iemocap \
        --config.data.manual_dir=/path/to/IEMOCAP_full_release

IEMOCAP is licensed and not in this repository's data; the builder reads the official
layout, and its "4class_improvised" config keeps the improvised dialogs' angry, happy,
neutral and sad turns (the paper counts 2,280). Speaker-independent: Session 5's two
speakers are never trained on. The comparison runs take the overrides listed in
configs/zhong2020_base.py.
Paper (Table 5): HE WA 74.98 / UA 68.83; CE 74.88 / 67.07; focal 74.72 / 67.74; fused
training (Table 3) 69.19 / 61.05.
Expected (ours): not measured (no IEMOCAP here).
Smoke mode: ``configs/zhong2020_iemocap.py:smoke``.
"""

from . import zhong2020_base


def get_config(arg=None):
    c = zhong2020_base.base("iemocap", "fixed")
    c.name = "zhong2020_iemocap"
    c.data.config = "4class_improvised"
    c.split.test_speakers = ("Ses05F", "Ses05M")
    return zhong2020_base.smoke(c) if arg == "smoke" else c
