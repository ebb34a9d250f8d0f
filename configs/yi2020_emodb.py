"""Yi & Mak 2020: WADAN-augmented IS11 vectors, DNN (2 x 100) and linear SVM, EmoDB, leave-one-speaker-out.

    jaxser cv --config configs/yi2020_emodb.py --workdir runs/yi2020_emodb_wadan \
        --config.data.manual_dir=../shared/data/emodb

The other rows of the paper's Table I: see configs/yi2020_base.py (``--config.augmenter.method=...``).

Paper (Table I, EmoDB, LOSO, each method at its best amount read off the test results):
WADAN + DNN WA 84.49 / UAR 83.31; ADAN + DNN 83.55 / 82.80; WADAN + SVM 81.87 / 81.04;
duplication + DNN 82.06 / 80.96; SMOTE + DNN 82.43 / 81.58; cited IS11 baselines without
augmentation: SVM 80.56, DNN 80.19 WA.
Expected (ours, 10 folds pooled, m chosen on one validation speaker per fold): WADAN + DNN
WA 74.02 / UA 71.89 (+- 2), best m on test 75.14 / 73.15 (m = 8); no augmentation: DNN
73.08 / 70.57, SVM 76.82 / 75.76; WADAN + SVM 76.26 / 74.29. Ran on dev-cpu, a 2-core AMD
EPYC Zen 3 VM, pinned to one core (taskset), the other core busy: 2 h for the 10 folds (10.5-11.5
min a fold: 7 min of WADAN training, 1,500 epochs, and 4 min for the 22 classifiers).
The other methods on the same folds (``--config.augmenter.method=...``, workdir
runs/yi2020_emodb_<method>; + DNN at the validation-chosen m, +- 2; wall time for 10 folds
on one core): ADAN (``--config.augmenter.epochs=800``) 72.15 / 70.27, 51 min; SMOTE 75.51 /
73.65, 30 min; duplication 75.51 / 73.22, 19 min; noise 74.39 / 72.20, 25 min; AAE 72.90 /
70.65, 80 min; GAN (one per class) 73.64 / 71.31, 39 min; cGAN 73.46 / 71.05, 29 min.
Records: results/yi2020_emodb_<method>/; BUILD_NOTES.md "Yi 2020" holds the table and curves.
Smoke mode: ``configs/yi2020_emodb.py:smoke``.
"""

from . import yi2020_base


def get_config(arg=None):
    c = yi2020_base.base("emodb")
    return yi2020_base.smoke(c) if arg == "smoke" else c
