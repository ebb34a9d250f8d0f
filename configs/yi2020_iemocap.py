"""Yi & Mak 2020: WADAN-augmented IS11 vectors, DNN (4 x 512), IEMOCAP improvised (4 classes), leave-one-session-out.

For users who have IEMOCAP (licensed; not on the dev machine):

    jaxser cv --config configs/yi2020_iemocap.py --workdir runs/yi2020_iemocap_wadan \
        --config.data.manual_dir=/path/to/IEMOCAP_full_release

Class weights n_max / n_k in the augmenter's and the DNN's losses (Sec. V-C); one
training speaker of each fold held out to choose the amount of augmented data.

Paper (Table II, IEMOCAP improvised, 5-fold leave-one-session-out): WADAN + DNN WA 66.92 /
UAR 64.51; ADAN + DNN 63.55 / 63.96; SVM without augmentation 63.20 / 58.81, DNN 64.47 / 62.86.
Expected (ours): not measured (no IEMOCAP here).
Smoke mode: ``configs/yi2020_iemocap.py:smoke``.
"""

from . import yi2020_base


def get_config(arg=None):
    c = yi2020_base.base("iemocap", "session")
    c.data.config = "4class_improvised"
    c.augmenter.epochs = 200  # Sec. V-E: at least 200 epochs for the improvised sessions
    c.classifier.hidden = (512, 512, 512, 512)
    c.classifier.class_weighted = True
    return yi2020_base.smoke(c) if arg == "smoke" else c
