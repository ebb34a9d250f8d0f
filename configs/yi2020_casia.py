"""Yi & Mak 2020's pipeline on CASIA (not in the paper): WADAN-augmented IS11 vectors, DNN and SVM, leave-one-speaker-out (4 folds).

    jaxser cv --config configs/yi2020_casia.py --workdir runs/yi2020_casia_wadan \
        --config.data.manual_dir=../shared/data/casia

Paper: no CASIA figure. Reference on this machine: the classic IS11 + SVM baseline without
augmentation, pooled WA 41.50 (results/classic_svm_is11_casia_loso).
Expected (ours): not measured yet.
Smoke mode: ``configs/yi2020_casia.py:smoke``.
"""

from . import yi2020_base


def get_config(arg=None):
    c = yi2020_base.base("casia")
    return yi2020_base.smoke(c) if arg == "smoke" else c
