"""Yi & Mak 2020's pipeline on CASIA (not in the paper): WADAN-augmented IS11 vectors, DNN and SVM, leave-one-speaker-out (4 folds).

    jaxser cv --config configs/yi2020_casia.py --workdir runs/yi2020_casia_wadan \
        --config.data.manual_dir=../shared/data/casia

Paper: no CASIA figure. Reference on this machine: the classic IS11 + SVM baseline without
augmentation, pooled WA 41.50 (results/classic_svm_is11_casia_loso).
Expected (ours, 4 folds pooled, m chosen on one validation speaker per fold; WA = UA, the
classes are balanced): WADAN + DNN 35.17 (+- 3), best m on test 35.67 (m = 5); no
augmentation: DNN 33.92, SVM 37.42; WADAN + SVM 37.33. Ran on dev-cpu, a 2-core AMD EPYC
Zen 3 VM, pinned to one core, the other core busy: 40 min (10 min a fold).
Other methods (``--config.augmenter.method=...``), + DNN at the validation-chosen m (+- 3),
SVM in brackets: ADAN (``--config.augmenter.epochs=800``) 36.58 (38.08), 26 min for the 4
folds; SMOTE 34.50 (38.08), noise 33.58 (37.92), duplication 33.67 (37.75), 10-11 min each;
AAE 32.83 (35.08), 38 min; GAN (one per class) 34.58 (37.33), 15 min; cGAN 33.75 (36.08), 16 min.
Records: results/yi2020_casia_<method>/.
Smoke mode: ``configs/yi2020_casia.py:smoke``.
"""

from . import yi2020_base


def get_config(arg=None):
    c = yi2020_base.base("casia")
    return yi2020_base.smoke(c) if arg == "smoke" else c
